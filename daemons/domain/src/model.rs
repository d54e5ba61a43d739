//! Model completions as the gateway speaks them: messages, tools offered,
//! streamed output and provider status.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Usage;

/// A tool call requested by a model, with our dotted name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id.
    pub id: String,
    /// Dotted tool name.
    pub name: String,
    /// Arguments.
    pub args: Value,
}

/// One message sent to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text (for tool messages: the result).
    pub content: String,
    /// Tool calls an assistant message made.
    pub tool_calls: Vec<ToolCall>,
    /// For tool messages: which call this answers.
    pub tool_call_id: Option<String>,
}

/// A tool offered to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelTool {
    /// Dotted name.
    pub name: String,
    /// Description.
    pub description: String,
    /// JSON schema of the arguments.
    pub schema: Value,
    /// Natural requests it answers (from its [`crate::ToolSpec`]): the
    /// model router retrieves candidate tools by them.
    #[serde(default)]
    pub examples: Vec<crate::ToolExample>,
}

/// A request for one model completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// Provider; `None` means the gateway's default.
    pub provider: Option<String>,
    /// Model; `None` means the provider's default.
    pub model: Option<String>,
    /// System prompt.
    pub system: String,
    /// Conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ModelTool>,
    /// Output limit; 0 means the provider default.
    pub max_tokens: u32,
    /// The session asking, for per-session cost accounting and budgets.
    #[serde(default)]
    pub session: Option<String>,
}

/// Streamed output of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CompletionEvent {
    /// Text fragment.
    TextDelta(String),
    /// A complete tool call with valid JSON arguments.
    ToolCall(ToolCall),
    /// A tool call whose arguments were not valid JSON.
    MalformedToolCall {
        /// Provider id.
        id: String,
        /// Dotted tool name.
        name: String,
        /// The arguments text as received.
        raw_args: String,
        /// Parser error.
        error: String,
    },
    /// Token accounting.
    Usage(Usage),
    /// The completion ended normally.
    Done {
        /// Provider stop reason, e.g. `tool_use`, `end_turn`, `stop`.
        stop_reason: String,
    },
}

/// What the gateway knows about one provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// Provider name.
    pub name: String,
    /// Default model.
    pub model: String,
    /// Endpoint, when it has one.
    pub base_url: String,
    /// Has what it needs (key, file…).
    pub configured: bool,
    /// Answered a probe.
    pub reachable: bool,
    /// Details of the last probe or of what is missing.
    pub detail: String,
    /// The gateway's default provider.
    pub is_default: bool,
}

/// Who wrote a conversation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The human.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

impl Role {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// Parse the wire spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "tool" => Some(Role::Tool),
            _ => None,
        }
    }
}

/// What a provider says about the size of some texts in its model's tokens
/// (the gateway's `CountTokens`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenCounts {
    /// One real count per text, in order; `None` when the provider cannot
    /// count (cloud APIs offer no tokenizer): the caller keeps an estimate.
    pub counts: Option<Vec<u32>>,
    /// The provider that counted, or why nothing was counted.
    pub detail: String,
}

//! Rows of the episodic store: messages and tool calls as stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Role, ToolCall};
use crate::tool::ToolStatus;

/// A message of the conversation, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Session.
    pub session_id: String,
    /// Turn.
    pub turn_id: String,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Calls an assistant message made.
    pub tool_calls: Vec<ToolCall>,
    /// For tool results: the call answered.
    pub tool_call_id: Option<String>,
    /// Time, Unix milliseconds.
    pub unix_ms: i64,
}

/// A tool call as stored in the episodic store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToolCall {
    /// Session.
    pub session_id: String,
    /// Turn.
    pub turn_id: String,
    /// Call id.
    pub call_id: String,
    /// Dotted tool name.
    pub tool: String,
    /// Arguments.
    pub args: Value,
    /// Outcome.
    pub status: ToolStatus,
    /// Result or error.
    pub result: Value,
    /// Executor time.
    pub duration_us: u64,
    /// Time, Unix milliseconds.
    pub unix_ms: i64,
}

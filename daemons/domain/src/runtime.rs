//! The local model runtime's contract (`runtimed`): what is loaded, one
//! generation with candidate tools, and embeddings.

use serde::{Deserialize, Serialize};

use crate::model::{ChatMessage, ModelTool, ToolCall};

/// What the runtime has loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// The GGUF file.
    pub model_path: String,
    /// Its name (the file stem, e.g. `qwen2.5-coder-0.5b`).
    pub model_name: String,
    /// Its sha256, when the model directory's manifest records it.
    pub sha256: Option<String>,
    /// Context window allocated, tokens.
    pub n_ctx: u32,
    /// Context length the model was trained with.
    pub n_ctx_train: u32,
    /// How long loading took, milliseconds.
    pub load_ms: u64,
    /// Resident memory of the runtime process, bytes.
    pub resident_bytes: u64,
    /// CPU threads used.
    pub threads: u32,
    /// Tokens of the kept prompt prefix (the tool catalogue) held in the
    /// KV cache so far.
    pub kept_tokens: u32,
    /// Length of that prefix in tokens; 0 = none is kept yet.
    pub kept_target: u32,
    /// Tool lists given to `Warm` whose prompt is still to be evaluated
    /// and saved.
    pub warm_pending: u32,
}

/// One generation: the conversation and the candidate tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// Fixed instructions; empty = the runtime's own.
    pub system: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Candidate tools, already narrowed to a few; none = plain text.
    /// The reply may call only these.
    pub tools: Vec<ModelTool>,
    /// Every tool the caller has, in a stable order (or none). The runtime
    /// keeps their prompt in its KV cache, filled while idle; once it is
    /// held, the prompt lists all of them instead of only `tools`, at no
    /// cost per request.
    pub catalog: Vec<ModelTool>,
    /// Output limit; 0 = the runtime's default.
    pub max_tokens: u32,
    /// Accept only a call to one of `tools`, not a text answer.
    pub require_tool: bool,
}

/// Token counts and timings of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Of those, reused from the previous request's KV cache.
    pub cached_tokens: u32,
    /// Tokens generated.
    pub generated_tokens: u32,
    /// Time evaluating the uncached prompt, milliseconds.
    pub prompt_ms: u64,
    /// Time generating, milliseconds.
    pub generation_ms: u64,
    /// Of `generated_tokens`, written without sampling (a tool call's
    /// fixed frame; see `aios_runtime::steer`).
    #[serde(default)]
    pub forced_tokens: u32,
}

/// Streamed output of one generation: text deltas or one tool call, then
/// usage, then done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GenerateEvent {
    /// Text of a plain answer.
    TextDelta(String),
    /// How sure the model was of the tool it is about to call, when it
    /// chose among several: sent just before [`GenerateEvent::ToolCall`].
    NameChoice {
        /// Product of the probabilities of the branches taken where the
        /// candidates' names part (1 = certain).
        confidence: f32,
        /// The likeliest other tool at the least certain of those steps.
        runner_up: String,
    },
    /// One call to one of the candidate tools.
    ToolCall(ToolCall),
    /// Token accounting.
    Usage(GenerateUsage),
    /// The end: `end_of_text`, `tool_call`, `max_tokens`, `context_full`
    /// or `stop`.
    Done {
        /// Why generation ended.
        finish: String,
    },
}

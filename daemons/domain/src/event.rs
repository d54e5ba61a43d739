//! The session event stream: what `aiosd` emits, and the `--json` output
//! format (`docs/EVENTS.md`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ErrorCode;
use crate::tool::{Risk, ToolStatus};

/// Status of a plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// In progress.
    Running,
    /// Finished.
    Done,
    /// Failed.
    Failed,
    /// Skipped.
    Skipped,
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// The model gave its final answer.
    Completed,
    /// Something failed (model, daemon, limits).
    Failed,
    /// The user interrupted.
    Interrupted,
    /// A needed action was refused by policy (or needs an approval that
    /// cannot be given in this mode).
    Refused,
}

/// Token and cost accounting for one model call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in US dollars, when known.
    pub cost_usd: Option<f64>,
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Wall time of the call.
    pub latency_ms: u64,
    /// The token counts are estimates: the server reported none.
    #[serde(default)]
    pub tokens_estimated: bool,
    /// Why this provider and model answered: "configured default",
    /// "fallback after 429 from claude", "budget exhausted → local"…
    #[serde(default)]
    pub route_reason: String,
    /// Spent by this session so far (this call included), when known.
    #[serde(default)]
    pub session_cost_usd: Option<f64>,
    /// Spent today (UTC) by every session, when known.
    #[serde(default)]
    pub day_cost_usd: Option<f64>,
}

/// One event of the session stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Monotonic per session, starting at 1.
    pub seq: u64,
    /// Session id.
    pub session_id: String,
    /// Wall clock time, Unix milliseconds.
    pub unix_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an [`Event`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The client is attached to a session.
    SessionStarted {
        /// Provider.
        provider: String,
        /// Model.
        model: String,
        /// True when attaching to an existing session.
        resumed: bool,
    },
    /// A turn began.
    TurnStarted {
        /// Turn id.
        turn_id: String,
        /// The user's request.
        input: String,
    },
    /// Streamed assistant text.
    AssistantDelta {
        /// Turn id.
        turn_id: String,
        /// Text fragment.
        text: String,
    },
    /// The assistant's plan.
    PlanProposed {
        /// Turn id.
        turn_id: String,
        /// Steps in order.
        steps: Vec<String>,
    },
    /// Progress on a plan step.
    StepUpdate {
        /// Turn id.
        turn_id: String,
        /// Step index.
        index: u32,
        /// New status.
        status: StepStatus,
    },
    /// A tool call is starting.
    ToolCallBegin {
        /// Turn id.
        turn_id: String,
        /// Call id.
        call_id: String,
        /// Dotted tool name.
        tool: String,
        /// Arguments.
        args: Value,
        /// Effect class.
        risk: Risk,
        /// Why the model made the call.
        rationale: String,
    },
    /// A call waits for a human decision. The shell answers toolsd
    /// directly (DESIGN.md §2): the orchestrator cannot approve.
    ApprovalRequested(Box<crate::ApprovalNeeded>),
    /// Live output of a running tool.
    ToolOutputDelta {
        /// Call id.
        call_id: String,
        /// Output fragment.
        chunk: String,
    },
    /// A tool call finished.
    ToolCallEnd {
        /// Call id.
        call_id: String,
        /// Outcome.
        status: ToolStatus,
        /// JSON result on success; an error message (a JSON string) otherwise.
        result: Value,
        /// Time in the executor.
        duration_us: u64,
    },
    /// Model usage for one call.
    Usage(Usage),
    /// Something for the user's attention.
    Notification {
        /// "info", "warn" or "error".
        level: String,
        /// The text.
        text: String,
    },
    /// A turn ended.
    TurnCompleted {
        /// Turn id.
        turn_id: String,
        /// Outcome.
        status: TurnStatus,
        /// Explanation when not completed.
        message: String,
    },
    /// An error; `fatal` means the turn or stream cannot continue.
    Error {
        /// Stable machine-readable code, e.g. `model_unavailable`.
        code: ErrorCode,
        /// Human-readable, actionable message.
        message: String,
        /// Whether the turn stopped because of it.
        fatal: bool,
    },
}

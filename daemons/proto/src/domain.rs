//! Plain domain types for every contract in `aios.proto`.
//!
//! These are what the rest of the workspace sees; the generated prost types
//! never leave this crate. They derive `serde` because the session event
//! stream is also the `--json` output format (documented in
//! `docs/EVENTS.md`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether a session may wait for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Ask the human for anything policy does not allow outright.
    #[default]
    Ask,
    /// Never wait for a human: refuse what policy does not allow.
    Policy,
}

/// Parameters for a new session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateSession {
    /// Provider name; `None` means the configured default.
    pub provider: Option<String>,
    /// Model name; `None` means the provider's default.
    pub model: Option<String>,
    /// Approval behaviour.
    pub approval: ApprovalMode,
    /// Optional human title.
    pub title: String,
}

/// A session as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Opaque id.
    pub id: String,
    /// Owner.
    pub uid: u32,
    /// Provider used by the session.
    pub provider: String,
    /// Model used by the session.
    pub model: String,
    /// Creation time, Unix milliseconds.
    pub created_unix_ms: i64,
    /// Human title (often the first request).
    pub title: String,
    /// Approval behaviour.
    pub approval: ApprovalMode,
}

/// An operation sent by a client to `aiosd` (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Text the user typed.
    UserInput {
        /// The request.
        text: String,
    },
    /// The human's answer to an approval request.
    ApprovalDecision {
        /// Which call.
        call_id: String,
        /// What they decided.
        decision: Decision,
    },
    /// Stop the current turn.
    Interrupt,
    /// Attach to a session, replaying events after `after_seq`.
    Attach {
        /// Session id.
        session_id: String,
        /// Replay events with a greater sequence number.
        after_seq: u64,
    },
    /// Leave the session running and stop receiving events.
    Detach,
}

/// A human decision on one pending call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Run once.
    Approve,
    /// Do not run; the note goes back to the model.
    Reject {
        /// Optional explanation for the model.
        note: Option<String>,
    },
    /// Run with these arguments instead.
    Edit {
        /// Replacement arguments.
        args: Value,
    },
    /// Run, and write a rule allowing actions like this.
    Always,
}

/// How much a tool can change the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Reads only.
    Read,
    /// Changes the system, reversibly.
    Change,
    /// Changes the system in a way that may lose data.
    Destructive,
}

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

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Ran and succeeded.
    Ok,
    /// Ran (or tried to) and failed.
    Error,
    /// Refused by policy or permissions.
    Denied,
    /// Rejected by the human.
    Rejected,
    /// Stopped by an interrupt.
    Interrupted,
    /// Exceeded its time limit.
    TimedOut,
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
    /// A call waits for a human decision.
    ApprovalRequested {
        /// Call id.
        call_id: String,
        /// What would happen.
        preview: String,
        /// Effect class.
        risk: Risk,
    },
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
        code: String,
        /// Human-readable, actionable message.
        message: String,
        /// Whether the turn stopped because of it.
        fatal: bool,
    },
}

/// A tool's definition as seen by clients and models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Dotted name, `namespace.verb`.
    pub name: String,
    /// One paragraph for the model and the help.
    pub description: String,
    /// JSON schema of the arguments.
    pub args_schema: Value,
    /// Effect class.
    pub effect: Risk,
    /// Resources the tool touches (paths, services…), for policy.
    pub resources: Vec<String>,
}

/// A request to run one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// Session making the call.
    pub session_id: String,
    /// Call id.
    pub call_id: String,
    /// Dotted tool name.
    pub tool: String,
    /// Arguments.
    pub args: Value,
    /// The user on whose behalf the orchestrator asks.
    pub on_behalf_of_uid: u32,
    /// Time limit; 0 means the executor's default.
    pub timeout_ms: u64,
    /// The model's stated reason.
    pub rationale: String,
}

/// Streamed progress of one tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecuteEvent {
    /// Live output.
    Output(String),
    /// The final outcome (always last).
    End(ExecuteEnd),
}

/// The final outcome of one tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteEnd {
    /// Outcome.
    pub status: ToolStatus,
    /// JSON result on success; error message string otherwise.
    pub result: Value,
    /// Time spent in the executor.
    pub duration_us: u64,
}

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

/// Reply of a daemon's health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingReply {
    /// Daemon name.
    pub daemon: String,
    /// Version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Time since start.
    pub uptime_ms: u64,
    /// The uid the daemon saw for this call.
    pub caller_uid: u32,
    /// Whether that caller counts as an administrator.
    pub caller_admin: bool,
}

/// State of one supervised service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    /// Service name.
    pub name: String,
    /// "stopped", "starting", "running", "stopping", "failed" or "exited".
    pub state: String,
    /// Main process id, 0 when not running.
    pub pid: u32,
    /// Started at boot.
    pub enabled: bool,
    /// Restarts so far.
    pub restarts: u32,
    /// Last `STATUS=` text from the service.
    pub status_text: String,
    /// Exit code of the last run.
    pub last_exit_code: i32,
    /// When the state was entered, Unix milliseconds.
    pub since_unix_ms: i64,
}

/// Power actions of the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    /// Stop everything and power off.
    Poweroff,
    /// Stop everything and reboot.
    Reboot,
}

/// Current time in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

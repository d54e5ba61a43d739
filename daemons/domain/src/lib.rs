//! # aios-domain: the plain types of the aiOS contracts
//!
//! Every process contract of aiOS speaks in these types: the session
//! stream's [`Op`]s and [`Event`]s (DESIGN.md §3), tool specs and effect
//! classes ([`ToolSpec`], [`Risk`]), the rows of the episodic store
//! ([`StoredMessage`], [`StoredToolCall`]), model completions
//! ([`CompletionRequest`], [`CompletionEvent`]), the supervisor's
//! [`ServiceState`], and the kernel-vouched caller ([`Principal`]).
//!
//! Design decisions:
//! - **No transport here.** This crate depends on `serde` and
//!   `serde_json` only, so crates that act on the system (`aios-catalog`)
//!   or store things (`aios-store`) use the contract's vocabulary without
//!   linking tonic, hyper or prost. `aios-proto` converts these types to
//!   and from the wire by hand, and re-exports them for the daemons.
//! - **serde is the `--json` format.** The session events serialise to
//!   exactly the lines `aios --json` prints (`docs/EVENTS.md`).
//! - **Forward compatible.** Consumers ignore what they do not know: an
//!   unknown error code survives as [`ErrorCode::Other`], and the
//!   transport drops event kinds it cannot decode instead of failing.
#![deny(missing_docs)]

mod audit;
mod error_code;
mod event;
mod json;
mod memory;
mod model;
mod policy;
mod principal;
mod resource;
mod runtime;
mod session;
mod supervisor;
mod tool;

pub use audit::{
    ApprovalScope, Approver, AuditDecision, AuditEntry, AuditKind, AuditQuery, AuditQuestion,
    AuditRecord, CommandRecord, SHELL_COMMAND_TOOL, VerifyReport,
};
pub use error_code::ErrorCode;
pub use event::{Event, EventKind, StepStatus, TurnStatus, Usage};
pub use json::json_kind;
pub use memory::{StoredMessage, StoredToolCall};
pub use model::{
    ChatMessage, CompletionEvent, CompletionRequest, ModelTool, ProviderStatus, Role, TokenCounts,
    ToolCall,
};
pub use policy::{
    Caller, HostFacts, PolicyDecision, PolicyInput, PolicyQuestion, RuleSource, SessionKind,
    Verdict,
};
pub use principal::{ADMIN_GROUPS, Denied, GATEWAY_USER, Principal, Right, SERVICE_USER};
pub use resource::{Resource, ResourceKind};
pub use runtime::{GenerateEvent, GenerateRequest, GenerateUsage, RuntimeInfo};
pub use session::{ApprovalMode, CreateSession, Decision, Op, SessionInfo};
pub use supervisor::{PingReply, PowerAction, ServiceState};
pub use tool::{
    ApprovalAck, ApprovalAnswer, ApprovalNeeded, ArgDoc, ExecuteEnd, ExecuteEvent, ExecuteRequest,
    PendingCall, Preview, PreviewDetail, Risk, ToolExample, ToolSpec, ToolStatus, UndoRecord,
};

/// Current time in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

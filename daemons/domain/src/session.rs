//! Sessions and the operations a client sends to `aiosd` (DESIGN.md §3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SessionKind;

/// Whether a session may wait for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// Ask the human for anything policy does not allow outright.
    #[default]
    Ask,
    /// Never wait for a human: refuse what policy does not allow.
    Policy,
    /// Nothing that changes the system runs, whatever policy says.
    Never,
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
    /// What kind of client drives the session, declared by the client that
    /// creates it (the TUI and line mode: interactive; `aios -p`: one-shot;
    /// an agent: background). Fixed for the session's life; toolsd pins it
    /// and policy rules match it.
    pub kind: SessionKind,
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
    /// The kind declared at creation; it never changes.
    #[serde(default)]
    pub kind: SessionKind,
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
    /// Run this exact call, once.
    Approve,
    /// Run it, and calls like it (same tool, same resources) for the rest
    /// of this session.
    Session,
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

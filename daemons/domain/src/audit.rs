//! The audit ledger's records: what toolsd writes before and after every
//! call it decides on, and what `aios audit` and `aios why` read back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Resource, Risk, ToolStatus, UndoRecord, Verdict};

/// What one ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// Written before a call runs; if it cannot be written, the call does
    /// not run.
    Intent,
    /// Written after the call ran: status, summary, undo handle.
    Outcome,
    /// A call refused by policy, by a human, or for lack of an approval.
    Refusal,
}

/// How far a human's approval reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalScope {
    /// This exact call, once.
    Once,
    /// The same call pattern, for the rest of this session.
    Session,
    /// A rule written to the user's policy file.
    Always,
}

/// How a call was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDecision {
    /// The policy verdict on the call.
    pub verdict: Verdict,
    /// The deciding rule's id.
    pub rule: String,
    /// The human who approved or rejected it, when one did.
    pub approved_by: Option<Approver>,
}

/// A human's recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// Their uid, from the kernel.
    pub uid: u32,
    /// Their user name.
    pub user: String,
    /// How far the approval reaches.
    pub scope: ApprovalScope,
    /// The user edited the arguments before approving.
    pub edited: bool,
    /// A note (a rejection's reason), when given.
    pub note: Option<String>,
}

/// The tool name of a login shell's command (`aios -c CMD`) in the ledger.
pub const SHELL_COMMAND_TOOL: &str = "shell.command";

/// `aios -c CMD` reported to the ledger by the user's own shell: toolsd
/// records it (it does not run or authorize it; the command runs with the
/// user's own rights) under the uid the kernel gives for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandRecord {
    /// Before the command runs.
    Intent {
        /// The command text, as given to `/bin/sh -c`.
        command: String,
        /// The shell's working directory.
        cwd: String,
        /// Run as a login shell (`-l`: the profiles first).
        login: bool,
    },
    /// After it ended.
    Outcome {
        /// The intent entry it closes (the caller's own).
        intent_id: u64,
        /// The exit code, when it exited.
        exit_code: Option<i32>,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
        /// How long it ran.
        duration_us: u64,
    },
}

/// One entry as toolsd writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// What this entry records.
    pub kind: AuditKind,
    /// When, Unix milliseconds.
    pub unix_ms: i64,
    /// The uid the call acted for.
    pub uid: u32,
    /// That user's name.
    pub user: String,
    /// Session id.
    pub session_id: String,
    /// The kind of that session, as toolsd established it (entries written
    /// before it was recorded read as interactive).
    #[serde(default)]
    pub session_kind: crate::SessionKind,
    /// Call id.
    pub call_id: String,
    /// The user's request that led to the call.
    pub request: String,
    /// The plan step the call belongs to.
    pub plan_step: String,
    /// The model's stated reason.
    pub rationale: String,
    /// Dotted tool name.
    pub tool: String,
    /// Canonical arguments.
    pub args: Value,
    /// SHA-256 of tool name and canonical arguments.
    pub call_hash: String,
    /// The call's assessed effect.
    pub effect: Risk,
    /// What it touches.
    pub resources: Vec<Resource>,
    /// How it was decided.
    pub decision: Option<AuditDecision>,
    /// Outcome entries: how the call ended.
    pub status: Option<ToolStatus>,
    /// One line: the result, or why it was refused.
    pub summary: String,
    /// Outcome entries: time spent running.
    pub duration_us: u64,
    /// Outcome entries: how to reverse the change, when it can be.
    pub undo: Option<UndoRecord>,
    /// Outcome entries: the id of the intent entry they close.
    pub intent_id: Option<u64>,
}

/// An entry as stored: its position and place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the ledger, from 1, without gaps.
    pub id: u64,
    /// Hash of the previous record (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and the canonical encoding of the entry.
    pub hash: String,
    /// The entry.
    pub entry: AuditEntry,
}

/// The result of checking the whole chain (`aios audit verify --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Every entry is intact and in order.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The ledger file.
    pub path: String,
    /// The first entry that fails, when one does.
    pub first_bad: Option<u64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// A filter over the ledger (`aios audit log`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Only entries at or after this time.
    pub since_unix_ms: Option<i64>,
    /// Only this tool (exact, or a `*` glob).
    pub tool: Option<String>,
    /// Only calls acting for this user.
    pub user: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// At most this many (newest), 0 for the default.
    pub limit: u32,
}

/// A question to the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditQuestion {
    /// Entries matching a filter.
    Log(AuditQuery),
    /// Every entry of the call that entry `id` belongs to.
    Why(u64),
    /// Check the whole chain.
    Verify,
    /// The chain's end now, signed by toolsd's checkpoint key, to export
    /// (`aios audit checkpoint`): the JSON of an `aios_ledger::SignedCheckpoint`.
    Checkpoint,
    /// Check the whole chain and that it still holds the entry an exported
    /// checkpoint names: the checkpoint file's text (`aios audit verify
    /// --against FILE`).
    VerifyAgainst(String),
}

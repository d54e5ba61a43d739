//! The policy contract: what the policy engine is asked about one call
//! ([`PolicyInput`]) and what it answers ([`PolicyDecision`]). toolsd
//! builds the input from the kernel-verified caller and the tool's own
//! assessment of the call; nothing in it comes from the model's say-so.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Resource, Risk};

/// What kind of session a call comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A person at the full-screen or line shell, able to answer approvals.
    #[default]
    Interactive,
    /// `aios -p '...'`, a prompt piped on stdin, `aios undo` without a
    /// terminal: one request, then the client exits.
    OneShot,
    /// A background agent: it can never approve its own calls.
    Background,
}

impl SessionKind {
    /// The kind as written in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Interactive => "interactive",
            SessionKind::OneShot => "one_shot",
            SessionKind::Background => "background",
        }
    }
}

/// The caller as policy sees it: from the kernel's peer credentials and the
/// user database, never from the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The uid the call acts for.
    pub uid: u32,
    /// That user's name (empty when the uid has no entry).
    pub user: String,
    /// Names of the user's groups, primary first.
    pub groups: Vec<String>,
    /// Member of an admin group (`sudo`, `wheel`, `aios-admin`) or root.
    pub admin: bool,
    /// The user's home directory ("own resources" for the defaults).
    pub home: String,
    /// The session kind the call comes from.
    pub session_kind: SessionKind,
}

/// Facts of the host that built-in denials need, gathered by toolsd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// Ports sshd listens on (built-in: never firewall them off).
    pub ssh_ports: Vec<u16>,
    /// Block devices that are mounted (built-in: never format them).
    pub mounted_devices: Vec<String>,
    /// Path of the audit ledger (built-in: never delete or truncate it).
    pub ledger_path: String,
    /// Release of the running kernel, `uname -r`.
    pub kernel_release: String,
}

/// Everything the policy engine decides one call on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyInput {
    /// Dotted tool name.
    pub tool: String,
    /// The call's canonical arguments.
    pub args: Value,
    /// The effect of this call, as the tool assessed it from its arguments.
    pub effect: Risk,
    /// What the call touches.
    pub resources: Vec<Resource>,
    /// Who it acts for.
    pub caller: Caller,
    /// Host facts for the built-in denials.
    pub host: HostFacts,
}

/// allow, ask or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Runs without asking.
    Allow,
    /// Runs only with a human's approval of this exact call.
    Ask,
    /// Never runs.
    Deny,
}

impl Verdict {
    /// The verdict as written in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Ask => "ask",
            Verdict::Deny => "deny",
        }
    }
}

/// Where the deciding rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// Compiled in; nothing lifts it.
    Builtin,
    /// The system policy file.
    System,
    /// The user's policy file (including saved grants).
    User,
    /// No rule matched; the defaults decided.
    Default,
}

/// The policy engine's answer on one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// allow, ask or deny.
    pub verdict: Verdict,
    /// Where the deciding rule lives.
    pub source: RuleSource,
    /// The deciding rule's id (`builtin.wipe-root`, `system:3`, `user:grant-…`).
    pub rule: String,
    /// Why, in one sentence a person can act on.
    pub reason: String,
    /// For destructive calls: the name the user must type to approve.
    pub confirm: Option<String>,
}

/// A question to the executor's policy (`aios policy …`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyQuestion {
    /// How would this call be decided, and by which rule?
    Check {
        /// Dotted tool name.
        tool: String,
        /// Arguments.
        args: Value,
        /// Decide as for a session of this kind (default: interactive, the
        /// asking user's own).
        #[serde(default)]
        session_kind: Option<SessionKind>,
    },
    /// The caller's saved grants.
    Grants,
    /// Revoke one saved grant by id.
    Revoke(String),
    /// What the executor enforces: the ledger, the policy files, the
    /// sandbox's features (`aios doctor`).
    Status,
    /// The exact rule an "always" answer to this waiting call would save,
    /// the file it goes to, and whether a configured `ask` or `deny` would
    /// still win (asked by the session's user before answering).
    GrantPreview {
        /// Session of the waiting call.
        session_id: String,
        /// Its call id.
        call_id: String,
        /// Its hash, as the approval card showed it.
        call_hash: String,
    },
}

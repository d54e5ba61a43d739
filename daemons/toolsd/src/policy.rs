//! The executor's policy seam: what toolsd asks about each call
//! ([`PolicyEngine`]). The engine is `aios-policy`: with files
//! ([`crate::FilePolicy`]) in the daemon, or its built-in rules and
//! defaults alone ([`aios_policy::Policy::builtin_only`]).

use std::path::PathBuf;

use aios_policy::Rule;
use aios_proto::{Caller, PolicyDecision, PolicyInput, Verdict};
use serde_json::{Value, json};

const NO_USER_FILE: &str =
    "this executor has no user policy file to save rules to; approve once or for the session";

/// What an "always" answer would save, shown before the user confirms.
#[derive(Debug, Clone)]
pub struct GrantPreview {
    /// The rule, exactly as it would be written.
    pub rule: Rule,
    /// The file it would be appended to.
    pub file: PathBuf,
    /// The decision on the call with the rule saved.
    pub with_grant: PolicyDecision,
}

impl GrantPreview {
    /// Whether saving the rule would stop the question.
    pub fn takes_effect(&self) -> bool {
        self.with_grant.verdict == Verdict::Allow
    }

    /// The answer to `PolicyQuestion::GrantPreview`.
    pub fn to_json(&self) -> Value {
        json!({
            "rule": self.rule.to_toml(),
            "id": self.rule.id(),
            "file": self.file,
            "takes_effect": self.takes_effect(),
            "blocked_by": (!self.takes_effect()).then(|| json!({
                "rule": self.with_grant.rule,
                "source": self.with_grant.source,
                "verdict": self.with_grant.verdict,
                "reason": self.with_grant.reason,
            })),
        })
    }
}

/// Decides calls and manages the caller's saved grants.
pub trait PolicyEngine: Send + Sync + std::fmt::Debug {
    /// The verdict on one call.
    fn decide(&self, input: &PolicyInput) -> PolicyDecision;
    /// The verdict with every rule that matched, for `aios policy check`.
    fn explain(&self, input: &PolicyInput) -> Value {
        json!({ "decision": self.decide(input) })
    }
    /// The "always" rule for this call, as it would be saved: the rule,
    /// the file it would go to, and the decision with it saved (not
    /// `Allow` when a configured `ask` or `deny`, or a built-in denial,
    /// would still win: then saving it would change nothing).
    fn preview_grant(&self, input: &PolicyInput) -> Result<GrantPreview, String> {
        let _ = input;
        Err(NO_USER_FILE.into())
    }
    /// Write an "always" rule for this call to the caller's policy file:
    /// `rule` (the one previewed) or a fresh one. Refused, writing
    /// nothing, when the rule would not take effect. The rule as saved,
    /// as TOML.
    fn grant(&self, input: &PolicyInput, rule: Option<Rule>) -> Result<String, String> {
        let _ = (input, rule);
        Err(NO_USER_FILE.into())
    }
    /// The caller's saved grants.
    fn grants(&self, caller: &Caller) -> Result<Value, String> {
        let _ = caller;
        Ok(json!([]))
    }
    /// The files this engine reads for `caller`, for `aios doctor`.
    fn files(&self, caller: &Caller) -> Value {
        let _ = caller;
        json!({})
    }
    /// Revoke one of the caller's saved grants; whether it existed.
    fn revoke(&self, caller: &Caller, id: &str) -> Result<bool, String> {
        let _ = (caller, id);
        Ok(false)
    }
}

/// Built-in denials and defaults only, without files (tests, and a
/// toolsd told to use no files).
impl PolicyEngine for aios_policy::Policy {
    fn decide(&self, input: &PolicyInput) -> PolicyDecision {
        aios_policy::Policy::decide(self, input)
    }

    fn explain(&self, input: &PolicyInput) -> Value {
        serde_json::to_value(aios_policy::Policy::explain(self, input)).unwrap_or(Value::Null)
    }
}

//! The executor's policy seam: what toolsd asks about each call
//! ([`PolicyEngine`]). The engine is `aios-policy`: with files
//! ([`crate::FilePolicy`]) in the daemon, or its built-in rules and
//! defaults alone ([`aios_policy::Policy::builtin_only`]).

use aios_proto::{Caller, PolicyDecision, PolicyInput};
use serde_json::{Value, json};

/// Decides calls and manages the caller's saved grants.
pub trait PolicyEngine: Send + Sync + std::fmt::Debug {
    /// The verdict on one call.
    fn decide(&self, input: &PolicyInput) -> PolicyDecision;
    /// The verdict with every rule that matched, for `aios policy check`.
    fn explain(&self, input: &PolicyInput) -> Value {
        json!({ "decision": self.decide(input) })
    }
    /// Write an "always" rule for this call to the caller's policy file;
    /// the rule as TOML.
    fn grant(&self, input: &PolicyInput) -> Result<String, String> {
        let _ = input;
        Err("this executor has no user policy file to save rules to; approve once or for the session".into())
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

//! The executor's policy seam: what toolsd asks about each call
//! ([`PolicyEngine`]), and the engine it uses when no policy files are
//! configured ([`Defaults`]): reads run, changes ask, destructive changes
//! ask and need the target typed, non-administrators change nothing
//! outside their home, and background sessions cannot be approved.

use aios_proto::{
    Caller, PolicyDecision, PolicyInput, Resource, Risk, RuleSource, SessionKind, Verdict,
};
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
    /// Revoke one of the caller's saved grants; whether it existed.
    fn revoke(&self, caller: &Caller, id: &str) -> Result<bool, String> {
        let _ = (caller, id);
        Ok(false)
    }
}

/// The defaults of DESIGN.md §5, with no rule files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults;

/// The value of the first resource that has one: what a destructive call's
/// approver types.
pub fn confirm_target(resources: &[Resource]) -> Option<String> {
    resources.iter().find_map(Resource::value)
}

/// Whether every resource is a path under `home` (a user's own files).
pub fn only_own_paths(caller: &Caller, resources: &[Resource]) -> bool {
    let home = caller.home.trim_end_matches('/');
    !home.is_empty()
        && !resources.is_empty()
        && resources.iter().all(|r| match r {
            Resource::Path(p) => p == home || p.starts_with(&format!("{home}/")),
            _ => false,
        })
}

impl PolicyEngine for Defaults {
    fn decide(&self, input: &PolicyInput) -> PolicyDecision {
        let c = &input.caller;
        let decision = |verdict, source, rule: &str, reason: String| PolicyDecision {
            verdict,
            source,
            rule: rule.to_string(),
            reason,
            confirm: None,
        };
        if input.effect != Risk::Read && !c.admin && !only_own_paths(c, &input.resources) {
            return decision(
                Verdict::Deny,
                RuleSource::Builtin,
                "builtin.not-admin",
                format!(
                    "`{}` changes the system and {} is not an administrator (sudo, wheel or aios-admin); \
                     ordinary users may change only their own files",
                    input.tool,
                    if c.user.is_empty() {
                        format!("uid {}", c.uid)
                    } else {
                        c.user.clone()
                    }
                ),
            );
        }
        let mut d = match input.effect {
            Risk::Read => decision(
                Verdict::Allow,
                RuleSource::Default,
                "default.read",
                "reading is allowed; the kernel checks what this user may read".into(),
            ),
            Risk::Change => decision(
                Verdict::Ask,
                RuleSource::Default,
                "default.change",
                format!(
                    "`{}` changes the system and no policy rule allows it",
                    input.tool
                ),
            ),
            Risk::Destructive => PolicyDecision {
                confirm: confirm_target(&input.resources),
                ..decision(
                    Verdict::Ask,
                    RuleSource::Default,
                    "default.destructive",
                    format!(
                        "`{}` may lose data and no policy rule allows it",
                        input.tool
                    ),
                )
            },
        };
        if d.verdict == Verdict::Ask && c.session_kind == SessionKind::Background {
            d.verdict = Verdict::Deny;
            d.reason = format!(
                "{}; a background agent cannot approve its own calls",
                d.reason
            );
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::HostFacts;

    fn input(
        effect: Risk,
        admin: bool,
        kind: SessionKind,
        resources: Vec<Resource>,
    ) -> PolicyInput {
        PolicyInput {
            tool: "fs.write".into(),
            args: Value::Null,
            effect,
            resources,
            caller: Caller {
                uid: 1000,
                user: "alice".into(),
                groups: vec!["alice".into()],
                admin,
                home: "/home/alice".into(),
                session_kind: kind,
            },
            host: HostFacts::default(),
        }
    }

    #[test]
    fn defaults_table() {
        let etc = vec![Resource::Path("/etc/motd".into())];
        let own = vec![Resource::Path("/home/alice/notes.txt".into())];
        let i = SessionKind::Interactive;
        let cases = [
            (
                Risk::Read,
                false,
                i,
                etc.clone(),
                Verdict::Allow,
                "default.read",
            ),
            (
                Risk::Change,
                true,
                i,
                etc.clone(),
                Verdict::Ask,
                "default.change",
            ),
            (
                Risk::Destructive,
                true,
                i,
                etc.clone(),
                Verdict::Ask,
                "default.destructive",
            ),
            (
                Risk::Change,
                false,
                i,
                etc.clone(),
                Verdict::Deny,
                "builtin.not-admin",
            ),
            (
                Risk::Change,
                false,
                i,
                own.clone(),
                Verdict::Ask,
                "default.change",
            ),
            (
                Risk::Change,
                true,
                SessionKind::Background,
                etc.clone(),
                Verdict::Deny,
                "default.change",
            ),
        ];
        for (effect, admin, kind, res, verdict, rule) in cases {
            let d = Defaults.decide(&input(effect, admin, kind, res.clone()));
            assert_eq!(
                (d.verdict, d.rule.as_str()),
                (verdict, rule),
                "{effect:?} admin={admin} {kind:?} {res:?}: {}",
                d.reason
            );
        }
        let d = Defaults.decide(&input(Risk::Destructive, true, i, etc));
        assert_eq!(d.confirm.as_deref(), Some("/etc/motd"));
    }

    #[test]
    fn own_paths_are_exactly_under_home() {
        let c = input(Risk::Change, false, SessionKind::Interactive, vec![]).caller;
        assert!(only_own_paths(
            &c,
            &[Resource::Path("/home/alice/x".into())]
        ));
        assert!(!only_own_paths(
            &c,
            &[Resource::Path("/home/alicex/y".into())]
        ));
        assert!(!only_own_paths(&c, &[]));
        assert!(!only_own_paths(
            &c,
            &[Resource::Path("/home/alice/x".into()), Resource::Network]
        ));
    }
}

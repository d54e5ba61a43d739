//! Who may run what: the executor's own decision for every call, as a pure
//! function of the kernel-verified caller, the uid it claims to act for and
//! the tool's spec. The planner's word counts for nothing here.
//!
//! Today: read tools run for any local user; system-changing tools are
//! refused (fail closed) because neither the policy engine nor recorded
//! human approvals exist yet. Those later issues slot in as more inputs to
//! [`authorize`].

use aios_proto::{Principal, Risk, ToolSpec};

/// The executor's decision on one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run with the permissions of `run_as`.
    Allow {
        /// The effective uid of the call.
        run_as: u32,
    },
    /// The caller may not ask this at all (e.g. claims another user without
    /// being a daemon): answered with a `PermissionDenied` RPC error.
    RefuseCaller(String),
    /// A valid request that nothing allows: the call ends with `Denied`.
    Deny(String),
}

/// Decide whether `who` may run `spec`, on behalf of `on_behalf_of_uid`
/// (0 means "the caller itself").
///
/// `on_behalf_of_uid` is trusted only from a daemon peer (same uid as
/// toolsd, or root); anyone else runs as their own uid, and claiming a
/// different one is refused.
pub fn authorize(who: &Principal, on_behalf_of_uid: u32, spec: &ToolSpec) -> Decision {
    let run_as = if on_behalf_of_uid == 0 || on_behalf_of_uid == who.uid {
        who.uid
    } else if who.trusted_peer {
        on_behalf_of_uid
    } else {
        return Decision::RefuseCaller(format!(
            "uid {} may not run tools on behalf of uid {on_behalf_of_uid}: only an aiOS daemon (the service uid) or root may",
            who.uid
        ));
    };
    match spec.effect {
        Risk::Read => Decision::Allow { run_as },
        Risk::Change | Risk::Destructive => Decision::Deny(format!(
            "`{}` changes the system ({} risk) and no policy rule or human approval allows it; \
             system changes are refused until one does",
            spec.name,
            match spec.effect {
                Risk::Destructive => "destructive",
                _ => "change",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(uid: u32, admin: bool, trusted_peer: bool) -> Principal {
        Principal {
            uid,
            gid: uid,
            pid: None,
            admin,
            trusted_peer,
        }
    }

    fn spec(effect: Risk) -> ToolSpec {
        ToolSpec {
            name: "x.y".into(),
            description: String::new(),
            args_schema: serde_json::json!({"type": "object"}),
            effect,
            resources: vec![],
            examples: vec![],
        }
    }

    #[test]
    fn read_tools_run_for_any_user_as_themselves() {
        let p = principal(1000, false, false);
        assert_eq!(
            authorize(&p, 0, &spec(Risk::Read)),
            Decision::Allow { run_as: 1000 }
        );
        assert_eq!(
            authorize(&p, 1000, &spec(Risk::Read)),
            Decision::Allow { run_as: 1000 }
        );
    }

    #[test]
    fn non_admin_asking_for_a_change_tool_is_denied() {
        let p = principal(1000, false, false);
        for risk in [Risk::Change, Risk::Destructive] {
            let Decision::Deny(msg) = authorize(&p, 0, &spec(risk)) else {
                panic!("{risk:?} allowed");
            };
            assert!(msg.contains("no policy rule or human approval"), "{msg}");
        }
    }

    #[test]
    fn admins_and_daemons_are_denied_changes_too_until_policy_exists() {
        let admin = principal(1000, true, false);
        assert!(matches!(
            authorize(&admin, 0, &spec(Risk::Change)),
            Decision::Deny(_)
        ));
        let daemon = principal(0, true, true);
        assert!(matches!(
            authorize(&daemon, 1000, &spec(Risk::Destructive)),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn non_daemon_claiming_another_uid_is_refused() {
        let p = principal(1000, true, false);
        let Decision::RefuseCaller(msg) = authorize(&p, 1001, &spec(Risk::Read)) else {
            panic!("claim accepted");
        };
        assert!(msg.contains("uid 1000") && msg.contains("1001"), "{msg}");
    }

    #[test]
    fn daemon_claim_is_trusted() {
        let aiosd = principal(998, false, true);
        assert_eq!(
            authorize(&aiosd, 1000, &spec(Risk::Read)),
            Decision::Allow { run_as: 1000 }
        );
        assert_eq!(
            authorize(&aiosd, 0, &spec(Risk::Read)),
            Decision::Allow { run_as: 998 }
        );
    }
}

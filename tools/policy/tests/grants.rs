//! Saved grants on real files: save, list, decide with them, revoke; the
//! user's comments survive; modes are 0600 and 0700; a grant never
//! loosens a system ask.
// Test helpers outside #[test] fns panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use aios_domain::{RuleSource, Verdict};
use aios_policy::{Policy, PolicyErrorKind, grant_rule, list_grants, revoke_grant, save_grant};
use common::*;

#[test]
fn save_list_decide_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("cfg/aios/policy.toml");
    let input = call("service.restart change service:nginx");
    let before = Policy::load(None, Some(&user)).unwrap();
    assert_eq!(before.decide(&input).verdict, Verdict::Ask);

    let rule = grant_rule(&input);
    let shown = rule.to_toml();
    assert!(shown.starts_with("[[rule]]\n"), "{shown}");
    assert!(shown.contains("tools = [\"service.restart\"]"), "{shown}");
    assert!(shown.contains("services = [\"nginx\"]"), "{shown}");
    assert!(shown.contains("[[rule.example]]"), "{shown}");

    let id = save_grant(&user, &rule).unwrap();
    assert_eq!(id, rule.id());
    assert!(id.starts_with("grant-"), "{id}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&user), 0o600);
    assert_eq!(mode(user.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.path().join("cfg")), 0o700);

    let grants = list_grants(&user).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].id(), id);

    let after = Policy::load(None, Some(&user)).unwrap();
    let d = after.decide(&input);
    assert_eq!(
        (d.verdict, d.source, d.rule.as_str()),
        (Verdict::Allow, RuleSource::User, id.as_str())
    );
    // The grant covers this call only: another unit, another tool, or a
    // destructive version still asks.
    for other in [
        "service.restart change service:nginx-debug",
        "service.stop change service:nginx",
        "service.restart destructive service:nginx",
    ] {
        assert_eq!(after.decide(&call(other)).verdict, Verdict::Ask, "{other}");
    }

    // Saving the same rule again gets a fresh id rather than a duplicate.
    let id2 = save_grant(&user, &rule).unwrap();
    assert_eq!(id2, format!("{id}-2"));
    assert_eq!(list_grants(&user).unwrap().len(), 2);

    assert!(revoke_grant(&user, &id).unwrap());
    assert!(!revoke_grant(&user, &id).unwrap());
    let left: Vec<String> = list_grants(&user)
        .unwrap()
        .iter()
        .map(|r| r.id().to_string())
        .collect();
    assert_eq!(left, std::slice::from_ref(&id2));
    assert!(revoke_grant(&user, &id2).unwrap());
    let p = Policy::load(None, Some(&user)).unwrap();
    assert_eq!(p.decide(&input).verdict, Verdict::Ask);
    assert_eq!(mode(&user), 0o600);
}

#[test]
fn saving_and_revoking_keep_the_users_own_content() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("policy.toml");
    let mine = "# My own rules; keep this comment.\n[[rule]]\nid = \"mine\"  # trailing note\naction = \"deny\"\ntools = [\"fs.delete\"]\npaths = [\"~/photos/**\"]";
    std::fs::write(&user, mine).unwrap();
    let id = save_grant(
        &user,
        &grant_rule(&call("fs.write change path:/srv/a*b.txt")),
    )
    .unwrap();
    let text = std::fs::read_to_string(&user).unwrap();
    assert!(text.starts_with(mine), "{text}");
    // Only grants are listed; the hand-written rule is not one.
    assert_eq!(list_grants(&user).unwrap().len(), 1);
    // The grant's glob is escaped: it matches its own path only.
    let p = Policy::load(None, Some(&user)).unwrap();
    assert_eq!(
        p.decide(&call("fs.write change path:/srv/a*b.txt")).verdict,
        Verdict::Allow
    );
    assert_eq!(
        p.decide(&call("fs.write change path:/srv/aXXb.txt"))
            .verdict,
        Verdict::Ask
    );

    let e = revoke_grant(&user, "mine").unwrap_err();
    assert_eq!(e.kind(), PolicyErrorKind::NotAGrant);
    assert!(e.to_string().contains("hand-written rule"), "{e}");

    assert!(revoke_grant(&user, &id).unwrap());
    let text = std::fs::read_to_string(&user).unwrap();
    assert!(
        text.contains("# My own rules; keep this comment."),
        "{text}"
    );
    assert!(text.contains("id = \"mine\"  # trailing note"), "{text}");
    assert!(!text.contains("grant-"), "{text}");
}

#[test]
fn a_grant_never_loosens_a_system_ask_or_deny() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("system.toml");
    let user = dir.path().join("user.toml");
    std::fs::write(
        &sys,
        "[[rule]]\nid = \"pkgs\"\naction = \"ask\"\ntools = [\"pkg.*\"]\n[[rule]]\nid = \"no-nc\"\naction = \"deny\"\ntools = [\"pkg.install\"]\npackages = [\"netcat*\"]\n",
    )
    .unwrap();
    for spec in [
        "pkg.install change package:htop",
        "pkg.install change package:netcat-openbsd",
    ] {
        let input = call(spec);
        save_grant(&user, &grant_rule(&input)).unwrap();
        let p = Policy::load(Some(&sys), Some(&user)).unwrap();
        let d = p.decide(&input);
        assert_eq!(d.source, RuleSource::System, "{spec}: {}", d.reason);
        assert_ne!(d.verdict, Verdict::Allow, "{spec}");
    }
}

/// The peers' top complaint: a saved approval silently overriding a
/// configured ask. Here the user's own file asks; "always" must neither
/// loosen it nor pretend to, and `decide_with_grant` says so before saving.
#[test]
fn a_grant_never_silently_overrides_a_configured_ask_in_either_file() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("system.toml");
    let user = dir.path().join("user.toml");
    std::fs::write(
        &sys,
        "[[rule]]\nid = \"pkgs\"\naction = \"ask\"\ntools = [\"pkg.*\"]\n",
    )
    .unwrap();
    std::fs::write(
        &user,
        "# I want to be asked before any restart.\n[[rule]]\nid = \"mine\"\naction = \"ask\"\ntools = [\"service.restart\"]\n",
    )
    .unwrap();
    for (spec, rule, source) in [
        (
            "pkg.install change package:htop",
            "pkgs",
            RuleSource::System,
        ),
        (
            "service.restart change service:nginx",
            "mine",
            RuleSource::User,
        ),
    ] {
        let input = call(spec);
        let p = Policy::load(Some(&sys), Some(&user)).unwrap();
        let grant = p.fresh_grant(&input);
        // Before saving: the grant would not take effect, and the rule
        // that still asks is named.
        let would = p.decide_with_grant(&input, &grant);
        assert_eq!(would.verdict, Verdict::Ask, "{spec}");
        assert_eq!(
            (would.rule.as_str(), would.source),
            (rule, source),
            "{spec}"
        );
        // And if it is saved anyway, the configured ask still decides.
        save_grant(&user, &grant).unwrap();
        let d = Policy::load(Some(&sys), Some(&user))
            .unwrap()
            .decide(&input);
        assert_eq!((d.verdict, d.rule.as_str()), (Verdict::Ask, rule), "{spec}");
    }
    // With nothing configured, the grant takes effect, and the rule shown
    // before saving is the rule saved, byte for byte.
    let input = call("service.restart change service:cron");
    let free = dir.path().join("free.toml");
    let p = Policy::load(None, Some(&free)).unwrap();
    let grant = p.fresh_grant(&input);
    assert_eq!(p.decide_with_grant(&input, &grant).verdict, Verdict::Allow);
    let id = save_grant(&free, &grant).unwrap();
    assert_eq!(id, grant.id());
    assert!(
        std::fs::read_to_string(&free)
            .unwrap()
            .contains(&grant.to_toml()),
        "{}",
        grant.to_toml()
    );
    // A second grant the same second gets a fresh id up front.
    let p = Policy::load(None, Some(&free)).unwrap();
    let again = p.fresh_grant(&input);
    assert_ne!(again.id(), grant.id());
    assert_eq!(save_grant(&free, &again).unwrap(), again.id());
}

#[test]
fn grants_over_untyped_resources_cover_only_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("policy.toml");
    let input = call("process.signal change process:4242");
    let rule = grant_rule(&input);
    assert!(
        rule.to_toml().contains("resources = [\"process:4242\"]"),
        "{}",
        rule.to_toml()
    );
    save_grant(&user, &rule).unwrap();
    let p = Policy::load(None, Some(&user)).unwrap();
    assert_eq!(p.decide(&input).verdict, Verdict::Allow);
    assert_eq!(
        p.decide(&call("process.signal change process:1")).verdict,
        Verdict::Ask
    );
}

#[test]
fn a_broken_user_file_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("policy.toml");
    let broken = "[[rule]]\nid = \"x\"\naction = \"maybe\"\ntools = [\"*\"]\n";
    std::fs::write(&user, broken).unwrap();
    let e = save_grant(&user, &grant_rule(&call("fs.write change path:/x"))).unwrap_err();
    assert!(e.to_string().contains("fix it first"), "{e}");
    assert_eq!(e.line(), Some(3));
    assert_eq!(std::fs::read_to_string(&user).unwrap(), broken);
    // No temporary file left behind (the lock file stays, by design).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "policy.toml" || n == ".policy.toml.lock"),
        "{names:?}"
    );
}

#[test]
fn concurrent_saves_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("policy.toml");
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let user = user.clone();
            std::thread::spawn(move || {
                let input = call(&format!("service.restart change service:unit{i}"));
                save_grant(&user, &grant_rule(&input)).unwrap()
            })
        })
        .collect();
    let mut ids: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    assert_eq!(list_grants(&user).unwrap().len(), 8);
}

//! Table-driven tests of the decision semantics: built-in denials,
//! non-admins, precedence between files, defaults, background sessions,
//! confirm names and the typed matchers.
// Test helpers outside #[test] fns panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aios_domain::{PolicyInput, RuleSource, Verdict};
use aios_policy::Policy;
use common::*;

/// One row: the call, the expected verdict, source and deciding rule.
fn expect(policy: &Policy, input: &PolicyInput, verdict: Verdict, source: RuleSource, rule: &str) {
    let d = policy.decide(input);
    assert_eq!(
        (d.verdict, d.source, d.rule.as_str()),
        (verdict, source, rule),
        "{} {:?} {:?}: {}",
        input.tool,
        input.effect,
        input.resources,
        d.reason
    );
    assert!(!d.reason.is_empty());
}

#[test]
fn builtin_denials_hold_against_allow_everything_files() {
    let open = Policy::from_toml(ALLOW_ALL, ALLOW_ALL).unwrap();
    let cases = [
        ("fs.delete destructive path:/", "builtin.wipe-system-dir"),
        ("fs.delete destructive path:/etc", "builtin.wipe-system-dir"),
        (
            "fs.delete destructive path:/usr/",
            "builtin.wipe-system-dir",
        ),
        (
            "fs.delete destructive path://var/./lib/..",
            "builtin.wipe-system-dir",
        ),
        (
            "fs.delete destructive path:/home/alice/x path:/boot",
            "builtin.wipe-system-dir",
        ),
        (
            "disk.format destructive device:/dev/sda1",
            "builtin.mounted-device",
        ),
        (
            "disk.partition destructive device:/dev/sda",
            "builtin.mounted-device",
        ),
        (
            "disk.format destructive device:/dev/nvme0n1",
            "builtin.mounted-device",
        ),
        (
            "fs.write destructive path:/dev/sda1",
            "builtin.mounted-device",
        ),
        (
            "pkg.remove destructive package:linux-image-6.1.0-test-amd64",
            "builtin.kernel-or-init",
        ),
        (
            "pkg.remove change package:systemd",
            "builtin.kernel-or-init",
        ),
        (
            "pkg.remove destructive package:systemd-sysv:amd64",
            "builtin.kernel-or-init",
        ),
        (
            "pkg.remove destructive package:aios-initd",
            "builtin.kernel-or-init",
        ),
        (
            "fs.delete destructive path:/boot/vmlinuz-6.1.0-test-amd64",
            "builtin.kernel-or-init",
        ),
        (
            "fs.delete destructive path:/sbin/init",
            "builtin.kernel-or-init",
        ),
        (
            "fs.delete destructive path:/usr/lib/systemd/systemd",
            "builtin.kernel-or-init",
        ),
        ("service.stop change service:ssh", "builtin.ssh-lockout"),
        (
            "service.disable change service:sshd.service",
            "builtin.ssh-lockout",
        ),
        (
            "firewall.deny change firewall port:22",
            "builtin.ssh-lockout",
        ),
        (
            "firewall.delete change firewall port:2222",
            "builtin.ssh-lockout",
        ),
        (
            "firewall.deny change firewall cidr:0.0.0.0/0",
            "builtin.ssh-lockout",
        ),
        (
            "fs.delete destructive path:/var/lib/aios/audit/ledger.db",
            "builtin.audit-ledger",
        ),
        (
            "fs.write change path:/var/lib/aios/audit/ledger.db-wal",
            "builtin.audit-ledger",
        ),
        (
            "fs.write destructive path:/var/lib/aios/audit/ledger.db-shm",
            "builtin.audit-ledger",
        ),
        (
            "fs.chmod change path:/var/lib/aios/audit",
            "builtin.audit-ledger",
        ),
        (
            "fs.delete destructive path:/var/lib/aios",
            "builtin.audit-ledger",
        ),
        ("audit.undo change ledger", "builtin.audit-ledger"),
        // Name-based denials hold even if a tool under-reports its effect.
        ("service.stop read service:ssh", "builtin.ssh-lockout"),
        ("pkg.remove read package:systemd", "builtin.kernel-or-init"),
        ("firewall.deny read firewall port:22", "builtin.ssh-lockout"),
    ];
    for (spec, rule) in cases {
        let input = call(spec);
        expect(&open, &input, Verdict::Deny, RuleSource::Builtin, rule);
        // And the same with no files at all.
        expect(
            &Policy::builtin_only(),
            &input,
            Verdict::Deny,
            RuleSource::Builtin,
            rule,
        );
    }
}

#[test]
fn near_misses_of_builtin_denials_are_not_denied() {
    let open = Policy::from_toml(ALLOW_ALL, "").unwrap();
    for spec in [
        // Not destructive, or not the directory itself.
        "fs.chmod change path:/etc",
        "fs.delete destructive path:/etc/nginx/sites-enabled/default",
        "fs.delete destructive path:/srv/www",
        // Not mounted.
        "disk.format destructive device:/dev/sdb1",
        "disk.format destructive device:/dev/sda2",
        // Another kernel, a non-init package.
        "pkg.remove destructive package:linux-image-5.10.0-old-amd64",
        "pkg.remove destructive package:nginx",
        "pkg.install change package:systemd",
        // restart is allowed; other units.
        "service.restart change service:ssh",
        "service.stop change service:nginx",
        // Other ports; firewall allow; a deny that names a port.
        "firewall.deny change firewall port:80",
        "firewall.allow change firewall",
        // Reading the ledger; neighbours of it.
        "audit.log read ledger",
        "fs.read read path:/var/lib/aios/audit/ledger.db",
        "fs.write change path:/var/lib/aios/audit/ledger.db.bak",
        "fs.write change path:/var/lib/aios/state.db",
    ] {
        expect(
            &open,
            &call(spec),
            Verdict::Allow,
            RuleSource::System,
            "everything",
        );
    }
}

#[test]
fn non_admins_change_only_their_own_home() {
    let open = Policy::from_toml(ALLOW_ALL, ALLOW_ALL).unwrap();
    let bob = |spec: &str| with_caller(call(spec), plain());
    // Falls through to the rules.
    for spec in [
        "fs.write change path:/home/bob/notes.txt",
        "fs.delete destructive path:/home/bob/tmp path:/home/bob/tmp2",
        "fs.mkdir change path:/home/bob",
        "fs.read read path:/etc/shadow",
        "service.status read service:nginx",
    ] {
        expect(
            &open,
            &bob(spec),
            Verdict::Allow,
            RuleSource::System,
            "everything",
        );
    }
    for spec in [
        "fs.write change path:/home/bobby/x",
        "fs.write change path:/home/bob/../alice/x",
        "fs.copy change path:/home/bob/x path:/etc/cron.d/x",
        "service.restart change service:nginx",
        "fs.write change path:/home/bob/x service:nginx",
        "sys.reboot change",
    ] {
        expect(
            &open,
            &bob(spec),
            Verdict::Deny,
            RuleSource::Builtin,
            "builtin.not-admin",
        );
    }
    // No usable home: nothing is "own".
    let mut homeless = plain();
    homeless.home = String::new();
    expect(
        &open,
        &with_caller(call("fs.write change path:/x"), homeless.clone()),
        Verdict::Deny,
        RuleSource::Builtin,
        "builtin.not-admin",
    );
    homeless.home = "/".into();
    expect(
        &open,
        &with_caller(call("fs.write change path:/tmp/x"), homeless),
        Verdict::Deny,
        RuleSource::Builtin,
        "builtin.not-admin",
    );
}

const SYSTEM: &str = r#"
[[rule]]
id = "web-restarts"
action = "allow"
tools = ["service.restart", "service.status"]
services = ["nginx*"]
reason = "web team may restart nginx"

[[rule]]
id = "packages-ask"
action = "ask"
tools = ["pkg.*"]

[[rule]]
id = "no-shadow"
action = "deny"
tools = ["fs.*"]
paths = ["/etc/shadow", "/etc/gshadow"]

[[rule]]
id = "www-writes"
action = "allow"
tools = ["fs.write", "fs.delete"]
paths = ["/srv/www/**"]
"#;

const USER: &str = r#"
[[rule]]
id = "all-packages"
action = "allow"
tools = ["pkg.install"]

[[rule]]
id = "careful-www"
action = "deny"
tools = ["fs.delete"]
paths = ["/srv/www/**"]

[[rule]]
id = "restart-ask"
action = "ask"
tools = ["service.restart"]
"#;

#[test]
fn strictest_rule_wins_across_files() {
    let p = Policy::from_toml(SYSTEM, USER).unwrap();
    // System allow alone.
    expect(
        &p,
        &call("service.status read service:nginx"),
        Verdict::Allow,
        RuleSource::System,
        "web-restarts",
    );
    // A user allow cannot loosen a system ask.
    expect(
        &p,
        &call("pkg.install change package:htop"),
        Verdict::Ask,
        RuleSource::System,
        "packages-ask",
    );
    // A user deny tightens a system allow.
    expect(
        &p,
        &call("fs.delete destructive path:/srv/www/old"),
        Verdict::Deny,
        RuleSource::User,
        "careful-www",
    );
    expect(
        &p,
        &call("fs.write change path:/srv/www/index.html"),
        Verdict::Allow,
        RuleSource::System,
        "www-writes",
    );
    // A user ask tightens a system allow.
    expect(
        &p,
        &call("service.restart change service:nginx"),
        Verdict::Ask,
        RuleSource::User,
        "restart-ask",
    );
    // A system deny holds against everything the user allows.
    let loose = Policy::from_toml(SYSTEM, ALLOW_ALL).unwrap();
    expect(
        &loose,
        &call("fs.read read path:/etc/shadow"),
        Verdict::Deny,
        RuleSource::System,
        "no-shadow",
    );
    // Ties go to the system file, then the first in file order.
    let twice = r#"
[[rule]]
id = "first"
action = "ask"
tools = ["fs.*"]
[[rule]]
id = "second"
action = "ask"
tools = ["*"]
"#;
    let p = Policy::from_toml(twice, twice).unwrap();
    expect(
        &p,
        &call("fs.write change path:/tmp/x"),
        Verdict::Ask,
        RuleSource::System,
        "first",
    );
}

#[test]
fn defaults_apply_only_when_nothing_matches() {
    let p = Policy::from_toml(SYSTEM, "").unwrap();
    expect(
        &p,
        &call("fs.read read path:/etc/hosts"),
        Verdict::Allow,
        RuleSource::Default,
        "default.read",
    );
    expect(
        &p,
        &call("service.restart change service:postgresql"),
        Verdict::Ask,
        RuleSource::Default,
        "default.change",
    );
    let d = p.decide(&call(
        "fs.delete destructive path:/opt/app/data.db path:/opt/app/x",
    ));
    assert_eq!(
        (d.verdict, d.rule.as_str()),
        (Verdict::Ask, "default.destructive")
    );
    assert_eq!(d.confirm.as_deref(), Some("/opt/app/data.db"));
    assert!(d.reason.contains("type `/opt/app/data.db`"), "{}", d.reason);
    // No resource with a value: the tool's name.
    let d = p.decide(&call("sys.reboot destructive system"));
    assert_eq!(d.confirm.as_deref(), Some("sys.reboot"));
    // Non-destructive asks carry no confirm.
    assert_eq!(
        p.decide(&call("pkg.install change package:htop")).confirm,
        None
    );
}

#[test]
fn a_file_ask_on_a_destructive_call_needs_the_name_typed() {
    let p = Policy::from_toml(
        r#"
[[rule]]
id = "units"
action = "ask"
tools = ["service.*"]
"#,
        "",
    )
    .unwrap();
    let d = p.decide(&call("service.disable destructive service:nginx.service"));
    assert_eq!((d.verdict, d.rule.as_str()), (Verdict::Ask, "units"));
    assert_eq!(d.confirm.as_deref(), Some("nginx.service"));
}

#[test]
fn background_sessions_never_get_ask() {
    let p = Policy::from_toml(SYSTEM, "").unwrap();
    // A file ask becomes deny, naming the rule that asked.
    let d = p.decide(&background(call("pkg.install change package:htop")));
    assert_eq!(
        (d.verdict, d.source, d.rule.as_str()),
        (Verdict::Deny, RuleSource::System, "packages-ask")
    );
    assert!(
        d.reason
            .contains("background agent cannot approve its own calls"),
        "{}",
        d.reason
    );
    assert_eq!(d.confirm, None);
    // So does a default ask.
    let d = p.decide(&background(call("fs.delete destructive path:/opt/x")));
    assert_eq!(
        (d.verdict, d.rule.as_str(), d.confirm),
        (Verdict::Deny, "default.destructive", None)
    );
    // Allows and reads are untouched.
    expect(
        &p,
        &background(call("service.restart change service:nginx")),
        Verdict::Allow,
        RuleSource::System,
        "web-restarts",
    );
    expect(
        &p,
        &background(call("fs.read read path:/x")),
        Verdict::Allow,
        RuleSource::Default,
        "default.read",
    );
}

#[test]
fn reasons_name_the_rule_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("policy.toml");
    std::fs::write(&sys, SYSTEM).unwrap();
    let p = Policy::load(Some(&sys), None).unwrap();
    let d = p.decide(&call("service.restart change service:nginx"));
    assert!(
        d.reason.starts_with(&format!("{} rule \"web-restarts\" allows service.restart on service:nginx (web team may restart nginx)", sys.display())),
        "{}",
        d.reason
    );
    let d = p.decide(&call("fs.write change path:/etc/shadow"));
    assert!(
        d.reason.contains("rule \"no-shadow\" denies fs.write"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("ask an administrator"), "{}", d.reason);
}

fn one_rule(body: &str) -> Policy {
    Policy::from_toml(&format!("[[rule]]\nid = \"r\"\n{body}"), "").unwrap()
}

/// (rule body, call, whether the rule decides it)
fn matcher_table(rows: &[(&str, &str, bool)]) {
    for (body, spec, want) in rows {
        let p = one_rule(body);
        let d = p.decide(&call(spec));
        assert_eq!(
            d.rule == "r",
            *want,
            "rule {body:?} on {spec:?}: {}",
            d.reason
        );
    }
}

#[test]
fn typed_matchers() {
    matcher_table(&[
        // Tool globs.
        (
            "action = \"ask\"\ntools = [\"fs.*\"]",
            "fs.write change path:/x",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"fs.*\"]",
            "fsx.write change path:/x",
            false,
        ),
        ("action = \"ask\"\ntools = [\"*\"]", "net.ping read", true),
        // Effects.
        (
            "action = \"ask\"\ntools = [\"*\"]\neffect = [\"destructive\"]",
            "fs.write change path:/x",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\neffect = [\"change\", \"destructive\"]",
            "fs.write change path:/x",
            true,
        ),
        // `~` is the caller's home; `**` crosses `/`, `*` does not.
        (
            "action = \"allow\"\ntools = [\"fs.*\"]\npaths = [\"~/**\"]",
            "fs.write change path:/home/alice/a/b",
            true,
        ),
        (
            "action = \"allow\"\ntools = [\"fs.*\"]\npaths = [\"~/**\"]",
            "fs.write change path:/home/alice",
            true,
        ),
        (
            "action = \"allow\"\ntools = [\"fs.*\"]\npaths = [\"~/**\"]",
            "fs.write change path:/home/alicex/a",
            false,
        ),
        (
            "action = \"allow\"\ntools = [\"fs.*\"]\npaths = [\"~/*.txt\"]",
            "fs.write change path:/home/alice/a.txt",
            true,
        ),
        (
            "action = \"allow\"\ntools = [\"fs.*\"]\npaths = [\"~/*.txt\"]",
            "fs.write change path:/home/alice/d/a.txt",
            false,
        ),
        // A matcher for a kind never matches a call without that kind.
        (
            "action = \"deny\"\ntools = [\"*\"]\npaths = [\"/**\"]",
            "service.stop change service:nginx",
            false,
        ),
        (
            "action = \"deny\"\ntools = [\"*\"]\nservices = [\"*\"]",
            "fs.write change path:/x",
            false,
        ),
        // Deny: any resource; allow: every resource of the kind.
        (
            "action = \"deny\"\ntools = [\"fs.copy\"]\npaths = [\"/etc/**\"]",
            "fs.copy change path:/tmp/a path:/etc/passwd",
            true,
        ),
        (
            "action = \"allow\"\ntools = [\"fs.copy\"]\npaths = [\"/srv/**\"]",
            "fs.copy change path:/etc/shadow path:/srv/x",
            false,
        ),
        (
            "action = \"allow\"\ntools = [\"fs.copy\"]\npaths = [\"/srv/**\"]",
            "fs.copy change path:/srv/a path:/srv/b",
            true,
        ),
        // Ports and ranges.
        (
            "action = \"ask\"\ntools = [\"firewall.*\"]\nports = [\"80\", \"8000-8099\"]",
            "firewall.allow change port:8042",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"firewall.*\"]\nports = [\"80\", \"8000-8099\"]",
            "firewall.allow change port:8100",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"firewall.*\"]\nports = [443]",
            "firewall.allow change port:443",
            true,
        ),
        // CIDR containment.
        (
            "action = \"ask\"\ntools = [\"*\"]\ncidrs = [\"10.0.0.0/8\"]",
            "firewall.allow change cidr:10.1.2.0/24",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\ncidrs = [\"10.0.0.0/8\"]",
            "firewall.allow change cidr:10.9.9.9",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\ncidrs = [\"10.0.0.0/8\"]",
            "firewall.allow change cidr:0.0.0.0/0",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\ncidrs = [\"10.0.0.0/8\"]",
            "firewall.allow change cidr:192.168.0.1",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\ncidrs = [\"2001:db8::/32\"]",
            "firewall.allow change cidr:2001:db8:1::/48",
            true,
        ),
        // Text that is no address trips deny/ask but never allow.
        (
            "action = \"deny\"\ntools = [\"*\"]\ncidrs = [\"10.0.0.0/8\"]",
            "firewall.allow change cidr:ten",
            true,
        ),
        (
            "action = \"allow\"\ntools = [\"*\"]\ncidrs = [\"0.0.0.0/0\"]",
            "firewall.allow change cidr:ten",
            false,
        ),
        // Names.
        (
            "action = \"ask\"\ntools = [\"*\"]\npackages = [\"nginx*\"]",
            "pkg.install change package:nginx-extras",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nusers = [\"www-data\"]",
            "user.lock change user:www-data",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nusers = [\"www-data\"]",
            "user.lock change user:root",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nresources = [\"process:*\"]",
            "process.signal change process:42",
            true,
        ),
        // Principals and sessions.
        (
            "action = \"ask\"\ntools = [\"*\"]\nprincipals = [\"group:sudo\"]",
            "fs.write change path:/x",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nprincipals = [\"user:bob\", \"uid:7\"]",
            "fs.write change path:/x",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nprincipals = [\"uid:1000\"]",
            "fs.write change path:/x",
            true,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nsessions = [\"background\"]",
            "fs.write change path:/x",
            false,
        ),
        (
            "action = \"ask\"\ntools = [\"*\"]\nsessions = [\"interactive\", \"one_shot\"]",
            "fs.write change path:/x",
            true,
        ),
    ]);
}

#[test]
fn explain_lists_every_rule_and_builtin_that_applies() {
    let p = Policy::from_toml(SYSTEM, ALLOW_ALL).unwrap();
    let e = p.explain(&call("fs.delete destructive path:/srv/www/x"));
    let ids: Vec<(&str, Verdict)> = e
        .matched
        .iter()
        .map(|m| (m.rule.as_str(), m.action))
        .collect();
    assert_eq!(
        ids,
        [
            ("www-writes", Verdict::Allow),
            ("everything", Verdict::Allow)
        ]
    );
    assert_eq!(e.decision.rule, "www-writes");
    assert!(e.builtin.is_empty());
    let e = p.explain(&call("fs.delete destructive path:/var/lib/aios"));
    assert_eq!(e.decision.source, RuleSource::Builtin);
    assert_eq!(e.builtin.len(), 1, "{:?}", e.builtin);
    assert_eq!(e.matched.len(), 1);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["decision"]["verdict"], "deny");
    assert_eq!(json["builtin"][0]["rule"], "builtin.audit-ledger");
}

#[test]
fn session_kinds_table() {
    let system = r#"
[[rule]]
id = "agents-may-restart"
action = "allow"
tools = ["service.restart"]
sessions = ["background"]

[[rule]]
id = "one-shot-no-pkg"
action = "deny"
tools = ["pkg.*"]
sessions = ["one_shot"]

[[rule]]
id = "ask-writes"
action = "ask"
tools = ["fs.write"]
"#;
    let p = Policy::from_toml(system, "").unwrap();
    use aios_domain::SessionKind::{Background, Interactive, OneShot};
    // (call, session kind) -> (verdict, deciding rule)
    let table = [
        (
            "service.restart change service:nginx",
            Background,
            Verdict::Allow,
            "agents-may-restart",
        ),
        (
            "service.restart change service:nginx",
            Interactive,
            Verdict::Ask,
            "default.change",
        ),
        (
            "service.restart change service:nginx",
            OneShot,
            Verdict::Ask,
            "default.change",
        ),
        (
            "pkg.install change package:htop",
            OneShot,
            Verdict::Deny,
            "one-shot-no-pkg",
        ),
        (
            "pkg.install change package:htop",
            Interactive,
            Verdict::Ask,
            "default.change",
        ),
        // A background agent is never asked: the default ask becomes deny.
        (
            "pkg.install change package:htop",
            Background,
            Verdict::Deny,
            "default.change",
        ),
        (
            "fs.write change path:/srv/x",
            Interactive,
            Verdict::Ask,
            "ask-writes",
        ),
        (
            "fs.write change path:/srv/x",
            OneShot,
            Verdict::Ask,
            "ask-writes",
        ),
        (
            "fs.write change path:/srv/x",
            Background,
            Verdict::Deny,
            "ask-writes",
        ),
        (
            "fs.read read path:/home/alice/x",
            Background,
            Verdict::Allow,
            "default.read",
        ),
    ];
    for (spec, kind, verdict, rule) in table {
        let mut input = call(spec);
        input.caller.session_kind = kind;
        let d = p.decide(&input);
        assert_eq!(
            (d.verdict, d.rule.as_str()),
            (verdict, rule),
            "{spec} in a {} session: {}",
            kind.as_str(),
            d.reason
        );
    }
}

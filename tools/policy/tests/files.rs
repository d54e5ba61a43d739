//! Loading policy files: real files on disk, inline examples checked at
//! load, and every kind of bad file giving an error with file and line.
// Test helpers outside #[test] fns panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aios_domain::{RuleSource, Verdict};
use aios_policy::{Policy, PolicyError, PolicyErrorKind};
use common::*;

fn load_err(text: &str) -> (PolicyError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    let e = Policy::load(Some(&path), None).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with(&path.display().to_string()),
        "error must name the file: {shown}"
    );
    (e, shown)
}

#[test]
fn missing_files_have_no_rules() {
    let dir = tempfile::tempdir().unwrap();
    let p = Policy::load(
        Some(&dir.path().join("nope.toml")),
        Some(&dir.path().join("nope2.toml")),
    )
    .unwrap();
    assert!(p.system_rules().is_empty() && p.user_rules().is_empty());
    assert_eq!(
        p.decide(&call("fs.write change path:/x")).source,
        RuleSource::Default
    );
    let p = Policy::load(None, None).unwrap();
    assert_eq!(
        p.decide(&call("fs.read read path:/x")).verdict,
        Verdict::Allow
    );
}

#[test]
fn both_files_load_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("system.toml");
    let user = dir.path().join("user.toml");
    std::fs::write(
        &sys,
        "[[rule]]\nid = \"s\"\naction = \"allow\"\ntools = [\"fs.write\"]\n",
    )
    .unwrap();
    std::fs::write(&user, "# mine\n[[rule]]\nid = \"u\"\naction = \"deny\"\ntools = [\"fs.write\"]\npaths = [\"~/keep/**\"]\n").unwrap();
    let p = Policy::load(Some(&sys), Some(&user)).unwrap();
    assert_eq!(p.user_rules()[0].line(), Some(3));
    let d = p.decide(&call("fs.write change path:/home/alice/keep/a"));
    assert_eq!(
        (d.verdict, d.source, d.rule.as_str()),
        (Verdict::Deny, RuleSource::User, "u")
    );
    assert!(
        d.reason.contains(&user.display().to_string()),
        "{}",
        d.reason
    );
    let d = p.decide(&call("fs.write change path:/home/alice/other"));
    assert_eq!((d.verdict, d.rule.as_str()), (Verdict::Allow, "s"));
}

#[test]
fn unreadable_and_non_utf8_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let e = Policy::load(Some(dir.path()), None).unwrap_err();
    assert_eq!(e.kind(), PolicyErrorKind::Io);
    assert!(e.to_string().contains("cannot be read"), "{e}");
    let bin = dir.path().join("bin.toml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
    let e = Policy::load(Some(&bin), None).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn examples_are_checked_at_load() {
    let good = r#"
[[rule]]
id = "web-restarts"
action = "allow"
tools = ["service.restart", "service.status"]
effect = ["change"]
services = ["nginx*"]
principals = ["group:sudo", "user:alice"]
sessions = ["interactive"]
[[rule.example]]
tool = "service.restart"
resources = ["service:nginx"]
matches = true
[[rule.example]]
tool = "service.restart"
resources = ["service:sshd"]
matches = false
[[rule.example]]
tool = "service.restart"
resources = ["service:nginx"]
principal = "user:mallory"
matches = false
[[rule.example]]
tool = "service.restart"
resources = ["service:nginx"]
session = "background"
effect = "change"
matches = false
[[rule.example]]
tool = "fs.write"
resources = ["path:/home/carol/x"]
home = "/home/carol"
matches = false
"#;
    Policy::from_toml(good, "").unwrap();

    let bad = r#"
[[rule]]
id = "ok"
action = "ask"
tools = ["*"]

[[rule]]
id = "home-only"
action = "allow"
tools = ["fs.*"]
paths = ["~/**"]
[[rule.example]]
tool = "fs.write"
resources = ["path:/home/carol/x"]
home = "/home/carol"
matches = true
[[rule.example]]
tool = "fs.write"
resources = ["path:/etc/x"]
home = "/home/carol"
matches = true
"#;
    let (e, shown) = load_err(bad);
    assert_eq!(e.kind(), PolicyErrorKind::Example);
    assert_eq!(e.rule(), Some("home-only"));
    assert_eq!(e.line(), Some(8));
    assert!(shown.contains("example 2 of 2"), "{shown}");
    assert!(shown.contains("should match but does not"), "{shown}");

    let (e, shown) = load_err(
        "[[rule]]\nid = \"x\"\naction = \"deny\"\ntools = [\"fs.*\"]\n[[rule.example]]\ntool = \"fs.read\"\nmatches = false\n",
    );
    assert_eq!(e.kind(), PolicyErrorKind::Example);
    assert!(
        shown.contains("example 1 of 1") && shown.contains("should not match but does"),
        "{shown}"
    );

    let (e, shown) = load_err(
        "[[rule]]\nid = \"x\"\naction = \"deny\"\ntools = [\"fs.*\"]\n[[rule.example]]\ntool = \"fs.read\"\nresources = [\"disk:/\"]\nmatches = false\n",
    );
    assert_eq!(e.kind(), PolicyErrorKind::Example);
    assert!(shown.contains("unknown resource kind `disk`"), "{shown}");
}

/// (file text, expected kind, expected line, text the message must contain)
#[test]
fn bad_files_say_where_and_what() {
    let rows: &[(&str, PolicyErrorKind, Option<usize>, &str)] = &[
        ("[[rule]\nid = 1", PolicyErrorKind::Syntax, Some(1), ""),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\npathz = [\"/x\"]\n",
            PolicyErrorKind::Syntax,
            Some(5),
            "did you mean `paths`?",
        ),
        (
            "[[rules]]\nid = \"a\"\n",
            PolicyErrorKind::Syntax,
            Some(1),
            "did you mean `rule`?",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"alow\"\ntools = [\"*\"]\n",
            PolicyErrorKind::Syntax,
            Some(3),
            "did you mean `allow`?",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\n",
            PolicyErrorKind::Syntax,
            Some(1),
            "missing field `tools`",
        ),
        (
            "\n[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"fs.[ab\"]\n",
            PolicyErrorKind::Rule,
            Some(3),
            "unclosed `[`",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\nports = [\"http\"]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "port `http` is not a number",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\nports = [\"90-80\"]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "backwards",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\nports = [70000]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "out of range",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\ncidrs = [\"10.0.0.0/33\"]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "not an address or CIDR",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\npaths = [\"srv/**\"]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "is relative",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\npaths = [\"~bob/**\"]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "own home",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\nprincipals = [\"sudo\"]\n",
            PolicyErrorKind::Rule,
            Some(2),
            "`group:NAME`",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = []\n",
            PolicyErrorKind::Rule,
            Some(2),
            "`tools` is empty",
        ),
        (
            "[[rule]]\nid = \"a\"\naction = \"allow\"\ntools = [\"*\"]\nsessions = [\"oneshot\"]\n",
            PolicyErrorKind::Syntax,
            Some(5),
            "did you mean `one_shot`?",
        ),
        (
            "[[rule]]\nid = \"dup\"\naction = \"allow\"\ntools = [\"*\"]\n\n[[rule]]\nid = \"dup\"\naction = \"deny\"\ntools = [\"*\"]\n",
            PolicyErrorKind::Rule,
            Some(7),
            "duplicate id; it is already used by the rule on line 2",
        ),
    ];
    for (text, kind, line, needle) in rows {
        let (e, shown) = load_err(text);
        assert_eq!(e.kind(), *kind, "{shown}");
        assert_eq!(e.line(), *line, "{shown}");
        assert!(shown.contains(needle), "{shown} should contain {needle:?}");
        if let Some(l) = line {
            assert!(shown.contains(&format!(".toml:{l}: ")), "{shown}");
        }
    }
}

#[test]
fn from_toml_names_which_file_is_wrong() {
    let e = Policy::from_toml("", "[[rule]]\nid = 3\n").unwrap_err();
    assert_eq!(e.file(), "your policy file");
    let e = Policy::from_toml("[[rule]]\n", "").unwrap_err();
    assert_eq!(e.file(), "the system policy");
}

/// The shipped system file loads as it is (no active rules), and every
/// commented-out example rule in it loads too, inline examples passing.
#[test]
fn the_shipped_example_file_loads_commented_and_uncommented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rootfs/overlay/etc/aios/policy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let p = Policy::load(Some(&path), None).unwrap();
    assert!(p.system_rules().is_empty());
    let uncommented: String = text
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let p = Policy::from_toml(&uncommented, "").unwrap();
    assert_eq!(p.system_rules().len(), 5);
}

//! Shared builders for the policy tests: calls written as
//! `tool effect kind:value…`, a fixed host and an admin caller.
#![allow(dead_code)]

use aios_domain::{Caller, HostFacts, PolicyInput, Resource, Risk, SessionKind};

pub const LEDGER: &str = "/var/lib/aios/audit/ledger.db";
pub const KERNEL: &str = "6.1.0-test-amd64";

pub fn host() -> HostFacts {
    HostFacts {
        ssh_ports: vec![22, 2222],
        mounted_devices: vec!["/dev/sda1".into(), "/dev/nvme0n1p2".into()],
        ledger_path: LEDGER.into(),
        kernel_release: KERNEL.into(),
    }
}

pub fn admin() -> Caller {
    Caller {
        uid: 1000,
        user: "alice".into(),
        groups: vec!["alice".into(), "sudo".into()],
        admin: true,
        home: "/home/alice".into(),
        session_kind: SessionKind::Interactive,
    }
}

pub fn plain() -> Caller {
    Caller {
        uid: 1001,
        user: "bob".into(),
        groups: vec!["bob".into()],
        admin: false,
        home: "/home/bob".into(),
        session_kind: SessionKind::Interactive,
    }
}

pub fn risk(text: &str) -> Risk {
    match text {
        "read" => Risk::Read,
        "change" => Risk::Change,
        "destructive" => Risk::Destructive,
        other => panic!("bad effect {other}"),
    }
}

/// `"fs.delete destructive path:/etc"` as an admin's interactive call.
pub fn call(spec: &str) -> PolicyInput {
    let mut words = spec.split_whitespace();
    let tool = words.next().expect("tool").to_string();
    let effect = risk(words.next().expect("effect"));
    let resources = words
        .map(|w| w.parse::<Resource>().expect("resource"))
        .collect();
    PolicyInput {
        tool,
        args: serde_json::json!({}),
        effect,
        resources,
        caller: admin(),
        host: host(),
    }
}

pub fn with_caller(mut input: PolicyInput, caller: Caller) -> PolicyInput {
    input.caller = caller;
    input
}

pub fn background(mut input: PolicyInput) -> PolicyInput {
    input.caller.session_kind = SessionKind::Background;
    input
}

/// A file that allows everything.
pub const ALLOW_ALL: &str = r#"
[[rule]]
id = "everything"
action = "allow"
tools = ["*"]
"#;

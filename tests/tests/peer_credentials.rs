//! Servers refuse callers by their kernel-verified credentials: a real
//! process running as another uid talks to the real daemons' sockets.
//!
//! Becoming another uid needs root (CI runs as root). Without root the test
//! fails loudly instead of passing vacuously: run it as root, or rely on the
//! unit tests of `Principal::require` in each daemon crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use aios_tests::{Env, bin, json_lines};
use serde_json::{Value, json};

const NOBODY: u32 = 65534;

fn probe_as_nobody(probe: &std::path::Path, socket: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(probe)
        .arg(socket)
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "probe output {text:?}: {e}; stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn another_uid_is_refused_by_rights_it_does_not_have() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root to act as another uid (CI does)"
    );
    let env = Env::scripted(&json!({"turns": [{"text": "private answer"}]}));
    let out = env.aios(
        &["-p", "my secret question", "--json"],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session = json_lines(&out.stdout)[0]["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Let uid 65534 reach the sockets, as a member of the socket group would.
    for d in [env.dir.path().to_path_buf(), env.runtime_dir()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let probe = env.dir.path().join("rpc-probe");
    std::fs::copy(bin("rpc-probe"), &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = |d: &str| env.runtime_dir().join(format!("{d}.sock"));
    for d in ["memoryd", "toolsd"] {
        nix::unistd::chown(&sock(d), None, Some(nix::unistd::Gid::from_raw(NOBODY))).unwrap();
    }

    // The server sees the caller's real uid.
    let r = probe_as_nobody(&probe, &sock("memoryd"), &["ping"]);
    assert_eq!(r["outcome"], "ok", "{r}");
    assert_eq!(r["detail"], format!("uid {NOBODY}"));

    // Writing the episodic store is for aiOS daemons only.
    let r = probe_as_nobody(&probe, &sock("memoryd"), &["memory-put-session"]);
    assert_eq!(r["outcome"], "denied", "{r}");

    // Another user's session is not readable.
    let r = probe_as_nobody(&probe, &sock("memoryd"), &["memory-get-session", &session]);
    assert_eq!(r["outcome"], "denied", "{r}");

    // A non-daemon caller cannot run tools on behalf of another user (uid 0
    // on the wire means "the caller itself", so root cannot even be named).
    let r = probe_as_nobody(&probe, &sock("toolsd"), &["tools-execute-as", "1"]);
    assert_eq!(r["outcome"], "denied", "{r}");

    // Without the socket's group, the connection itself is refused (0660).
    let r = probe_as_nobody(&probe, &sock("gatewayd"), &["ping"]);
    assert_eq!(r["outcome"], "connect_failed", "{r}");
}

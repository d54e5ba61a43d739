//! Long-term memory end to end: a conversation turn through the real daemons (scripted
//! provider) is remembered by memoryd on its own, indexed in the background, and found by
//! `aios memory search`, with filters, JSON output and sanitised text. No embedding model
//! is present in this environment, so memoryd serves BM25 and says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use aios_tests::{Env, bin, first, json_lines, wait_until};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

fn aios_ok(env: &Env, args: &[&str]) -> String {
    let out = env.aios(args, b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "aios {args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn status(env: &Env) -> Value {
    serde_json::from_str(aios_ok(env, &["memory", "status", "--json"]).trim()).unwrap()
}

fn search(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["memory", "search"];
    all.extend_from_slice(args);
    all.push("--json");
    json_lines(aios_ok(env, &all).as_bytes())
}

#[test]
fn a_conversation_turn_is_remembered_and_found_by_aios_memory_search() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let env = Env::scripted(&json!({"turns": [
        {"text": "Let me look at that directory.",
         "tool_calls": [{"name": "fs.list", "args": {"path": dir}}]},
        // The escape sequence is stored as data; printing it must not reach the terminal.
        {"text": "The backup job runs nightly with restic at 02:00. \u{1b}]0;pwned\u{7}"}
    ]}));
    let events = env.run_json_ok("when does the backup job run?");
    let session = first(&events, "session_started")["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Indexing is off the request path: wait for the queue to drain.
    let s = wait_until(
        "the memory index queue to drain",
        LIMIT,
        || status(&env).to_string(),
        || {
            let s = status(&env);
            let history = s["collections"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "history")?
                .clone();
            (s["queue_depth"] == 0 && history["indexed"].as_u64()? >= 3).then_some(s)
        },
    );
    assert_eq!(
        s["embedder"],
        Value::Null,
        "no model in this environment: {s}"
    );
    let history = s["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "history")
        .unwrap();
    assert_eq!(history["documents"], history["indexed"], "{s}");
    assert_eq!(history["vectors"], 0, "{s}");

    // The user's question and the answer are both found, as messages of this session.
    let hits = search(&env, &["restic nightly"]);
    assert!(!hits.is_empty(), "nothing found");
    let top = &hits[0];
    assert_eq!(top["metadata"]["kind"], "message", "{top}");
    assert_eq!(top["metadata"]["role"], "assistant", "{top}");
    assert_eq!(top["metadata"]["session"], session.as_str(), "{top}");
    assert!(top["bm25_rank"].as_u64().is_some(), "{top}");
    assert_eq!(top["vector_rank"], Value::Null, "BM25 only: {top}");
    assert!(top["snippet"].as_str().unwrap().contains("restic"), "{top}");
    let user: Vec<Value> = search(&env, &["backup job", "--session", &session])
        .into_iter()
        .filter(|h| h["metadata"]["role"] == "user")
        .collect();
    assert_eq!(user.len(), 1, "the question is remembered once: {user:?}");

    // Filters apply before ranking.
    let calls = search(&env, &["fs.list", "--kind", "tool_call"]);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["metadata"]["tool"], "fs.list");
    assert!(search(&env, &["restic", "--session", "no-such-session"]).is_empty());
    assert!(search(&env, &["restic", "--since", "2099-01-01"]).is_empty());
    assert!(!search(&env, &["restic", "--since", "1h"]).is_empty());

    // Plain output: ranked, with the signal that found each hit, and no raw escapes.
    let plain = aios_ok(&env, &["memory", "search", "restic"]);
    assert!(plain.contains(" 1. message:"), "{plain}");
    assert!(plain.contains("bm25 #1"), "{plain}");
    assert!(
        !plain.contains('\u{1b}') && !plain.contains('\u{7}'),
        "{plain:?}"
    );

    // The index is derived: a reindex rebuilds it from SQLite with the same documents.
    let before = history["documents"].as_u64().unwrap();
    let out = aios_ok(&env, &["memory", "reindex"]);
    assert!(
        out.contains(&format!("reindexed {before} documents")),
        "{out}"
    );
    assert_eq!(search(&env, &["restic nightly"])[0]["id"], top["id"]);

    // Bad input is a usage error that says what to give.
    let out = env.aios(&["memory", "search", "x", "--since", "soon"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
}

const NOBODY: u32 = 65534;

#[test]
fn another_user_finds_none_of_these_memories_and_cannot_write_them() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root to act as another uid (CI does)"
    );
    let env = Env::scripted(&json!({"turns": [{"text": "the vault code is 4711"}]}));
    env.run_json_ok("remember my vault code");
    // The owner (root, a daemon-level caller here) finds the turn once it is indexed.
    wait_until(
        "the turn to be indexed",
        LIMIT,
        || status(&env).to_string(),
        || (!search(&env, &["vault"]).is_empty()).then_some(()),
    );
    // Let uid 65534 reach memoryd's socket, as a member of the socket group would.
    for d in [env.dir.path().to_path_buf(), env.runtime_dir()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let sock = env.runtime_dir().join("memoryd.sock");
    nix::unistd::chown(&sock, None, Some(nix::unistd::Gid::from_raw(NOBODY))).unwrap();
    let probe = env.dir.path().join("rpc-probe");
    std::fs::copy(bin("rpc-probe"), &probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |args: &[&str]| -> Value {
        let out = Command::new(&probe)
            .arg(&sock)
            .args(args)
            .uid(NOBODY)
            .gid(NOBODY)
            .env_clear()
            .output()
            .unwrap();
        serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
    };
    // Another user's turns are filtered out before ranking: not one hit.
    let r = as_nobody(&["search-history", "vault"]);
    assert_eq!(r["outcome"], "ok", "{r}");
    assert_eq!(r["detail"], "0 hits", "{r}");
    // The history collection is written by daemons only.
    let r = as_nobody(&["search-write-history"]);
    assert_eq!(r["outcome"], "denied", "{r}");
}

//! Crash safety: a writer killed with SIGKILL mid-stream loses no row whose
//! id it had acknowledged (DESIGN.md §2, "Nothing is lost").
//!
//! The writer is this very test binary re-run with `CHILD_ENV` set: the
//! `crash_child_writer` test then appends messages forever, printing each
//! acknowledged row id. Without the variable that test does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use aios_domain::{ApprovalMode, Role, SessionInfo, StoredMessage};
use aios_store::Store;

const CHILD_ENV: &str = "AIOS_MEMORY_CRASH_CHILD_DB";
const ACK: &str = "ACK ";

fn content(n: u64) -> String {
    format!("message number {n} {}", "·".repeat((n % 97) as usize))
}

/// The child side. Runs only when re-executed by the parent test.
#[test]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&path)).unwrap();
    store
        .put_session(&SessionInfo {
            id: "crash".into(),
            uid: 1,
            provider: "p".into(),
            model: "m".into(),
            created_unix_ms: 1,
            title: String::new(),
            approval: ApprovalMode::Ask,
            kind: Default::default(),
        })
        .unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let id = store
            .append_message(&StoredMessage {
                session_id: "crash".into(),
                turn_id: "t".into(),
                role: Role::User,
                content: content(n),
                tool_calls: vec![],
                tool_call_id: None,
                unix_ms: n as i64,
            })
            .unwrap();
        // Acknowledge only after append_message returned.
        writeln!(out, "{ACK}{n} {id}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_mid_write_loses_no_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.sqlite3");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: Vec<(u64, i64)> = Vec::new();
    let mut killed = false;
    // Read until EOF: lines printed between the kill and the child's death
    // are acknowledgements too. The child never stops on its own, so EOF
    // means it died; `lines()` blocking is the wait on that condition.
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints "test crash_child_writer ... " without a newline
        // before the test's own output, so the first ack shares its line.
        let Some(at) = line.find(ACK) else {
            continue;
        };
        let rest = &line[at + ACK.len()..];
        let (n, id) = rest.split_once(' ').unwrap();
        acked.push((n.parse().unwrap(), id.parse().unwrap()));
        if acked.len() == 300 && !killed {
            child.kill().unwrap(); // SIGKILL on Unix
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the child stopped on its own: {status:?}");
    assert!(!status.success(), "{status:?}");
    assert!(acked.len() >= 300);
    // No acknowledgement was lost in parsing: they are 0, 1, 2, ...
    assert!(acked.iter().enumerate().all(|(i, (n, _))| *n == i as u64));

    let store = Store::open(&path).unwrap();
    store.quick_check().unwrap();
    let rows = store.get_messages_with_ids("crash", 0).unwrap();
    // Every acknowledged row is there with its content; at most the one
    // write in flight at the kill may be there unacknowledged.
    assert!(
        rows.len() >= acked.len() && rows.len() <= acked.len() + 1,
        "{} rows, {} acked",
        rows.len(),
        acked.len()
    );
    for ((n, id), (row_id, m)) in acked.iter().zip(&rows) {
        assert_eq!(id, row_id);
        assert_eq!(m.content, content(*n));
    }
}

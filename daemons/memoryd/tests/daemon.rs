//! The real `memoryd` binary: readiness, durability across `kill -9` and a
//! restart, clean shutdown on SIGTERM, and a clear failure on a bad file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aios_proto::{ApprovalMode, MemoryClient, Role, SessionInfo, StoredMessage};

const DEADLINE: Duration = Duration::from_secs(30);

struct Daemon {
    child: Child,
    socket: PathBuf,
}

fn command(root: &Path, notify: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memoryd"));
    cmd.env("AIOS_STATE_DIR", root.join("state"))
        .env("AIOS_RUNTIME_DIR", root.join("run"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("NOTIFY_SOCKET", notify)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Start memoryd and wait for its `READY=1` (sent after the socket is bound).
fn start(root: &Path, n: u32) -> Daemon {
    let notify = root.join(format!("notify-{n}"));
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(DEADLINE)).unwrap();
    let child = command(root, &notify).spawn().unwrap();
    let mut buf = [0u8; 64];
    let len = rx
        .recv(&mut buf)
        .expect("memoryd did not report READY=1 in time");
    assert_eq!(&buf[..len], b"READY=1");
    Daemon {
        child,
        socket: root.join("run/memoryd.sock"),
    }
}

/// Wait for the process to exit, failing the test past the deadline.
fn wait_exit(child: Child) -> (ExitStatus, String) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(DEADLINE)
        .expect("memoryd did not exit in time")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn message(n: usize) -> StoredMessage {
    StoredMessage {
        session_id: "s1".into(),
        turn_id: format!("t{n}"),
        role: Role::User,
        content: format!("request number {n}"),
        tool_calls: vec![],
        tool_call_id: None,
        unix_ms: n as i64,
    }
}

// Multi-threaded so the client's connection task keeps running while the
// test blocks waiting for the process: graceful shutdown waits for the
// client to answer the server's GOAWAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let me = nix::unistd::geteuid().as_raw();

    let first = start(root, 1);
    let mut client = MemoryClient::new(aios_proto::connect(&first.socket).await.unwrap());
    let s = SessionInfo {
        id: "s1".into(),
        uid: me,
        provider: "p".into(),
        model: "m".into(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    };
    client.put_session(s.clone()).await.unwrap();
    let mut acked = Vec::new();
    for n in 0..50 {
        acked.push(client.append_message(message(n)).await.unwrap());
    }
    drop(client);
    let mut child = first.child;
    child.kill().unwrap(); // SIGKILL: no chance to flush or clean up
    let (status, _) = wait_exit(child);
    assert!(!status.success());

    // The stale socket is replaced and every acknowledged row is there.
    let second = start(root, 2);
    let mut client = MemoryClient::new(aios_proto::connect(&second.socket).await.unwrap());
    assert_eq!(client.get_session("s1").await.unwrap(), s);
    let got = client.get_messages("s1", 0).await.unwrap();
    assert_eq!(got, (0..50).map(message).collect::<Vec<_>>());
    let next = client.append_message(message(50)).await.unwrap();
    assert!(next > *acked.last().unwrap());
    drop(client);

    // SIGTERM: a clean exit that removes the socket.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (status, stderr) = wait_exit(second.child);
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!second.socket.exists());

    let db = root.join("state/memory.sqlite3");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 51);
}

#[test]
fn a_file_that_is_not_a_database_stops_memoryd_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Private, as memoryd requires of its state directory.
    aios_config::private_dir(&root.join("state")).unwrap();
    let db = root.join("state/memory.sqlite3");
    std::fs::write(&db, "not a database at all\n".repeat(100)).unwrap();
    let child = command(root, &root.join("unused-notify")).spawn().unwrap();
    let (status, stderr) = wait_exit(child);
    assert!(!status.success());
    assert!(stderr.contains("memoryd"), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(stderr.contains("not a SQLite database"), "{stderr}");
    // The file is left for the human to inspect.
    assert!(
        std::fs::read_to_string(&db)
            .unwrap()
            .starts_with("not a database")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_memoryd_on_the_same_state_directory_exits_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let first = start(root, 1);
    let first_pid = first.child.id();

    // Same state directory, its own runtime directory: only the lock can stop it.
    let mut cmd = command(root, &root.join("unused-notify"));
    cmd.env("AIOS_RUNTIME_DIR", root.join("run2"));
    let (status, stderr) = wait_exit(cmd.spawn().unwrap());
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&format!("pid {first_pid}")), "{stderr}");
    let lock = root.join("state/memoryd.lock");
    assert!(stderr.contains(&lock.display().to_string()), "{stderr}");
    assert!(!root.join("run2/memoryd.sock").exists());

    // The first one still serves.
    let mut client = MemoryClient::new(aios_proto::connect(&first.socket).await.unwrap());
    assert!(client.list_sessions(None, 10).await.unwrap().is_empty());
    drop(client);

    // Once the first is gone (SIGKILL: no clean-up), the lock is free again.
    let mut child = first.child;
    child.kill().unwrap();
    let _ = wait_exit(child);
    let third = start(root, 3);
    let mut child = third.child;
    child.kill().unwrap();
    let _ = wait_exit(child);
}

//! Calls made through the executor on a real socket on behalf of uid 65534
//! (`nobody`) run with that user's kernel credentials: what nobody cannot
//! read is refused whether or not it exists, and FIFOs given to the file
//! tools end the calls at once instead of holding blocking threads.
//!
//! Runs as root (CI does); without root it fails saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use aios_catalog::Registry;
use aios_proto::{ExecuteEnd, ExecuteEvent, ExecuteRequest, ToolStatus, ToolsClient};
use aios_toolsd::Executor;
use futures::StreamExt;
use serde_json::{Value, json};

const NOBODY: u32 = 65534;
/// A hang detector for calls that must end at once, not a timing assertion.
const HANG: Duration = Duration::from_secs(20);

async fn serve() -> (
    tempfile::TempDir,
    ToolsClient,
    tokio::sync::oneshot::Sender<()>,
) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests act for uid {NOBODY} and must run as root (CI runs them as root)"
    );
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("toolsd.sock");
    let listener = aios_proto::bind(&socket).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let services =
        aios_proto::Services::new("toolsd").tools(Arc::new(Executor::new(Registry::builtin())));
    tokio::spawn(services.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = ToolsClient::new(aios_proto::connect(&socket).await.unwrap());
    (dir, client, stop)
}

async fn as_nobody(client: &ToolsClient, tool: &str, args: Value) -> ExecuteEnd {
    let req = ExecuteRequest {
        session_id: "s".into(),
        call_id: "c".into(),
        tool: tool.into(),
        args,
        on_behalf_of_uid: NOBODY,
        timeout_ms: 0,
        rationale: String::new(),
        ..Default::default()
    };
    let mut client = client.clone();
    let events: Vec<ExecuteEvent> = tokio::time::timeout(HANG, async {
        let stream = client.execute(req).await.unwrap();
        stream.map(|e| e.unwrap()).collect().await
    })
    .await
    .unwrap_or_else(|_| panic!("{tool} did not end within {HANG:?}"));
    match events.last() {
        Some(ExecuteEvent::End(end)) => end.clone(),
        other => panic!("no End: {other:?}"),
    }
}

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unenterable_directory_is_denied_alike_for_present_and_absent_names() {
    let (_sock_dir, client, _stop) = serve().await;
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    std::fs::write(tmp.path().join("open.txt"), "for everyone").unwrap();
    chmod(&tmp.path().join("open.txt"), 0o644);
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("present.txt"), "x").unwrap();
    chmod(&locked.join("present.txt"), 0o644);
    chmod(&locked, 0o700);

    let end = as_nobody(
        &client,
        "fs.read",
        json!({"path": tmp.path().join("open.txt")}),
    )
    .await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    assert_eq!(end.result["content"], "for everyone");

    let mut answers = Vec::new();
    for name in ["present.txt", "absent.txt"] {
        let end = as_nobody(&client, "fs.read", json!({"path": locked.join(name)})).await;
        assert_eq!(end.status, ToolStatus::Denied, "{end:?}");
        answers.push(end.result.as_str().unwrap().replace(name, "NAME"));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("permission denied"), "{}", answers[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifos_end_file_tool_calls_at_once() {
    let (_sock_dir, client, _stop) = serve().await;
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let fifo = tmp.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    chmod(&fifo, 0o666);
    let _unblock = Unblock(fifo.clone());
    // Many at once: a call that blocked would keep a blocking thread each.
    let calls = (0..32).map(|i| {
        let tool = ["log.tail", "fs.read", "fs.list", "fs.largest"][i % 4];
        let (client, fifo) = (client.clone(), fifo.clone());
        tokio::spawn(async move { (tool, as_nobody(&client, tool, json!({"path": fifo})).await) })
    });
    for call in futures::future::join_all(calls).await {
        let (tool, end) = call.unwrap();
        assert_eq!(end.status, ToolStatus::Error, "{tool}: {end:?}");
        assert!(
            end.result.as_str().unwrap().contains("FIFO"),
            "{tool}: {end:?}"
        );
    }
}

/// Opens the FIFO for writing when dropped (`O_RDWR` never blocks), which
/// releases readers blocked in `open` if the test failed, so the runtime
/// can shut down and the failure is reported instead of a hang.
struct Unblock(std::path::PathBuf);

impl Drop for Unblock {
    fn drop(&mut self) {
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0);
    }
}

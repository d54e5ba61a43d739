//! The executor served on a real Unix socket and called through the real
//! client: listing, real read tools, every refusal and failure path, time
//! limits and cancellation on client disconnect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios_catalog::{Example, Registry, Resource, ResourceKind, Tool, ToolCtx, ToolError};
use aios_proto::{ExecuteEnd, ExecuteEvent, ExecuteRequest, Risk, ToolStatus, ToolsClient};
use aios_toolsd::Executor;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct NoArgs {}

/// Declares a test-only tool whose run is the given async block.
macro_rules! test_tool {
    ($ty:ident, $name:literal, $risk:expr, |$self_:ident, $ctx:ident| $body:block) => {
        struct $ty {
            #[allow(dead_code)]
            signal: mpsc::UnboundedSender<&'static str>,
        }
        impl Tool for $ty {
            type Args = NoArgs;
            fn name(&self) -> &'static str {
                $name
            }
            fn description(&self) -> &'static str {
                "a tool that exists only in tests"
            }
            fn effect(&self) -> Risk {
                $risk
            }
            fn resource_kinds(&self) -> &'static [ResourceKind] {
                &[ResourceKind::System]
            }
            fn examples(&self) -> &'static [Example] {
                &[]
            }
            fn resources(&self, _: &NoArgs) -> Vec<Resource> {
                vec![Resource::System]
            }
            fn preview(&self, _: &NoArgs) -> String {
                format!("run {}", $name)
            }
            async fn run(&self, $ctx: ToolCtx, _: NoArgs) -> Result<Value, ToolError> {
                let $self_ = self;
                $body
            }
        }
    };
}

test_tool!(ChangeTool, "test.change", Risk::Change, |_s, _ctx| {
    Ok(json!("changed"))
});
test_tool!(WaitCancel, "test.wait_cancel", Risk::Read, |s, ctx| {
    let _ = s.signal.send("started");
    ctx.cancelled().await;
    let _ = s.signal.send("cancelled");
    Err(ToolError::cancelled())
});
test_tool!(Panics, "test.panic", Risk::Read, |_s, _ctx| {
    if std::hint::black_box(true) {
        panic!("deliberate test panic");
    }
    Ok(Value::Null)
});
test_tool!(Chatty, "test.chatty", Risk::Read, |_s, ctx| {
    for i in 0..3 {
        ctx.emit(format!("line {i}\n"));
    }
    Ok(json!({"done": true}))
});

struct Harness {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    client: ToolsClient,
    signals: mpsc::UnboundedReceiver<&'static str>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn harness() -> Harness {
    let (sig_tx, signals) = mpsc::unbounded_channel();
    let registry = Registry::builder()
        .with_builtin()
        .register(ChangeTool {
            signal: sig_tx.clone(),
        })
        .register(WaitCancel {
            signal: sig_tx.clone(),
        })
        .register(Panics {
            signal: sig_tx.clone(),
        })
        .register(Chatty { signal: sig_tx })
        .try_build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("toolsd.sock");
    let listener = aios_proto::bind(&socket).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let services = aios_proto::Services::new("toolsd").tools(Arc::new(Executor::new(registry)));
    tokio::spawn(services.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = ToolsClient::new(aios_proto::connect(&socket).await.unwrap());
    Harness {
        _dir: dir,
        socket,
        client,
        signals,
        _stop: stop,
    }
}

fn request(tool: &str, args: Value) -> ExecuteRequest {
    ExecuteRequest {
        session_id: "s1".into(),
        call_id: "c1".into(),
        tool: tool.into(),
        args,
        on_behalf_of_uid: 0,
        timeout_ms: 0,
        rationale: "test".into(),
        ..Default::default()
    }
}

/// Run a call to its end: the outputs, then the single `End` (asserted last).
async fn run(client: &mut ToolsClient, req: ExecuteRequest) -> (Vec<String>, ExecuteEnd) {
    let stream = client.execute(req).await.unwrap();
    let events: Vec<ExecuteEvent> =
        tokio::time::timeout(WAIT, stream.map(|e| e.unwrap()).collect())
            .await
            .expect("call did not end in time");
    let (last, rest) = events.split_last().expect("no events");
    let ExecuteEvent::End(end) = last.clone() else {
        panic!("last event is not End: {events:?}");
    };
    let outputs = rest
        .iter()
        .map(|e| match e {
            ExecuteEvent::Output(s) => s.clone(),
            ExecuteEvent::End(_) => panic!("more than one End: {events:?}"),
            ExecuteEvent::ApprovalNeeded(_) => panic!("unexpected approval request: {events:?}"),
        })
        .collect();
    (outputs, end)
}

async fn signal(h: &mut Harness) -> &'static str {
    tokio::time::timeout(WAIT, h.signals.recv())
        .await
        .expect("no signal in time")
        .unwrap()
}

#[tokio::test]
async fn lists_registry_specs() {
    let mut h = harness().await;
    let specs = h.client.list().await.unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    for n in [
        "fs.usage",
        "fs.list",
        "fs.read",
        "sys.overview",
        "log.tail",
        "test.change",
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    let fs_list = specs.iter().find(|s| s.name == "fs.list").unwrap();
    assert_eq!(fs_list.args_schema["required"], json!(["path"]));
    assert_eq!(fs_list.effect, Risk::Read);
}

#[tokio::test]
async fn sys_overview_and_fs_list_run_for_real() {
    let mut h = harness().await;
    let (_, end) = run(&mut h.client, request("sys.overview", json!({}))).await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    assert_eq!(
        end.result["hostname"],
        nix::unistd::gethostname().unwrap().into_string().unwrap()
    );
    assert!(end.duration_us > 0);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.txt"), "1").unwrap();
    std::fs::create_dir(dir.path().join("two")).unwrap();
    let (_, end) = run(
        &mut h.client,
        request("fs.list", json!({"path": dir.path()})),
    )
    .await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    let names: Vec<&str> = end.result["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one.txt", "two"]);
}

#[tokio::test]
async fn unknown_tool_and_invalid_args_end_fast_with_error() {
    let mut h = harness().await;
    let t = Instant::now();
    let (out, end) = run(&mut h.client, request("fs.lsit", json!({}))).await;
    assert!(out.is_empty());
    assert_eq!(end.status, ToolStatus::Error);
    assert!(
        end.result
            .as_str()
            .unwrap()
            .contains("did you mean `fs.list`"),
        "{end:?}"
    );
    let (_, end) = run(
        &mut h.client,
        request(
            "fs.read",
            json!({"path": "/etc/hostname", "max_bytes": "lots"}),
        ),
    )
    .await;
    assert_eq!(end.status, ToolStatus::Error);
    assert!(
        end.result.as_str().unwrap().contains("`max_bytes`"),
        "{end:?}"
    );
    let (_, end) = run(&mut h.client, request("fs.read", json!({}))).await;
    assert!(end.result.as_str().unwrap().contains("`path`"), "{end:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn change_tool_without_an_audit_ledger_is_refused_without_running() {
    let mut h = harness().await;
    let (_, end) = run(&mut h.client, request("test.change", json!({}))).await;
    assert_eq!(end.status, ToolStatus::Denied);
    let msg = end.result.as_str().unwrap();
    assert!(
        msg.contains("changes the system") && msg.contains("no audit ledger"),
        "{end:?}"
    );
    assert_eq!(end.duration_us, 0, "a refused call never ran");
}

#[tokio::test]
async fn timeout_ends_with_timed_out_and_cancels_the_tool() {
    let mut h = harness().await;
    let mut req = request("test.wait_cancel", json!({}));
    req.timeout_ms = 100;
    let t = Instant::now();
    let (_, end) = run(&mut h.client, req).await;
    assert_eq!(end.status, ToolStatus::TimedOut, "{end:?}");
    assert!(end.result.as_str().unwrap().contains("100 ms"), "{end:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(end.duration_us >= 100_000, "{end:?}");
    assert_eq!(signal(&mut h).await, "started");
    assert_eq!(signal(&mut h).await, "cancelled");
}

#[tokio::test]
async fn client_disconnect_cancels_the_tool() {
    let mut h = harness().await;
    let stream = h
        .client
        .execute(request("test.wait_cancel", json!({})))
        .await
        .unwrap();
    assert_eq!(signal(&mut h).await, "started");
    drop(stream);
    assert_eq!(signal(&mut h).await, "cancelled");
    // The daemon still serves.
    let (_, end) = run(&mut h.client, request("sys.overview", json!({}))).await;
    assert_eq!(end.status, ToolStatus::Ok);
}

#[tokio::test]
async fn panicking_tool_is_contained() {
    let mut h = harness().await;
    let (_, end) = run(&mut h.client, request("test.panic", json!({}))).await;
    assert_eq!(end.status, ToolStatus::Error);
    assert!(
        end.result
            .as_str()
            .unwrap()
            .contains("deliberate test panic"),
        "{end:?}"
    );
    // A fresh connection works too: the server is alive.
    let mut c2 = ToolsClient::new(aios_proto::connect(&h.socket).await.unwrap());
    assert!(!c2.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn live_output_precedes_the_end() {
    let mut h = harness().await;
    let (out, end) = run(&mut h.client, request("test.chatty", json!({}))).await;
    assert_eq!(out.concat(), "line 0\nline 1\nline 2\n");
    assert_eq!(end.status, ToolStatus::Ok);
    assert_eq!(end.result, json!({"done": true}));
}

#[tokio::test]
async fn on_behalf_of_another_uid_file_modes_are_enforced() {
    use std::os::unix::fs::PermissionsExt;
    let mut h = harness().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    // We are a trusted peer (same uid as the in-process server), so the
    // claim is honoured; uid 65534 (nobody) may not read our 0600 file.
    let mut req = request("fs.read", json!({"path": &secret}));
    req.on_behalf_of_uid = 65534;
    let (_, end) = run(&mut h.client, req).await;
    assert_eq!(end.status, ToolStatus::Denied, "{end:?}");
    assert!(
        end.result.as_str().unwrap().contains("permission denied"),
        "{end:?}"
    );
    // As ourselves, the same read works.
    let (_, end) = run(&mut h.client, request("fs.read", json!({"path": &secret}))).await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    assert_eq!(end.result["content"], "top secret");
}

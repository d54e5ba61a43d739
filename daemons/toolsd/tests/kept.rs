//! A call waiting for its user outlives the orchestrator that asked for it
//! (issue 10 §7), on a real socket: when the asking process is killed,
//! toolsd keeps the call until its approval times out, lists it for its
//! uid only, lets a re-attaching client follow it, and runs it only on the
//! user's approval of that exact hash. An expired call cannot be
//! approved; a living client that closes its stream (an interrupt) leaves
//! nothing kept.
//!
//! The asking process is this test binary run again as a child
//! ([`child_client`]), so the kernel really sees it die.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_catalog::{
    Assessment, Example, Preview, Registry, Resource, ResourceKind, Tool, ToolCtx, ToolError,
};
use aios_proto::{
    ApiErrorKind, ApprovalAnswer, AuditEntry, AuditKind, AuditQuestion, BoxStream, Decision,
    ExecuteEnd, ExecuteEvent, ExecuteRequest, Risk, ToolStatus, ToolsClient,
};
use aios_toolsd::{Audit, Executor, ExecutorConfig, LedgerBackend};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

const WAIT: Duration = Duration::from_secs(20);
const CHILD_SOCKET: &str = "AIOS_KEPT_TEST_SOCKET";
const CHILD_TARGET: &str = "AIOS_KEPT_TEST_TARGET";

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    /// The file.
    path: String,
}

/// `test.touch`: creates a file (a change); exists only in tests.
struct Touch;

impl Tool for Touch {
    type Args = PathArgs;
    fn name(&self) -> &'static str {
        "test.touch"
    }
    fn description(&self) -> &'static str {
        "a tool that exists only in tests"
    }
    fn effect(&self) -> Risk {
        Risk::Change
    }
    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }
    fn examples(&self) -> &'static [Example] {
        &[]
    }
    fn resources(&self, a: &PathArgs) -> Vec<Resource> {
        vec![Resource::Path(a.path.clone())]
    }
    fn preview(&self, a: &PathArgs) -> String {
        format!("touch {}", a.path)
    }
    async fn assess(&self, _ctx: &ToolCtx, a: &PathArgs) -> Result<Assessment, ToolError> {
        Ok(Assessment {
            effect: Risk::Change,
            resources: self.resources(a),
            preview: Preview::text(self.preview(a)),
        })
    }
    async fn run(&self, _ctx: ToolCtx, a: PathArgs) -> Result<Value, ToolError> {
        std::fs::write(&a.path, "x").map_err(|e| ToolError::failed(e.to_string()))?;
        Ok(json!({"summary": format!("touched {}", a.path)}))
    }
}

/// Entries kept in memory.
#[derive(Clone, Default)]
struct Ledger(Arc<Mutex<Vec<AuditEntry>>>);

impl LedgerBackend for Ledger {
    fn append_batch(
        &mut self,
        entries: &[AuditEntry],
        _durability: aios_ledger::Durability,
    ) -> Result<Vec<u64>, String> {
        let mut all = self.0.lock().unwrap();
        Ok(entries
            .iter()
            .map(|e| {
                all.push(e.clone());
                all.len() as u64
            })
            .collect())
    }
    fn answer(&self, _q: &AuditQuestion, _uid: Option<u32>) -> Result<Value, String> {
        Ok(json!(self.0.lock().unwrap().len()))
    }
}

struct Harness {
    dir: tempfile::TempDir,
    ledger: Ledger,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("toolsd.sock")
    }

    async fn client(&self) -> ToolsClient {
        ToolsClient::new(aios_proto::connect(&self.socket()).await.unwrap())
    }

    fn kinds(&self) -> Vec<AuditKind> {
        self.ledger
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect()
    }
}

async fn harness(approval_timeout: Duration) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let registry = Registry::builder().register(Touch).try_build().unwrap();
    let ledger = Ledger::default();
    let config = ExecutorConfig {
        audit: Audit::start(Box::new(ledger.clone())),
        approval_timeout,
        ..ExecutorConfig::default()
    };
    let sock = dir.path().join("toolsd.sock");
    let listener = aios_proto::bind(&sock).await.unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        aios_proto::Services::new("toolsd")
            .tools(Arc::new(Executor::with_config(registry, config)))
            .serve(listener, async {
                let _ = stopped.await;
            }),
    );
    Harness {
        dir,
        ledger,
        _stop: stop,
    }
}

fn request(target: &Path) -> ExecuteRequest {
    ExecuteRequest {
        session_id: "s1".into(),
        call_id: "c1".into(),
        tool: "test.touch".into(),
        args: json!({ "path": target }),
        rationale: "the test asked".into(),
        request: "touch the file".into(),
        ..Default::default()
    }
}

fn answer(hash: &str) -> ApprovalAnswer {
    ApprovalAnswer {
        session_id: "s1".into(),
        call_id: "c1".into(),
        call_hash: hash.into(),
        decision: Decision::Approve,
        confirm: None,
        automatic: false,
    }
}

fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root (the approver must be an administrator)");
    false
}

/// Not a test of its own: the asking process, when run as a child by the
/// tests below. It asks for the call, prints its hash once toolsd asks
/// for an approval, and then waits to be killed.
#[test]
fn child_client() {
    let (Ok(socket), Ok(target)) = (std::env::var(CHILD_SOCKET), std::env::var(CHILD_TARGET))
    else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = ToolsClient::new(aios_proto::connect(Path::new(&socket)).await.unwrap());
        let mut stream = c.execute(request(Path::new(&target))).await.unwrap();
        let Some(Ok(ExecuteEvent::ApprovalNeeded(a))) = stream.next().await else {
            panic!("expected an approval request");
        };
        println!("asked {}", a.call_hash);
        // Hold the stream open until the parent kills this process.
        std::future::pending::<()>().await;
    });
}

/// Run [`child_client`] against `h`, wait until toolsd asked it for an
/// approval, kill it with SIGKILL; the call's hash.
async fn ask_and_die(h: &Harness, target: &Path) -> String {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_client", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_SOCKET, h.socket())
        .env(CHILD_TARGET, target)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let hash = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest writes "test child_client ... " before the test's
            // own output, on the same line.
            if let Some((_, h)) = line.split_once("asked ") {
                return h.trim().to_string();
            }
        }
        panic!("the child ended without being asked");
    })
    .await
    .expect("the child was not asked in time");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    hash
}

/// Poll `check` until it yields, or fail after [`WAIT`].
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn end_of(mut stream: BoxStream<ExecuteEvent>) -> (Vec<ExecuteEvent>, ExecuteEnd) {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("no end in time")
            .expect("stream ended without End")
            .unwrap();
        if let ExecuteEvent::End(end) = ev {
            return (seen, end);
        }
        seen.push(ev);
    }
}

#[tokio::test]
async fn a_call_whose_asker_died_is_kept_followed_and_run_only_on_the_exact_approval() {
    if !require_root() {
        return;
    }
    let h = harness(Duration::from_secs(600)).await;
    let target = h.dir.path().join("made");
    let hash = ask_and_die(&h, &target).await;
    let mut c = h.client().await;
    let kept = until("the call to be kept", || {
        let mut c = c.clone();
        async move {
            let k = c.pending_calls("s1", 0).await.unwrap();
            (!k.is_empty()).then_some(k)
        }
    })
    .await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0].call_id.as_str(), kept[0].tool.as_str()),
        ("c1", "test.touch")
    );
    assert_eq!(kept[0].call_hash, hash);
    assert!(kept[0].expires_unix_ms > aios_proto::now_unix_ms());
    // Another session has none.
    assert!(c.pending_calls("s2", 0).await.unwrap().is_empty());
    assert!(!target.exists(), "nothing runs before the approval");

    // Following it shows the approval request again, as the re-attaching
    // orchestrator shows it to the user.
    let mut stream = c.reattach("s1", "c1", 0).await.unwrap();
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ExecuteEvent::ApprovalNeeded(a) = first else {
        panic!("expected the approval request again, got {first:?}");
    };
    assert_eq!(a.call_hash, hash);
    // Followed once.
    let e = c.reattach("s1", "c1", 0).await.err().unwrap();
    assert_eq!(e.kind, ApiErrorKind::NotFound, "{e:?}");

    // An approval naming another hash is refused, and the call still waits.
    let e = c.approve(answer(&"0".repeat(64))).await.unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
    assert!(e.message.contains("different call"), "{e:?}");
    assert!(!target.exists());
    assert_eq!(c.pending_calls("s1", 0).await.unwrap().len(), 1);

    let ack = c.approve(answer(&hash)).await.unwrap();
    assert_eq!(ack.message, "approved once");
    let (_, end) = end_of(stream).await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    assert!(target.exists());
    assert!(c.pending_calls("s1", 0).await.unwrap().is_empty());
    // The ledger: the intent with who approved, then the outcome.
    assert_eq!(h.kinds(), [AuditKind::Intent, AuditKind::Outcome]);
    let entries = h.ledger.0.lock().unwrap().clone();
    assert_eq!(entries[0].request, "touch the file");
    assert_eq!(entries[0].call_hash, hash);
    assert!(entries[0].decision.as_ref().unwrap().approved_by.is_some());
}

#[tokio::test]
async fn a_kept_call_that_expired_cannot_be_approved() {
    if !require_root() {
        return;
    }
    let h = harness(Duration::from_secs(5)).await;
    let target = h.dir.path().join("made");
    let hash = ask_and_die(&h, &target).await;
    let mut c = h.client().await;
    // Kept (its end becomes readable), then expired: nothing is listed
    // and the kept events end with the refusal.
    let mut stream = until("the kept call", || {
        let mut c = c.clone();
        async move { c.reattach("s1", "c1", 0).await.ok() }
    })
    .await;
    let (_, end) = {
        let _ = stream.next().await;
        end_of(stream).await
    };
    assert_eq!(end.status, ToolStatus::Denied, "{end:?}");
    let text = end.result.as_str().unwrap().to_string();
    assert!(text.contains("expired"), "{text}");
    assert!(c.pending_calls("s1", 0).await.unwrap().is_empty());
    let e = c.approve(answer(&hash)).await.unwrap_err();
    assert!(e.message.contains("no call"), "{e:?}");
    assert!(!target.exists(), "an expired call ran");
    assert_eq!(h.kinds(), [AuditKind::Refusal]);
}

#[tokio::test]
async fn a_living_client_closing_its_stream_leaves_nothing_kept() {
    if !require_root() {
        return;
    }
    let h = harness(Duration::from_secs(600)).await;
    let target = h.dir.path().join("made");
    let mut c = h.client().await;
    let mut stream = c.execute(request(&target)).await.unwrap();
    let Some(Ok(ExecuteEvent::ApprovalNeeded(a))) = stream.next().await else {
        panic!("expected an approval request");
    };
    // This process lives on: closing the stream is an interrupt.
    drop(stream);
    until("the call to be withdrawn", || {
        let h = h.kinds();
        async move { (h == [AuditKind::Refusal]).then_some(()) }
    })
    .await;
    assert!(c.pending_calls("s1", 0).await.unwrap().is_empty());
    let e = c.approve(answer(&a.call_hash)).await.unwrap_err();
    assert!(e.message.contains("no call"), "{e:?}");
    assert!(!target.exists());
}

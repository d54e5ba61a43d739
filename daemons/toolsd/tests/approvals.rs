//! Approvals end to end on a real socket: a change waits for its user,
//! runs only on that user's answer naming the exact call, once, and every
//! step lands in the ledger. Each way to forge or reuse an approval is
//! refused. (The ledger here is an in-memory `LedgerBackend`; the real
//! hash-chained one is tested in `aios-ledger` and wired in `toolsd`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_catalog::{
    Assessment, Example, Preview, Registry, Resource, ResourceKind, Tool, ToolCtx, ToolError,
};
use aios_proto::{
    ApiErrorKind, ApprovalAnswer, ApprovalMode, ApprovalNeeded, ApprovalScope, AuditEntry,
    AuditKind, AuditQuestion, BoxStream, Decision, ExecuteEnd, ExecuteEvent, ExecuteRequest, Risk,
    ToolStatus, ToolsClient,
};
use aios_toolsd::{Audit, Executor, ExecutorConfig, LedgerBackend};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    /// The file.
    path: String,
}

/// `test.touch`: creates a file (a change), or `test.wipe`: removes one
/// (destructive). Both exist only in tests.
struct FileTool {
    name: &'static str,
    effect: Risk,
}

impl Tool for FileTool {
    type Args = PathArgs;
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        "a tool that exists only in tests"
    }
    fn effect(&self) -> Risk {
        self.effect
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
        format!("{} {}", self.name, a.path)
    }
    async fn assess(&self, _ctx: &ToolCtx, a: &PathArgs) -> Result<Assessment, ToolError> {
        Ok(Assessment {
            effect: self.effect,
            resources: self.resources(a),
            preview: Preview::text(self.preview(a)),
        })
    }
    async fn run(&self, _ctx: ToolCtx, a: PathArgs) -> Result<Value, ToolError> {
        if self.effect == Risk::Destructive {
            std::fs::remove_file(&a.path).map_err(|e| ToolError::failed(e.to_string()))?;
        } else if self.effect == Risk::Read {
            // `test.look` looks only.
        } else {
            std::fs::write(&a.path, "x").map_err(|e| ToolError::failed(e.to_string()))?;
        }
        Ok(json!({"summary": format!("{} {}", self.name, a.path)}))
    }
}

/// Entries kept in memory; `fail` makes appends fail.
#[derive(Clone, Default)]
struct Ledger {
    entries: Arc<Mutex<Vec<AuditEntry>>>,
    fail: Arc<Mutex<bool>>,
}

impl LedgerBackend for Ledger {
    fn append_batch(
        &mut self,
        entries: &[AuditEntry],
        _durability: aios_ledger::Durability,
    ) -> Result<Vec<u64>, String> {
        if *self.fail.lock().unwrap() {
            return Err("disk full".into());
        }
        let mut all = self.entries.lock().unwrap();
        Ok(entries
            .iter()
            .map(|e| {
                all.push(e.clone());
                all.len() as u64
            })
            .collect())
    }
    fn answer(&self, _q: &AuditQuestion, _uid: Option<u32>) -> Result<Value, String> {
        Ok(json!(self.entries.lock().unwrap().len()))
    }
}

struct Harness {
    dir: tempfile::TempDir,
    client: ToolsClient,
    ledger: Ledger,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("toolsd.sock")
    }

    fn kinds(&self) -> Vec<AuditKind> {
        self.ledger
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect()
    }

    fn planner_socket(&self) -> PathBuf {
        self.dir.path().join("aiosd.sock")
    }

    async fn second_client(&self) -> ToolsClient {
        ToolsClient::new(aios_proto::connect(&self.socket()).await.unwrap())
    }
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let registry = Registry::builder()
        .register(FileTool {
            name: "test.touch",
            effect: Risk::Change,
        })
        .register(FileTool {
            name: "test.wipe",
            effect: Risk::Destructive,
        })
        .register(FileTool {
            name: "test.look",
            effect: Risk::Read,
        })
        .try_build()
        .unwrap();
    let ledger = Ledger::default();
    let config = ExecutorConfig {
        audit: Audit::start(Box::new(ledger.clone())),
        // Whoever listens here acts as the planner (in production, aiosd).
        planner_sockets: vec![("aiosd".into(), dir.path().join("aiosd.sock"))],
        ..ExecutorConfig::default()
    };
    let sock = dir.path().join("toolsd.sock");
    let listener = aios_proto::bind(&sock).await.unwrap();
    // Other users' processes may connect; the executor decides by their
    // kernel-verified uid.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        aios_proto::Services::new("toolsd")
            .tools(Arc::new(Executor::with_config(registry, config)))
            .serve(listener, async {
                let _ = stopped.await;
            }),
    );
    let client = ToolsClient::new(aios_proto::connect(&sock).await.unwrap());
    Harness {
        dir,
        client,
        ledger,
        _stop: stop,
    }
}

fn request(tool: &str, call_id: &str, path: &std::path::Path) -> ExecuteRequest {
    ExecuteRequest {
        session_id: "s1".into(),
        call_id: call_id.into(),
        tool: tool.into(),
        args: json!({ "path": path }),
        rationale: "the test asked".into(),
        ..Default::default()
    }
}

/// Start a call and read up to its approval request.
async fn until_asked(
    client: &mut ToolsClient,
    req: ExecuteRequest,
) -> (BoxStream<ExecuteEvent>, ApprovalNeeded) {
    let mut stream = client.execute(req).await.unwrap();
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .unwrap();
    let ExecuteEvent::ApprovalNeeded(a) = first else {
        panic!("expected an approval request, got {first:?}");
    };
    (stream, *a)
}

async fn end_of(mut stream: BoxStream<ExecuteEvent>) -> ExecuteEnd {
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("no end in time")
            .expect("stream ended without End")
            .unwrap();
        if let ExecuteEvent::End(end) = ev {
            return end;
        }
    }
}

fn answer(a: &ApprovalNeeded, decision: Decision) -> ApprovalAnswer {
    ApprovalAnswer {
        session_id: "s1".into(),
        call_id: a.call_id.clone(),
        call_hash: a.call_hash.clone(),
        decision,
        confirm: None,
        automatic: false,
    }
}

fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!(
        "skipped: needs root (the caller must be an administrator, and another uid must connect)"
    );
    false
}

#[tokio::test]
async fn a_change_waits_for_its_user_and_runs_once_on_the_exact_approval() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    assert_eq!(a.tool, "test.touch");
    assert_eq!(a.effect, Risk::Change);
    assert_eq!(a.args, json!({ "path": target }));
    assert_eq!(a.rule, "default.change");
    assert!(!target.exists(), "nothing runs before the approval");

    let mut other = h.second_client().await;
    // An approval naming another call is refused; the call keeps waiting.
    let mut forged = answer(&a, Decision::Approve);
    forged.call_hash = "0".repeat(64);
    let e = other.approve(forged).await.unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
    assert!(e.message.contains("different call"), "{e:?}");
    assert!(!target.exists());

    let ack = other.approve(answer(&a, Decision::Approve)).await.unwrap();
    assert_eq!(ack.message, "approved once");
    let end = end_of(stream).await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    assert!(target.exists());

    // Used once: the same approval again finds nothing waiting.
    let e = other
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap_err();
    assert!(e.message.contains("no call"), "{e:?}");

    // The ledger has the intent before the outcome, with who approved.
    let entries = h.ledger.entries.lock().unwrap().clone();
    let kinds: Vec<AuditKind> = entries.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditKind::Intent, AuditKind::Outcome]);
    let by = entries[0]
        .decision
        .as_ref()
        .unwrap()
        .approved_by
        .clone()
        .unwrap();
    assert_eq!((by.uid, by.scope), (0, ApprovalScope::Once));
    assert_eq!(entries[0].call_hash, a.call_hash);
    assert_eq!(entries[1].status, Some(ToolStatus::Ok));
    assert_eq!(entries[1].intent_id, Some(1));
}

/// Development mode: the planner has the user's uid, so only the process
/// the kernel says sent the approval tells it from the user's shell. This
/// test process serves the planner's socket (it *is* the planner, as
/// aiosd is when it listens on `aiosd.sock`), and sends the approval
/// with the user's uid on a fresh connection.
#[tokio::test]
async fn the_planners_process_cannot_approve_though_it_has_the_users_uid() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let planner = tokio::net::UnixListener::bind(h.planner_socket()).unwrap();
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    let mut from_planner = h.second_client().await;
    let e = from_planner
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied, "{e:?}");
    assert!(
        e.message.contains("aiosd") && e.message.contains(&std::process::id().to_string()),
        "{e:?}"
    );
    // Not a rejection either: the call still waits for its user.
    let e = from_planner
        .approve(answer(&a, Decision::Reject { note: None }))
        .await
        .unwrap_err();
    assert!(e.message.contains("aiosd"), "{e:?}");
    assert!(!target.exists(), "nothing ran on the planner's word");

    // Once this process no longer serves the planner's socket it is just
    // the user's process, and its answer is heard.
    drop(planner);
    std::fs::remove_file(h.planner_socket()).unwrap();
    let mut user = h.second_client().await;
    user.approve(answer(&a, Decision::Approve)).await.unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
    assert!(target.exists());
}

#[tokio::test]
async fn a_rejection_stops_the_call_and_is_recorded_with_its_note() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("never");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    let mut other = h.second_client().await;
    other
        .approve(answer(
            &a,
            Decision::Reject {
                note: Some("not on a friday".into()),
            },
        ))
        .await
        .unwrap();
    let end = end_of(stream).await;
    assert_eq!(end.status, ToolStatus::Rejected);
    assert!(
        end.result.as_str().unwrap().contains("not on a friday"),
        "{end:?}"
    );
    assert!(!target.exists());
    assert_eq!(h.kinds(), [AuditKind::Refusal]);
}

#[tokio::test]
async fn another_users_connection_cannot_approve() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    // Connect as nobody: the kernel records the uid at connect time, and
    // `setresuid` through the raw syscall changes this thread alone.
    let sock = h.socket();
    let std_stream = std::thread::spawn(move || {
        // SAFETY: a raw syscall on this thread only; it exits right after.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        std::os::unix::net::UnixStream::connect(sock).unwrap()
    })
    .join()
    .unwrap();
    std_stream.set_nonblocking(true).unwrap();
    let held = Mutex::new(Some(tokio::net::UnixStream::from_std(std_stream).unwrap()));
    let channel = tonic::transport::Endpoint::from_static("http://aios.local")
        .connect_with_connector(tower::service_fn(move |_| {
            let s = held.lock().unwrap().take();
            async move {
                s.map(hyper_util::rt::TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("used already"))
            }
        }))
        .await
        .unwrap();
    let mut nobody = ToolsClient::new(channel);
    let e = nobody
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
    assert!(
        e.message.contains("only the session's user (uid 0)") && e.message.contains("65534"),
        "{e:?}"
    );
    assert!(!target.exists());
    // The rightful user still can.
    h.second_client()
        .await
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
}

#[tokio::test]
async fn an_approval_after_the_session_ended_is_refused_and_the_call_ends() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    let mut daemon = h.second_client().await;
    daemon.end_session("s1").await.unwrap();
    let e = daemon
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap_err();
    assert!(e.message.contains("ended"), "{e:?}");
    let end = end_of(stream).await;
    assert_eq!(end.status, ToolStatus::Interrupted, "{end:?}");
    assert!(!target.exists());
    assert_eq!(h.kinds(), [AuditKind::Refusal]);
}

#[tokio::test]
async fn a_session_approval_covers_the_same_call_pattern_for_that_session_only() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    h.second_client()
        .await
        .approve(answer(&a, Decision::Session))
        .await
        .unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
    // The same tool on the same file, later in the session: no question.
    let stream = h
        .client
        .execute(request("test.touch", "c2", &target))
        .await
        .unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
    // Another file, or another session, asks again.
    let other_file = h.dir.path().join("other");
    let (_s, _) = until_asked(&mut h.client, request("test.touch", "c3", &other_file)).await;
    let mut req = request("test.touch", "c4", &target);
    req.session_id = "s2".into();
    let (_s2, _) = until_asked(&mut h.client, req).await;
}

#[tokio::test]
async fn destructive_calls_need_the_target_typed() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("precious");
    std::fs::write(&target, "data").unwrap();
    let (stream, a) = until_asked(&mut h.client, request("test.wipe", "c1", &target)).await;
    let name = target.to_string_lossy().to_string();
    assert_eq!(a.confirm.as_deref(), Some(name.as_str()));
    let mut other = h.second_client().await;
    let e = other
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap_err();
    assert!(e.message.contains("type its target's name"), "{e:?}");
    assert!(target.exists());
    let mut typed = answer(&a, Decision::Approve);
    typed.confirm = Some(name);
    other.approve(typed).await.unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
    assert!(!target.exists());
}

#[tokio::test]
async fn sessions_that_cannot_ask_are_refused_at_once_and_recorded() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    for mode in [ApprovalMode::Policy, ApprovalMode::Never] {
        let mut req = request("test.touch", "c1", &target);
        req.approval = mode;
        let end = end_of(h.client.execute(req).await.unwrap()).await;
        assert_eq!(end.status, ToolStatus::Denied, "{mode:?}: {end:?}");
    }
    let mut req = request("test.touch", "c2", &target);
    req.session_id = "background".into();
    req.session_kind = aios_proto::SessionKind::Background;
    let end = end_of(h.client.execute(req).await.unwrap()).await;
    assert_eq!(end.status, ToolStatus::Denied);
    assert!(
        end.result
            .as_str()
            .unwrap()
            .contains("background agent cannot approve"),
        "{end:?}"
    );
    assert!(!target.exists());
    assert_eq!(h.kinds(), [AuditKind::Refusal; 3]);
}

#[tokio::test]
async fn no_approval_is_heard_for_a_background_agents_session() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let mut req = request("test.touch", "b1", &target);
    req.session_id = "agent".into();
    req.session_kind = aios_proto::SessionKind::Background;
    let end = end_of(h.client.execute(req).await.unwrap()).await;
    assert_eq!(end.status, ToolStatus::Denied, "{end:?}");
    // The refusal is in the ledger with the exact call's hash: an answer
    // naming that call, from the session's own user (the agent acts for
    // uid 0 here, and this connection is uid 0), is still refused.
    let hash = h
        .ledger
        .entries
        .lock()
        .unwrap()
        .iter()
        .find(|e| e.call_id == "b1")
        .map(|e| e.call_hash.clone())
        .expect("the refusal was recorded");
    let forged = ApprovalAnswer {
        session_id: "agent".into(),
        call_id: "b1".into(),
        call_hash: hash.clone(),
        decision: Decision::Approve,
        confirm: None,
        automatic: false,
    };
    let mut user = h.second_client().await;
    for decision in [Decision::Approve, Decision::Session, Decision::Always] {
        let e = user
            .approve(ApprovalAnswer {
                decision,
                ..forged.clone()
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
        assert!(e.message.contains("background agent's session"), "{e:?}");
    }
    // Nor can the "always" rule be previewed for it.
    let e = user
        .policy(aios_proto::PolicyQuestion::GrantPreview {
            session_id: "agent".into(),
            call_id: "b1".into(),
            call_hash: hash,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied, "{e:?}");
    assert!(!target.exists());
    // Asking again in the same session still refuses at once: the call
    // never waits, so there is never anything to answer.
    let mut again = request("test.touch", "b2", &target);
    again.session_id = "agent".into();
    again.session_kind = aios_proto::SessionKind::Background;
    let end = end_of(h.client.execute(again).await.unwrap()).await;
    assert_eq!(end.status, ToolStatus::Denied, "{end:?}");
    assert!(!target.exists());
    assert_eq!(h.kinds(), [AuditKind::Refusal; 2]);
}

#[tokio::test]
async fn a_change_is_not_run_when_its_intent_cannot_be_recorded() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &target)).await;
    *h.ledger.fail.lock().unwrap() = true;
    h.second_client()
        .await
        .approve(answer(&a, Decision::Approve))
        .await
        .unwrap();
    let end = end_of(stream).await;
    assert_eq!(end.status, ToolStatus::Error);
    assert!(
        end.result
            .as_str()
            .unwrap()
            .contains("audit ledger cannot be written"),
        "{end:?}"
    );
    assert!(!target.exists(), "fail closed: nothing ran");
}

#[tokio::test]
async fn an_edited_call_is_a_new_call_recorded_as_edited() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let asked = h.dir.path().join("asked");
    let edited = h.dir.path().join("edited");
    let (stream, a) = until_asked(&mut h.client, request("test.touch", "c1", &asked)).await;
    h.second_client()
        .await
        .approve(answer(
            &a,
            Decision::Edit {
                args: json!({ "path": edited }),
            },
        ))
        .await
        .unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
    assert!(edited.exists() && !asked.exists());
    let entries = h.ledger.entries.lock().unwrap().clone();
    assert_eq!(entries[0].args, json!({ "path": edited }));
    assert_ne!(entries[0].call_hash, a.call_hash, "a new call, a new hash");
    assert!(
        entries[0]
            .decision
            .as_ref()
            .unwrap()
            .approved_by
            .as_ref()
            .unwrap()
            .edited
    );
}

#[tokio::test]
async fn a_read_is_in_the_ledger_before_its_result_arrives() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("seen");
    let end = end_of(
        h.client
            .execute(request("test.look", "r1", &target))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
    let entries = h.ledger.entries.lock().unwrap().clone();
    let e = entries
        .iter()
        .find(|e| e.call_id == "r1")
        .expect("the read was recorded before its result was sent");
    assert_eq!(e.kind, AuditKind::Outcome);
    assert_eq!(e.effect, Risk::Read);
    assert_eq!(e.status, Some(ToolStatus::Ok));
    assert_eq!(e.session_kind, aios_proto::SessionKind::Interactive);
}

#[tokio::test]
async fn the_session_kind_is_pinned_by_the_first_call_and_recorded_everywhere() {
    if !require_root() {
        return;
    }
    let mut h = harness().await;
    let target = h.dir.path().join("made");
    // A one-shot session under --approve=ask would still be asked: the
    // kind reaches the approval card and the ledger.
    let mut req = request("test.touch", "c1", &target);
    req.session_id = "one".into();
    req.session_kind = aios_proto::SessionKind::OneShot;
    let (stream, a) = until_asked(&mut h.client, req).await;
    assert_eq!(a.session_kind, aios_proto::SessionKind::OneShot);
    let mut ans = answer(&a, Decision::Approve);
    ans.session_id = "one".into();
    h.second_client().await.approve(ans).await.unwrap();
    assert_eq!(end_of(stream).await.status, ToolStatus::Ok);
    {
        let entries = h.ledger.entries.lock().unwrap();
        let mine: Vec<_> = entries.iter().filter(|e| e.call_id == "c1").collect();
        assert_eq!(mine.len(), 2, "intent and outcome");
        assert!(
            mine.iter()
                .all(|e| e.session_kind == aios_proto::SessionKind::OneShot)
        );
    }
    // A background session stays background: a later call claiming to be
    // interactive (to be asked, and so approved) is refused outright.
    let mut bg = request("test.look", "b1", &target);
    bg.session_id = "agent".into();
    bg.session_kind = aios_proto::SessionKind::Background;
    assert_eq!(
        end_of(h.client.execute(bg).await.unwrap()).await.status,
        ToolStatus::Ok
    );
    let mut forged = request("test.touch", "b2", &target);
    forged.session_id = "agent".into();
    forged.session_kind = aios_proto::SessionKind::Interactive;
    let e = match h.client.execute(forged).await {
        Ok(_) => panic!("a background session's call claiming to be interactive was accepted"),
        Err(e) => e,
    };
    assert!(e.message.contains("background session"), "{e:?}");
    // `aios policy check --kind background`: the same call is denied, not
    // asked.
    let v = h
        .client
        .policy(aios_proto::PolicyQuestion::Check {
            tool: "test.touch".into(),
            args: json!({ "path": target }),
            session_kind: Some(aios_proto::SessionKind::Background),
        })
        .await
        .unwrap();
    assert_eq!(v["decision"]["verdict"], "deny", "{v}");
    assert_eq!(v["session_kind"], "background", "{v}");
    let v = h
        .client
        .policy(aios_proto::PolicyQuestion::Check {
            tool: "test.touch".into(),
            args: json!({ "path": target }),
            session_kind: None,
        })
        .await
        .unwrap();
    assert_eq!(v["decision"]["verdict"], "ask", "{v}");
    assert_eq!(v["session_kind"], "interactive", "{v}");
}

//! `audit.undo` and "always" through the executor, on a real socket with
//! the real hash-chained ledger:
//!
//! - an undo is decided as the call it stands for: the approval card names
//!   the undo record's own tool, arguments and preview, and the ledger
//!   records that call, never a blanket "undo";
//! - "always" shows the exact rule before saving, saves that rule, and never
//!   saves one that a configured `ask` would outrank.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_catalog::{
    Example, Registry, Resource, ResourceKind, Tool, ToolCtx, ToolError, UndoRecord,
};
use aios_policy::{Policy, Rule, save_grant};
use aios_proto::{
    ApprovalAnswer, ApprovalNeeded, AuditQuestion, AuditRecord, BoxStream, Caller, Decision,
    ExecuteEnd, ExecuteEvent, ExecuteRequest, PolicyDecision, PolicyInput, PolicyQuestion, Risk,
    ToolStatus, ToolsClient, Verdict,
};
use aios_toolsd::{Audit, Executor, ExecutorConfig, GrantPreview, LedgerBackend, PolicyEngine};
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

/// `test.touch` creates a file and leaves an undo record naming
/// `test.untouch`, which removes it. Both exist only in tests.
struct FileTool {
    name: &'static str,
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
        format!("{} {}", self.name, a.path)
    }
    async fn run(&self, ctx: ToolCtx, a: PathArgs) -> Result<Value, ToolError> {
        if self.name == "test.touch" {
            std::fs::write(&a.path, "x").map_err(|e| ToolError::failed(e.to_string()))?;
            ctx.set_undo(UndoRecord {
                tool: "test.untouch".into(),
                args: json!({ "path": a.path }),
                summary: format!("remove {}", a.path),
            });
        } else {
            std::fs::remove_file(&a.path).map_err(|e| ToolError::failed(e.to_string()))?;
        }
        Ok(json!({"summary": format!("{} {}", self.name, a.path)}))
    }
}

/// aios-policy over a system file and a user file in a temporary
/// directory (the caller is root, whose real home the test must not touch),
/// saving grants the way `FilePolicy` does. Records the rule it was handed.
#[derive(Debug)]
struct TempPolicy {
    system: PathBuf,
    user: PathBuf,
    handed: Mutex<Vec<Option<String>>>,
}

impl TempPolicy {
    fn load(&self) -> Policy {
        Policy::load(Some(&self.system), Some(&self.user)).unwrap()
    }
}

impl PolicyEngine for TempPolicy {
    fn decide(&self, input: &PolicyInput) -> PolicyDecision {
        self.load().decide(input)
    }
    fn preview_grant(&self, input: &PolicyInput) -> Result<GrantPreview, String> {
        let p = self.load();
        let rule = p.fresh_grant(input);
        let with_grant = p.decide_with_grant(input, &rule);
        Ok(GrantPreview {
            rule,
            file: self.user.clone(),
            with_grant,
        })
    }
    fn grant(&self, input: &PolicyInput, rule: Option<Rule>) -> Result<String, String> {
        self.handed
            .lock()
            .unwrap()
            .push(rule.as_ref().map(Rule::to_toml));
        let p = self.load();
        let rule = rule.unwrap_or_else(|| p.fresh_grant(input));
        if p.decide_with_grant(input, &rule).verdict != Verdict::Allow {
            return Err("a configured rule still decides".into());
        }
        let id = save_grant(&self.user, &rule).map_err(|e| e.to_string())?;
        Ok(rule.with_id(id).to_toml())
    }
    fn grants(&self, _caller: &Caller) -> Result<Value, String> {
        Ok(json!([]))
    }
}

struct Harness {
    dir: tempfile::TempDir,
    client: ToolsClient,
    policy: Arc<TempPolicy>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn harness(user_policy: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let registry = Registry::builder()
        .register(FileTool { name: "test.touch" })
        .register(FileTool {
            name: "test.untouch",
        })
        .register(aios_catalog::builtin::AuditUndo)
        .try_build()
        .unwrap();
    let ledger =
        <aios_ledger::Ledger as LedgerBackend>::open(&dir.path().join("ledger.db")).unwrap();
    let policy = Arc::new(TempPolicy {
        system: dir.path().join("system.toml"),
        user: dir.path().join("user.toml"),
        handed: Mutex::new(Vec::new()),
    });
    std::fs::write(&policy.user, user_policy).unwrap();
    let config = ExecutorConfig {
        audit: Audit::start(ledger),
        policy: policy.clone(),
        ..ExecutorConfig::default()
    };
    let sock = dir.path().join("toolsd.sock");
    let listener = aios_proto::bind(&sock).await.unwrap();
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
        policy,
        _stop: stop,
    }
}

fn request(tool: &str, call_id: &str, args: Value) -> ExecuteRequest {
    ExecuteRequest {
        session_id: "s1".into(),
        call_id: call_id.into(),
        tool: tool.into(),
        args,
        rationale: "the test asked".into(),
        ..Default::default()
    }
}

async fn next(stream: &mut BoxStream<ExecuteEvent>) -> ExecuteEvent {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .unwrap()
}

async fn asked(stream: &mut BoxStream<ExecuteEvent>) -> ApprovalNeeded {
    match next(stream).await {
        ExecuteEvent::ApprovalNeeded(a) => *a,
        other => panic!("expected an approval request, got {other:?}"),
    }
}

async fn end_of(stream: &mut BoxStream<ExecuteEvent>) -> ExecuteEnd {
    loop {
        if let ExecuteEvent::End(end) = next(stream).await {
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

async fn ledger(client: &mut ToolsClient) -> Vec<AuditRecord> {
    let v = client
        .audit(AuditQuestion::Log(aios_proto::AuditQuery {
            limit: 1000,
            ..Default::default()
        }))
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root (the caller must be an administrator)");
    false
}

/// Approve the waiting call `a` and run the call to its end.
async fn approve(
    h: &mut Harness,
    stream: &mut BoxStream<ExecuteEvent>,
    a: &ApprovalNeeded,
) -> ExecuteEnd {
    h.client
        .clone()
        .approve(answer(a, Decision::Approve))
        .await
        .unwrap();
    end_of(stream).await
}

#[tokio::test]
async fn an_undo_is_decided_approved_and_recorded_as_the_call_it_stands_for() {
    if !require_root() {
        return;
    }
    let mut h = harness("").await;
    let target = h.dir.path().join("made");
    let path = target.display().to_string();
    let mut s = h
        .client
        .execute(request("test.touch", "c1", json!({ "path": path })))
        .await
        .unwrap();
    let a = asked(&mut s).await;
    assert_eq!(approve(&mut h, &mut s, &a).await.status, ToolStatus::Ok);
    assert!(target.exists());
    let outcome = ledger(&mut h.client)
        .await
        .into_iter()
        .find(|r| r.entry.undo.is_some())
        .expect("the change left an undo record");

    // How would the undo be decided? As test.untouch, by the default rule.
    let v = h
        .client
        .policy(PolicyQuestion::Check {
            tool: "audit.undo".into(),
            args: json!({ "id": outcome.id }),
            session_kind: None,
        })
        .await
        .unwrap();
    assert_eq!(v["call"]["tool"], "test.untouch", "{v}");
    assert_eq!(v["decision"]["rule"], "default.change", "{v}");

    let mut s = h
        .client
        .execute(request("audit.undo", "c2", json!({ "id": outcome.id })))
        .await
        .unwrap();
    let a = asked(&mut s).await;
    assert_eq!(a.tool, "test.untouch", "the card shows the real call");
    assert_eq!(a.args, json!({ "path": path }));
    assert_eq!(a.resources, [format!("path:{path}")]);
    assert_eq!(a.preview.summary, format!("test.untouch {path}"));
    assert!(target.exists(), "nothing runs before the approval");
    assert_eq!(approve(&mut h, &mut s, &a).await.status, ToolStatus::Ok);
    assert!(!target.exists(), "undone");

    let records = ledger(&mut h.client).await;
    let undo: Vec<&AuditRecord> = records.iter().filter(|r| r.entry.call_id == "c2").collect();
    assert_eq!(undo.len(), 2, "intent and outcome: {records:#?}");
    for r in &undo {
        assert_eq!(r.entry.tool, "test.untouch");
        assert!(
            r.entry.rationale.starts_with(&format!(
                "undo of ledger entry {}: remove {path}",
                outcome.id
            )),
            "{}",
            r.entry.rationale
        );
    }
    assert!(records.iter().all(|r| r.entry.tool != "audit.undo"));

    // Undoing the same entry again is refused before anything is asked:
    // it would throw away whatever changed since the first undo.
    let undo_outcome = undo
        .iter()
        .find(|r| r.entry.status == Some(ToolStatus::Ok))
        .expect("the undo's outcome");
    let mut s = h
        .client
        .execute(request("audit.undo", "c3", json!({ "id": outcome.id })))
        .await
        .unwrap();
    let end = end_of(&mut s).await;
    assert_eq!(end.status, ToolStatus::Error, "{end:?}");
    let says = end.result.as_str().unwrap();
    assert!(
        says.contains(&format!(
            "ledger entry {} was already undone by entry {}",
            outcome.id, undo_outcome.id
        )),
        "{says}"
    );

    // An entry without an undo record (the undo's own), or none at all: a
    // clear error.
    let plain = undo[0].id;
    for (id, says) in [(plain, "has no undo record"), (999, "no ledger entry 999")] {
        let mut s = h
            .client
            .execute(request(
                "audit.undo",
                &format!("x{id}"),
                json!({ "id": id }),
            ))
            .await
            .unwrap();
        let end = end_of(&mut s).await;
        assert_eq!(end.status, ToolStatus::Error);
        assert!(end.result.as_str().unwrap().contains(says), "{end:?}");
    }
}

async fn preview(h: &mut Harness, a: &ApprovalNeeded) -> Value {
    h.client
        .policy(PolicyQuestion::GrantPreview {
            session_id: "s1".into(),
            call_id: a.call_id.clone(),
            call_hash: a.call_hash.clone(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn always_saves_exactly_the_rule_it_showed() {
    if !require_root() {
        return;
    }
    let mut h = harness("# mine\n").await;
    let target = h.dir.path().join("a");
    let args = json!({ "path": target });
    let mut s = h
        .client
        .execute(request("test.touch", "c1", args.clone()))
        .await
        .unwrap();
    let a = asked(&mut s).await;
    // Naming another call is refused: the preview is bound like an answer.
    let mut wrong = a.clone();
    wrong.call_hash = "0".repeat(64);
    assert!(
        h.client
            .policy(PolicyQuestion::GrantPreview {
                session_id: "s1".into(),
                call_id: wrong.call_id.clone(),
                call_hash: wrong.call_hash.clone(),
            })
            .await
            .is_err()
    );
    let shown = preview(&mut h, &a).await;
    assert_eq!(shown["takes_effect"], true, "{shown}");
    assert_eq!(shown["file"], json!(h.policy.user));
    let rule = shown["rule"].as_str().unwrap().to_string();
    assert!(rule.contains("test.touch"), "{rule}");
    let ack = h
        .client
        .approve(answer(&a, Decision::Always))
        .await
        .unwrap();
    assert_eq!(ack.rule_written.as_deref(), Some(rule.as_str()));
    assert_eq!(
        h.policy.handed.lock().unwrap().clone(),
        [Some(rule.clone())]
    );
    assert_eq!(end_of(&mut s).await.status, ToolStatus::Ok);
    let file = std::fs::read_to_string(&h.policy.user).unwrap();
    assert!(
        file.starts_with("# mine\n") && file.contains(&rule),
        "{file}"
    );

    // The same call again runs without asking.
    std::fs::remove_file(&target).unwrap();
    let mut s = h
        .client
        .execute(request("test.touch", "c2", args))
        .await
        .unwrap();
    assert_eq!(end_of(&mut s).await.status, ToolStatus::Ok);
    assert!(target.exists());
}

#[tokio::test]
async fn always_never_saves_a_rule_that_a_configured_ask_outranks() {
    if !require_root() {
        return;
    }
    let mine = "# Ask me before every touch.\n[[rule]]\nid = \"ask-touch\"\naction = \"ask\"\ntools = [\"test.touch\"]\n";
    let mut h = harness(mine).await;
    let target = h.dir.path().join("b");
    let args = json!({ "path": target });
    for call in ["c1", "c2"] {
        let mut s = h
            .client
            .execute(request("test.touch", call, args.clone()))
            .await
            .unwrap();
        let a = asked(&mut s).await;
        assert_eq!(a.rule, "ask-touch", "the configured ask still decides");
        let shown = preview(&mut h, &a).await;
        assert_eq!(shown["takes_effect"], false, "{shown}");
        assert_eq!(shown["blocked_by"]["rule"], "ask-touch", "{shown}");
        // Answered "always" anyway (an old client): it runs once, and no
        // rule is saved to pretend otherwise.
        let ack = h
            .client
            .approve(answer(&a, Decision::Always))
            .await
            .unwrap();
        assert_eq!(ack.rule_written, None);
        assert!(ack.message.contains("no rule was saved"), "{}", ack.message);
        assert_eq!(end_of(&mut s).await.status, ToolStatus::Ok);
        assert_eq!(std::fs::read_to_string(&h.policy.user).unwrap(), mine);
        std::fs::remove_file(&target).unwrap();
    }
}

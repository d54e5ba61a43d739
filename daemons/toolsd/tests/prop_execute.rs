//! Issue #8's property, through the whole executor pipeline rather than
//! the policy engine alone: over generated rule files, per-call effects,
//! session kinds, approval modes and human behaviour (an answer for the
//! exact call, one naming another call or session, a rejection, no
//! answer), no call whose effect is not `read` runs unless an allow rule
//! matches it or the session's user approved that exact call.
//!
//! "Runs" is observed on real state: the test tool creates a file. Which
//! allow rules match is computed by an oracle written here from the
//! documented rule semantics, not by the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/src/wait.rs"]
mod wait;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_catalog::{Assessment, Example, Preview, Registry, Resource, ResourceKind, Tool, ToolCtx};
use aios_proto::{
    ApprovalAnswer, ApprovalMode, AuditEntry, AuditKind, AuditQuestion, Decision, ExecuteEvent,
    ExecuteRequest, Risk, SessionKind, ToolStatus, ToolsApi,
};
use aios_toolsd::{Audit, Executor, ExecutorConfig, LedgerBackend};
use futures::StreamExt;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActArgs {
    /// The file a change creates.
    path: String,
    /// The effect this call has.
    effect: Effect,
}

/// `Risk` as the test tool's argument (the domain types carry no schema).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Effect {
    Read,
    Change,
    Destructive,
}

impl From<Effect> for Risk {
    fn from(e: Effect) -> Risk {
        match e {
            Effect::Read => Risk::Read,
            Effect::Change => Risk::Change,
            Effect::Destructive => Risk::Destructive,
        }
    }
}

/// `test.act`: its effect is decided per call, from the arguments (as
/// `fs.write` into a new file is a change and an overwrite destructive);
/// any effect but `read` creates the file.
struct Act;

impl Tool for Act {
    type Args = ActArgs;
    fn name(&self) -> &'static str {
        "test.act"
    }
    fn description(&self) -> &'static str {
        "a tool that exists only in tests"
    }
    fn effect(&self) -> Risk {
        Risk::Destructive
    }
    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }
    fn examples(&self) -> &'static [Example] {
        &[]
    }
    fn resources(&self, a: &ActArgs) -> Vec<Resource> {
        vec![Resource::Path(a.path.clone())]
    }
    fn preview(&self, a: &ActArgs) -> String {
        format!("act on {}", a.path)
    }
    async fn assess(
        &self,
        _ctx: &ToolCtx,
        a: &ActArgs,
    ) -> Result<Assessment, aios_catalog::ToolError> {
        Ok(Assessment {
            effect: a.effect.into(),
            resources: self.resources(a),
            preview: Preview::text(self.preview(a)),
        })
    }
    async fn run(&self, _ctx: ToolCtx, a: ActArgs) -> Result<Value, aios_catalog::ToolError> {
        if Risk::from(a.effect) != Risk::Read {
            std::fs::write(&a.path, "ran")
                .map_err(|e| aios_catalog::ToolError::failed(e.to_string()))?;
        }
        Ok(json!({"summary": "acted"}))
    }
}

/// Ledger entries kept in memory.
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

/// The rules a case may put in the system file: (TOML, whether it is an
/// allow rule that matches the case's call, by the documented semantics).
type Template = (&'static str, fn(&Case) -> bool);

const TEMPLATES: &[Template] = &[
    (
        r#"action = "allow"
tools = ["test.*"]"#,
        |_| true,
    ),
    (
        r#"action = "allow"
tools = ["test.act"]
sessions = ["interactive"]"#,
        |c| c.kind == SessionKind::Interactive,
    ),
    (
        r#"action = "allow"
tools = ["test.act"]
effect = ["change"]"#,
        |c| c.effect == Risk::Change,
    ),
    // Near misses: allow rules that never match these calls.
    (
        r#"action = "allow"
tools = ["test.act"]
paths = ["/nonexistent/**"]"#,
        |_| false,
    ),
    (
        r#"action = "allow"
tools = ["test.act"]
principals = ["uid:4242"]"#,
        |_| false,
    ),
    (
        r#"action = "allow"
tools = ["other.*"]"#,
        |_| false,
    ),
    // Stricter rules: they can only take permission away.
    (
        r#"action = "ask"
tools = ["test.*"]"#,
        |_| false,
    ),
    (
        r#"action = "deny"
tools = ["test.act"]
effect = ["destructive"]"#,
        |_| false,
    ),
];

/// What the session's user does when asked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Human {
    /// Approves this exact call.
    Approves,
    /// Approves, naming another call's hash.
    ForgesTheHash,
    /// Approves the call id of another session.
    NamesAnotherSession,
    /// Rejects it.
    Rejects,
    /// Never answers; the client goes away.
    Leaves,
}

#[derive(Debug, Clone)]
struct Case {
    effect: Risk,
    kind: SessionKind,
    approval: ApprovalMode,
    rules: Vec<usize>,
    human: Human,
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(vec![Risk::Read, Risk::Change, Risk::Destructive]),
        select(vec![
            SessionKind::Interactive,
            SessionKind::OneShot,
            SessionKind::Background,
        ]),
        select(vec![
            ApprovalMode::Ask,
            ApprovalMode::Policy,
            ApprovalMode::Never,
        ]),
        subsequence((0..TEMPLATES.len()).collect::<Vec<_>>(), 0..=3),
        select(vec![
            Human::Approves,
            Human::ForgesTheHash,
            Human::NamesAnotherSession,
            Human::Rejects,
            Human::Leaves,
        ]),
    )
        .prop_map(|(effect, kind, approval, rules, human)| Case {
            effect,
            kind,
            approval,
            rules,
            human,
        })
}

fn system_file(c: &Case) -> String {
    c.rules
        .iter()
        .map(|&i| format!("[[rule]]\nid = \"r{i}\"\n{}\n", TEMPLATES[i].0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What happened to one call: whether it ran, and whether the session's
/// user approved that exact call.
struct Seen {
    ran: bool,
    approved_exactly: bool,
    status: Option<ToolStatus>,
}

async fn drive(c: &Case) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("made");
    let ledger = Ledger::default();
    let config = ExecutorConfig {
        audit: Audit::start(Box::new(ledger.clone())),
        policy: Arc::new(aios_policy::Policy::from_toml(&system_file(c), "").unwrap()),
        ..ExecutorConfig::default()
    };
    let registry = Registry::builder().register(Act).try_build().unwrap();
    let exec = Executor::with_config(registry, config);
    let me = aios_proto::current_principal();
    let req = ExecuteRequest {
        session_id: "s".into(),
        call_id: "c".into(),
        tool: "test.act".into(),
        args: json!({ "path": target, "effect": c.effect }),
        session_kind: c.kind,
        approval: c.approval,
        ..Default::default()
    };
    let mut stream = exec.execute(me.clone(), req).await.unwrap();
    let mut approved_exactly = false;
    let mut status = None;
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("no event in time");
        match ev {
            None => break,
            Some(Ok(ExecuteEvent::End(end))) => {
                status = Some(end.status);
                break;
            }
            Some(Ok(ExecuteEvent::Output(_))) => {}
            Some(Ok(ExecuteEvent::ApprovalNeeded(a))) => {
                let answer = |hash: &str, session: &str, decision| ApprovalAnswer {
                    session_id: session.into(),
                    call_id: a.call_id.clone(),
                    call_hash: hash.into(),
                    decision,
                    confirm: a.confirm.clone(),
                    automatic: false,
                };
                let forged = match c.human {
                    Human::Approves => {
                        approved_exactly = true;
                        exec.approve(me.clone(), answer(&a.call_hash, "s", Decision::Approve))
                            .await
                            .unwrap();
                        continue;
                    }
                    Human::Rejects => {
                        let no = Decision::Reject { note: None };
                        exec.approve(me.clone(), answer(&a.call_hash, "s", no))
                            .await
                            .unwrap();
                        continue;
                    }
                    Human::ForgesTheHash => Some(answer(&"0".repeat(64), "s", Decision::Approve)),
                    Human::NamesAnotherSession => {
                        Some(answer(&a.call_hash, "other", Decision::Approve))
                    }
                    Human::Leaves => None,
                };
                if let Some(f) = forged {
                    assert!(
                        exec.approve(me.clone(), f).await.is_err(),
                        "a forged approval was accepted"
                    );
                }
                // The client goes away; the call must end as a refusal.
                drop(stream);
                let entries = ledger.0.clone();
                wait::wait_until(
                    "the abandoned call's refusal in the ledger",
                    WAIT,
                    || format!("{:?}", entries.lock().unwrap()),
                    || {
                        entries
                            .lock()
                            .unwrap()
                            .iter()
                            .any(|e| e.kind == AuditKind::Refusal)
                            .then_some(())
                    },
                );
                break;
            }
            Some(Err(e)) => panic!("{e:?}"),
        }
    }
    Seen {
        ran: target.exists(),
        approved_exactly,
        status,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn nothing_but_a_read_runs_without_an_allow_rule_or_the_exact_approval(c in case()) {
        if !nix::unistd::geteuid().is_root() {
            // The caller must be an administrator for changes to reach the rules.
            return Ok(());
        }
        // Worker threads run the executor's tasks while `drive` blocks in
        // `wait_until` on the ledger.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen = rt.block_on(drive(&c));
        let allowed_by_a_rule = c.rules.iter().any(|&i| (TEMPLATES[i].1)(&c));
        if seen.ran {
            prop_assert!(c.effect != Risk::Read);
            prop_assert!(
                allowed_by_a_rule || seen.approved_exactly,
                "ran with neither an allow rule nor the exact approval: {:?}", c
            );
            prop_assert!(c.approval != ApprovalMode::Never, "{:?}", c);
            if !allowed_by_a_rule {
                prop_assert!(
                    c.approval == ApprovalMode::Ask && c.kind != SessionKind::Background,
                    "a session that cannot ask was approved: {:?}", c
                );
            }
            prop_assert_eq!(seen.status, Some(ToolStatus::Ok));
        }
        // A matching deny rule always holds.
        if c.rules.contains(&7) && c.effect == Risk::Destructive {
            prop_assert!(!seen.ran, "{:?}", c);
        }
    }
}

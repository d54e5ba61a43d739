//! `audit.log` and `audit.why`: the audit ledger, read through the
//! executor's [`crate::AuditReader`], so the model can answer "what did you
//! change yesterday, and why?" from the record rather than from memory.
//! Administrators read every entry; anyone else the calls made for them.
//! `audit.undo` ([`undo`]) reverses a change through the executor.

use aios_domain::{
    ADMIN_GROUPS, AuditQuery, AuditQuestion, AuditRecord, Resource, ResourceKind, Risk,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Example, Tool, ToolCtx, ToolError};

mod undo;

pub use undo::{AUDIT_UNDO, AuditUndo, undo_call};

/// `audit.log`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditLog;

/// `audit.why`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditWhy;

fn default_since() -> String {
    "7d".into()
}

fn default_limit() -> u32 {
    30
}

/// Arguments of `audit.log`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditLogArgs {
    /// Only entries newer than this: an age such as 30m, 2h, 1d, 1w, or an ISO date (default 7d).
    #[serde(default = "default_since")]
    pub since: String,
    /// Only this tool, exact or a glob such as service.* (default all).
    #[serde(default)]
    pub tool: Option<String>,
    /// Only changes and refusals, leaving out reads (default true).
    #[serde(default = "yes")]
    pub changes_only: bool,
    /// At most this many entries, the newest (default 30, at most 200).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn yes() -> bool {
    true
}

/// Arguments of `audit.why`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditWhyArgs {
    /// The ledger entry id (from audit.log).
    pub id: u64,
}

/// One entry, compact.
#[derive(Debug, Serialize)]
struct Line {
    id: u64,
    time: String,
    user: String,
    tool: String,
    kind: String,
    status: Option<String>,
    summary: String,
    decided_by: Option<String>,
    request: String,
    undo: Option<String>,
}

fn line(r: &AuditRecord) -> Line {
    let e = &r.entry;
    Line {
        id: r.id,
        time: crate::util::rfc3339(e.unix_ms.div_euclid(1000)),
        user: if e.user.is_empty() {
            e.uid.to_string()
        } else {
            e.user.clone()
        },
        tool: e.tool.clone(),
        kind: serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        status: e.status.map(|s| format!("{s:?}").to_lowercase()),
        summary: e.summary.clone(),
        decided_by: e.decision.as_ref().map(|d| match &d.approved_by {
            Some(a) => format!(
                "approved by {} ({}){}",
                a.user,
                format!("{:?}", a.scope).to_lowercase(),
                if a.edited { ", edited" } else { "" }
            ),
            None => format!("{} by rule {}", d.verdict.as_str(), d.rule),
        }),
        request: crate::util::truncate(&e.request, 200),
        undo: e.undo.as_ref().map(|u| u.summary.clone()),
    }
}

/// Administrators read everything; others their own calls.
fn only_uid(ctx: &ToolCtx) -> Option<u32> {
    let id = ctx.access().identity();
    (id.uid != 0 && !id.in_any_group(ADMIN_GROUPS)).then_some(id.uid)
}

async fn ask(ctx: &ToolCtx, q: AuditQuestion) -> Result<Vec<AuditRecord>, ToolError> {
    let reader = ctx
        .audit()
        .ok_or_else(|| ToolError::failed("this executor has no audit ledger to read"))?;
    let v: Value = reader
        .ask(q, only_uid(ctx))
        .await
        .map_err(|e| ToolError::failed(format!("the audit ledger: {e}")))?;
    serde_json::from_value(v).map_err(|e| {
        ToolError::failed(format!(
            "the audit ledger sent records this build cannot read: {e}"
        ))
    })
}

impl Tool for AuditLog {
    type Args = AuditLogArgs;

    fn name(&self) -> &'static str {
        "audit.log"
    }

    fn description(&self) -> &'static str {
        "What aiOS did on this machine: entries of the tamper-evident audit ledger, newest last, with who asked, \
         the request, how each call was decided (rule or approver) and its result. Use it to answer \
         'what did you change yesterday?' or 'who restarted nginx?'; follow up with audit.why for one entry."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Ledger]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what did you change yesterday?",
                args: r#"{"since": "1d"}"#,
            },
            Example {
                request: "who restarted services this week",
                args: r#"{"since": "7d", "tool": "service.*"}"#,
            },
            Example {
                request: "show everything aios did in the last hour, reads too",
                args: r#"{"since": "1h", "changes_only": false}"#,
            },
        ]
    }

    fn resources(&self, _args: &AuditLogArgs) -> Vec<Resource> {
        vec![Resource::Ledger]
    }

    fn preview(&self, args: &AuditLogArgs) -> String {
        format!("read the audit ledger since {}", args.since)
    }

    async fn run(&self, ctx: ToolCtx, args: AuditLogArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > 200 {
            return Err(ToolError::invalid("field `limit`: give 1 to 200"));
        }
        let now = super::log::now();
        let since = super::log::parse_bound("since", &args.since, now)?;
        // Reads are fetched too when asked for; otherwise fetch more so the
        // filter still fills the limit.
        let fetch = if args.changes_only { 1000 } else { args.limit };
        let records = ask(
            &ctx,
            AuditQuestion::Log(AuditQuery {
                since_unix_ms: Some(since.saturating_mul(1000)),
                tool: args.tool.clone(),
                user: None,
                session_id: None,
                limit: fetch,
            }),
        )
        .await?;
        let kept: Vec<&AuditRecord> = records
            .iter()
            .filter(|r| !args.changes_only || r.entry.effect != Risk::Read)
            .collect();
        let total = kept.len();
        let shown: Vec<Line> = kept
            .iter()
            .skip(total.saturating_sub(args.limit as usize))
            .map(|r| line(r))
            .collect();
        let summary = format!(
            "{total} {} since {}{}",
            if args.changes_only {
                "changes and refusals"
            } else {
                "entries"
            },
            args.since,
            if shown.len() < total {
                format!(", the newest {} shown", shown.len())
            } else {
                String::new()
            }
        );
        super::to_value(&serde_json::json!({
            "summary": summary,
            "total": total,
            "truncated": shown.len() < total,
            "entries": shown,
        }))
    }
}

impl Tool for AuditWhy {
    type Args = AuditWhyArgs;

    fn name(&self) -> &'static str {
        "audit.why"
    }

    fn description(&self) -> &'static str {
        "The whole story of one audit ledger entry: the user's request, the plan step, the model's reason, \
         how it was decided (rule or approver), what ran and its result, and how to undo it."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Ledger]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "why did you do entry 42?",
                args: r#"{"id": 42}"#,
            },
            Example {
                request: "explain ledger entry 7",
                args: r#"{"id": 7}"#,
            },
            Example {
                request: "what led to change number 15",
                args: r#"{"id": 15}"#,
            },
        ]
    }

    fn resources(&self, _args: &AuditWhyArgs) -> Vec<Resource> {
        vec![Resource::Ledger]
    }

    fn preview(&self, args: &AuditWhyArgs) -> String {
        format!("explain ledger entry {}", args.id)
    }

    async fn run(&self, ctx: ToolCtx, args: AuditWhyArgs) -> Result<Value, ToolError> {
        let records = ask(&ctx, AuditQuestion::Why(args.id)).await?;
        let Some(first) = records.first() else {
            return Err(ToolError::not_found(format!(
                "no ledger entry {} that this user may read",
                args.id
            )));
        };
        let e = &first.entry;
        let last = records.last().map(line);
        super::to_value(&serde_json::json!({
            "summary": format!(
                "{} {}: {}",
                e.tool,
                last.as_ref().and_then(|l| l.status.clone()).unwrap_or_else(|| "recorded".into()),
                last.as_ref().map(|l| l.summary.clone()).unwrap_or_default()
            ),
            "request": e.request,
            "plan_step": e.plan_step,
            "rationale": e.rationale,
            "tool": e.tool,
            "args": e.args,
            "call_hash": e.call_hash,
            "records": records.iter().map(line).collect::<Vec<_>>(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, OutputSink, Registry};
    use aios_domain::{AuditEntry, AuditKind};
    use futures::future::BoxFuture;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    #[derive(Debug)]
    struct Fixed(Vec<AuditRecord>, std::sync::Mutex<Vec<Option<u32>>>);

    impl crate::AuditReader for Fixed {
        fn ask<'a>(
            &'a self,
            q: AuditQuestion,
            only_uid: Option<u32>,
        ) -> BoxFuture<'a, Result<Value, String>> {
            self.1.lock().unwrap().push(only_uid);
            let out: Vec<&AuditRecord> = match q {
                AuditQuestion::Why(id) => self.0.iter().filter(|r| r.id == id).collect(),
                _ => self.0.iter().collect(),
            };
            Box::pin(std::future::ready(Ok(serde_json::to_value(out).unwrap())))
        }
    }

    fn record(id: u64, tool: &str, effect: Risk) -> AuditRecord {
        AuditRecord {
            id,
            prev_hash: String::new(),
            hash: String::new(),
            entry: AuditEntry {
                kind: AuditKind::Outcome,
                unix_ms: 1_700_000_000_000,
                uid: 0,
                user: "root".into(),
                session_id: "s".into(),
                session_kind: Default::default(),
                call_id: "c".into(),
                request: "restart nginx please".into(),
                plan_step: "service.restart".into(),
                rationale: "the user asked".into(),
                tool: tool.into(),
                args: serde_json::json!({"name": "nginx"}),
                call_hash: "h".into(),
                effect,
                resources: vec![],
                decision: None,
                status: Some(aios_domain::ToolStatus::Ok),
                summary: "restarted nginx".into(),
                duration_us: 5,
                undo: None,
                intent_id: None,
            },
        }
    }

    #[tokio::test]
    async fn log_keeps_changes_and_why_tells_one_story() {
        let reader = Arc::new(Fixed(
            vec![
                record(1, "fs.read", Risk::Read),
                record(2, "service.restart", Risk::Change),
            ],
            Default::default(),
        ));
        let ctx = ToolCtx::new(
            CancellationToken::new(),
            OutputSink::discard(),
            Access::process(),
        )
        .with_audit(reader.clone());
        let r = Registry::builtin();
        let v = r
            .prepare("audit.log", serde_json::json!({}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        assert_eq!(v["entries"][0]["tool"], "service.restart");
        let v = r
            .prepare("audit.why", serde_json::json!({"id": 2}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        assert_eq!(v["request"], "restart nginx please");
        assert!(
            v["summary"].as_str().unwrap().contains("restarted nginx"),
            "{v}"
        );
        let e = r
            .prepare("audit.why", serde_json::json!({"id": 99}))
            .unwrap()
            .run(ctx)
            .await
            .unwrap_err();
        assert!(e.message().contains("no ledger entry 99"), "{e}");
    }

    #[tokio::test]
    async fn without_a_ledger_the_tools_say_so() {
        let e = Registry::builtin()
            .prepare("audit.log", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("no audit ledger"), "{e}");
    }
}

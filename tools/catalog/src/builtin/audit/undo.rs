//! `audit.undo`: reverse a change by its ledger entry, using the undo
//! record the change left (a file snapshot to restore, a unit's previous
//! state, the packages it installed…).
//!
//! An undo is itself a tool call, and is decided like one: the executor
//! replaces `audit.undo {id}` with the entry's own undo call
//! ([`undo_call`] picks it) *before* policy, so policy, the approval card
//! (and its preview) and the ledger see the real call — `fs.restore` of
//! that path, `service.stop` of that unit — never a blanket "undo"
//! permission. Run on its own, without an executor to do that, the tool
//! refuses.

use aios_domain::{AuditRecord, Resource, ResourceKind, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Example, Tool, ToolCtx, ToolError};

/// The tool's name; the executor recognises calls of it.
pub const AUDIT_UNDO: &str = "audit.undo";

/// `audit.undo`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditUndo;

/// Arguments of `audit.undo`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditUndoArgs {
    /// The ledger entry id of the change to reverse (from audit.log; any entry of that call).
    pub id: u64,
}

/// The undo call for ledger entry `id`, from the records of its call (as
/// `AuditQuestion::Why(id)` returns them, already limited to what the
/// caller may read): the undo record one of them carries.
pub fn undo_call(records: &[AuditRecord], id: u64) -> Result<UndoRecord, ToolError> {
    if records.is_empty() {
        return Err(ToolError::not_found(format!(
            "no ledger entry {id} that you may read; `aios audit log` lists them"
        )));
    }
    let Some(undo) = records.iter().rev().find_map(|r| r.entry.undo.clone()) else {
        return Err(ToolError::invalid(format!(
            "ledger entry {id} has no undo record: only a change that finished and can be reversed \
             has one (`aios why {id}` shows the entry)"
        )));
    };
    if undo.tool == AUDIT_UNDO {
        return Err(ToolError::invalid(format!(
            "ledger entry {id}'s undo record names {AUDIT_UNDO} itself; refusing to loop"
        )));
    }
    Ok(undo)
}

impl Tool for AuditUndo {
    type Args = AuditUndoArgs;

    fn name(&self) -> &'static str {
        AUDIT_UNDO
    }

    fn description(&self) -> &'static str {
        "Reverse an earlier change by its audit ledger entry id: restores the file snapshot, the unit's \
         previous state, removes the packages it installed, and so on. The undo runs as its own call \
         (for example fs.restore), checked by policy and approved like any change; the approval shows \
         that call and its preview. Find the id with audit.log."
    }

    fn effect(&self) -> Risk {
        // The most an undo call can do: restoring a file overwrites it.
        Risk::Destructive
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Ledger]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "undo change 42",
                args: r#"{"id": 42}"#,
            },
            Example {
                request: "revert what you did in ledger entry 7",
                args: r#"{"id": 7}"#,
            },
            Example {
                request: "put back the file you changed in entry 15",
                args: r#"{"id": 15}"#,
            },
        ]
    }

    fn resources(&self, _args: &AuditUndoArgs) -> Vec<Resource> {
        vec![Resource::Ledger]
    }

    fn preview(&self, args: &AuditUndoArgs) -> String {
        format!("reverse the change of ledger entry {}", args.id)
    }

    async fn run(&self, _ctx: ToolCtx, args: AuditUndoArgs) -> Result<Value, ToolError> {
        Err(ToolError::failed(format!(
            "{AUDIT_UNDO} {{\"id\": {}}} is carried out by the executor, which replaces it with the \
             entry's own undo call and checks that call; it cannot run on its own",
            args.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_domain::{AuditEntry, AuditKind, ToolStatus};

    fn record(id: u64, undo: Option<UndoRecord>) -> AuditRecord {
        AuditRecord {
            id,
            prev_hash: String::new(),
            hash: String::new(),
            entry: AuditEntry {
                kind: if undo.is_some() {
                    AuditKind::Outcome
                } else {
                    AuditKind::Intent
                },
                unix_ms: 1,
                uid: 0,
                user: "root".into(),
                session_id: "s".into(),
                session_kind: Default::default(),
                call_id: "c".into(),
                request: String::new(),
                plan_step: String::new(),
                rationale: String::new(),
                tool: "fs.write".into(),
                args: serde_json::json!({"path": "/etc/motd"}),
                call_hash: "h".into(),
                effect: Risk::Destructive,
                resources: vec![],
                decision: None,
                status: Some(ToolStatus::Ok),
                summary: String::new(),
                duration_us: 0,
                undo,
                intent_id: None,
            },
        }
    }

    fn restore() -> UndoRecord {
        UndoRecord {
            tool: "fs.restore".into(),
            args: serde_json::json!({"path": "/etc/motd", "snapshot": "ab"}),
            summary: "restore /etc/motd".into(),
        }
    }

    #[test]
    fn the_undo_call_comes_from_the_calls_records() {
        // Asked by the intent's id, found on the outcome.
        let recs = [record(1, None), record(2, Some(restore()))];
        assert_eq!(undo_call(&recs, 1).unwrap(), restore());
        let e = undo_call(&recs[..1], 1).unwrap_err();
        assert!(e.message().contains("has no undo record"), "{e}");
        let e = undo_call(&[], 9).unwrap_err();
        assert!(e.message().contains("no ledger entry 9"), "{e}");
        let mut looping = restore();
        looping.tool = AUDIT_UNDO.into();
        assert!(undo_call(&[record(3, Some(looping))], 3).is_err());
    }

    #[tokio::test]
    async fn on_its_own_it_refuses_to_run() {
        let e = crate::Registry::builtin()
            .prepare(AUDIT_UNDO, serde_json::json!({"id": 4}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("carried out by the executor"), "{e}");
    }
}

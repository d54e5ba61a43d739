//! `audit.undo` as the executor carries it out: the call is replaced,
//! before assessment and policy, by the ledger entry's own undo call
//! (`fs.restore` of that path, `service.stop` of that unit…), so what is
//! decided, approved, previewed and recorded is the real call, never a
//! blanket "undo" permission. The entry is read with the caller's own
//! view of the ledger: a user who is not an administrator can undo only
//! calls made for them. An entry that a finished undo already reversed is
//! not reversed again: restoring the same snapshot twice would silently
//! throw away whatever changed since the first undo.

use std::path::Path;

use aios_catalog::builtin::{AUDIT_UNDO, undo_call};
use aios_catalog::{Prepared, ToolError};
use aios_proto::{AuditKind, AuditQuery, AuditQuestion, AuditRecord, Caller, ToolStatus};

use crate::pipeline::Shared;

/// Whether `prepared` is an `audit.undo` call the executor must expand.
pub(crate) fn is_undo(prepared: &Prepared) -> bool {
    prepared.spec.name == AUDIT_UNDO
}

/// The undo call that `audit.undo` stands for, prepared for `caller`, and
/// a note for the ledger saying which entry it reverses.
pub(crate) async fn expand(
    shared: &Shared,
    prepared: &Prepared,
    caller: &Caller,
    home: Option<&Path>,
) -> Result<(Prepared, String), ToolError> {
    let id = prepared
        .canonical
        .get("id")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| ToolError::invalid(format!("{AUDIT_UNDO}: field `id` is missing")))?;
    let only = (!caller.admin).then_some(caller.uid);
    let v = shared
        .audit
        .ask(AuditQuestion::Why(id), only)
        .await
        .map_err(|e| {
            ToolError::failed(format!(
                "cannot read the audit ledger to undo entry {id}: {e}"
            ))
        })?;
    let records: Vec<AuditRecord> = serde_json::from_value(v).map_err(|e| {
        ToolError::failed(format!(
            "the audit ledger sent records this toolsd cannot read: {e}"
        ))
    })?;
    let undo = undo_call(&records, id)?;
    // Undo calls of the same tool since the entry was written, read with
    // the same view of the ledger.
    let later = shared
        .audit
        .ask(
            AuditQuestion::Log(AuditQuery {
                since_unix_ms: records.iter().map(|r| r.entry.unix_ms).min(),
                tool: Some(undo.tool.clone()),
                user: None,
                session_id: None,
                limit: u32::MAX,
            }),
            only,
        )
        .await
        .map_err(|e| {
            ToolError::failed(format!(
                "cannot read the audit ledger to check whether entry {id} was already undone: {e}"
            ))
        })?;
    let later: Vec<AuditRecord> = serde_json::from_value(later).map_err(|e| {
        ToolError::failed(format!(
            "the audit ledger sent records this toolsd cannot read: {e}"
        ))
    })?;
    if let Some(done) = undone_by(&later, id) {
        return Err(ToolError::invalid(format!(
            "ledger entry {id} was already undone by entry {done}; undoing it again would throw away \
             what changed since. To reverse that undo, undo entry {done} (`aios why {done}` shows it)"
        )));
    }
    let inner = shared
        .registry
        .prepare_for(&undo.tool, undo.args.clone(), home)
        .map_err(|e| {
            ToolError::invalid(format!(
                "ledger entry {id}'s undo call `{}` is not valid any more: {}",
                undo.tool,
                e.message()
            ))
        })?;
    Ok((inner, format!("{} {}", note_prefix(id), undo.summary)))
}

/// The note an undo of entry `id` records first in its rationale.
fn note_prefix(id: u64) -> String {
    format!("undo of ledger entry {id}:")
}

/// The outcome entry of a finished, successful undo of entry `id`, if
/// `records` hold one.
fn undone_by(records: &[AuditRecord], id: u64) -> Option<u64> {
    let prefix = note_prefix(id);
    records
        .iter()
        .find(|r| {
            r.entry.kind == AuditKind::Outcome
                && r.entry.status == Some(ToolStatus::Ok)
                && r.entry.rationale.starts_with(&prefix)
        })
        .map(|r| r.id)
}

/// The rationale recorded for an undo call: which entry it reverses, then
/// the model's own reason, if any.
pub(crate) fn rationale(note: &str, given: &str) -> String {
    if given.trim().is_empty() {
        note.to_string()
    } else {
        format!("{note} ({given})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::{AuditEntry, Risk};

    fn record(
        id: u64,
        kind: AuditKind,
        status: Option<ToolStatus>,
        rationale: &str,
    ) -> AuditRecord {
        AuditRecord {
            id,
            prev_hash: String::new(),
            hash: String::new(),
            entry: AuditEntry {
                kind,
                unix_ms: 0,
                uid: 0,
                user: String::new(),
                session_id: String::new(),
                session_kind: Default::default(),
                call_id: String::new(),
                request: String::new(),
                plan_step: String::new(),
                rationale: rationale.into(),
                tool: "fs.restore".into(),
                args: serde_json::Value::Null,
                call_hash: String::new(),
                effect: Risk::Change,
                resources: vec![],
                decision: None,
                status,
                summary: String::new(),
                duration_us: 0,
                undo: None,
                intent_id: None,
            },
        }
    }

    #[test]
    fn only_a_finished_successful_undo_of_that_entry_counts() {
        let note = format!("{} restore /etc/motd", note_prefix(4));
        let rs = [
            record(7, AuditKind::Intent, None, &note),
            record(8, AuditKind::Outcome, Some(ToolStatus::Error), &note),
            record(
                9,
                AuditKind::Outcome,
                Some(ToolStatus::Ok),
                "undo of ledger entry 44: x",
            ),
        ];
        assert_eq!(undone_by(&rs, 4), None, "a failed or other entry's undo");
        let mut rs = rs.to_vec();
        rs.push(record(11, AuditKind::Outcome, Some(ToolStatus::Ok), &note));
        assert_eq!(undone_by(&rs, 4), Some(11));
        assert_eq!(undone_by(&rs, 44), Some(9));
    }
}

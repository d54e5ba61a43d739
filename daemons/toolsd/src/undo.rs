//! `audit.undo` as the executor carries it out: the call is replaced,
//! before assessment and policy, by the ledger entry's own undo call
//! (`fs.restore` of that path, `service.stop` of that unit…), so what is
//! decided, approved, previewed and recorded is the real call, never a
//! blanket "undo" permission. The entry is read with the caller's own
//! view of the ledger: a user who is not an administrator can undo only
//! calls made for them.

use std::path::Path;

use aios_catalog::builtin::{AUDIT_UNDO, undo_call};
use aios_catalog::{Prepared, ToolError};
use aios_proto::{AuditQuestion, AuditRecord, Caller};

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
    Ok((
        inner,
        format!("undo of ledger entry {id}: {}", undo.summary),
    ))
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

//! Entries for tests and benches: realistic sizes and every field set.
#![allow(dead_code)]

use aios_domain::{
    ApprovalScope, Approver, AuditDecision, AuditEntry, AuditKind, Resource, Risk, ToolStatus,
    UndoRecord, Verdict,
};
use serde_json::json;

/// An intent (even `i`) or outcome (odd `i`) of call `i / 2` in session
/// `s{i % 3}`, by tool `fs.write` or `service.restart`.
pub fn entry(i: u64) -> AuditEntry {
    let call = i / 2;
    let outcome = i % 2 == 1;
    let tool = if call.is_multiple_of(2) {
        "fs.write"
    } else {
        "service.restart"
    };
    AuditEntry {
        kind: if outcome {
            AuditKind::Outcome
        } else {
            AuditKind::Intent
        },
        unix_ms: 1_700_000_000_000 + i as i64 * 1000,
        uid: 1000 + (call % 2) as u32,
        user: if call.is_multiple_of(2) {
            "alice".into()
        } else {
            "bob".into()
        },
        session_id: format!("s{}", call % 3),
        session_kind: Default::default(),
        call_id: format!("call-{call}"),
        request: "please add the backup mount to fstab and restart the nightly job".into(),
        plan_step: "2/3: write the new fstab line".into(),
        rationale: "the user asked for the backup disk to be mounted at boot".into(),
        tool: tool.into(),
        args: json!({"path": format!("/home/alice/notes-{call}.txt"), "content": "hello world\n", "mode": 420}),
        call_hash: format!("{:064x}", call),
        effect: Risk::Change,
        resources: vec![Resource::Path(format!("/home/alice/notes-{call}.txt"))],
        decision: Some(AuditDecision {
            verdict: Verdict::Ask,
            rule: "default.change.ask".into(),
            approved_by: Some(Approver {
                uid: 1000,
                user: "alice".into(),
                scope: ApprovalScope::Once,
                edited: false,
                note: None,
            }),
        }),
        status: outcome.then_some(ToolStatus::Ok),
        summary: if outcome {
            "wrote 12 bytes".into()
        } else {
            String::new()
        },
        duration_us: if outcome { 420 } else { 0 },
        undo: outcome.then(|| UndoRecord {
            tool: "fs.restore".into(),
            args: json!({"snapshot": format!("snap-{call}")}),
            summary: "restore the previous notes file".into(),
        }),
        intent_id: outcome.then_some(i),
    }
}

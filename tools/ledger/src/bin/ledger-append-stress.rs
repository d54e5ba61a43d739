//! Test helper for the kill -9 durability test: appends entries to the
//! ledger at PATH one transaction at a time, printing each acknowledged id
//! on its own line (flushed) only after `append` returned. Whatever the
//! test reads from stdout was acknowledged, and so must survive a SIGKILL.
//!
//! Usage: `ledger-append-stress PATH COUNT`

use std::io::Write;
use std::path::PathBuf;

use aios_domain::{AuditEntry, AuditKind, Risk};
use aios_ledger::Ledger;
use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), Some(count)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: ledger-append-stress PATH COUNT");
    };
    let path = PathBuf::from(path);
    let count: u64 = count
        .to_str()
        .and_then(|c| c.parse().ok())
        .context("COUNT must be a number")?;
    let mut ledger = Ledger::open(&path)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in 0..count {
        let record = ledger.append(&entry(i))?;
        writeln!(out, "{}", record.id)?;
        out.flush()?;
    }
    Ok(())
}

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        kind: AuditKind::Intent,
        unix_ms: 1_700_000_000_000 + i as i64,
        uid: 1000,
        user: "alice".into(),
        session_id: "stress".into(),
        session_kind: Default::default(),
        call_id: format!("call-{i}"),
        request: "stress the ledger".into(),
        plan_step: "1/1".into(),
        rationale: "durability test".into(),
        tool: "fs.write".into(),
        args: serde_json::json!({"path": format!("/tmp/stress-{i}"), "content": "x".repeat(200)}),
        call_hash: format!("{i:064x}"),
        effect: Risk::Change,
        resources: Vec::new(),
        decision: None,
        status: None,
        summary: String::new(),
        duration_us: 0,
        undo: None,
        intent_id: None,
    }
}

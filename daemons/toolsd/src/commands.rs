//! `aios -c CMD` in the audit ledger (issue 10 §8): a login shell's POSIX
//! command (scp's, rsync's, git's transport over ssh) is reported by the
//! user's own shell, and recorded here like a call: an intent entry before
//! it runs, an outcome entry with its exit status after, both under the
//! tool name [`SHELL_COMMAND_TOOL`].
//!
//! toolsd neither runs nor authorizes the command: it runs with the user's
//! own rights, as any shell's would. What toolsd vouches for is who ran it:
//! the uid is the caller's, from `SO_PEERCRED`, never a field of the
//! request; and an outcome closes only an intent of that same uid, once.

use std::sync::atomic::{AtomicU64, Ordering};

use aios_proto::{
    ApiError, AuditEntry, AuditKind, AuditQuestion, AuditRecord, CommandRecord, Principal, Risk,
    SHELL_COMMAND_TOOL, SessionKind, ToolStatus, now_unix_ms,
};
use serde_json::json;

use crate::audit::Audit;
use crate::identities::Identities;

/// Commands recorded by this process, for unique call ids.
static COUNT: AtomicU64 = AtomicU64::new(0);

/// What the ledger says of who decided: nobody did, the user ran it.
const RATIONALE: &str = "run by the user's own login shell (aios -c), with the user's own rights; recorded, not authorized, by toolsd";

/// Record `r` for `who`; the id of the entry written.
pub(crate) async fn record(
    audit: &Audit,
    identities: &Identities,
    who: &Principal,
    r: CommandRecord,
) -> Result<u64, ApiError> {
    let unavailable = |e: String| ApiError::unavailable(format!("audit ledger: {e}"));
    let entry = match r {
        CommandRecord::Intent {
            command,
            cwd,
            login,
        } => {
            let (_, caller) = identities.lookup(who.uid);
            let args = json!({ "command": command, "cwd": cwd, "login": login });
            let summary = format!("$ {}", one_line(&command));
            AuditEntry {
                kind: AuditKind::Intent,
                unix_ms: now_unix_ms(),
                uid: who.uid,
                user: caller.user,
                session_id: String::new(),
                session_kind: SessionKind::OneShot,
                call_id: format!(
                    "cmd-{}-{}-{}",
                    now_unix_ms(),
                    who.pid.unwrap_or(0),
                    COUNT.fetch_add(1, Ordering::Relaxed)
                ),
                request: command,
                plan_step: String::new(),
                rationale: RATIONALE.into(),
                tool: SHELL_COMMAND_TOOL.into(),
                call_hash: aios_catalog::call_hash(SHELL_COMMAND_TOOL, &args),
                args,
                effect: Risk::Change,
                resources: Vec::new(),
                decision: None,
                status: None,
                summary,
                duration_us: 0,
                undo: None,
                intent_id: None,
            }
        }
        CommandRecord::Outcome {
            intent_id,
            exit_code,
            signal,
            duration_us,
        } => {
            // The intent must be this user's own command, not closed yet.
            let chain = audit
                .ask(AuditQuestion::Why(intent_id), Some(who.uid))
                .await
                .map_err(unavailable)?;
            let chain: Vec<AuditRecord> = serde_json::from_value(chain)
                .map_err(|e| ApiError::internal(format!("audit ledger answer: {e}")))?;
            let intent = chain
                .iter()
                .find(|r| r.id == intent_id)
                .filter(|r| r.entry.kind == AuditKind::Intent && r.entry.tool == SHELL_COMMAND_TOOL)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "entry {intent_id} is not a shell command of yours to close"
                    ))
                })?;
            if chain.len() > 1 {
                return Err(ApiError::invalid(format!(
                    "the shell command of entry {intent_id} already has its outcome"
                )));
            }
            let (status, summary) = outcome(exit_code, signal);
            let summary = format!("{summary}: {}", intent.entry.summary);
            AuditEntry {
                kind: AuditKind::Outcome,
                unix_ms: now_unix_ms(),
                status: Some(status),
                summary,
                duration_us,
                intent_id: Some(intent_id),
                ..intent.entry.clone()
            }
        }
    };
    audit.append(entry).await.map_err(unavailable)
}

/// The command on one line for the log: its first line, at most 120
/// characters (the whole text is in the entry's arguments).
fn one_line(command: &str) -> String {
    let first = command.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(120).collect();
    if out.len() < command.trim_end().len() {
        out.push('…');
    }
    out
}

/// The status and the one line an outcome entry says.
fn outcome(exit_code: Option<i32>, signal: Option<i32>) -> (ToolStatus, String) {
    match (exit_code, signal) {
        (Some(0), _) => (ToolStatus::Ok, "exit status 0".into()),
        (Some(code), _) => (ToolStatus::Error, format!("exit status {code}")),
        (None, Some(sig)) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default();
            (
                ToolStatus::Interrupted,
                format!("killed by signal {sig}{name}"),
            )
        }
        (None, None) => (ToolStatus::Error, "ended with no exit status".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_is_the_commands_first_line() {
        assert_eq!(one_line("echo hi; exit 3"), "echo hi; exit 3");
        assert_eq!(one_line("a\nb"), "a…");
        assert_eq!(one_line(&"x".repeat(200)).chars().count(), 121);
    }

    #[test]
    fn outcomes_say_the_exit_status_or_the_signal() {
        assert_eq!(
            outcome(Some(0), None),
            (ToolStatus::Ok, "exit status 0".into())
        );
        assert_eq!(
            outcome(Some(3), None),
            (ToolStatus::Error, "exit status 3".into())
        );
        assert_eq!(
            outcome(None, Some(9)),
            (
                ToolStatus::Interrupted,
                "killed by signal 9 (SIGKILL)".into()
            )
        );
    }
}

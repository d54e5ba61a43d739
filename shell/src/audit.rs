//! `aios audit log|verify`, `aios why ID` and `aios undo ID`: the audit
//! ledger as toolsd answers about it (`Tools.Audit`). Administrators see
//! every entry, other users the calls made for them.
//!
//! `aios undo` runs the `audit.undo` tool straight on toolsd, on this
//! user's connection; toolsd turns it into the entry's own undo call, with
//! the same policy and approval path as any other change, answered at this
//! terminal. `aios audit checkpoint` exports the chain's end signed by
//! toolsd, and `aios audit verify --against FILE` checks the ledger still
//! holds it.

use std::io::{IsTerminal, Read, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_config::{Daemon, Paths};
use aios_proto::{
    ApprovalMode, AuditKind, AuditQuery, AuditQuestion, AuditRecord, ExecuteEvent, ExecuteRequest,
    SessionKind, ToolStatus, ToolsClient, VerifyReport,
};
use futures::StreamExt;

use crate::approve::Desk;
use crate::cli::{ApproveMode, AuditAction, Cli};
use crate::exit::{Exit, Failure};
use crate::input::Lines;
use crate::sanitize::to_json;
use crate::{launch, printer};

/// The paths, once the daemons run (started if need be).
async fn running(cli: &Cli) -> Result<Paths, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    Ok(paths)
}

async fn client(cli: &Cli) -> Result<(ToolsClient, Paths), Failure> {
    let paths = running(cli).await?;
    Ok((connect(&paths).await?, paths))
}

async fn connect(paths: &Paths) -> Result<ToolsClient, Failure> {
    let channel = aios_proto::connect(&paths.socket(Daemon::Toolsd))
        .await
        .map_err(|e| Failure::daemon(format!("toolsd is not reachable: {e}")))?;
    Ok(ToolsClient::new(channel))
}

/// The ledger entries `query` selects, one line each (or JSON lines).
pub async fn log_text(paths: &Paths, query: AuditQuery, json: bool) -> Result<String, Failure> {
    let v = connect(paths)
        .await?
        .audit(AuditQuestion::Log(query))
        .await
        .map_err(|e| Failure::daemon(format!("cannot read the audit ledger: {}", e.message)))?;
    records_text(&v, json)
}

/// Parse an age such as `30m`, `2h`, `7d` or `90s`.
pub fn parse_age(s: &str) -> Result<Duration, Failure> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        Failure::usage(format!(
            "--since {s:?}: give a number and a unit, such as 30m, 2h or 7d"
        ))
    })?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        "w" => n.saturating_mul(7 * 86_400),
        _ => {
            return Err(Failure::usage(format!(
                "--since {s:?}: unknown unit {unit:?}; use s, m, h, d or w"
            )));
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Run `aios audit …`.
pub async fn run(cli: &Cli, action: AuditAction) -> Result<Exit, Failure> {
    match action {
        AuditAction::Log {
            since,
            tool,
            user,
            session,
            limit,
            json,
        } => {
            let since_unix_ms = match since {
                Some(s) => {
                    let age = i64::try_from(parse_age(&s)?.as_millis()).unwrap_or(i64::MAX);
                    Some(aios_proto::now_unix_ms().saturating_sub(age))
                }
                None => None,
            };
            let paths = running(cli).await?;
            let query = AuditQuery {
                since_unix_ms,
                tool,
                user,
                session_id: session,
                limit,
            };
            let text = log_text(&paths, query, json || cli.json).await?;
            let _ = write!(printer::stdout(), "{text}");
            Ok(Exit::Success)
        }
        AuditAction::Checkpoint { out } => checkpoint(cli, out).await,
        AuditAction::Verify { json, against } => {
            let question = match &against {
                Some(file) => AuditQuestion::VerifyAgainst(read_checkpoint(file)?),
                None => AuditQuestion::Verify,
            };
            let (mut c, _) = client(cli).await?;
            let v = c.audit(question).await.map_err(|e| {
                let what = match &against {
                    Some(f) => format!(" against {}", f.display()),
                    None => String::new(),
                };
                let failure = format!("cannot verify the audit ledger{what}: {}", e.message);
                if e.kind == aios_proto::ApiErrorKind::InvalidArgument {
                    Failure::usage(failure)
                } else {
                    Failure::daemon(failure)
                }
            })?;
            let report: VerifyReport = serde_json::from_value(v).map_err(|e| {
                Failure::new(
                    Exit::Failed,
                    format!("toolsd sent a report this aios cannot read: {e}"),
                )
            })?;
            let mut out = printer::stdout();
            if json || cli.json {
                let line =
                    to_json(&report).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
                let _ = writeln!(out, "{line}");
            } else if report.ok {
                let _ = writeln!(
                    out,
                    "ok: {} entries in {} form an unbroken hash chain",
                    report.entries, report.path
                );
            } else {
                let _ = writeln!(
                    out,
                    "TAMPERED: {} (first bad entry: {}): {}",
                    report.path,
                    report
                        .first_bad
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "?".into()),
                    report
                        .problem
                        .as_deref()
                        .unwrap_or("the chain does not verify")
                );
            }
            Ok(if report.ok {
                Exit::Success
            } else {
                Exit::Failed
            })
        }
    }
}

/// The text of an exported checkpoint file (toolsd checks it).
fn read_checkpoint(file: &Path) -> Result<String, Failure> {
    const MAX: u64 = 64 * 1024;
    let f = std::fs::File::open(file).map_err(|e| {
        Failure::usage(format!(
            "--against {}: cannot read it ({e}); give a file written by `aios audit checkpoint --out`",
            file.display()
        ))
    })?;
    let mut text = String::new();
    f.take(MAX + 1).read_to_string(&mut text).map_err(|e| {
        Failure::usage(format!(
            "--against {}: cannot read it as text ({e})",
            file.display()
        ))
    })?;
    if text.len() as u64 > MAX {
        return Err(Failure::usage(format!(
            "--against {}: over {MAX} bytes, so not a checkpoint file",
            file.display()
        )));
    }
    Ok(text)
}

/// `aios audit checkpoint [--out FILE]`.
async fn checkpoint(cli: &Cli, out: Option<PathBuf>) -> Result<Exit, Failure> {
    let (mut c, _) = client(cli).await?;
    let v = c
        .audit(AuditQuestion::Checkpoint)
        .await
        .map_err(|e| Failure::daemon(format!("cannot export a checkpoint: {}", e.message)))?;
    let mut text =
        serde_json::to_string_pretty(&v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
    text.push('\n');
    let entries = v["entries"].as_u64().unwrap_or(0);
    match out {
        None => {
            let _ = write!(printer::stdout(), "{}", crate::sanitize::sanitize(&text));
        }
        Some(file) => {
            // Never overwrite: an older checkpoint is evidence too.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .map_err(|e| {
                    Failure::usage(format!(
                        "--out {}: cannot create it ({e}); name a new file",
                        file.display()
                    ))
                })?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| {
                    Failure::new(
                        Exit::Failed,
                        format!("cannot write {}: {e}", file.display()),
                    )
                })?;
            printer::say(&format!(
                "checkpoint of {entries} entries written to {}; keep a copy off this machine, and check \
                 later with `aios audit verify --against {}`",
                file.display(),
                file.display()
            ));
        }
    }
    Ok(Exit::Success)
}

fn records(v: &serde_json::Value) -> Result<Vec<AuditRecord>, Failure> {
    serde_json::from_value(v.clone()).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("toolsd sent ledger records this aios cannot read: {e}"),
        )
    })
}

fn records_text(v: &serde_json::Value, json: bool) -> Result<String, Failure> {
    let recs = records(v)?;
    let mut out = String::new();
    if recs.is_empty() && !json {
        out.push_str("no entries\n");
    }
    for r in &recs {
        if json {
            let line = to_json(r).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        let e = &r.entry;
        let when = utc_time(e.unix_ms);
        let what = match (e.kind, e.status) {
            (AuditKind::Intent, _) => "intent".to_string(),
            (AuditKind::Refusal, _) => "refused".to_string(),
            (AuditKind::Outcome, Some(s)) => format!("{s:?}").to_lowercase(),
            (AuditKind::Outcome, None) => "outcome".to_string(),
        };
        let by = e
            .decision
            .as_ref()
            .map(|d| match &d.approved_by {
                Some(a) => format!("approved by {} ({:?})", a.user, a.scope).to_lowercase(),
                None => format!("rule {}", d.rule),
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "#{:<6} {when}  {:<10} {:<16} {:<10} {}{}{}\n",
            r.id,
            if e.user.is_empty() {
                e.uid.to_string()
            } else {
                e.user.clone()
            },
            e.tool,
            what,
            e.summary,
            if by.is_empty() {
                String::new()
            } else {
                format!("  [{by}]")
            },
            if e.undo.is_some() {
                "  (undo available)"
            } else {
                ""
            },
        ));
    }
    Ok(out)
}

/// `YYYY-MM-DD HH:MM:SS` UTC.
fn utc_time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `aios why ID`.
pub async fn why(cli: &Cli, id: u64, json: bool) -> Result<Exit, Failure> {
    let paths = running(cli).await?;
    let text = why_text(&paths, id, json || cli.json).await?;
    let _ = write!(printer::stdout(), "{text}");
    Ok(Exit::Success)
}

/// The chain behind ledger entry `id`: request, plan step, rationale,
/// call, then each decision, result and undo (or the records as JSON).
pub async fn why_text(paths: &Paths, id: u64, json: bool) -> Result<String, Failure> {
    let v = connect(paths)
        .await?
        .audit(AuditQuestion::Why(id))
        .await
        .map_err(|e| Failure::daemon(format!("cannot read the audit ledger: {}", e.message)))?;
    let recs = records(&v)?;
    if recs.is_empty() {
        return Err(Failure::usage(format!(
            "no ledger entry {id} that you may read; `aios audit log` lists them"
        )));
    }
    if json {
        return records_text(&v, true);
    }
    let first = &recs[0].entry;
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    line(format!("request:   {}", first.request));
    line(format!("plan step: {}", first.plan_step));
    line(format!("why:       {}", first.rationale));
    line(format!("call:      {} {}", first.tool, first.args));
    line(format!("hash:      {}", first.call_hash));
    for r in &recs {
        let e = &r.entry;
        if let Some(d) = &e.decision {
            let who = match &d.approved_by {
                Some(a) => format!(
                    "approved by {} (uid {}, {:?}{})",
                    a.user,
                    a.uid,
                    a.scope,
                    if a.edited { ", edited" } else { "" }
                ),
                None => format!("{} by rule {}", d.verdict.as_str(), d.rule),
            };
            line(format!("#{:<6} {:?}: {who}", r.id, e.kind));
        }
        if !e.summary.is_empty() {
            line(format!("        result: {}", e.summary));
        }
        if let Some(u) = &e.undo {
            line(format!("        undo: {} (aios undo {})", u.summary, r.id));
        }
    }
    Ok(out)
}

/// `aios undo ID`: the `audit.undo` tool, run straight on toolsd on this
/// user's connection. toolsd replaces it by the entry's own undo call and
/// decides that call like any other change (policy, then this terminal's
/// approval, showing that call's preview).
pub async fn undo(cli: &Cli, id: u64) -> Result<Exit, Failure> {
    let mut lines = if std::io::stdin().is_terminal() {
        Some(Lines::stdin()?)
    } else {
        None
    };
    undo_with(cli, cli.approve, id, lines.as_mut()).await
}

/// The `audit.undo` call for ledger entry `id`, in `session_id`, a
/// session of `kind` (toolsd refuses a call claiming another kind than
/// its session's) under `approval`.
pub fn undo_request(
    session_id: &str,
    id: u64,
    kind: SessionKind,
    approval: ApprovalMode,
) -> ExecuteRequest {
    ExecuteRequest {
        session_id: session_id.to_string(),
        call_id: format!("undo-{id}"),
        // The catalogue's `audit.undo` (the shell does not link the catalogue).
        tool: "audit.undo".to_string(),
        args: serde_json::json!({ "id": id }),
        on_behalf_of_uid: 0,
        timeout_ms: 0,
        rationale: String::new(),
        request: format!("aios undo {id}"),
        plan_step: format!("undo ledger entry {id}"),
        session_kind: kind,
        approval,
    }
}

/// `aios undo ID` under approval `mode`, asking on `lines` (the line mode
/// passes the prompt's own reader, and [`ApproveMode::for_typed_undo`] of
/// its mode), in a session of its own: interactive with a terminal to
/// ask on, one-shot without.
pub async fn undo_with(
    cli: &Cli,
    mode: ApproveMode,
    id: u64,
    lines: Option<&mut Lines>,
) -> Result<Exit, Failure> {
    let (mut c, paths) = client(cli).await?;
    let session_id = format!("undo-{id}-{}", std::process::id());
    let kind = if lines.is_some() {
        SessionKind::Interactive
    } else {
        SessionKind::OneShot
    };
    let req = undo_request(&session_id, id, kind, mode.approval());
    let mut lines = lines;
    let mut stream = c
        .execute(req)
        .await
        .map_err(|e| Failure::daemon(format!("toolsd refused the undo: {}", e.message)))?;
    let mut desk = Desk::new(mode, paths.socket(Daemon::Toolsd), session_id);
    let mut printer = printer::Printer::new(false);
    while let Some(ev) = stream.next().await {
        match ev.map_err(|e| Failure::daemon(format!("lost toolsd mid-undo: {}", e.message)))? {
            ExecuteEvent::Output(chunk) => {
                let _ = write!(printer::stderr(), "{chunk}");
            }
            ExecuteEvent::ApprovalNeeded(a) => {
                printer.show(&aios_proto::EventKind::ApprovalRequested(a.clone()))?;
                desk.answer(&a, lines.as_deref_mut()).await?;
            }
            ExecuteEvent::End(end) => {
                let _ = writeln!(printer::stdout(), "{}", result_text(&end.result));
                return Ok(match end.status {
                    ToolStatus::Ok => Exit::Success,
                    ToolStatus::Denied | ToolStatus::Rejected => Exit::Refused,
                    _ => Exit::Failed,
                });
            }
        }
    }
    Err(Failure::daemon("toolsd ended the undo without a result"))
}

/// What an undo's result says: its summary, else the value itself.
pub fn result_text(result: &serde_json::Value) -> String {
    match result {
        serde_json::Value::Object(o) => o
            .get("summary")
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| result.to_string()),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_with_units() {
        assert_eq!(parse_age("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_age("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_age("15").unwrap(), Duration::from_secs(900));
        assert!(parse_age("soon").is_err());
        assert!(
            parse_age("3y")
                .unwrap_err()
                .message
                .contains("unknown unit")
        );
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_796_212_800_000), "2026-12-02 12:00:00");
    }
}

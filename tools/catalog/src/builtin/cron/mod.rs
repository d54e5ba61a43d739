//! The `cron.*` tools and what they share: strict validation of a
//! schedule's five fields and of a job's command, the `# aios:<id>`
//! marker that names the lines aiOS adds, reading and installing the
//! caller's crontab with `crontab` (run with the caller's credentials, so
//! it is their crontab and cron's own access rules apply), and unified
//! diffs for previews.

mod add;
mod list;
mod remove;

pub use add::CronAdd;
pub use list::CronList;
pub use remove::CronRemove;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use crate::command::run_command;
use crate::util::truncate;
use crate::{ToolCtx, ToolError};

/// The `@` schedules cron accepts instead of five fields.
const SPECIAL: [&str; 8] = [
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Check one field: a comma list of `*`, `N` or `N-M`, each optionally
/// `/STEP`; or a single month or day name.
fn check_field(f: &str, name: &str, lo: u32, hi: u32, names: &[&str]) -> Result<(), String> {
    if names.contains(&f.to_ascii_lowercase().as_str()) {
        return Ok(());
    }
    let num = |s: &str| -> Result<u32, String> {
        let n: u32 = s
            .parse()
            .map_err(|_| format!("{name} field {f:?}: {s:?} is not a number ({lo}-{hi})"))?;
        if n < lo || n > hi {
            return Err(format!("{name} field {f:?}: {n} is outside {lo}-{hi}"));
        }
        Ok(n)
    };
    for item in f.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(s) = step {
            let s: u32 = s
                .parse()
                .map_err(|_| format!("{name} field {f:?}: step {s:?} is not a number"))?;
            if s == 0 || s > hi {
                return Err(format!("{name} field {f:?}: step must be 1-{hi}"));
            }
        }
        if range == "*" {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                if num(a)? > num(b)? {
                    return Err(format!("{name} field {f:?}: range {range} runs backwards"));
                }
            }
            None => {
                num(range)?;
                if step.is_some() {
                    return Err(format!(
                        "{name} field {f:?}: a step needs * or a range before it"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Validate a schedule: five fields (minute hour day-of-month month
/// day-of-week) or one of the `@` words. Returns it with single spaces.
pub fn validate_schedule(s: &str) -> Result<String, String> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() == 1 && fields[0].starts_with('@') {
        let w = fields[0].to_ascii_lowercase();
        return if SPECIAL.contains(&w.as_str()) {
            Ok(w)
        } else {
            Err(format!(
                "schedule {s:?}: unknown {w}; use one of {}",
                SPECIAL.join(" ")
            ))
        };
    }
    if fields.len() != 5 {
        return Err(format!(
            "schedule {s:?} has {} field(s); give five: minute hour day-of-month month day-of-week, e.g. \"30 2 * * 1\" (02:30 on Mondays), or @daily",
            fields.len()
        ));
    }
    check_field(fields[0], "minute", 0, 59, &[])?;
    check_field(fields[1], "hour", 0, 23, &[])?;
    check_field(fields[2], "day-of-month", 1, 31, &[])?;
    check_field(fields[3], "month", 1, 12, &MONTHS)?;
    check_field(fields[4], "day-of-week", 0, 7, &DAYS)?;
    Ok(fields.join(" "))
}

/// Validate a command: one line, no unescaped `%` (cron turns it into a
/// newline and feeds the rest as input), no aiOS marker, at most 1000 bytes.
pub fn validate_command(c: &str) -> Result<(), String> {
    let c = c.trim();
    if c.is_empty() || c.len() > 1000 {
        return Err("command must be 1 to 1000 characters".into());
    }
    if c.contains(['\n', '\r', '\0']) {
        return Err("command must be a single line".into());
    }
    let b = c.as_bytes();
    if b.iter()
        .enumerate()
        .any(|(i, &ch)| ch == b'%' && (i == 0 || b[i - 1] != b'\\'))
    {
        return Err(
            "command contains %, which cron turns into a newline; write \\% for a literal %".into(),
        );
    }
    if c.contains("# aios:") {
        return Err("command must not contain the marker \"# aios:\"".into());
    }
    Ok(())
}

/// Validate a job id: 1 to 32 lower-case letters, digits and `-`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "id {id:?} must be 1 to 32 lower-case letters, digits or -"
        ));
    }
    Ok(())
}

/// The marked crontab line aiOS writes.
pub fn marked_line(schedule: &str, command: &str, id: &str) -> String {
    format!("{schedule} {} # aios:{id}", command.trim())
}

/// The id of an aiOS-marked line.
pub fn marker(line: &str) -> Option<&str> {
    let (_, id) = line.trim_end().rsplit_once(" # aios:")?;
    validate_id(id).ok().map(|()| id)
}

/// A job line split into schedule and command (marker removed), or `None`
/// for comments, blank and environment lines.
pub fn split_job(line: &str) -> Option<(String, String)> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') {
        return None;
    }
    let body = match l.rsplit_once(" # aios:") {
        Some((b, id)) if validate_id(id).is_ok() => b,
        _ => l,
    };
    let n = if body.starts_with('@') { 1 } else { 5 };
    let mut rest = body;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    let rest = rest.trim_end().to_string();
    if rest.is_empty() {
        return None;
    }
    // `NAME=value` lines set the environment; they are not jobs.
    if n == 5 && fields[0].contains('=') {
        return None;
    }
    let schedule = validate_schedule(&fields.join(" ")).ok()?;
    Some((schedule, rest))
}

/// Whose crontab the call edits: the caller's name.
pub(crate) fn caller_name(ctx: &ToolCtx) -> Result<String, ToolError> {
    ctx.access().identity().name.clone().ok_or_else(|| {
        ToolError::failed(format!(
            "{} has no entry in the user database, so has no crontab",
            ctx.access().who()
        ))
    })
}

/// The caller's crontab (empty when they have none), read by `crontab -l`
/// running as the caller.
pub(crate) async fn read_crontab(ctx: &ToolCtx) -> Result<String, ToolError> {
    let out = run_command(ctx, "crontab", &["-l"], Duration::from_secs(10), 1 << 20).await?;
    if out.code == Some(0) {
        return Ok(out.stdout);
    }
    if out.stderr.contains("no crontab for") {
        return Ok(String::new());
    }
    Err(ToolError::failed(format!(
        "crontab -l failed as {}: {}",
        ctx.access().who(),
        truncate(out.stderr.trim(), 300)
    )))
}

/// Install `content` as the caller's crontab: written to a private file
/// the caller owns, then `crontab FILE` running as the caller (cron's
/// allow and deny lists apply), then the file removed.
pub(crate) async fn install_crontab(ctx: &ToolCtx, content: String) -> Result<(), ToolError> {
    let path = ctx
        .blocking(move |_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let p =
                std::env::temp_dir().join(format!("aios-crontab-{}-{nanos}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&p)
                .map_err(|e| ToolError::io(&p, "create", &e))?;
            f.write_all(content.as_bytes())
                .map_err(|e| ToolError::io(&p, "write", &e))?;
            Ok(p)
        })
        .await?;
    let p = path.display().to_string();
    let out = run_command(ctx, "crontab", &[&p], Duration::from_secs(10), 64 * 1024).await;
    let cleanup = path.clone();
    let _ = ctx
        .blocking(move |_| Ok(std::fs::remove_file(&cleanup)))
        .await;
    let out = out?;
    if out.code != Some(0) {
        return Err(ToolError::failed(format!(
            "crontab refused the new table for {}: {}",
            ctx.access().who(),
            truncate(out.stderr.trim(), 300)
        )));
    }
    Ok(())
}

/// Unified diff of the crontab, before → after.
pub(crate) fn diff(user: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .header(
            &format!("crontab of {user} (now)"),
            &format!("crontab of {user} (after)"),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_validated_strictly() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 2 * * 1-5",
            "30 4 1,15 * *",
            "0 0 * jan sun",
            "1-10/2 * * * 7",
            "@daily",
            "@REBOOT",
        ] {
            assert!(validate_schedule(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_schedule(" 0  2 * * 1 ").unwrap(), "0 2 * * 1");
        for (bad, why) in [
            ("60 * * * *", "outside 0-59"),
            ("* * * *", "4 field"),
            ("* * * * * *", "6 field"),
            ("*/0 * * * *", "step"),
            ("5/2 * * * *", "needs * or a range"),
            ("* 25 * * *", "hour"),
            ("* * 0 * *", "day-of-month"),
            ("* * * 13 *", "month"),
            ("* * * jan-mar *", "not a number"),
            ("9-3 * * * *", "backwards"),
            ("@often", "unknown"),
            ("a;b * * * *", "not a number"),
        ] {
            let e = validate_schedule(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn commands_markers_and_lines() {
        assert!(validate_command("/usr/bin/backup --all").is_ok());
        assert!(validate_command("date +\\%F").is_ok());
        assert!(validate_command("date +%F").unwrap_err().contains("\\%"));
        assert!(validate_command("a\nb").is_err());
        assert!(validate_command("x # aios:abc").is_err());
        assert!(validate_command("").is_err());
        let l = marked_line("*/5 * * * *", "/bin/true", "ab12");
        assert_eq!(l, "*/5 * * * * /bin/true # aios:ab12");
        assert_eq!(marker(&l), Some("ab12"));
        assert_eq!(marker("* * * * * x # aios:BAD!"), None);
        assert_eq!(
            split_job(&l),
            Some(("*/5 * * * *".into(), "/bin/true".into()))
        );
        // The command is kept byte for byte.
        assert_eq!(
            split_job("@daily  run  me"),
            Some(("@daily".into(), "run  me".into()))
        );
        assert_eq!(split_job("MAILTO=x y z a b c"), None);
        assert_eq!(split_job("# 0 * * * * commented"), None);
        assert_eq!(split_job("0 * * * *"), None);
        let d = diff("bob", "a\n", "a\nb\n");
        assert!(
            d.contains("+b") && d.contains("--- crontab of bob (now)"),
            "{d}"
        );
    }
}

//! `sec.failed_logins`: failed SSH logins ("Failed password", "Invalid
//! user" lines) grouped by source address and user, from journald's sshd
//! messages when journald runs, else from /var/log/auth.log (or
//! /var/log/secure), or from a log file the caller names.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::run_command;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.failed_logins`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecFailedLogins;

/// Arguments of `sec.failed_logins`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedLoginsArgs {
    /// A syslog-format log file to read. Default: none, meaning journald's sshd messages when journald runs,
    /// else /var/log/auth.log or /var/log/secure.
    #[serde(default)]
    pub path: Option<String>,
    /// How far back journald is searched, in hours (default 24, at most 8760). Files are read from their last 32 MiB.
    #[serde(default = "default_hours")]
    pub since_hours: u32,
    /// At most this many (source, user) groups (default 50, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_hours() -> u32 {
    24
}

fn default_limit() -> usize {
    50
}

/// Bytes read from the end of a log file.
const TAIL_BYTES: u64 = 32 << 20;

/// One parsed failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Source address.
    pub source: String,
    /// User name tried.
    pub user: String,
    /// The user does not exist.
    pub invalid_user: bool,
    /// A "Failed …" line (true) or an "Invalid user" probe (false).
    pub failed_auth: bool,
    /// How many times (rsyslog's "message repeated N times").
    pub count: u64,
    /// The line's timestamp as written.
    pub when: String,
}

/// The timestamp at the start of a syslog or journal line.
fn timestamp(line: &str) -> String {
    let mut it = line.split_whitespace();
    match it.next() {
        Some(first) if first.as_bytes().first().is_some_and(u8::is_ascii_digit) => {
            first.to_string()
        }
        Some(first) => [Some(first), it.next(), it.next()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    }
}

/// Parse one log line. Only sshd's own phrasing counts, so text a user
/// typed elsewhere cannot pose as a failure.
pub fn parse_line(line: &str) -> Option<Failure> {
    let msg_at = line.find("sshd")?;
    let mut msg = &line[msg_at..];
    let mut count = 1;
    if let Some(i) = msg.find("message repeated ") {
        let rest = &msg[i + "message repeated ".len()..];
        count = rest.split_whitespace().next()?.parse().ok()?;
        msg = rest.split_once('[').map(|(_, m)| m)?;
    }
    let (rest, failed_auth) = if let Some(i) = msg.find("Failed ") {
        let r = &msg[i + "Failed ".len()..];
        // "password for ", "publickey for ", "keyboard-interactive/pam for ".
        (r.split_once(" for ")?.1, true)
    } else if let Some(i) = msg.find("Invalid user ") {
        (&msg[i..], false)
    } else {
        return None;
    };
    let (invalid_user, rest) = match rest
        .strip_prefix("invalid user ")
        .or_else(|| rest.strip_prefix("Invalid user "))
    {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (user, after) = rest.rsplit_once(" from ")?;
    let source = after.split_whitespace().next()?.to_string();
    source.parse::<std::net::IpAddr>().ok()?;
    Some(Failure {
        source,
        user: user.trim().to_string(),
        invalid_user,
        failed_auth,
        count,
        when: timestamp(line),
    })
}

/// Failures from one source for one user.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Source address.
    pub source: String,
    /// User name tried.
    pub user: String,
    /// The user does not exist on this host.
    pub invalid_user: bool,
    /// Failed authentications.
    pub failures: u64,
    /// "Invalid user" probes (connections naming an unknown user).
    pub probes: u64,
    /// First seen, as the log writes time.
    pub first_seen: String,
    /// Last seen.
    pub last_seen: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct FailedLogins {
    /// One line for people.
    pub summary: String,
    /// What was read.
    pub source: String,
    /// Failed authentications in all.
    pub total_failures: u64,
    /// Groups, most failures first.
    pub groups: Vec<Group>,
    /// Groups before the limit.
    pub total: usize,
    /// Whether `groups` was cut.
    pub truncated: bool,
    /// What could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Group parsed lines of `text`.
pub fn summarise(text: &str, source: String, limit: usize) -> FailedLogins {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for f in text.lines().filter_map(parse_line) {
        let g = groups
            .entry((f.source.clone(), f.user.clone()))
            .or_insert_with(|| Group {
                source: f.source.clone(),
                user: f.user.clone(),
                invalid_user: false,
                failures: 0,
                probes: 0,
                first_seen: f.when.clone(),
                last_seen: String::new(),
            });
        g.invalid_user |= f.invalid_user;
        if f.failed_auth {
            g.failures += f.count;
        } else {
            g.probes += f.count;
        }
        g.last_seen = f.when;
    }
    let mut list: Vec<Group> = groups.into_values().collect();
    list.sort_by(|a, b| {
        (b.failures + b.probes)
            .cmp(&(a.failures + a.probes))
            .then_with(|| a.source.cmp(&b.source))
    });
    let total = list.len();
    let total_failures = list.iter().map(|g| g.failures).sum();
    let mut sources: Vec<&str> = list.iter().map(|g| g.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let n_sources = sources.len();
    list.truncate(limit);
    let summary = if total == 0 {
        format!("no failed SSH logins in {source}")
    } else {
        format!(
            "{total_failures} failed SSH login(s) from {} source(s) in {source}; most: {} as {} ({}x)",
            n_sources,
            list[0].source,
            list[0].user,
            list[0].failures + list[0].probes
        )
    };
    FailedLogins {
        summary,
        source,
        total_failures,
        truncated: total > list.len(),
        groups: list,
        total,
        notes: Vec::new(),
    }
}

/// The last [`TAIL_BYTES`] of `p`, read as the caller.
fn read_tail(ctx: &ToolCtx, p: &Path) -> Result<String, ToolError> {
    let mut f = std::fs::File::open(p).map_err(|e| ctx.access().io_error(p, "read", &e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > TAIL_BYTES {
        f.seek(SeekFrom::Start(len - TAIL_BYTES))
            .map_err(|e| ToolError::io(p, "read", &e))?;
    }
    let mut buf = Vec::new();
    f.take(TAIL_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| ToolError::io(p, "read", &e))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

impl Tool for SecFailedLogins {
    type Args = FailedLoginsArgs;

    fn name(&self) -> &'static str {
        "sec.failed_logins"
    }

    fn description(&self) -> &'static str {
        "Failed SSH logins (failed passwords or keys, unknown user names) grouped by source address and user, \
         most frequent first: from journald's sshd messages over the last since_hours, or from /var/log/auth.log \
         or a given log file."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Journal, ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "is someone trying to brute-force ssh?",
                args: r#"{}"#,
            },
            Example {
                request: "failed logins in the last week",
                args: r#"{"since_hours": 168}"#,
            },
            Example {
                request: "which IPs failed to log in according to /var/log/auth.log.1",
                args: r#"{"path": "/var/log/auth.log.1"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FailedLoginsArgs,
        home: Option<&Path>,
    ) -> Result<(), ToolError> {
        match &mut args.path {
            Some(p) => crate::access::normalize_in_place(p, home),
            None => Ok(()),
        }
    }

    fn resources(&self, args: &FailedLoginsArgs) -> Vec<Resource> {
        match &args.path {
            Some(p) => vec![Resource::Path(p.clone())],
            None => vec![
                Resource::Journal("ssh".into()),
                Resource::Path("/var/log/auth.log".into()),
            ],
        }
    }

    fn preview(&self, _args: &FailedLoginsArgs) -> String {
        "summarise failed SSH logins".into()
    }

    async fn run(&self, ctx: ToolCtx, args: FailedLoginsArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > 1000 {
            return Err(ToolError::invalid(format!(
                "sec.failed_logins: field `limit` must be 1..=1000, got {}",
                args.limit
            )));
        }
        if args.since_hours == 0 || args.since_hours > 8760 {
            return Err(ToolError::invalid(format!(
                "sec.failed_logins: field `since_hours` must be 1..=8760, got {}",
                args.since_hours
            )));
        }
        if let Some(p) = args.path.clone() {
            let text = ctx
                .blocking(move |ctx| read_tail(&ctx, Path::new(&p)))
                .await?;
            let path = args.path.unwrap_or_default();
            return super::super::to_value(&summarise(&text, path, args.limit));
        }
        let mut notes = Vec::new();
        if Path::new("/run/systemd/journal").exists() {
            let since = format!(
                "--since=@{}",
                super::super::user::now_secs() - i64::from(args.since_hours) * 3600
            );
            match run_command(
                &ctx,
                "journalctl",
                &[
                    "--no-pager",
                    "-q",
                    "-o",
                    "short-iso",
                    &since,
                    "SYSLOG_IDENTIFIER=sshd",
                    "SYSLOG_IDENTIFIER=sshd-session",
                ],
                Duration::from_secs(30),
                TAIL_BYTES as usize,
            )
            .await
            {
                Ok(out) if out.code == Some(0) => {
                    let mut r = summarise(
                        &out.stdout,
                        format!("journald (sshd, last {} h)", args.since_hours),
                        args.limit,
                    );
                    if out.truncated {
                        r.notes.push(
                            "journal output was cut at 32 MiB; counts are lower bounds".into(),
                        );
                    }
                    if !ctx
                        .access()
                        .identity()
                        .in_any_group(&["adm", "systemd-journal"])
                        && !super::super::user::runs_as_root(&ctx)
                    {
                        r.notes.push("only the journal entries this user may read were searched (members of adm or systemd-journal see all)".into());
                    }
                    return super::super::to_value(&r);
                }
                Ok(out) => notes.push(format!(
                    "journalctl failed: {}",
                    crate::util::truncate(out.stderr.trim(), 300)
                )),
                Err(e) => notes.push(format!("journald not used: {e}")),
            }
        }
        for file in ["/var/log/auth.log", "/var/log/secure"] {
            if !Path::new(file).exists() {
                continue;
            }
            let f = file.to_string();
            let text = ctx
                .blocking(move |ctx| read_tail(&ctx, Path::new(&f)))
                .await?;
            let mut r = summarise(&text, file.to_string(), args.limit);
            r.notes = notes;
            return super::super::to_value(&r);
        }
        Err(ToolError::unsupported(format!(
            "no SSH log found: journald is not running and neither /var/log/auth.log nor /var/log/secure exists{}; \
             give the log file as `path`",
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    const LOG: &str = "\
Jan  5 10:00:01 host sshd[101]: Invalid user admin from 203.0.113.5 port 40000
Jan  5 10:00:02 host sshd[101]: Failed password for invalid user admin from 203.0.113.5 port 40000 ssh2
Jan  5 10:00:09 host sshd[102]: Failed password for root from 198.51.100.7 port 50000 ssh2
Jan  5 10:00:10 host sshd[102]: message repeated 4 times: [ Failed password for root from 198.51.100.7 port 50000 ssh2]
Jan  5 10:01:00 host sshd[103]: Failed publickey for alice from 2001:db8::1 port 1 ssh2: ED25519 SHA256:xyz
Jan  5 10:02:00 host sshd[104]: Accepted publickey for alice from 2001:db8::1 port 2 ssh2
Jan  5 10:03:00 host sudo: alice : Failed password for root from 192.0.2.1 port 1
Jan  5 10:04:00 host sshd[105]: pam_unix(sshd:auth): authentication failure; rhost=198.51.100.7 user=root
2024-01-05T10:05:00+0000 host sshd-session[106]: Failed password for root from 198.51.100.7 port 50001 ssh2
";

    #[test]
    fn lines_parse_and_group() {
        let f = parse_line("Jan  5 10:00:02 host sshd[101]: Failed password for invalid user admin from 203.0.113.5 port 40000 ssh2").unwrap();
        assert_eq!(
            (
                f.source.as_str(),
                f.user.as_str(),
                f.invalid_user,
                f.failed_auth
            ),
            ("203.0.113.5", "admin", true, true)
        );
        assert_eq!(f.when, "Jan 5 10:00:02");
        assert!(
            parse_line("Jan  5 host sshd[1]: Accepted password for x from 1.2.3.4 port 1")
                .is_none()
        );
        // A user name containing " from " cannot fake the source: the last one is taken and must be an address.
        assert!(parse_line("sshd[1]: Invalid user a from evil from nowhere port 1").is_none());
        let r = summarise(LOG, "test".into(), 50);
        assert_eq!(r.total, 3, "{r:?}");
        assert_eq!(r.groups[0].source, "198.51.100.7");
        assert_eq!(r.groups[0].user, "root");
        assert_eq!(r.groups[0].failures, 6);
        assert_eq!(r.groups[0].last_seen, "2024-01-05T10:05:00+0000");
        let admin = r.groups.iter().find(|g| g.user == "admin").unwrap();
        assert_eq!(
            (admin.failures, admin.probes, admin.invalid_user),
            (1, 1, true)
        );
        assert_eq!(r.total_failures, 8);
        // sudo's line is not sshd's and is ignored.
        assert!(!r.groups.iter().any(|g| g.source == "192.0.2.1"));
    }

    #[tokio::test]
    async fn reads_a_written_auth_log_with_limit() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("auth.log");
        std::fs::write(&p, LOG).unwrap();
        let v = Registry::builtin()
            .prepare(
                "sec.failed_logins",
                serde_json::json!({"path": p, "limit": 1}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["groups"].as_array().unwrap().len(), 1);
        assert_eq!(v["total"], 3);
        assert_eq!(v["truncated"], true);
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .starts_with("8 failed SSH login(s) from 3 source(s)"),
            "{v}"
        );
        let e = Registry::builtin()
            .prepare(
                "sec.failed_logins",
                serde_json::json!({"path": t.path().join("missing")}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
    }
}

//! `log.search`: the lines of a log that contain a fixed string (optionally
//! ignoring case), within optional time bounds, from a log file or from
//! the journal (optionally one unit). The most recent matches are kept up
//! to `limit`; `total` counts them all.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{line_time, now, parse_bound};
use crate::builtin::host::Host;
use crate::builtin::service_status::ServiceName;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

const MAX_LIMIT: usize = 1000;
const MAX_LINE: usize = 2000;
/// Most bytes of one file scanned.
const MAX_SCAN: u64 = 1024 * 1024 * 1024;
const DEFAULT_FILES: [&str; 2] = ["/var/log/syslog", "/var/log/messages"];

fn default_limit() -> usize {
    100
}

fn yes() -> bool {
    true
}

/// `log.search`.
#[derive(Debug, Clone, Default)]
pub struct LogSearch {
    host: Host,
}

impl LogSearch {
    /// With a test host (fake `journalctl`).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> LogSearch {
        LogSearch { host }
    }
}

/// Arguments of `log.search`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSearchArgs {
    /// The text to find (a fixed string, not a pattern).
    pub pattern: String,
    /// Ignore upper/lower case (default true).
    #[serde(default = "yes")]
    pub ignore_case: bool,
    /// Log file to search (absolute). Null: /var/log/syslog or
    /// /var/log/messages, else the journal.
    #[serde(default)]
    pub path: Option<String>,
    /// Search this unit's journal instead of a file, e.g. ssh.service.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub unit: Option<ServiceName>,
    /// Only lines at or after this time: 2024-05-01, 2024-05-01T12:00:00Z
    /// (UTC unless an offset is given) or an age such as 30m, 2h, 7d.
    #[serde(default)]
    pub since: Option<String>,
    /// Only lines before this time (same forms as `since`).
    #[serde(default)]
    pub until: Option<String>,
    /// At most this many matches, the most recent (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// Matches.
#[derive(Debug, Clone, Serialize)]
pub struct Matches {
    /// One line for the human.
    pub summary: String,
    /// File path, or `journal` / `journal:UNIT`.
    pub source: String,
    /// Matching lines, oldest first (data, never instructions).
    pub lines: Vec<String>,
    /// Matches in all (file) or returned (journal).
    pub total: usize,
    /// Whether matches were left out.
    pub truncated: bool,
}

/// A case-folding fixed-string matcher.
pub(crate) struct Needle {
    text: String,
    fold: bool,
}

impl Needle {
    pub(crate) fn new(text: &str, fold: bool) -> Needle {
        Needle {
            text: if fold {
                text.to_lowercase()
            } else {
                text.to_string()
            },
            fold,
        }
    }

    pub(crate) fn matches(&self, line: &str) -> bool {
        if self.fold {
            line.to_lowercase().contains(&self.text)
        } else {
            line.contains(&self.text)
        }
    }
}

/// Search an open file. Lines without a timestamp take the time of the
/// line before (continuations of one message).
pub(crate) fn search_file(
    ctx: &ToolCtx,
    f: std::fs::File,
    path: &Path,
    needle: &Needle,
    bounds: (Option<i64>, Option<i64>),
    limit: usize,
) -> Result<Matches, ToolError> {
    let now = now();
    let mut r = BufReader::new(f);
    let mut buf = Vec::new();
    let mut kept: VecDeque<String> = VecDeque::new();
    let (mut total, mut scanned, mut last_time) = (0usize, 0u64, None);
    let mut cut_scan = false;
    let mut i = 0u64;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| ToolError::io(path, "read", &e))?;
        if n == 0 {
            break;
        }
        i += 1;
        if i.is_multiple_of(4096) {
            ctx.check_cancelled()?;
        }
        scanned += n as u64;
        if scanned > MAX_SCAN {
            cut_scan = true;
            break;
        }
        if buf.contains(&0) {
            return Err(ToolError::invalid(format!(
                "{} is binary (contains NUL bytes); log.search reads text logs (a rotated .gz is compressed)",
                path.display()
            )));
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if bounds != (None, None) {
            if let Some(t) = line_time(line, now) {
                last_time = Some(t);
            }
            let inside = last_time
                .is_some_and(|t| bounds.0.is_none_or(|s| t >= s) && bounds.1.is_none_or(|u| t < u));
            if !inside {
                continue;
            }
        }
        if needle.matches(line) {
            total += 1;
            if kept.len() == limit {
                kept.pop_front();
            }
            kept.push_back(truncate(line, MAX_LINE));
        }
    }
    let source = path.display().to_string();
    Ok(Matches {
        summary: summary(total, kept.len(), &source, cut_scan),
        source,
        truncated: total > kept.len() || cut_scan,
        total,
        lines: kept.into(),
    })
}

fn summary(total: usize, shown: usize, source: &str, cut: bool) -> String {
    let mut s = match total {
        0 => format!("no matching lines in {source}"),
        1 => format!("1 matching line in {source}"),
        n => format!("{n} matching lines in {source}"),
    };
    if total > shown {
        s.push_str(&format!("; the last {shown} shown"));
    }
    if cut {
        s.push_str("; only the first 1 GiB was searched");
    }
    s
}

/// Escape every character PCRE could read as syntax, so the journal's
/// `--grep` matches the fixed string.
fn pcre_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if !c.is_alphanumeric() && c != ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl LogSearch {
    async fn journal(
        &self,
        ctx: &ToolCtx,
        args: &LogSearchArgs,
        bounds: (Option<i64>, Option<i64>),
    ) -> Result<Matches, ToolError> {
        let grep = pcre_literal(&args.pattern);
        let n = args.limit.to_string();
        let since = bounds.0.map(|t| format!("--since=@{t}"));
        let until = bounds.1.map(|t| format!("--until=@{t}"));
        let mut a: Vec<&str> = vec![
            "--no-pager",
            "-q",
            "-o",
            "short-iso",
            "-n",
            &n,
            if args.ignore_case {
                "--case-sensitive=false"
            } else {
                "--case-sensitive=true"
            },
            "--grep",
            &grep,
        ];
        if let Some(u) = &args.unit {
            a.extend(["-u", u.as_str()]);
        }
        a.extend(since.iter().map(String::as_str));
        a.extend(until.iter().map(String::as_str));
        let out = self
            .host
            .run(
                ctx,
                "journalctl",
                &a,
                Duration::from_secs(60),
                8 * 1024 * 1024,
            )
            .await?;
        // journalctl exits 1 when nothing matched.
        if out.code != Some(0) && !(out.code == Some(1) && out.stderr.trim().is_empty()) {
            return Err(ToolError::failed(format!(
                "journalctl failed: {}",
                truncate(out.stderr.trim(), 500)
            )));
        }
        let lines: Vec<String> = out.stdout.lines().map(|l| truncate(l, MAX_LINE)).collect();
        let source = args.unit.as_ref().map_or_else(
            || "journal".to_string(),
            |u| format!("journal:{}", u.as_str()),
        );
        let total = lines.len();
        Ok(Matches {
            summary: summary(total, total, &source, false),
            source,
            truncated: out.truncated || total >= args.limit,
            total,
            lines,
        })
    }
}

impl Tool for LogSearch {
    type Args = LogSearchArgs;

    fn name(&self) -> &'static str {
        "log.search"
    }

    fn description(&self) -> &'static str {
        "Find the log lines containing a text (a fixed string, case-insensitive by default) in a log file, \
         the system log, or a unit's journal, optionally between two times; returns the most recent matches."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path, ResourceKind::Journal]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "any errors in the system log today?",
                args: r#"{"pattern": "error", "since": "1d"}"#,
            },
            Example {
                request: "find failed ssh logins in auth.log",
                args: r#"{"pattern": "Failed password", "path": "/var/log/auth.log"}"#,
            },
            Example {
                request: "did nginx log 'upstream timed out' in the last hour",
                args: r#"{"pattern": "upstream timed out", "unit": "nginx.service", "since": "1h"}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut LogSearchArgs, home: Option<&Path>) -> Result<(), ToolError> {
        if args.pattern.is_empty() || args.pattern.len() > 500 || args.pattern.contains('\n') {
            return Err(ToolError::invalid(
                "field `pattern` must be 1 to 500 characters on one line",
            ));
        }
        if args.path.is_some() && args.unit.is_some() {
            return Err(ToolError::invalid(
                "log.search: give either `path` or `unit`, not both",
            ));
        }
        match args.path.as_mut() {
            Some(p) => crate::access::normalize_in_place(p, home),
            None => Ok(()),
        }
    }

    fn resources(&self, args: &LogSearchArgs) -> Vec<Resource> {
        match (&args.path, &args.unit) {
            (Some(p), _) => vec![Resource::Path(p.clone())],
            (None, Some(u)) => vec![Resource::Journal(u.as_str().to_string())],
            (None, None) => vec![Resource::Path("/var/log".to_string())],
        }
    }

    fn preview(&self, args: &LogSearchArgs) -> String {
        let src = match (&args.path, &args.unit) {
            (Some(p), _) => p.clone(),
            (None, Some(u)) => format!("the journal of {}", u.as_str()),
            (None, None) => "the system log".to_string(),
        };
        format!("search {src} for {:?}", args.pattern)
    }

    async fn run(&self, ctx: ToolCtx, args: LogSearchArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > MAX_LIMIT {
            return Err(ToolError::invalid(format!(
                "field `limit` must be 1..={MAX_LIMIT}, got {}",
                args.limit
            )));
        }
        let now = now();
        let since = args
            .since
            .as_deref()
            .map(|s| parse_bound("since", s, now))
            .transpose()?;
        let until = args
            .until
            .as_deref()
            .map(|s| parse_bound("until", s, now))
            .transpose()?;
        let bounds = (since, until);
        let needle = Needle::new(&args.pattern, args.ignore_case);
        let limit = args.limit;
        let file = match (&args.path, &args.unit) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(_)) => None,
            (None, None) => DEFAULT_FILES
                .iter()
                .find(|p| Path::new(p).is_file())
                .map(|p| (*p).to_string()),
        };
        let m = match file {
            Some(raw) => {
                ctx.blocking(move |ctx| {
                    let pinned = crate::builtin::paths::pin(&ctx, &raw, "read")?;
                    let f = pinned.open_file(
                        ctx.access(),
                        "log.search",
                        "give a log file in it, or pass unit for the journal",
                    )?;
                    search_file(&ctx, f, &pinned.path, &needle, bounds, limit)
                })
                .await?
            }
            None if self.host.journald() => self.journal(&ctx, &args, bounds).await?,
            None => {
                return Err(ToolError::unsupported(
                    "journald is not running on this host and no system log file exists; pass path to search a \
                     log file",
                ));
            }
        };
        crate::builtin::to_value(&m)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::Registry;

    async fn call(r: &Registry, args: Value) -> Result<Value, ToolError> {
        r.prepare("log.search", args)?.run(ToolCtx::local()).await
    }

    #[tokio::test]
    async fn finds_fixed_strings_within_time_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.log");
        std::fs::write(
            &f,
            "2024-05-01T10:00:00+00:00 h sshd[1]: Failed password for root\n\
             2024-05-01T11:00:00+00:00 h sshd[2]: Accepted key for ann\n\
             2024-05-01T12:00:00+00:00 h sshd[3]: FAILED PASSWORD for bob\n\
             \tcontinued: from 10.0.0.1 (a.*b)\n\
             2024-05-02T09:00:00+00:00 h sshd[4]: failed password for eve\n",
        )
        .unwrap();
        let r = Registry::builtin();
        let v = call(
            &r,
            serde_json::json!({"pattern": "failed password", "path": &f}),
        )
        .await
        .unwrap();
        assert_eq!(v["total"], 3, "{v}");
        let v = call(
            &r,
            serde_json::json!({"pattern": "Failed password", "ignore_case": false, "path": &f}),
        )
        .await
        .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        let v = call(
            &r,
            serde_json::json!({"pattern": "password", "path": &f,
                "since": "2024-05-01T10:30:00Z", "until": "2024-05-02"}),
        )
        .await
        .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        assert!(v["lines"][0].as_str().unwrap().contains("bob"), "{v}");
        // A fixed string: regex syntax is plain text; continuation lines
        // inherit the time of their message.
        let v = call(
            &r,
            serde_json::json!({"pattern": "(a.*b)", "path": &f, "since": "2024-05-01T11:30:00Z"}),
        )
        .await
        .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        let v = call(
            &r,
            serde_json::json!({"pattern": "password", "path": &f, "limit": 2}),
        )
        .await
        .unwrap();
        assert_eq!(
            (v["total"].as_u64(), v["truncated"].as_bool()),
            (Some(3), Some(true))
        );
        assert!(
            v["lines"][1].as_str().unwrap().contains("eve"),
            "most recent kept: {v}"
        );
        assert_eq!(
            v["summary"],
            format!("3 matching lines in {}; the last 2 shown", f.display())
        );
        let e = call(
            &r,
            serde_json::json!({"pattern": "x", "path": &f, "since": "soon"}),
        )
        .await
        .unwrap_err();
        assert!(e.message().contains("`since`"), "{e}");
        let e = call(&r, serde_json::json!({"pattern": "", "path": &f}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`pattern`"), "{e}");
    }

    #[tokio::test]
    async fn fake_journalctl_gets_an_escaped_grep_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("journalctl");
        std::fs::write(
            &script,
            "#!/bin/sh\n# FAKE journalctl for aios-catalog tests\nfor a; do echo \"$a\"; done\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = Host {
            bin: Some(dir.path().to_path_buf()),
            journald: Some(true),
            ..Host::default()
        };
        let r = Registry::builder()
            .register(LogSearch::with_host(host))
            .build();
        let v = call(
            &r,
            serde_json::json!({"pattern": "a.b (c)", "unit": "ssh", "since": "2024-05-01"}),
        )
        .await
        .unwrap();
        let args: Vec<&str> = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(args.contains(&"a\\.b \\(c\\)"), "{args:?}");
        assert!(args.contains(&"--case-sensitive=false"), "{args:?}");
        assert!(args.contains(&"--since=@1714521600"), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-u", "ssh"]), "{args:?}");
        assert_eq!(v["source"], "journal:ssh");
    }
}

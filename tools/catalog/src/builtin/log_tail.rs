//! `log.tail`: the last lines of a log file, or of the journal (optionally
//! one unit) through `journalctl`, capped.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::service_status::ServiceName;
use crate::command::run_command;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `log.tail`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogTail;

/// Arguments of `log.tail`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogTailArgs {
    /// Log file to read (absolute). Default: /var/log/syslog or /var/log/messages, else the journal.
    pub path: Option<String>,
    /// How many lines from the end (default 50, at most 2000).
    pub lines: Option<usize>,
    /// A systemd unit whose journal to read instead of a file, e.g. nginx.service.
    #[schemars(with = "Option<String>")]
    pub unit: Option<ServiceName>,
}

const DEFAULT_LINES: usize = 50;
const MAX_LINES: usize = 2000;
/// Most bytes scanned back from the end of a file.
const MAX_SCAN: u64 = 1024 * 1024;
const MAX_LINE: usize = 2000;
const DEFAULT_FILES: [&str; 2] = ["/var/log/syslog", "/var/log/messages"];

/// The tail.
#[derive(Debug, Clone, Serialize)]
pub struct Tail {
    /// One line for the human.
    pub summary: String,
    /// File path or `journal` / `journal:UNIT`.
    pub source: String,
    /// The lines, oldest first.
    pub lines: Vec<String>,
    /// Whether older lines exist that were not returned.
    pub truncated: bool,
}

/// Open `raw` as the caller (never following a final link, never opening
/// a FIFO or device: see [`super::paths`]) and tail it.
fn tail_path(ctx: &ToolCtx, raw: &str, n: usize) -> Result<Tail, ToolError> {
    let pinned = super::paths::pin(ctx, raw, "read")?;
    let f = pinned.open_file(
        ctx.access(),
        "log.tail",
        "give a log file in it, or pass unit for the journal",
    )?;
    tail_file(f, &pinned.path, n)
}

/// The last `n` lines of the open regular file `f` (named `path` in
/// messages), reading backwards at most `MAX_SCAN` bytes.
pub(crate) fn tail_file(mut f: std::fs::File, path: &Path, n: usize) -> Result<Tail, ToolError> {
    let meta = f.metadata().map_err(|e| ToolError::io(path, "read", &e))?;
    if !meta.is_file() {
        return Err(ToolError::invalid(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let len = meta.len();
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    // Stop once more than n line breaks are held (the extra one marks the
    // start of the first wanted line) or the scan budget is spent.
    while pos > 0 && bytecount(&buf) <= n && len - pos < MAX_SCAN {
        let step = (64 * 1024).min(pos);
        pos -= step;
        f.seek(SeekFrom::Start(pos))
            .map_err(|e| ToolError::io(path, "seek in", &e))?;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        f.read_exact(&mut chunk)
            .map_err(|e| ToolError::io(path, "read", &e))?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    if buf.contains(&0) {
        return Err(ToolError::invalid(format!(
            "{} is binary (contains NUL bytes); log.tail reads text logs — for the journal pass unit or omit path",
            path.display()
        )));
    }
    let text = String::from_utf8_lossy(&buf);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let all: Vec<&str> = text.split('\n').collect();
    let skip = all.len().saturating_sub(n);
    // Older content exists if we did not reach the start, or dropped lines.
    let truncated = pos > 0 || skip > 0;
    // When we stopped mid-file the first piece is a partial line: drop it.
    let skip = if pos > 0 { skip.max(1) } else { skip };
    let lines: Vec<String> = all
        .into_iter()
        .skip(skip)
        .filter(|l| !(len == 0 && l.is_empty()))
        .map(|l| truncate(l, MAX_LINE))
        .collect();
    Ok(Tail {
        summary: tail_summary(lines.len(), &path.display().to_string()),
        source: path.display().to_string(),
        lines,
        truncated,
    })
}

fn tail_summary(n: usize, source: &str) -> String {
    match n {
        0 => format!("{source} is empty"),
        1 => format!("the last line of {source}"),
        n => format!("the last {n} lines of {source}"),
    }
}

fn bytecount(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'\n').count()
}

fn journald_running() -> bool {
    Path::new("/run/systemd/journal/socket").exists()
}

async fn tail_journal(
    ctx: &ToolCtx,
    unit: Option<&ServiceName>,
    n: usize,
) -> Result<Tail, ToolError> {
    // journalctl runs as the caller (see `run_command`): journald's own
    // file permissions decide what the caller may read, never a group list
    // of ours.
    let n_s = n.to_string();
    let mut args = vec!["-n", n_s.as_str(), "--no-pager", "-o", "short-iso", "-q"];
    if let Some(u) = unit {
        args.extend(["-u", u.as_str()]);
    }
    let out = run_command(
        ctx,
        "journalctl",
        &args,
        Duration::from_secs(15),
        2 * 1024 * 1024,
    )
    .await?;
    if out.code != Some(0) {
        return Err(ToolError::failed(format!(
            "journalctl failed: {}",
            truncate(out.stderr.trim(), 500)
        )));
    }
    let lines: Vec<String> = out.stdout.lines().map(|l| truncate(l, MAX_LINE)).collect();
    let source = unit.map_or_else(|| "journal".into(), |u| format!("journal:{}", u.as_str()));
    Ok(Tail {
        summary: tail_summary(lines.len(), &source),
        source,
        truncated: out.truncated || lines.len() >= n,
        lines,
    })
}

impl Tool for LogTail {
    type Args = LogTailArgs;

    fn name(&self) -> &'static str {
        "log.tail"
    }

    fn description(&self) -> &'static str {
        "Show the last lines of a log: a log file given by path, the journal of a systemd unit, or by default the \
         system log (/var/log/syslog or /var/log/messages, else the journal)."
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
                request: "show the latest log lines",
                args: r#"{}"#,
            },
            Example {
                request: "show the last 100 lines of the nginx log",
                args: r#"{"unit": "nginx.service", "lines": 100}"#,
            },
            Example {
                request: "tail /var/log/auth.log",
                args: r#"{"path": "/var/log/auth.log"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut LogTailArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        match args.path.as_mut() {
            Some(p) => crate::access::normalize_in_place(p, home),
            None => Ok(()),
        }
    }

    fn resources(&self, args: &LogTailArgs) -> Vec<Resource> {
        match (&args.path, &args.unit) {
            (Some(p), _) => vec![Resource::Path(p.to_string())],
            (None, Some(u)) => vec![Resource::Journal(u.as_str().to_string())],
            (None, None) => vec![Resource::Path("/var/log".to_string())],
        }
    }

    fn preview(&self, args: &LogTailArgs) -> String {
        let n = args.lines.unwrap_or(DEFAULT_LINES);
        match (&args.path, &args.unit) {
            (Some(p), _) => format!("show the last {n} lines of {p}"),
            (None, Some(u)) => format!("show the last {n} journal lines of {}", u.as_str()),
            (None, None) => format!("show the last {n} lines of the system log"),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: LogTailArgs) -> Result<Value, ToolError> {
        let n = args.lines.unwrap_or(DEFAULT_LINES);
        if n == 0 || n > MAX_LINES {
            return Err(ToolError::invalid(format!(
                "log.tail: field `lines` must be 1..={MAX_LINES}, got {n}"
            )));
        }
        let tail = match (args.path, args.unit) {
            (Some(_), Some(_)) => {
                return Err(ToolError::invalid(
                    "log.tail: give either `path` or `unit`, not both",
                ));
            }
            (None, Some(unit)) => {
                if !journald_running() {
                    return Err(ToolError::unsupported(format!(
                        "journald is not running on this host, so unit {} has no journal; pass path to read a log file instead",
                        unit.as_str()
                    )));
                }
                tail_journal(&ctx, Some(&unit), n).await?
            }
            (Some(raw), None) => ctx.blocking(move |ctx| tail_path(&ctx, &raw, n)).await?,
            (None, None) => {
                let default = DEFAULT_FILES.iter().map(Path::new).find(|p| p.is_file());
                match default {
                    Some(p) => {
                        let raw = p.display().to_string();
                        ctx.blocking(move |ctx| tail_path(&ctx, &raw, n)).await?
                    }
                    None if journald_running() => tail_journal(&ctx, None, n).await?,
                    None => {
                        return Err(ToolError::unsupported(
                            "no system log found: neither /var/log/syslog nor /var/log/messages exists and journald \
                             is not running; pass path to read a specific log file",
                        ));
                    }
                }
            }
        };
        super::to_value(&tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("log.tail", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn tails_last_lines_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("app.log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&f, text).unwrap();
        let v = call(serde_json::json!({"path": &f, "lines": 3}))
            .await
            .unwrap();
        assert_eq!(
            v["lines"],
            serde_json::json!(["line 98", "line 99", "line 100"])
        );
        assert_eq!(v["truncated"], true);
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .starts_with("the last 3 lines of"),
            "{v}"
        );
        let v = call(serde_json::json!({"path": &f, "lines": 500}))
            .await
            .unwrap();
        assert_eq!(v["lines"].as_array().unwrap().len(), 100);
        assert_eq!(v["truncated"], false);
    }

    #[test]
    fn long_files_are_read_backwards_within_the_scan_cap() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big.log");
        // 3 MiB in 100-byte lines: more than the scan cap.
        let line = format!("{}\n", "x".repeat(99));
        std::fs::write(&f, line.repeat(30_000)).unwrap();
        let open = |p: &Path| std::fs::File::open(p).unwrap();
        let t = tail_file(open(&f), &f, 2000).unwrap();
        assert_eq!(t.lines.len(), 2000);
        assert!(t.lines.iter().all(|l| l.len() == 99));
        assert!(t.truncated);
        // No trailing newline, and a file shorter than asked.
        std::fs::write(&f, "a\nb").unwrap();
        let t = tail_file(open(&f), &f, 10).unwrap();
        assert_eq!(t.lines, ["a", "b"]);
        assert!(!t.truncated);
        std::fs::write(&f, "").unwrap();
        assert!(tail_file(open(&f), &f, 10).unwrap().lines.is_empty());
    }

    #[tokio::test]
    async fn bad_requests_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("b.log");
        std::fs::write(&bin, b"ok\n\0\0\0\n").unwrap();
        let e = call(serde_json::json!({"path": &bin})).await.unwrap_err();
        assert!(e.message().contains("binary"), "{e}");
        let e = call(serde_json::json!({"path": &bin, "unit": "x"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("either"), "{e}");
        let e = call(serde_json::json!({"path": &bin, "lines": 0}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`lines`"), "{e}");
        let e = call(serde_json::json!({"unit": "-x"})).await.unwrap_err();
        assert!(e.message().contains("`unit`"), "{e}");
        let e = call(serde_json::json!({"path": dir.path().join("none.log")}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
        if !journald_running() {
            let e = call(serde_json::json!({"unit": "nginx"}))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), crate::ToolErrorKind::Unsupported);
            assert!(e.message().contains("journald"), "{e}");
        }
    }

    #[tokio::test]
    async fn default_source_is_syslog_or_journal_or_a_clear_error() {
        let r = call(serde_json::json!({"lines": 5})).await;
        let has_file = DEFAULT_FILES.iter().any(|p| Path::new(p).is_file());
        match r {
            Ok(v) => assert!(has_file || journald_running(), "{v}"),
            Err(e) => {
                assert!(!has_file, "{e}");
                assert!(
                    e.message().contains("no system log found")
                        || e.message().contains("journalctl"),
                    "{e}"
                );
            }
        }
    }
}

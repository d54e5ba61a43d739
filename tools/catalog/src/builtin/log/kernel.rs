//! `log.kernel`: the kernel ring buffer, read record by record from
//! `/dev/kmsg` without blocking (the kernel checks `CAP_SYSLOG` when
//! `kernel.dmesg_restrict` is set), or `journalctl -k` where the device is
//! missing and journald runs. Filter by severity and a fixed string.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::search::Needle;
use crate::builtin::host::Host;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

const MAX_LIMIT: usize = 5000;

fn default_limit() -> usize {
    100
}

/// `log.kernel`.
#[derive(Debug, Clone, Default)]
pub struct LogKernel {
    host: Host,
}

/// A syslog severity, most severe first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 0: the system is unusable.
    Emerg,
    /// 1: act immediately.
    Alert,
    /// 2: critical.
    Crit,
    /// 3: error.
    Err,
    /// 4: warning.
    Warning,
    /// 5: normal but significant.
    Notice,
    /// 6: informational.
    Info,
    /// 7: debug.
    Debug,
}

impl Level {
    fn from_pri(p: u32) -> Level {
        match p & 7 {
            0 => Level::Emerg,
            1 => Level::Alert,
            2 => Level::Crit,
            3 => Level::Err,
            4 => Level::Warning,
            5 => Level::Notice,
            6 => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// Arguments of `log.kernel`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogKernelArgs {
    /// Only messages at least this severe (e.g. `warning` keeps emerg…warning).
    /// Null: all.
    #[serde(default)]
    pub level: Option<Level>,
    /// Only messages containing this text (fixed string, any case).
    #[serde(default)]
    pub pattern: Option<String>,
    /// At most this many messages, the most recent (default 100, at most 5000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One kernel message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelMessage {
    /// Seconds since boot.
    pub seconds: f64,
    /// Severity.
    pub level: Level,
    /// The text (data, never instructions).
    pub message: String,
}

/// The messages.
#[derive(Debug, Clone, Serialize)]
pub struct KernelLog {
    /// One line for the human.
    pub summary: String,
    /// `/dev/kmsg` or `journal`.
    pub source: String,
    /// Messages, oldest first.
    pub messages: Vec<KernelMessage>,
    /// Matching messages in the buffer.
    pub total: usize,
    /// Whether older matches were left out.
    pub truncated: bool,
}

/// Parse one `/dev/kmsg` record: `PRI,SEQ,USEC,FLAGS[,…];TEXT\n` followed
/// by ` KEY=VALUE` continuation lines (dropped).
pub(crate) fn parse_record(rec: &str) -> Option<KernelMessage> {
    let (head, text) = rec.split_once(';')?;
    let mut f = head.split(',');
    let pri: u32 = f.next()?.parse().ok()?;
    let _seq = f.next()?;
    let usec: u64 = f.next()?.parse().ok()?;
    let text = text.split('\n').next().unwrap_or("");
    #[allow(clippy::cast_precision_loss)] // display only
    let seconds = usec as f64 / 1e6;
    Some(KernelMessage {
        seconds,
        level: Level::from_pri(pri),
        message: truncate(text, 2000),
    })
}

/// Every record in the ring buffer now, reading until it would block.
fn read_kmsg(ctx: &ToolCtx) -> Result<Vec<KernelMessage>, ToolError> {
    let path = std::path::Path::new("/dev/kmsg");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => ToolError::denied(
                "reading the kernel log needs root here (kernel.dmesg_restrict is set): approve it as an \
                 administrator",
            ),
            _ => ToolError::io(path, "read", &e),
        })?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if out.len().is_multiple_of(1024) {
            ctx.check_cancelled()?;
        }
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(m) = parse_record(&String::from_utf8_lossy(&buf[..n])) {
                    out.push(m);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // EPIPE: the record we were at was overwritten; go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ToolError::denied(
                    "reading the kernel log needs root here (kernel.dmesg_restrict is set): approve it as an \
                     administrator",
                ));
            }
            Err(e) => return Err(ToolError::io(path, "read", &e)),
        }
        if out.len() > 1_000_000 {
            break;
        }
    }
    Ok(out)
}

impl Tool for LogKernel {
    type Args = LogKernelArgs;

    fn name(&self) -> &'static str {
        "log.kernel"
    }

    fn description(&self) -> &'static str {
        "Kernel messages (dmesg): hardware errors, out-of-memory kills, disk and network driver problems. \
         Filter by severity and text; returns the most recent."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Journal]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "any kernel errors?",
                args: r#"{"level": "err"}"#,
            },
            Example {
                request: "was anything killed by the OOM killer",
                args: r#"{"pattern": "out of memory"}"#,
            },
            Example {
                request: "show dmesg",
                args: r#"{"limit": 50}"#,
            },
        ]
    }

    fn resources(&self, _: &LogKernelArgs) -> Vec<Resource> {
        vec![Resource::Journal("kernel".into())]
    }

    fn preview(&self, _: &LogKernelArgs) -> String {
        "show kernel messages".into()
    }

    async fn run(&self, ctx: ToolCtx, args: LogKernelArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > MAX_LIMIT {
            return Err(ToolError::invalid(format!(
                "field `limit` must be 1..={MAX_LIMIT}, got {}",
                args.limit
            )));
        }
        let (source, mut msgs) = if std::path::Path::new("/dev/kmsg").exists() {
            ("/dev/kmsg", ctx.blocking(|ctx| read_kmsg(&ctx)).await?)
        } else if self.host.journald() {
            let out = self
                .host
                .run_ok(
                    &ctx,
                    "journalctl",
                    &[
                        "-k",
                        "-b",
                        "--no-pager",
                        "-q",
                        "-o",
                        "short-monotonic",
                        "-n",
                        "10000",
                    ],
                    Duration::from_secs(30),
                    16 * 1024 * 1024,
                )
                .await?;
            let msgs = out
                .stdout
                .lines()
                .filter_map(|l| {
                    let (ts, rest) = l.strip_prefix('[')?.split_once(']')?;
                    Some(KernelMessage {
                        seconds: ts.trim().parse().ok()?,
                        level: Level::Info,
                        message: truncate(rest.trim(), 2000),
                    })
                })
                .collect();
            ("journal", msgs)
        } else {
            return Err(ToolError::unsupported(
                "no kernel log here: /dev/kmsg is missing and journald is not running",
            ));
        };
        let needle = args.pattern.as_deref().map(|p| Needle::new(p, true));
        msgs.retain(|m| {
            args.level.is_none_or(|l| m.level <= l)
                && needle.as_ref().is_none_or(|n| n.matches(&m.message))
        });
        let total = msgs.len();
        let messages = msgs.split_off(total.saturating_sub(args.limit));
        let bad = messages
            .iter()
            .filter(|m| m.level <= Level::Warning)
            .count();
        crate::builtin::to_value(&KernelLog {
            summary: format!(
                "{total} kernel message{}{}, {bad} of those shown at warning or worse",
                if total == 1 { "" } else { "s" },
                if total > messages.len() {
                    format!(" (the last {} shown)", messages.len())
                } else {
                    String::new()
                }
            ),
            source: source.to_string(),
            truncated: total > messages.len(),
            total,
            messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::{Access, Identity, OutputSink, Registry, ToolErrorKind};

    #[test]
    fn kmsg_records_parse() {
        let m = parse_record(
            "3,1234,5000000,-;usb 1-1: device descriptor read error\n SUBSYSTEM=usb\n",
        )
        .unwrap();
        assert_eq!(m.level, Level::Err);
        assert_eq!(m.seconds, 5.0);
        assert_eq!(m.message, "usb 1-1: device descriptor read error");
        assert_eq!(parse_record("garbage"), None);
        // Userspace facility bits do not change the severity.
        assert_eq!(parse_record("12,1,0,-;x").unwrap().level, Level::Warning);
    }

    #[tokio::test]
    async fn reads_a_message_written_to_the_real_ring_buffer() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: writing to /dev/kmsg needs root (CI runs as root)");
            return;
        }
        let marker = format!("aios-kernel-test-{}", std::process::id());
        // <4> is warning.
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/kmsg")
            .and_then(|mut f| f.write_all(format!("<4>{marker}\n").as_bytes()));
        if let Err(e) = w {
            eprintln!("skipped: cannot write /dev/kmsg here: {e}");
            return;
        }
        let r = Registry::builtin();
        let v = r
            .prepare(
                "log.kernel",
                serde_json::json!({"pattern": marker.to_uppercase(), "level": "warning"}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        assert!(
            v["messages"][0]["message"]
                .as_str()
                .unwrap()
                .ends_with(&marker),
            "{v}"
        );
        assert_eq!(v["messages"][0]["level"], "warning");
        let v = r
            .prepare(
                "log.kernel",
                serde_json::json!({"pattern": marker, "level": "err"}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["total"], 0, "an err filter drops a warning: {v}");

        let restricted = std::fs::read_to_string("/proc/sys/kernel/dmesg_restrict")
            .is_ok_and(|s| s.trim() == "1");
        if restricted {
            let nobody = Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
                name: Some("nobody".into()),
                home: None,
            };
            let ctx = ToolCtx::new(
                tokio_util::sync::CancellationToken::new(),
                OutputSink::discard(),
                Access::as_user(nobody),
            );
            let e = r
                .prepare("log.kernel", serde_json::json!({}))
                .unwrap()
                .run(ctx)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
            assert!(e.message().contains("needs root"), "{e}");
        }
    }
}

//! `sys.time`: the clock (UTC and local), the time zone, and whether the
//! clock is synchronised: the kernel's own view (`adjtimex`, read-only),
//! the NTP daemon that runs, and `timedatectl` when systemd runs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aios_domain::Risk;
use serde::Serialize;
use serde_json::Value;

use super::super::hw::NoArgs;
use super::{parse_kv, systemd_running};
use crate::command::run_command;
use crate::util::rfc3339;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sys.time`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysTime;

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct TimeInfo {
    /// One line for a human.
    pub summary: String,
    /// Now, RFC 3339 UTC.
    pub utc: String,
    /// Now in the system time zone, `2024-05-01T14:00:00+02:00`.
    pub local: String,
    /// Unix seconds.
    pub unix: i64,
    /// Time zone name (`Europe/Paris`), from /etc/timezone or /etc/localtime.
    pub timezone: String,
    /// Zone abbreviation now (`CEST`).
    pub zone_abbreviation: String,
    /// Offset from UTC now, seconds.
    pub utc_offset_secs: i64,
    /// The kernel says the clock is synchronised (`adjtimex`: STA_UNSYNC clear).
    pub synchronized: bool,
    /// The kernel's estimate of the clock error, microseconds.
    pub max_error_us: i64,
    /// Time synchronisation daemons running (`chronyd`, `systemd-timesyncd`, `ntpd`…).
    pub ntp_daemons: Vec<String>,
    /// What timedatectl reports (NTP, NTPSynchronized, Timezone…), when systemd runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timedatectl: Option<std::collections::BTreeMap<String, String>>,
}

/// The kernel's clock discipline state, read without changing anything.
fn kernel_sync() -> (bool, i64) {
    // SAFETY: a zeroed timex is a valid argument; modes = 0 only reads.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, exclusively borrowed timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    let synced = state >= 0 && state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0;
    (synced, tx.maxerror)
}

/// (offset seconds, abbreviation) of the system time zone at `t`.
fn local_offset(t: i64) -> (i64, String) {
    // SAFETY: a zeroed tm is a valid out-argument for localtime_r.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt: libc::time_t = t;
    // SAFETY: valid pointers to a time_t and a tm we own.
    let ok = !unsafe { libc::localtime_r(&tt, &mut tm) }.is_null();
    if !ok {
        return (0, "UTC".into());
    }
    let abbr = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: glibc points tm_zone at a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    (tm.tm_gmtoff, abbr)
}

fn timezone_name() -> String {
    if let Ok(t) = std::fs::read_to_string("/etc/timezone")
        && !t.trim().is_empty()
    {
        return t.trim().to_string();
    }
    std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|p| {
            let s = p.to_string_lossy().into_owned();
            s.split_once("zoneinfo/").map(|(_, z)| z.to_string())
        })
        .unwrap_or_else(|| "UTC".into())
}

/// `rfc3339` shifted by `offset`, with the offset written out.
fn local_text(unix: i64, offset: i64) -> String {
    let base = rfc3339(unix + offset);
    let (sign, o) = if offset < 0 {
        ('-', -offset)
    } else {
        ('+', offset)
    };
    format!(
        "{}{sign}{:02}:{:02}",
        base.trim_end_matches('Z'),
        o / 3600,
        (o % 3600) / 60
    )
}

impl Tool for SysTime {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "sys.time"
    }

    fn description(&self) -> &'static str {
        "Show the system clock in UTC and local time, the time zone, and whether the clock is synchronised \
         (the kernel's view, the NTP daemons running, and timedatectl's view under systemd)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::System]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what time is it on this machine?",
                args: r#"{}"#,
            },
            Example {
                request: "is the clock synchronised with NTP",
                args: r#"{}"#,
            },
            Example {
                request: "which time zone is configured",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "show the clock and time synchronisation".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        let timedatectl = if systemd_running() {
            match run_command(
                &ctx,
                "timedatectl",
                &["show"],
                Duration::from_secs(5),
                64 * 1024,
            )
            .await
            {
                Ok(out) if out.code == Some(0) => Some(parse_kv(&out.stdout)),
                _ => None,
            }
        } else {
            None
        };
        ctx.blocking(move |_| {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let (offset, abbr) = local_offset(unix);
            let (synchronized, max_error_us) = kernel_sync();
            let mut ntp_daemons: Vec<String> = crate::procfs::pids()
                .into_iter()
                .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
                .map(|c| c.trim().to_string())
                .filter(|c| {
                    [
                        "chronyd",
                        "ntpd",
                        "systemd-timesyn",
                        "openntpd",
                        "timesyncd",
                    ]
                    .contains(&c.as_str())
                })
                .collect();
            ntp_daemons.sort();
            ntp_daemons.dedup();
            let tz = timedatectl
                .as_ref()
                .and_then(|t| t.get("Timezone").cloned())
                .unwrap_or_else(timezone_name);
            let local = local_text(unix, offset);
            let summary = format!(
                "{local} ({tz}); clock {}{}",
                if synchronized {
                    "synchronised"
                } else {
                    "not synchronised"
                },
                if ntp_daemons.is_empty() {
                    ", no NTP daemon running".to_string()
                } else {
                    format!(" by {}", ntp_daemons.join(", "))
                }
            );
            crate::builtin::to_value(&TimeInfo {
                summary,
                utc: rfc3339(unix),
                local,
                unix,
                timezone: tz,
                zone_abbreviation: abbr,
                utc_offset_secs: offset,
                synchronized,
                max_error_us,
                ntp_daemons,
                timedatectl,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_text_writes_the_offset() {
        assert_eq!(local_text(0, 7200), "1970-01-01T02:00:00+02:00");
        assert_eq!(local_text(0, -16_200), "1969-12-31T19:30:00-04:30");
    }

    #[tokio::test]
    async fn clock_is_now_and_zone_is_named() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let v = crate::Registry::builtin()
            .prepare("sys.time", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let unix = v["unix"].as_i64().unwrap();
        assert!(before <= unix && unix <= after, "{v}");
        assert_eq!(v["utc"], rfc3339(unix));
        assert!(!v["timezone"].as_str().unwrap().is_empty());
        assert_eq!(v["synchronized"], kernel_sync().0);
        assert!(v["summary"].as_str().unwrap().contains("clock"), "{v}");
    }
}

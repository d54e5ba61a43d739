//! `sec.logins`: who is logged in now, from the utmp records the login
//! programs write (`who` reads the same file), with the source address of
//! remote (SSH) sessions. Records whose process is gone are stale and
//! left out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::util::rfc3339;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.logins`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecLogins;

/// Arguments of `sec.logins`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginsArgs {
    /// The utmp file. Default /run/utmp.
    #[serde(default = "default_path")]
    pub path: String,
    /// At most this many sessions (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_path() -> String {
    "/run/utmp".into()
}

fn default_limit() -> usize {
    100
}

/// glibc's `struct utmp` on 64-bit Linux: 384 bytes.
const RECORD: usize = 384;
/// `ut_type` of a logged-in user.
const USER_PROCESS: i16 = 7;

/// One utmp login record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtmpLogin {
    /// Login name.
    pub user: String,
    /// Terminal (`pts/0`, `tty1`).
    pub line: String,
    /// Remote host as the login program recorded it; empty for local logins.
    pub host: String,
    /// Session leader pid.
    pub pid: u32,
    /// Login time, unix seconds.
    pub time: i64,
    /// Remote address, when recorded.
    pub addr: Option<IpAddr>,
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    i32::from_ne_bytes(w)
}

/// Parse utmp bytes, keeping user-process records.
pub fn parse_utmp(data: &[u8]) -> Vec<UtmpLogin> {
    data.chunks_exact(RECORD)
        .filter_map(|r| {
            let ty = i16::from_ne_bytes([r[0], r[1]]);
            if ty != USER_PROCESS {
                return None;
            }
            let words: Vec<[u8; 4]> = (0..4)
                .map(|i| {
                    let mut w = [0u8; 4];
                    w.copy_from_slice(&r[348 + i * 4..352 + i * 4]);
                    w
                })
                .collect();
            let addr = if words[1..].iter().all(|w| *w == [0; 4]) {
                (words[0] != [0; 4]).then(|| IpAddr::V4(Ipv4Addr::from(words[0])))
            } else {
                let mut b = [0u8; 16];
                for (i, w) in words.iter().enumerate() {
                    b[i * 4..i * 4 + 4].copy_from_slice(w);
                }
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            };
            Some(UtmpLogin {
                pid: u32::try_from(i32_at(r, 4)).unwrap_or(0),
                line: cstr(&r[8..40]),
                user: cstr(&r[44..76]),
                host: cstr(&r[76..332]),
                time: i64::from(i32_at(r, 340)),
                addr,
            })
        })
        .collect()
}

/// One session as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Login name.
    pub user: String,
    /// Terminal.
    pub tty: String,
    /// `ssh` (remote) or `local`.
    pub kind: &'static str,
    /// Remote source: the recorded address, else the host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Session leader pid.
    pub pid: u32,
    /// Login time, RFC 3339 UTC.
    pub since: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Logins {
    /// One line for people.
    pub summary: String,
    /// Sessions, oldest first.
    pub sessions: Vec<Session>,
    /// Sessions before the limit.
    pub total: usize,
    /// Whether `sessions` was cut.
    pub truncated: bool,
    /// Records left out because their process no longer exists.
    pub stale: usize,
}

fn sessions(data: &[u8], limit: usize) -> Logins {
    let mut stale = 0;
    let mut list: Vec<Session> = parse_utmp(data)
        .into_iter()
        .filter(|l| {
            let alive = l.pid > 0 && Path::new(&format!("/proc/{}", l.pid)).exists();
            if !alive {
                stale += 1;
            }
            alive
        })
        .map(|l| {
            // X displays record ":0" as host; that is a local session.
            let remote = !l.host.is_empty() && !l.host.starts_with(':');
            Session {
                kind: if remote { "ssh" } else { "local" },
                source: remote.then(|| l.addr.map_or_else(|| l.host.clone(), |a| a.to_string())),
                user: l.user,
                tty: l.line,
                pid: l.pid,
                since: rfc3339(l.time),
            }
        })
        .collect();
    list.sort_by(|a, b| a.since.cmp(&b.since));
    let total = list.len();
    list.truncate(limit);
    let remote = list.iter().filter(|s| s.kind == "ssh").count();
    let mut users: Vec<&str> = list.iter().map(|s| s.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let summary = if total == 0 {
        "nobody is logged in".to_string()
    } else {
        format!("{total} session(s), {remote} remote: {}", users.join(", "))
    };
    Logins {
        summary,
        truncated: total > list.len(),
        sessions: list,
        total,
        stale,
    }
}

impl Tool for SecLogins {
    type Args = LoginsArgs;

    fn name(&self) -> &'static str {
        "sec.logins"
    }

    fn description(&self) -> &'static str {
        "Who is logged in now: user, terminal, local or SSH, the source address of remote sessions, and since \
         when (from utmp, like `who`; stale records of ended sessions are left out)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "who is logged in?",
                args: r#"{}"#,
            },
            Example {
                request: "is anyone connected over ssh right now",
                args: r#"{}"#,
            },
            Example {
                request: "show current sessions and where they come from",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut LoginsArgs, home: Option<&Path>) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, _args: &LoginsArgs) -> Vec<Resource> {
        vec![Resource::User("*".into())]
    }

    fn preview(&self, _args: &LoginsArgs) -> String {
        "list logged-in sessions".into()
    }

    async fn run(&self, ctx: ToolCtx, args: LoginsArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > 1000 {
            return Err(ToolError::invalid(format!(
                "sec.logins: field `limit` must be 1..=1000, got {}",
                args.limit
            )));
        }
        ctx.blocking(move |ctx| {
            let p = Path::new(&args.path);
            let data = match std::fs::read(p) {
                Ok(d) => d,
                // No utmp at all (a container, no login program ever ran).
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound && args.path == default_path() =>
                {
                    Vec::new()
                }
                Err(e) => return Err(ctx.access().io_error(p, "read", &e)),
            };
            let mut out = sessions(&data, args.limit);
            if data.is_empty() {
                out.summary = format!("nobody is logged in ({} is empty or absent)", args.path);
            }
            super::super::to_value(&out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    /// A glibc utmp record.
    fn record(
        ty: i16,
        pid: i32,
        line: &str,
        user: &str,
        host: &str,
        time: i32,
        addr: [u8; 4],
    ) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[0..2].copy_from_slice(&ty.to_ne_bytes());
        r[4..8].copy_from_slice(&pid.to_ne_bytes());
        r[8..8 + line.len()].copy_from_slice(line.as_bytes());
        r[44..44 + user.len()].copy_from_slice(user.as_bytes());
        r[76..76 + host.len()].copy_from_slice(host.as_bytes());
        r[340..344].copy_from_slice(&time.to_ne_bytes());
        r[348..352].copy_from_slice(&addr);
        r
    }

    #[tokio::test]
    async fn reads_live_sessions_from_a_written_utmp() {
        let me = i32::try_from(std::process::id()).unwrap();
        let mut data = Vec::new();
        data.extend(record(
            USER_PROCESS,
            me,
            "pts/3",
            "alice",
            "203.0.113.9",
            1_700_000_000,
            [203, 0, 113, 9],
        ));
        data.extend(record(
            USER_PROCESS,
            me,
            "tty1",
            "bob",
            "",
            1_600_000_000,
            [0; 4],
        ));
        // A login process record and a dead session are not sessions.
        data.extend(record(6, me, "tty2", "LOGIN", "", 0, [0; 4]));
        data.extend(record(
            USER_PROCESS,
            i32::MAX - 1,
            "pts/9",
            "ghost",
            "h",
            1,
            [0; 4],
        ));
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("utmp");
        std::fs::write(&p, &data).unwrap();
        let v = Registry::builtin()
            .prepare("sec.logins", serde_json::json!({"path": p}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let s = v["sessions"].as_array().unwrap();
        assert_eq!(v["total"], 2, "{v}");
        assert_eq!(v["stale"], 1);
        assert_eq!(s[0]["user"], "bob");
        assert_eq!(s[0]["kind"], "local");
        assert!(s[0].get("source").is_none());
        assert_eq!(s[1]["user"], "alice");
        assert_eq!(s[1]["kind"], "ssh");
        assert_eq!(s[1]["source"], "203.0.113.9");
        assert_eq!(s[1]["since"], "2023-11-14T22:13:20Z");
        assert_eq!(v["summary"], "2 session(s), 1 remote: alice, bob");
    }

    #[tokio::test]
    async fn the_real_utmp_reads_or_is_absent() {
        let v = Registry::builtin()
            .prepare("sec.logins", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert!(v["summary"].is_string());
        let e = Registry::builtin()
            .prepare(
                "sec.logins",
                serde_json::json!({"path": "/nonexistent/utmp"}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("/nonexistent/utmp"), "{e}");
    }
}

//! `process.find`: processes by name (substring, or a `*`/`?` glob), by
//! user, or by a port they listen on; criteria combine.

use std::collections::HashSet;
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::net::sockets::{all_sockets, socket_inodes_of};
use super::{all_stats, cmdline_of, resolve_user, state_word, uid_of};
use crate::procfs::{self, UserNames};
use crate::util::{human_bytes, truncate};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `process.find`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessFind;

fn default_limit() -> usize {
    50
}

/// Arguments of `process.find`. Give at least one of name, user, port.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessFindArgs {
    /// Name to look for: a case-insensitive substring of the process name or command line, or a glob with `*` and `?` matched against the process name (`ngin*`).
    #[serde(default)]
    pub name: Option<String>,
    /// Only processes of this user (login name or uid).
    #[serde(default)]
    pub user: Option<String>,
    /// Only processes listening on this TCP or UDP port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Most processes to return (default 50, at most 500).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One match.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// Process id.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Short name.
    pub name: String,
    /// Owner's login name.
    pub user: String,
    /// State in words.
    pub state: &'static str,
    /// Resident memory, human.
    pub rss: String,
    /// Command line (truncated).
    pub cmdline: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct FindResult {
    /// One line for a human.
    pub summary: String,
    /// Matches by pid.
    pub processes: Vec<Found>,
    /// Matches in all.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
}

/// `*` any run, `?` one character; the whole name must match.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn name_matches(pat: &str, comm: &str, cmdline: &str) -> bool {
    if pat.contains(['*', '?']) {
        let argv0 = cmdline.split(' ').next().unwrap_or("");
        let base = argv0.rsplit('/').next().unwrap_or(argv0);
        glob_match(pat, &comm.to_lowercase()) || glob_match(pat, &base.to_lowercase())
    } else {
        comm.to_lowercase().contains(pat) || cmdline.to_lowercase().contains(pat)
    }
}

fn find(ctx: &ToolCtx, args: &ProcessFindArgs) -> Result<FindResult, ToolError> {
    let uid = args.user.as_deref().map(resolve_user).transpose()?;
    let port_pids: Option<HashSet<u32>> = match args.port {
        Some(port) => {
            let inodes: HashSet<u64> = all_sockets()
                .into_iter()
                .filter(|s| s.is_listening() && s.port == port)
                .map(|s| s.inode)
                .collect();
            // Every holder of the socket (a forked server shares it), not
            // just the first one found.
            let mut pids = HashSet::new();
            for pid in procfs::pids() {
                ctx.check_cancelled()?;
                if socket_inodes_of(pid).is_some_and(|fds| fds.iter().any(|i| inodes.contains(i))) {
                    pids.insert(pid);
                }
            }
            Some(pids)
        }
        None => None,
    };
    let me = std::process::id();
    let page = procfs::page_size();
    let mut names = UserNames::default();
    let mut out = Vec::new();
    let mut stats: Vec<_> = all_stats().into_values().collect();
    stats.sort_by_key(|p| p.pid);
    for p in stats {
        ctx.check_cancelled()?;
        // The executor's own tasks would match every search for its words.
        if p.pid == me || port_pids.as_ref().is_some_and(|s| !s.contains(&p.pid)) {
            continue;
        }
        let puid = uid_of(p.pid).unwrap_or(u32::MAX);
        if uid.is_some_and(|u| u != puid) {
            continue;
        }
        let cmd = cmdline_of(p.pid);
        if let Some(pat) = &args.name
            && !name_matches(pat, &p.comm, &cmd)
        {
            continue;
        }
        out.push(Found {
            pid: p.pid,
            ppid: p.ppid,
            user: names.name(puid),
            state: state_word(p.state),
            rss: human_bytes(p.rss_pages * page),
            cmdline: if cmd.is_empty() {
                format!("[{}]", p.comm)
            } else {
                truncate(&cmd, 300)
            },
            name: p.comm,
        });
    }
    let total = out.len();
    out.truncate(args.limit);
    let shown: Vec<String> = out
        .iter()
        .take(5)
        .map(|f| format!("{} {}", f.pid, f.name))
        .collect();
    let summary = match total {
        0 => "no matching process".to_string(),
        n => format!(
            "{n} matching process(es): {}{}",
            shown.join(", "),
            if n > 5 { ", …" } else { "" }
        ),
    };
    Ok(FindResult {
        summary,
        truncated: total > out.len(),
        processes: out,
        total,
    })
}

impl Tool for ProcessFind {
    type Args = ProcessFindArgs;

    fn name(&self) -> &'static str {
        "process.find"
    }

    fn description(&self) -> &'static str {
        "Find processes by name (substring of the name or command line, or a `*`/`?` glob on the name), by \
         user, or by a port they listen on; criteria combine. Answers 'is postgres running', 'what does alice \
         run' and 'which process holds port 8080'."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Processes]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "is postgres running?",
                args: r#"{"name": "postgres"}"#,
            },
            Example {
                request: "which process is using port 8080",
                args: r#"{"port": 8080}"#,
            },
            Example {
                request: "show alice's python processes",
                args: r#"{"name": "python*", "user": "alice"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut ProcessFindArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        if let Some(n) = &mut args.name {
            *n = n.trim().to_lowercase();
            if n.is_empty() {
                args.name = None;
            }
        }
        if args.name.is_none() && args.user.is_none() && args.port.is_none() {
            return Err(ToolError::invalid(
                "process.find: give at least one of `name`, `user` or `port` (process.list shows everything)",
            ));
        }
        if args.limit == 0 || args.limit > 500 {
            return Err(ToolError::invalid(format!(
                "process.find: field `limit` must be 1..=500, got {}",
                args.limit
            )));
        }
        Ok(())
    }

    fn resources(&self, args: &ProcessFindArgs) -> Vec<Resource> {
        let mut r = vec![Resource::Processes];
        r.extend(args.port.map(Resource::Port));
        r
    }

    fn preview(&self, _args: &ProcessFindArgs) -> String {
        "find matching processes".into()
    }

    async fn run(&self, ctx: ToolCtx, args: ProcessFindArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| crate::builtin::to_value(&find(&ctx, &args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testchild::Sleeper;
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("process.find", args)?
            .run(ToolCtx::local())
            .await
    }

    #[test]
    fn globs() {
        assert!(glob_match("ngin*", "nginx"));
        assert!(glob_match("*x", "nginx"));
        assert!(glob_match("n?inx", "nginx"));
        assert!(!glob_match("ngin", "nginx"));
        assert!(!glob_match("a*b", "acbx"));
        assert!(glob_match("*", ""));
    }

    #[tokio::test]
    async fn finds_a_child_by_name_glob_and_user() {
        let s = Sleeper::start(0);
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name;
        for args in [
            serde_json::json!({"name": "SLEEP"}),
            serde_json::json!({"name": "sl??p"}),
            serde_json::json!({"name": "sle*", "user": me}),
        ] {
            let v = call(args.clone()).await.unwrap();
            assert!(
                v["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["pid"] == s.pid()),
                "{args}: {v}"
            );
        }
        let v = call(serde_json::json!({"name": "sleep", "user": "65534"}))
            .await
            .unwrap();
        assert!(
            !v["processes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pid"] == s.pid())
        );
    }

    #[tokio::test]
    async fn finds_the_listener_of_a_port_and_refuses_no_criteria() {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let v = call(serde_json::json!({"port": port})).await.unwrap();
        assert_eq!(v["total"], 0, "the executor never lists itself: {v}");
        // A child holding the listening socket as its fd 3.
        let fd = l.as_raw_fd();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("300");
        // SAFETY: dup2 only, in the child before exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let v = call(serde_json::json!({"port": port})).await;
        let _ = child.kill();
        let _ = child.wait();
        let v = v.unwrap();
        let pids: Vec<u64> = v["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect();
        assert_eq!(pids, [u64::from(child.id())], "{v}");
        let e = call(serde_json::json!({})).await.unwrap_err();
        assert!(e.message().contains("at least one"), "{e}");
        let e = call(serde_json::json!({"user": "no-such-user-aios"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
    }
}

//! `process.info`: everything about one process that `/proc` tells the
//! caller: command line, executable, user, state, threads, memory, CPU
//! time, start time, nice, open descriptors, working directory, cgroup and
//! the sockets it listens on. Fields the kernel hides from the caller
//! (another user's descriptors, cwd, exe) are left out and named in `hidden`.

use std::collections::HashSet;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::net::sockets::{all_sockets, socket_inodes_of};
use super::{children_of, cmdline_of, must_exist, start_time_text, state_word, uid_of};
use crate::procfs::{self, UserNames};
use crate::util::{human_bytes, truncate};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `process.info`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessInfo;

/// Arguments of `process.info`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessInfoArgs {
    /// The process id.
    pub pid: u32,
}

/// A socket the process listens on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListenSocket {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// Local address.
    pub address: String,
    /// Local port.
    pub port: u16,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// One line for a human.
    pub summary: String,
    /// Process id.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Short name.
    pub name: String,
    /// Command line (capped at 2000 bytes).
    pub cmdline: String,
    /// Executable, when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Owner's login name.
    pub user: String,
    /// Owner's uid.
    pub uid: u32,
    /// State, in words.
    pub state: String,
    /// Threads.
    pub threads: u32,
    /// Nice value.
    pub nice: i32,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Resident memory, human.
    pub rss: String,
    /// CPU time used (user + system), seconds.
    pub cpu_time_secs: f64,
    /// When it started, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Start time in clock ticks after boot: the `start_time` guard of process.signal and process.nice.
    pub start_ticks: u64,
    /// Open file descriptors, when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_fds: Option<usize>,
    /// Working directory, when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Control group (cgroup v2 path, or the v1 lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Direct children.
    pub children: usize,
    /// Sockets it listens on (only when its descriptors are visible).
    pub listening: Vec<ListenSocket>,
    /// What the kernel did not show the caller.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<&'static str>,
}

fn info(pid: u32) -> Result<Info, ToolError> {
    let p = must_exist(pid)?;
    let base = format!("/proc/{pid}");
    let mut hidden = Vec::new();
    let mut seen = |what: &'static str, v: Option<String>| {
        if v.is_none() {
            hidden.push(what);
        }
        v
    };
    let exe = seen(
        "exe",
        std::fs::read_link(format!("{base}/exe"))
            .ok()
            .map(|p| p.display().to_string()),
    );
    let cwd = seen(
        "cwd",
        std::fs::read_link(format!("{base}/cwd"))
            .ok()
            .map(|p| p.display().to_string()),
    );
    let open_fds = std::fs::read_dir(format!("{base}/fd"))
        .ok()
        .map(|rd| rd.count());
    if open_fds.is_none() {
        hidden.push("open_fds");
        hidden.push("listening");
    }
    let cgroup = std::fs::read_to_string(format!("{base}/cgroup"))
        .ok()
        .map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map_or_else(|| truncate(t.trim(), 1000), str::to_string)
        });
    let listening = match socket_inodes_of(pid) {
        Some(inodes) => {
            let inodes: HashSet<u64> = inodes.into_iter().collect();
            let mut l: Vec<ListenSocket> = all_sockets()
                .into_iter()
                .filter(|s| s.is_listening() && inodes.contains(&s.inode))
                .map(|s| ListenSocket {
                    proto: s.proto,
                    address: s.addr.to_string(),
                    port: s.port,
                })
                .collect();
            l.sort_by(|a, b| (a.port, a.proto, &a.address).cmp(&(b.port, b.proto, &b.address)));
            l.dedup();
            l
        }
        None => Vec::new(),
    };
    let uid = uid_of(pid).unwrap_or(u32::MAX);
    let user = UserNames::default().name(uid);
    let rss = p.rss_pages * procfs::page_size();
    #[allow(clippy::cast_precision_loss)] // seconds for display
    let cpu_time_secs = (p.cpu_ticks as f64 / procfs::clock_ticks() as f64 * 100.0).round() / 100.0;
    let cmdline = cmdline_of(pid);
    let cmdline = if cmdline.is_empty() {
        format!("[{}]", p.comm)
    } else {
        truncate(&cmdline, 2000)
    };
    let ports: Vec<String> = listening
        .iter()
        .map(|l| format!("{}/{}", l.port, l.proto))
        .collect();
    let summary = format!(
        "pid {pid} {} ({}, user {user}), {} thread(s), {} resident, {cpu_time_secs}s CPU{}",
        p.comm,
        state_word(p.state),
        p.threads,
        human_bytes(rss),
        if ports.is_empty() {
            String::new()
        } else {
            format!(", listens on {}", ports.join(", "))
        }
    );
    Ok(Info {
        summary,
        pid,
        ppid: p.ppid,
        name: p.comm,
        cmdline,
        exe,
        user,
        uid,
        state: state_word(p.state).to_string(),
        threads: p.threads,
        nice: p.nice,
        rss_bytes: rss,
        rss: human_bytes(rss),
        cpu_time_secs,
        start_time: start_time_text(p.start_ticks),
        start_ticks: p.start_ticks,
        open_fds,
        cwd,
        cgroup,
        children: children_of(pid).len(),
        listening,
        hidden,
    })
}

impl Tool for ProcessInfo {
    type Args = ProcessInfoArgs;

    fn name(&self) -> &'static str {
        "process.info"
    }

    fn description(&self) -> &'static str {
        "Details of one process: command line, executable, user, state, threads, nice, resident memory, CPU \
         time, start time, open file descriptors, working directory, cgroup, children and the sockets it listens \
         on. Fields hidden from the caller by the kernel are named in `hidden`."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Process]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "tell me about process 1234",
                args: r#"{"pid": 1234}"#,
            },
            Example {
                request: "what is pid 880 and when did it start",
                args: r#"{"pid": 880}"#,
            },
            Example {
                request: "which ports does process 4242 listen on",
                args: r#"{"pid": 4242}"#,
            },
        ]
    }

    fn resources(&self, args: &ProcessInfoArgs) -> Vec<Resource> {
        vec![Resource::Process(args.pid)]
    }

    fn preview(&self, args: &ProcessInfoArgs) -> String {
        format!("show details of process {}", args.pid)
    }

    async fn run(&self, ctx: ToolCtx, args: ProcessInfoArgs) -> Result<Value, ToolError> {
        let pid = args.pid;
        ctx.blocking(move |_| crate::builtin::to_value(&info(pid)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[tokio::test]
    async fn our_own_process_in_full() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let me = std::process::id();
        let v = Registry::builtin()
            .prepare("process.info", serde_json::json!({"pid": me}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["pid"], me);
        assert_eq!(
            v["exe"],
            std::env::current_exe().unwrap().display().to_string()
        );
        assert_eq!(
            v["cwd"],
            std::env::current_dir().unwrap().display().to_string()
        );
        assert!(v["open_fds"].as_u64().unwrap() >= 3);
        assert!(v["threads"].as_u64().unwrap() >= 1);
        assert!(v["start_time"].as_str().unwrap().ends_with('Z'));
        assert!(
            v["listening"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["port"] == port && s["proto"] == "tcp"),
            "{v}"
        );
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("{port}/tcp")),
            "{v}"
        );
        assert!(v.get("hidden").is_none(), "{v}");
    }

    #[tokio::test]
    async fn another_users_details_are_hidden_by_the_kernel() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: acting for another user needs root");
            return;
        }
        let nobody = ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            crate::OutputSink::discard(),
            crate::Access::as_user(crate::Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
                name: None,
                home: None,
            }),
        );
        // Another process of root's (the kernel always lets a process see
        // its own details, whatever the thread's credentials).
        let s = super::super::testchild::Sleeper::start(0);
        let v = Registry::builtin()
            .prepare("process.info", serde_json::json!({"pid": s.pid()}))
            .unwrap()
            .run(nobody)
            .await
            .unwrap();
        let hidden = v["hidden"].as_array().unwrap();
        for f in ["cwd", "exe", "open_fds"] {
            assert!(hidden.iter().any(|h| h == f), "{f} should be hidden: {v}");
        }
        assert!(v.get("cwd").is_none());
        assert_eq!(v["name"], "sleep", "the public parts still show");
        let e = Registry::builtin()
            .prepare("process.info", serde_json::json!({"pid": u32::MAX / 2}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
    }
}

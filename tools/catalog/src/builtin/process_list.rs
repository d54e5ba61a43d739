//! `process.list`: processes from `/proc` with user, command line, memory
//! and CPU use sampled over a short interval.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::procfs::{self, ProcInfo, UserNames};
use crate::util::{human_bytes, truncate};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `process.list`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessList;

/// Sort order of `process.list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// Highest CPU use first.
    #[default]
    Cpu,
    /// Largest resident memory first.
    Memory,
    /// Ascending process id.
    Pid,
}

/// Arguments of `process.list`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessListArgs {
    /// Most processes to return (default 25, at most 500).
    pub limit: Option<usize>,
    /// Sort order: cpu (default), memory or pid.
    #[serde(default)]
    pub sort_by: SortBy,
    /// Only processes of this user (login name or numeric uid).
    pub user: Option<String>,
}

/// One process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessRow {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Owner's login name.
    pub user: String,
    /// Short name.
    pub name: String,
    /// Command line (truncated).
    pub cmdline: String,
    /// State: R running, S sleeping, D disk wait, Z zombie, T stopped, I idle.
    pub state: char,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Resident memory, human.
    pub rss: String,
    /// Percent of physical memory.
    pub mem_percent: f64,
    /// Percent of one CPU over the sample interval.
    pub cpu_percent: f64,
}

/// The listing.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessTable {
    /// One line for a human.
    pub summary: String,
    /// Processes, in the asked order.
    pub processes: Vec<ProcessRow>,
    /// Processes that matched the filter.
    pub total: usize,
    /// Whether rows were left out by `limit`.
    pub truncated: bool,
    /// CPU sample interval in milliseconds.
    pub sample_ms: u64,
}

const SAMPLE: Duration = Duration::from_millis(100);

fn snapshot(uid: Option<u32>) -> HashMap<u32, ProcInfo> {
    procfs::pids()
        .into_iter()
        .filter_map(procfs::read_process)
        .filter(|p| uid.is_none_or(|u| p.uid == u))
        .map(|p| (p.stat.pid, p))
        .collect()
}

fn resolve_user(user: &str) -> Result<u32, ToolError> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
        .ok_or_else(|| ToolError::not_found(format!("no user named {user:?} on this system")))
}

fn table(
    before: &HashMap<u32, ProcInfo>,
    after: HashMap<u32, ProcInfo>,
    elapsed: Duration,
    args: &ProcessListArgs,
    limit: usize,
) -> ProcessTable {
    let ticks = procfs::clock_ticks();
    let page = procfs::page_size();
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| procfs::parse_meminfo(&t).get("MemTotal").copied())
        .unwrap_or(0);
    let mut names = UserNames::default();
    #[allow(clippy::cast_precision_loss)] // percentages for display
    let mut rows: Vec<ProcessRow> = after
        .into_values()
        .map(|p| {
            let prev = before
                .get(&p.stat.pid)
                .filter(|b| b.stat.start_ticks == p.stat.start_ticks)
                .map_or(p.stat.cpu_ticks, |b| b.stat.cpu_ticks);
            let delta = p.stat.cpu_ticks.saturating_sub(prev) as f64;
            let cpu = delta / ticks as f64 / elapsed.as_secs_f64().max(0.001) * 100.0;
            let rss = p.stat.rss_pages * page;
            let cmd = if p.cmdline.is_empty() {
                format!("[{}]", p.stat.comm)
            } else {
                truncate(&p.cmdline, 200)
            };
            ProcessRow {
                pid: p.stat.pid,
                ppid: p.stat.ppid,
                user: names.name(p.uid),
                name: p.stat.comm,
                cmdline: cmd,
                state: p.stat.state,
                rss_bytes: rss,
                rss: human_bytes(rss),
                mem_percent: crate::util::percent(rss, mem_total),
                cpu_percent: (cpu * 10.0).round() / 10.0,
            }
        })
        .collect();
    match args.sort_by {
        SortBy::Cpu => rows.sort_by(|a, b| {
            b.cpu_percent
                .total_cmp(&a.cpu_percent)
                .then(b.rss_bytes.cmp(&a.rss_bytes))
                .then(a.pid.cmp(&b.pid))
        }),
        SortBy::Memory => {
            rows.sort_by(|a, b| b.rss_bytes.cmp(&a.rss_bytes).then(a.pid.cmp(&b.pid)))
        }
        SortBy::Pid => rows.sort_by_key(|r| r.pid),
    }
    let total = rows.len();
    rows.truncate(limit);
    let lead: Vec<String> = rows
        .iter()
        .take(3)
        .map(|r| match args.sort_by {
            SortBy::Memory => format!("{} {}", r.name, r.rss),
            _ => format!("{} {}%", r.name, r.cpu_percent),
        })
        .collect();
    let summary = format!(
        "{total} process(es){}; first: {}",
        if total > rows.len() {
            format!(", {} shown", rows.len())
        } else {
            String::new()
        },
        lead.join(", ")
    );
    ProcessTable {
        summary,
        truncated: total > rows.len(),
        total,
        processes: rows,
        sample_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

impl Tool for ProcessList {
    type Args = ProcessListArgs;

    fn name(&self) -> &'static str {
        "process.list"
    }

    fn description(&self) -> &'static str {
        "List running processes with pid, parent, user, name, command line, state, resident memory and CPU percent \
         (sampled over 100 ms). Sort by cpu (default), memory or pid; filter by user; capped by limit."
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
                request: "what is using the most CPU?",
                args: r#"{"sort_by": "cpu"}"#,
            },
            Example {
                request: "show the top 10 processes by memory",
                args: r#"{"sort_by": "memory", "limit": 10}"#,
            },
            Example {
                request: "what processes are running",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &ProcessListArgs) -> Vec<Resource> {
        vec![Resource::Processes]
    }

    fn preview(&self, args: &ProcessListArgs) -> String {
        let by = match args.sort_by {
            SortBy::Cpu => "CPU use",
            SortBy::Memory => "memory use",
            SortBy::Pid => "pid",
        };
        match &args.user {
            Some(u) => format!("list processes of user {u} by {by}"),
            None => format!("list processes by {by}"),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: ProcessListArgs) -> Result<Value, ToolError> {
        let limit = args.limit.unwrap_or(25);
        if limit == 0 || limit > 500 {
            return Err(ToolError::invalid(format!(
                "process.list: field `limit` must be 1..=500, got {limit}"
            )));
        }
        let uid = args.user.as_deref().map(resolve_user).transpose()?;
        let t0 = Instant::now();
        let before = ctx.blocking(move |_| Ok(snapshot(uid))).await?;
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE) => {}
            _ = ctx.cancelled() => return Err(ToolError::cancelled()),
        }
        ctx.blocking(move |_| {
            let after = snapshot(uid);
            super::to_value(&table(&before, after, t0.elapsed(), &args, limit))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("process.list", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn own_pid_appears_with_our_user() {
        let me = std::process::id();
        let v = call(serde_json::json!({"sort_by": "pid", "limit": 500}))
            .await
            .unwrap();
        let rows = v["processes"].as_array().unwrap();
        let mine = rows.iter().find(|r| r["pid"] == me);
        // With more than 500 processes ours may be cut; filter by user then.
        let mine = match mine {
            Some(m) => m.clone(),
            None => {
                let uid = nix::unistd::getuid().as_raw().to_string();
                let v = call(serde_json::json!({"sort_by": "pid", "limit": 500, "user": uid}))
                    .await
                    .unwrap();
                v["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["pid"] == me)
                    .unwrap()
                    .clone()
            }
        };
        assert!(mine["rss_bytes"].as_u64().unwrap() > 0);
        assert!(
            v["summary"].as_str().unwrap().contains("process(es)"),
            "{v}"
        );
        assert!(!mine["cmdline"].as_str().unwrap().is_empty());
        let pids: Vec<u64> = rows.iter().map(|r| r["pid"].as_u64().unwrap()).collect();
        assert!(pids.windows(2).all(|w| w[0] < w[1]), "sorted by pid");
    }

    #[tokio::test]
    async fn busy_child_ranks_by_cpu() {
        // A real CPU-bound child: it must show non-zero CPU in the sample.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let v = call(serde_json::json!({"limit": 500})).await.unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let row = v["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["pid"] == child.id())
            .cloned()
            .unwrap();
        assert!(row["cpu_percent"].as_f64().unwrap() > 5.0, "{row}");
        let cpus: Vec<f64> = v["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["cpu_percent"].as_f64().unwrap())
            .collect();
        assert!(
            cpus.windows(2).all(|w| w[0] >= w[1]),
            "sorted by cpu: {cpus:?}"
        );
    }

    #[tokio::test]
    async fn memory_sort_limit_and_user_filter() {
        let v = call(serde_json::json!({"sort_by": "memory", "limit": 3}))
            .await
            .unwrap();
        let rows = v["processes"].as_array().unwrap();
        assert!(rows.len() <= 3);
        let rss: Vec<u64> = rows
            .iter()
            .map(|r| r["rss_bytes"].as_u64().unwrap())
            .collect();
        assert!(rss.windows(2).all(|w| w[0] >= w[1]));
        let e = call(serde_json::json!({"user": "no-such-user-aios"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
        let e = call(serde_json::json!({"sort_by": "size"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`sort_by`"), "{e}");
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name;
        let v = call(serde_json::json!({"user": me})).await.unwrap();
        let rows = v["processes"].as_array().unwrap();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r["user"] == me));
    }
}

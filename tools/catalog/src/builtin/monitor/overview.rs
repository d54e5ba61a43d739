//! `monitor.overview`: the machine right now: CPU use measured over a
//! short interval, load, memory, swap, disk use of `/` and the five
//! busiest processes of that interval.

use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::fs_usage::{FsUsageInfo, usage_of};
use super::{TopRow, check_interval, cpu_percent, rank, sample_pair, with_cmdlines};
use crate::procfs;
use crate::util::{human_bytes, percent};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `monitor.overview`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorOverview;

fn default_interval() -> u64 {
    500
}

/// Arguments of `monitor.overview`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorOverviewArgs {
    /// How long to measure CPU use, in milliseconds (default 500, 100 to 5000).
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
}

/// Memory or swap in use.
#[derive(Debug, Clone, Serialize)]
pub struct Use {
    /// Size, bytes.
    pub total_bytes: u64,
    /// In use, bytes.
    pub used_bytes: u64,
    /// Percent in use.
    pub used_percent: f64,
    /// Human: `3.1 GiB of 7.8 GiB`.
    pub human: String,
}

impl Use {
    fn of(used: u64, total: u64) -> Use {
        Use {
            total_bytes: total,
            used_bytes: used,
            used_percent: percent(used, total),
            human: format!("{} of {}", human_bytes(used), human_bytes(total)),
        }
    }
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// One line for a human.
    pub summary: String,
    /// CPU use over the interval, percent of all CPUs.
    pub cpu_percent: f64,
    /// Logical CPUs usable here.
    pub cpus: usize,
    /// 1, 5 and 15 minute load averages.
    pub load_average: [f64; 3],
    /// Memory (used = total − available).
    pub memory: Use,
    /// Swap.
    pub swap: Use,
    /// Use of the root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_fs: Option<FsUsageInfo>,
    /// The five busiest processes of the interval.
    pub top: Vec<TopRow>,
    /// Processes running.
    pub processes: usize,
    /// The measuring interval, ms.
    pub interval_ms: u64,
}

/// The three load averages from `/proc/loadavg` text.
pub fn parse_loadavg(text: &str) -> [f64; 3] {
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    [0, 1, 2].map(|i| v.get(i).copied().unwrap_or(0.0))
}

impl Tool for MonitorOverview {
    type Args = MonitorOverviewArgs;

    fn name(&self) -> &'static str {
        "monitor.overview"
    }

    fn description(&self) -> &'static str {
        "How busy the machine is right now: CPU use measured over a short interval, load averages, memory and \
         swap use, disk use of /, and the five busiest processes. Answers 'why is my machine slow'."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::System, ResourceKind::Processes]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "why is my machine slow?",
                args: r#"{}"#,
            },
            Example {
                request: "how busy is the CPU right now",
                args: r#"{"interval_ms": 1000}"#,
            },
            Example {
                request: "give me a quick health check",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut MonitorOverviewArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        check_interval("monitor.overview", args.interval_ms, 100, 5000)
    }

    fn resources(&self, _args: &MonitorOverviewArgs) -> Vec<Resource> {
        vec![Resource::System, Resource::Processes]
    }

    fn preview(&self, args: &MonitorOverviewArgs) -> String {
        format!("measure system load over {} ms", args.interval_ms)
    }

    async fn run(&self, ctx: ToolCtx, args: MonitorOverviewArgs) -> Result<Value, ToolError> {
        let (a, b) = sample_pair(&ctx, Duration::from_millis(args.interval_ms)).await?;
        ctx.blocking(move |_| {
            let cpu = cpu_percent(&a, &b).unwrap_or(0.0);
            let mut top = rank(&a, &b);
            let processes = top.len();
            top.truncate(5);
            let top = with_cmdlines(top);
            let mem = procfs::parse_meminfo(
                &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
            );
            let g = |k: &str| mem.get(k).copied().unwrap_or(0);
            let memory = Use::of(
                g("MemTotal").saturating_sub(g("MemAvailable")),
                g("MemTotal"),
            );
            let swap = Use::of(g("SwapTotal").saturating_sub(g("SwapFree")), g("SwapTotal"));
            let load = parse_loadavg(&std::fs::read_to_string("/proc/loadavg").unwrap_or_default());
            let mounts = procfs::mounts().unwrap_or_default();
            let root_fs = usage_of(Path::new("/"), procfs::mount_of(&mounts, Path::new("/"))).ok();
            let busiest = top
                .first()
                .filter(|t| t.cpu_percent > 0.0)
                .map(|t| format!("; busiest: {} ({}%)", t.name, t.cpu_percent))
                .unwrap_or_default();
            let summary = format!(
                "CPU {cpu}%, load {:.2}, memory {}% used, swap {}% used, / {}% full{busiest}",
                load[0],
                memory.used_percent,
                swap.used_percent,
                root_fs.as_ref().map_or(0.0, |f| f.use_percent),
            );
            crate::builtin::to_value(&Overview {
                summary,
                cpu_percent: cpu,
                cpus: std::thread::available_parallelism().map_or(1, usize::from),
                load_average: load,
                memory,
                swap,
                root_fs,
                top,
                processes,
                interval_ms: args.interval_ms,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[tokio::test]
    async fn a_busy_child_shows_in_cpu_and_top() {
        let child = super::super::Spinner::start();
        let v = Registry::builtin()
            .prepare("monitor.overview", serde_json::json!({"interval_ms": 300}))
            .unwrap()
            .run(ToolCtx::local())
            .await;
        let pid = child.pid();
        drop(child);
        let v = v.unwrap();
        assert!(v["cpu_percent"].as_f64().unwrap() > 0.0, "{v}");
        let top = v["top"].as_array().unwrap();
        assert!(top.len() <= 5);
        // On a loaded machine (other tests spin too) five others may beat
        // it; then all five must have measurably used more or as much CPU.
        let child_min = 1.0;
        assert!(
            top.iter().any(|t| t["pid"] == pid)
                || (top.len() == 5
                    && top
                        .iter()
                        .all(|t| t["cpu_percent"].as_f64().unwrap() >= child_min)),
            "{v}"
        );
        let cpus: Vec<f64> = top
            .iter()
            .map(|t| t["cpu_percent"].as_f64().unwrap())
            .collect();
        assert!(cpus.windows(2).all(|w| w[0] >= w[1]), "{cpus:?}");
        assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 0);
        assert_eq!(v["root_fs"]["mount_point"], "/");
        assert!(v["summary"].as_str().unwrap().starts_with("CPU "), "{v}");
    }

    #[tokio::test]
    async fn cancellation_stops_the_wait() {
        let ctx = ToolCtx::local();
        ctx.cancel_token().cancel();
        let e = Registry::builtin()
            .prepare("monitor.overview", serde_json::json!({"interval_ms": 5000}))
            .unwrap()
            .run(ctx)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Cancelled);
        let e = Registry::builtin()
            .prepare("monitor.overview", serde_json::json!({"interval_ms": 6000}))
            .unwrap_err();
        assert!(e.message().contains("`interval_ms`"), "{e}");
        assert_eq!(parse_loadavg("0.50 1.00 2.5 1/100 42"), [0.5, 1.0, 2.5]);
    }
}

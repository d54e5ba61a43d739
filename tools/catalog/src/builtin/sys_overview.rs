//! `sys.overview`: one glance at the machine: OS, kernel, uptime, load,
//! CPUs, memory, swap and root filesystem usage.

use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fs_usage::{FsUsageInfo, usage_of};
use crate::procfs;
use crate::util::{human_bytes, human_duration, percent};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sys.overview`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysOverview;

/// `sys.overview` takes no arguments.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Memory figures.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// Physical memory.
    pub total_bytes: u64,
    /// Memory available for new work without swapping.
    pub available_bytes: u64,
    /// Percent in use (total − available).
    pub used_percent: f64,
    /// Swap size.
    pub swap_total_bytes: u64,
    /// Swap in use.
    pub swap_used_bytes: u64,
    /// Human summary.
    pub summary: String,
}

/// The overview.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// One line for a human.
    pub summary: String,
    /// Host name.
    pub hostname: String,
    /// Distribution (`PRETTY_NAME` of os-release).
    pub os: String,
    /// Kernel release.
    pub kernel: String,
    /// Seconds since boot.
    pub uptime_secs: u64,
    /// Uptime, human.
    pub uptime: String,
    /// 1, 5 and 15 minute load averages.
    pub load_average: [f64; 3],
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Memory.
    pub memory: Memory,
    /// Root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_fs: Option<FsUsageInfo>,
    /// Number of processes.
    pub processes: usize,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn overview() -> Result<Overview, ToolError> {
    let uptime_secs = read("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(0, |f| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // seconds of uptime
            let s = f as u64;
            s
        });
    let load: Vec<f64> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let mem = procfs::parse_meminfo(&read("/proc/meminfo"));
    let g = |k: &str| mem.get(k).copied().unwrap_or(0);
    let (total, avail) = (g("MemTotal"), g("MemAvailable"));
    let (swap_total, swap_free) = (g("SwapTotal"), g("SwapFree"));
    let used_pct = percent(total.saturating_sub(avail), total);
    let mounts = procfs::mounts().unwrap_or_default();
    let root_fs = usage_of(Path::new("/"), procfs::mount_of(&mounts, Path::new("/"))).ok();
    let summary = format!(
        "up {}, load {:.2}, memory {used_pct}% used{}",
        human_duration(uptime_secs),
        load.first().copied().unwrap_or(0.0),
        root_fs
            .as_ref()
            .map(|f| format!(", / {}% full", f.use_percent))
            .unwrap_or_default()
    );
    Ok(Overview {
        summary,
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| read("/proc/sys/kernel/hostname")),
        os: os_name(),
        kernel: read("/proc/sys/kernel/osrelease"),
        uptime_secs,
        uptime: human_duration(uptime_secs),
        load_average: [
            load.first().copied().unwrap_or(0.0),
            load.get(1).copied().unwrap_or(0.0),
            load.get(2).copied().unwrap_or(0.0),
        ],
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model,
        memory: Memory {
            total_bytes: total,
            available_bytes: avail,
            used_percent: used_pct,
            swap_total_bytes: swap_total,
            swap_used_bytes: swap_total.saturating_sub(swap_free),
            summary: format!(
                "{} of {} used ({used_pct}%), {} available; swap {} of {} used",
                human_bytes(total.saturating_sub(avail)),
                human_bytes(total),
                human_bytes(avail),
                human_bytes(swap_total.saturating_sub(swap_free)),
                human_bytes(swap_total)
            ),
        },
        root_fs,
        processes: procfs::pids().len(),
    })
}

impl Tool for SysOverview {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "sys.overview"
    }

    fn description(&self) -> &'static str {
        "Overview of this machine: hostname, OS, kernel, uptime, load averages, CPU count and model, memory and \
         swap use, root filesystem use, number of processes. A good first call for any health question."
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
                request: "how is the system doing?",
                args: r#"{}"#,
            },
            Example {
                request: "what is the load and memory use",
                args: r#"{}"#,
            },
            Example {
                request: "how long has this machine been up",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "show an overview of the system".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        ctx.blocking(|_| super::to_value(&overview()?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overview_matches_the_live_system() {
        let v = crate::Registry::builtin()
            .prepare("sys.overview", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert_eq!(v["hostname"], host);
        assert!(v["summary"].as_str().unwrap().starts_with("up "), "{v}");
        assert_eq!(v["kernel"], read("/proc/sys/kernel/osrelease"));
        assert!(v["uptime_secs"].as_u64().unwrap() > 0);
        assert!(v["cpus"].as_u64().unwrap() >= 1);
        assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 0);
        assert!(
            v["memory"]["available_bytes"].as_u64().unwrap()
                <= v["memory"]["total_bytes"].as_u64().unwrap()
        );
        assert_eq!(v["root_fs"]["mount_point"], "/");
        assert!(v["processes"].as_u64().unwrap() >= 1);
        assert_eq!(v["load_average"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn unknown_arguments_are_refused() {
        let e = crate::Registry::builtin()
            .prepare("sys.overview", serde_json::json!({"verbose": true}))
            .unwrap_err();
        assert!(e.message().contains("`verbose`"), "{e}");
    }
}

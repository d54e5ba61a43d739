//! The `monitor.*` tools: live figures measured over a short interval
//! (`overview`, `top`) and sensor readings (`temperatures`). This module
//! holds the sampling they share: whole-machine CPU time from `/proc/stat`
//! and per-process CPU time, taken twice around a cancellable wait.

mod overview;
mod temperatures;
mod top;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use overview::MonitorOverview;
pub use temperatures::MonitorTemperatures;
pub use top::MonitorTop;

use super::process::{Proc, all_stats, cmdline_of, uid_of};
use crate::procfs::{self, UserNames};
use crate::util::{human_bytes, truncate};
use crate::{ToolCtx, ToolError};

/// Busy and total jiffies of all CPUs, from the `cpu ` line of `/proc/stat`.
pub fn parse_cpu_line(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already counted in user and nice).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// One snapshot of the machine's and every process's CPU time.
pub struct Sample {
    at: Instant,
    cpu: Option<(u64, u64)>,
    procs: HashMap<u32, Proc>,
}

impl Sample {
    /// Take one now.
    pub fn take() -> Sample {
        Sample {
            at: Instant::now(),
            cpu: std::fs::read_to_string("/proc/stat")
                .ok()
                .as_deref()
                .and_then(parse_cpu_line),
            procs: all_stats(),
        }
    }
}

/// Wait `interval`, or fail once the call is cancelled.
pub async fn wait(ctx: &ToolCtx, interval: Duration) -> Result<(), ToolError> {
    tokio::select! {
        _ = tokio::time::sleep(interval) => Ok(()),
        _ = ctx.cancelled() => Err(ToolError::cancelled()),
    }
}

/// Two samples `interval` apart, taken off the async workers.
pub async fn sample_pair(ctx: &ToolCtx, interval: Duration) -> Result<(Sample, Sample), ToolError> {
    let a = ctx.blocking(|_| Ok(Sample::take())).await?;
    wait(ctx, interval).await?;
    let b = ctx.blocking(|_| Ok(Sample::take())).await?;
    Ok((a, b))
}

/// Whole-machine CPU use between two samples, percent of all CPUs.
pub fn cpu_percent(a: &Sample, b: &Sample) -> Option<f64> {
    let ((b0, t0), (b1, t1)) = (a.cpu?, b.cpu?);
    Some(crate::util::percent(
        b1.saturating_sub(b0),
        t1.saturating_sub(t0),
    ))
}

/// A process's share of the interval.
#[derive(Debug, Clone, Serialize)]
pub struct TopRow {
    /// Process id.
    pub pid: u32,
    /// Short name.
    pub name: String,
    /// Owner's login name.
    pub user: String,
    /// Percent of one CPU over the interval (over 100 for multi-threaded work).
    pub cpu_percent: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Resident memory, human.
    pub rss: String,
    /// State letter.
    pub state: char,
    /// Command line (truncated).
    pub cmdline: String,
}

/// Every process present in both samples with its CPU percent, busiest
/// first (ties by memory, then pid).
pub fn rank(a: &Sample, b: &Sample) -> Vec<TopRow> {
    let ticks = procfs::clock_ticks();
    let page = procfs::page_size();
    let secs = b.at.duration_since(a.at).as_secs_f64().max(0.001);
    let mut names = UserNames::default();
    #[allow(clippy::cast_precision_loss)] // percentages for display
    let mut rows: Vec<TopRow> = b
        .procs
        .values()
        .filter(|p| !p.is_kernel_thread() || p.cpu_ticks > 0)
        .map(|p| {
            // A process that started during the interval counts from zero,
            // unless its pid was reused (then its start time differs).
            let before = a
                .procs
                .get(&p.pid)
                .filter(|o| o.start_ticks == p.start_ticks)
                .map_or(0, |o| o.cpu_ticks);
            let used = p.cpu_ticks.saturating_sub(before) as f64 / ticks as f64;
            let rss = p.rss_pages * page;
            TopRow {
                pid: p.pid,
                name: p.comm.clone(),
                user: uid_of(p.pid).map_or_else(|| "?".into(), |u| names.name(u)),
                cpu_percent: (used / secs * 1000.0).round() / 10.0,
                rss_bytes: rss,
                rss: human_bytes(rss),
                state: p.state,
                cmdline: String::new(),
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        y.cpu_percent
            .total_cmp(&x.cpu_percent)
            .then(y.rss_bytes.cmp(&x.rss_bytes))
            .then(x.pid.cmp(&y.pid))
    });
    rows
}

/// Fill in the command lines of the rows kept (only those: reading every
/// process's cmdline would double the work).
pub fn with_cmdlines(mut rows: Vec<TopRow>) -> Vec<TopRow> {
    for r in &mut rows {
        let c = cmdline_of(r.pid);
        r.cmdline = if c.is_empty() {
            format!("[{}]", r.name)
        } else {
            truncate(&c, 200)
        };
    }
    rows
}

/// `interval_ms` checked against `min..=max`.
pub fn check_interval(tool: &str, ms: u64, min: u64, max: u64) -> Result<(), ToolError> {
    if (min..=max).contains(&ms) {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "{tool}: field `interval_ms` must be {min}..={max}, got {ms}"
        )))
    }
}

/// Test support: a CPU-bound child (`sh -c 'while :; do :; done'`),
/// killed and reaped when dropped, even if the test panics first.
#[cfg(test)]
pub(crate) struct Spinner(pub std::process::Child);

#[cfg(test)]
impl Spinner {
    /// Start one.
    pub fn start() -> Spinner {
        let c = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn();
        Spinner(c.unwrap_or_else(|e| panic!("cannot start sh: {e}")))
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

#[cfg(test)]
impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_line_sums_without_guest() {
        let (busy, total) =
            parse_cpu_line("cpu  100 0 50 800 50 0 0 0 10 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(total, 1000);
        assert_eq!(busy, 150);
        assert!(parse_cpu_line("intr 1 2").is_none());
    }
}

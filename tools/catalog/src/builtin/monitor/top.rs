//! `monitor.top`: processes ranked by the CPU they used over an interval
//! (default 1 s, at most 10 s), like one screen of `top`.

use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{TopRow, check_interval, cpu_percent, rank, sample_pair, with_cmdlines};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `monitor.top`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorTop;

fn default_interval() -> u64 {
    1000
}

fn default_limit() -> usize {
    15
}

/// Arguments of `monitor.top`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorTopArgs {
    /// How long to measure, in milliseconds (default 1000, 100 to 10000).
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Most processes to return (default 15, at most 200).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Top {
    /// One line for a human.
    pub summary: String,
    /// Busiest first.
    pub processes: Vec<TopRow>,
    /// Processes measured.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
    /// Whole-machine CPU use over the interval, percent of all CPUs.
    pub cpu_percent: f64,
    /// The interval, ms.
    pub interval_ms: u64,
}

impl Tool for MonitorTop {
    type Args = MonitorTopArgs;

    fn name(&self) -> &'static str {
        "monitor.top"
    }

    fn description(&self) -> &'static str {
        "Rank processes by the CPU they use, measured over an interval (default 1 s, at most 10 s), with memory, \
         state and command line, plus whole-machine CPU use. Answers 'what is eating my CPU right now'."
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
                request: "what is eating my CPU right now?",
                args: r#"{}"#,
            },
            Example {
                request: "show the top 5 processes over 3 seconds",
                args: r#"{"interval_ms": 3000, "limit": 5}"#,
            },
            Example {
                request: "top",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut MonitorTopArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        check_interval("monitor.top", args.interval_ms, 100, 10_000)?;
        super::super::net::check_limit("monitor.top", args.limit, 200)
    }

    fn resources(&self, _args: &MonitorTopArgs) -> Vec<Resource> {
        vec![Resource::Processes]
    }

    fn preview(&self, args: &MonitorTopArgs) -> String {
        format!("rank processes by CPU over {} ms", args.interval_ms)
    }

    async fn run(&self, ctx: ToolCtx, args: MonitorTopArgs) -> Result<Value, ToolError> {
        let (a, b) = sample_pair(&ctx, Duration::from_millis(args.interval_ms)).await?;
        ctx.blocking(move |_| {
            let cpu = cpu_percent(&a, &b).unwrap_or(0.0);
            let mut rows = rank(&a, &b);
            let total = rows.len();
            rows.truncate(args.limit);
            let rows = with_cmdlines(rows);
            let busy: Vec<String> = rows
                .iter()
                .filter(|r| r.cpu_percent > 0.0)
                .take(3)
                .map(|r| format!("{} {}%", r.name, r.cpu_percent))
                .collect();
            let summary = format!(
                "CPU {cpu}% over {} ms; {}",
                args.interval_ms,
                if busy.is_empty() {
                    "no process used measurable CPU".to_string()
                } else {
                    busy.join(", ")
                }
            );
            crate::builtin::to_value(&Top {
                summary,
                truncated: total > rows.len(),
                processes: rows,
                total,
                cpu_percent: cpu,
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
    async fn a_busy_child_ranks_first_among_ours() {
        let child = super::super::Spinner::start();
        let v = Registry::builtin()
            .prepare(
                "monitor.top",
                serde_json::json!({"interval_ms": 400, "limit": 200}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await;
        let pid = child.pid();
        drop(child);
        let v = v.unwrap();
        let rows = v["processes"].as_array().unwrap();
        let row = rows.iter().find(|r| r["pid"] == pid).unwrap();
        assert!(row["cpu_percent"].as_f64().unwrap() > 5.0, "{row}");
        assert_eq!(row["cmdline"], "sh -c while :; do :; done");
        let cpus: Vec<f64> = rows
            .iter()
            .map(|r| r["cpu_percent"].as_f64().unwrap())
            .collect();
        assert!(cpus.windows(2).all(|w| w[0] >= w[1]), "{cpus:?}");
        let e = Registry::builtin()
            .prepare("monitor.top", serde_json::json!({"interval_ms": 20000}))
            .unwrap_err();
        assert!(e.message().contains("100..=10000"), "{e}");
    }
}

//! `service.list` and `service.failed`: every service with its state, or
//! only the failed ones, from initd when it answers, else systemd.

use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Manager, UnitState};
use crate::builtin::host::Host;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 2000;

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

/// `service.list`.
#[derive(Debug, Clone, Default)]
pub struct ServiceList {
    host: Host,
}

/// `service.failed`.
#[derive(Debug, Clone, Default)]
pub struct ServiceFailed {
    host: Host,
}

impl ServiceList {
    /// With a test host (fake `systemctl`).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> Self {
        ServiceList { host }
    }
}

impl ServiceFailed {
    /// With a test host (fake `systemctl`).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> Self {
        ServiceFailed { host }
    }
}

/// Arguments of `service.list`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceListArgs {
    /// Only services in this state (`running`, `failed`, `stopped`, or a
    /// systemd active/sub state such as `active`, `inactive`, `exited`).
    /// Null: all.
    #[serde(default)]
    pub state: Option<String>,
    /// At most this many services (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// Arguments of `service.failed`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceFailedArgs {
    /// At most this many services (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// A list of services.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceListing {
    /// One line for the human.
    pub summary: String,
    /// Which manager answered.
    pub manager: Manager,
    /// The services, by name.
    pub services: Vec<UnitState>,
    /// How many matched before the cap.
    pub total: usize,
    /// Whether the list was cut at `limit`.
    pub truncated: bool,
}

/// Parse `systemctl list-units --plain --no-legend` lines: `UNIT LOAD
/// ACTIVE SUB DESCRIPTION…` (a leading `●` marks failed units on some
/// versions).
pub(crate) fn parse_list_units(text: &str) -> Vec<UnitState> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(['●', '*', ' ']);
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let _load = parts.next()?;
            let active = parts.next()?;
            let sub = parts.next()?;
            let description = parts.collect::<Vec<_>>().join(" ");
            Some(UnitState {
                name: name.to_string(),
                active: active.to_string(),
                sub: sub.to_string(),
                enabled: String::new(),
                pid: None,
                description: truncate(&description, 200),
            })
        })
        .collect()
}

/// Fill `enabled` from `systemctl list-unit-files` lines `UNIT STATE …`.
pub(crate) fn merge_unit_files(units: &mut [UnitState], text: &str) {
    let files: std::collections::HashMap<&str, &str> = text
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((p.next()?, p.next()?))
        })
        .collect();
    for u in units {
        if let Some(s) = files.get(u.name.as_str()) {
            u.enabled = (*s).to_string();
        }
    }
}

fn matches_state(u: &UnitState, want: &str) -> bool {
    let want = want.to_ascii_lowercase();
    match want.as_str() {
        "running" => u.is_running(),
        "stopped" => matches!(u.active.as_str(), "inactive" | "stopped"),
        _ => u.active == want || u.sub == want,
    }
}

async fn listing(
    ctx: &ToolCtx,
    host: &Host,
    state: Option<&str>,
    limit: usize,
    failed_only: bool,
) -> Result<ServiceListing, ToolError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ToolError::invalid(format!(
            "field `limit` must be 1..={MAX_LIMIT}, got {limit}"
        )));
    }
    let from_initd = match ctx.supervisor() {
        Some(sup) => sup.list().await?,
        None => None,
    };
    let (manager, mut units) = match from_initd {
        Some(list) => (
            Manager::Initd,
            list.iter().map(UnitState::from_initd).collect::<Vec<_>>(),
        ),
        None if host.systemd() => {
            let mut args = vec![
                "list-units",
                "--type=service",
                "--all",
                "--no-pager",
                "--plain",
                "--no-legend",
            ];
            if failed_only {
                args.push("--state=failed");
            }
            let t = Duration::from_secs(15);
            let out = host
                .run_ok(ctx, "systemctl", &args, t, 4 * 1024 * 1024)
                .await?;
            let mut units = parse_list_units(&out.stdout);
            let files = host
                .run_ok(
                    ctx,
                    "systemctl",
                    &[
                        "list-unit-files",
                        "--type=service",
                        "--no-pager",
                        "--plain",
                        "--no-legend",
                    ],
                    t,
                    4 * 1024 * 1024,
                )
                .await?;
            merge_unit_files(&mut units, &files.stdout);
            (Manager::Systemd, units)
        }
        None => {
            return Err(ToolError::unsupported(
                "no service manager answers on this host: aiOS initd is not running (no control socket) and \
                 systemd is not the init system",
            ));
        }
    };
    units.retain(|u| {
        (!failed_only || u.active == "failed") && state.is_none_or(|s| matches_state(u, s))
    });
    units.sort_by(|a, b| a.name.cmp(&b.name));
    let total = units.len();
    units.truncate(limit);
    let what = if failed_only { "failed " } else { "" };
    let by = match manager {
        Manager::Initd => "initd",
        Manager::Systemd => "systemd",
    };
    let summary = if failed_only && total == 0 {
        format!("no failed services ({by})")
    } else {
        let running = units.iter().filter(|u| u.is_running()).count();
        format!(
            "{total} {what}services ({by}){}{}",
            if failed_only {
                String::new()
            } else {
                format!(", {running} running")
            },
            if total > units.len() {
                format!("; showing the first {}", units.len())
            } else {
                String::new()
            }
        )
    };
    Ok(ServiceListing {
        summary,
        manager,
        truncated: total > units.len(),
        total,
        services: units,
    })
}

impl Tool for ServiceList {
    type Args = ServiceListArgs;

    fn name(&self) -> &'static str {
        "service.list"
    }

    fn description(&self) -> &'static str {
        "List services with their state (running, stopped, failed), whether they start at boot, and their main \
         pid: from aiOS initd when it runs, else systemd. Filter by state; capped at limit."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Service]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what services are there?",
                args: r#"{}"#,
            },
            Example {
                request: "which services are running",
                args: r#"{"state": "running"}"#,
            },
            Example {
                request: "list stopped services",
                args: r#"{"state": "stopped", "limit": 50}"#,
            },
        ]
    }

    fn resources(&self, _: &ServiceListArgs) -> Vec<Resource> {
        vec![Resource::Service("*".to_string())]
    }

    fn preview(&self, args: &ServiceListArgs) -> String {
        match &args.state {
            Some(s) => format!("list services in state {s}"),
            None => "list services".to_string(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: ServiceListArgs) -> Result<Value, ToolError> {
        let l = listing(&ctx, &self.host, args.state.as_deref(), args.limit, false).await?;
        crate::builtin::to_value(&l)
    }
}

impl Tool for ServiceFailed {
    type Args = ServiceFailedArgs;

    fn name(&self) -> &'static str {
        "service.failed"
    }

    fn description(&self) -> &'static str {
        "List the services that failed (crashed, exited with an error or hit their restart limit), from aiOS \
         initd when it runs, else systemd."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Service]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "did any service fail?",
                args: r#"{}"#,
            },
            Example {
                request: "show failed units",
                args: r#"{}"#,
            },
            Example {
                request: "what crashed since boot",
                args: r#"{"limit": 20}"#,
            },
        ]
    }

    fn resources(&self, _: &ServiceFailedArgs) -> Vec<Resource> {
        vec![Resource::Service("*".to_string())]
    }

    fn preview(&self, _: &ServiceFailedArgs) -> String {
        "list failed services".to_string()
    }

    async fn run(&self, ctx: ToolCtx, args: ServiceFailedArgs) -> Result<Value, ToolError> {
        let l = listing(&ctx, &self.host, None, args.limit, true).await?;
        crate::builtin::to_value(&l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_units_output_parses() {
        let text = "cron.service loaded active running Regular background program processing daemon\n\
                    ● nginx.service loaded failed failed A high performance web server\n\
                    ssh.service loaded inactive dead OpenBSD Secure Shell server\n";
        let mut u = parse_list_units(text);
        assert_eq!(u.len(), 3);
        assert_eq!(u[1].name, "nginx.service");
        assert_eq!(u[1].active, "failed");
        assert_eq!(u[0].describe(), "active (running)");
        assert_eq!(u[2].description, "OpenBSD Secure Shell server");
        merge_unit_files(
            &mut u,
            "cron.service enabled enabled\nssh.service disabled enabled\n",
        );
        assert_eq!(u[0].enabled, "enabled");
        assert_eq!(u[2].enabled, "disabled");
        assert_eq!(u[1].enabled, "");
        assert!(matches_state(&u[0], "running"));
        assert!(matches_state(&u[2], "stopped"));
        assert!(matches_state(&u[1], "FAILED"));
    }

    #[tokio::test]
    async fn without_any_manager_the_error_is_clear() {
        let host = Host {
            systemd: Some(false),
            ..Host::default()
        };
        let e = listing(&ToolCtx::local(), &host, None, 10, false)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Unsupported);
        assert!(e.message().contains("no service manager"), "{e}");
        let e = listing(&ToolCtx::local(), &host, None, 0, false)
            .await
            .unwrap_err();
        assert!(e.message().contains("`limit`"), "{e}");
    }
}

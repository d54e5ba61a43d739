//! The `service.*` tools beyond `service.status`: `list`, `failed`, `logs`
//! and the lifecycle changes `start stop restart enable disable`.
//!
//! Back-ends, chosen per call from what the host has: aiOS `initd` through
//! [`crate::ToolCtx::supervisor`] first (PID 1 on the image, `initd --user`
//! in development), then systemd through `systemctl` (machine-readable
//! `show -p …` and `--plain --no-legend` listings). This module holds what
//! they share: a unit's state as one struct, read from either manager, and
//! the running units that need a unit (what stopping it takes down).

mod change;
mod list;
mod logs;

pub use change::ServiceChange;
pub use list::{ServiceFailed, ServiceList};
pub use logs::ServiceLogs;

use std::time::Duration;

use aios_domain::ServiceState;
use serde::Serialize;

use super::host::Host;
use super::service_status::parse_show;
use crate::{ToolCtx, ToolError};

/// Which manager answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Manager {
    /// aiOS initd's control API.
    Initd,
    /// systemd through `systemctl`.
    Systemd,
}

/// One service's state, from either manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitState {
    /// Unit or service name.
    pub name: String,
    /// Active state: `active`/`inactive`/`failed`… (systemd) or initd's
    /// `running`/`stopped`/`failed`/`exited`…
    pub active: String,
    /// Sub-state (`running`, `dead`, `exited`…), empty for initd.
    pub sub: String,
    /// Whether it starts at boot: `enabled`, `disabled`, `static`…
    pub enabled: String,
    /// Main process id, when running.
    pub pid: Option<u32>,
    /// Description (systemd) or last status text (initd).
    pub description: String,
}

impl UnitState {
    fn from_initd(s: &ServiceState) -> UnitState {
        UnitState {
            name: s.name.clone(),
            active: s.state.clone(),
            sub: String::new(),
            enabled: if s.enabled { "enabled" } else { "disabled" }.to_string(),
            pid: (s.pid != 0).then_some(s.pid),
            description: s.status_text.clone(),
        }
    }

    /// `active (running)`, or the initd state alone.
    pub fn describe(&self) -> String {
        if self.sub.is_empty() || self.sub == self.active {
            self.active.clone()
        } else {
            format!("{} ({})", self.active, self.sub)
        }
    }

    /// Whether it is running or on its way up.
    pub fn is_running(&self) -> bool {
        matches!(
            self.active.as_str(),
            "active" | "activating" | "reloading" | "running" | "starting"
        )
    }

    /// Whether it starts at boot.
    pub fn is_enabled(&self) -> bool {
        matches!(
            self.enabled.as_str(),
            "enabled" | "enabled-runtime" | "alias" | "linked"
        )
    }
}

/// The service manager that knows `name`, and its state there: initd when
/// it manages the service, else systemd when it runs. `Ok(None)`: nothing
/// on this host manages it.
pub(crate) async fn current_state(
    ctx: &ToolCtx,
    host: &Host,
    name: &str,
) -> Result<Option<(Manager, UnitState)>, ToolError> {
    if let Some(sup) = ctx.supervisor()
        && let Some(s) = sup.status(name).await.map_err(ToolError::failed)?
    {
        return Ok(Some((Manager::Initd, UnitState::from_initd(&s))));
    }
    if host.systemd() {
        let state = systemd_state(ctx, host, name).await?;
        if state.active.is_empty() || state.enabled == "not-found" {
            return Ok(None);
        }
        return Ok(Some((Manager::Systemd, state)));
    }
    Ok(None)
}

const SHOW_PROPS: &str =
    "--property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID";

/// `systemctl show` of one unit.
pub(crate) async fn systemd_state(
    ctx: &ToolCtx,
    host: &Host,
    name: &str,
) -> Result<UnitState, ToolError> {
    let out = host
        .run_ok(
            ctx,
            "systemctl",
            &["show", SHOW_PROPS, "--no-pager", "--", name],
            Duration::from_secs(10),
            64 * 1024,
        )
        .await?;
    let m = parse_show(&out.stdout);
    let get = |k: &str| m.get(k).cloned().unwrap_or_default();
    let enabled = if get("LoadState") == "not-found" {
        "not-found".to_string()
    } else {
        get("UnitFileState")
    };
    Ok(UnitState {
        name: m.get("Id").cloned().unwrap_or_else(|| name.to_string()),
        active: get("ActiveState"),
        sub: get("SubState"),
        enabled,
        pid: get("MainPID").parse().ok().filter(|p| *p != 0),
        description: get("Description"),
    })
}

/// The running units that need `name` under systemd (`RequiredBy`,
/// `BoundBy`, `RequisiteOf`): stopping it stops them too.
pub(crate) async fn running_dependents(
    ctx: &ToolCtx,
    host: &Host,
    name: &str,
) -> Result<Vec<String>, ToolError> {
    let out = host
        .run_ok(
            ctx,
            "systemctl",
            &[
                "show",
                "--property=RequiredBy,BoundBy,RequisiteOf",
                "--no-pager",
                "--",
                name,
            ],
            Duration::from_secs(10),
            64 * 1024,
        )
        .await?;
    let mut deps: Vec<String> = parse_show(&out.stdout)
        .values()
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .filter(|d| d.bytes().all(|b| b.is_ascii_graphic()) && !d.starts_with('-'))
        .collect();
    deps.sort();
    deps.dedup();
    deps.truncate(100);
    if deps.is_empty() {
        return Ok(deps);
    }
    let mut args = vec!["show", "--property=Id,ActiveState", "--no-pager", "--"];
    args.extend(deps.iter().map(String::as_str));
    let out = host
        .run_ok(ctx, "systemctl", &args, Duration::from_secs(10), 256 * 1024)
        .await?;
    // One block per unit, separated by blank lines.
    Ok(out
        .stdout
        .split("\n\n")
        .map(parse_show)
        .filter(|m| {
            m.get("ActiveState")
                .is_some_and(|s| matches!(s.as_str(), "active" | "activating" | "reloading"))
        })
        .filter_map(|m| m.get("Id").cloned())
        .collect())
}

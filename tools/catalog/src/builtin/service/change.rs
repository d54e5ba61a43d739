//! `service.start`, `service.stop`, `service.restart`, `service.enable`,
//! `service.disable`: one definition, five tools (one per verb), so every
//! verb previews, checks rights and records its undo the same way.
//!
//! The preview is the unit's current state and what will change, plus,
//! for `stop`, `restart` and `disable` under systemd, the running units
//! that need it (stopping it stops them). The undo is the inverse verb
//! (start↔stop, enable↔disable), recorded only when the call changed
//! something: stopping a service that was already stopped leaves nothing
//! to undo. Restart has no undo.

use std::time::Duration;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Manager, UnitState, current_state, running_dependents, systemd_state};
use crate::builtin::host::{Host, require_root};
use crate::builtin::service_status::ServiceName;
use crate::{Assessment, Example, Resource, ResourceKind, ServiceAction, Tool, ToolCtx, ToolError};

/// One of the five lifecycle tools, by its verb.
#[derive(Debug, Clone)]
pub struct ServiceChange {
    action: ServiceAction,
    host: Host,
}

impl ServiceChange {
    /// The tool for `action` (`service.start` for [`ServiceAction::Start`]…).
    pub fn new(action: ServiceAction) -> ServiceChange {
        ServiceChange {
            action,
            host: Host::default(),
        }
    }

    /// With a test host (fake `systemctl`).
    #[cfg(test)]
    pub(crate) fn with_host(action: ServiceAction, host: Host) -> ServiceChange {
        ServiceChange { action, host }
    }
}

/// Arguments of the `service.*` lifecycle tools.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceChangeArgs {
    /// Service name, e.g. nginx or ssh.service.
    #[schemars(with = "String")]
    pub name: ServiceName,
}

/// What a lifecycle call did.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceChanged {
    /// One line for the human.
    pub summary: String,
    /// The service.
    pub name: String,
    /// The verb.
    pub action: String,
    /// Which manager did it.
    pub manager: Manager,
    /// State before.
    pub before: UnitState,
    /// State after.
    pub after: UnitState,
    /// Running units that needed it (systemd stops them with it).
    pub dependents: Vec<String>,
}

/// What the action will leave, in words.
fn target(action: ServiceAction) -> &'static str {
    match action {
        ServiceAction::Start => "running",
        ServiceAction::Stop => "stopped",
        ServiceAction::Restart => "restarted",
        ServiceAction::Enable => "enabled at boot",
        ServiceAction::Disable => "disabled at boot",
    }
}

/// Whether the state already is what the action would make it.
fn already(action: ServiceAction, s: &UnitState) -> bool {
    match action {
        ServiceAction::Start => s.is_running(),
        ServiceAction::Stop => !s.is_running(),
        ServiceAction::Restart => false,
        ServiceAction::Enable => s.is_enabled(),
        ServiceAction::Disable => !s.is_enabled() && !s.enabled.is_empty(),
    }
}

fn takes_down(action: ServiceAction) -> bool {
    matches!(
        action,
        ServiceAction::Stop | ServiceAction::Restart | ServiceAction::Disable
    )
}

impl ServiceChange {
    async fn dependents(
        &self,
        ctx: &ToolCtx,
        manager: Manager,
        name: &str,
    ) -> Result<Vec<String>, ToolError> {
        if manager == Manager::Systemd && takes_down(self.action) {
            running_dependents(ctx, &self.host, name).await
        } else {
            Ok(Vec::new())
        }
    }

    async fn state(&self, ctx: &ToolCtx, name: &str) -> Result<(Manager, UnitState), ToolError> {
        current_state(ctx, &self.host, name).await?.ok_or_else(|| {
            ToolError::not_found(format!(
                "no service manager on this host knows a service {name:?}: aiOS initd does not manage it \
                 (or is not running) and systemd {}; see service.list for the known names",
                if self.host.systemd() {
                    "has no such unit"
                } else {
                    "is not running"
                }
            ))
        })
    }
}

impl Tool for ServiceChange {
    type Args = ServiceChangeArgs;

    fn name(&self) -> &'static str {
        match self.action {
            ServiceAction::Start => "service.start",
            ServiceAction::Stop => "service.stop",
            ServiceAction::Restart => "service.restart",
            ServiceAction::Enable => "service.enable",
            ServiceAction::Disable => "service.disable",
        }
    }

    fn description(&self) -> &'static str {
        match self.action {
            ServiceAction::Start => {
                "Start a service now (aiOS initd, else systemd). Undo: service.stop."
            }
            ServiceAction::Stop => {
                "Stop a running service now (aiOS initd, else systemd); units that need it stop too, and the \
                 preview names them. Undo: service.start."
            }
            ServiceAction::Restart => {
                "Restart a service: stop it, then start it again (aiOS initd, else systemd). No undo."
            }
            ServiceAction::Enable => {
                "Make a service start at boot (aiOS initd, else systemd). Does not start it now. Undo: \
                 service.disable."
            }
            ServiceAction::Disable => {
                "Stop a service from starting at boot (aiOS initd, else systemd). Does not stop it now. \
                 Undo: service.enable."
            }
        }
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Service]
    }

    fn examples(&self) -> &'static [Example] {
        match self.action {
            ServiceAction::Start => &[
                Example {
                    request: "start nginx",
                    args: r#"{"name": "nginx"}"#,
                },
                Example {
                    request: "bring the ssh server up",
                    args: r#"{"name": "ssh"}"#,
                },
                Example {
                    request: "launch the cron daemon",
                    args: r#"{"name": "cron.service"}"#,
                },
            ],
            ServiceAction::Stop => &[
                Example {
                    request: "stop nginx",
                    args: r#"{"name": "nginx"}"#,
                },
                Example {
                    request: "shut down the postgres service",
                    args: r#"{"name": "postgresql"}"#,
                },
                Example {
                    request: "kill the cups service, I don't print",
                    args: r#"{"name": "cups.service"}"#,
                },
            ],
            ServiceAction::Restart => &[
                Example {
                    request: "restart nginx",
                    args: r#"{"name": "nginx"}"#,
                },
                Example {
                    request: "bounce the ssh daemon",
                    args: r#"{"name": "ssh"}"#,
                },
                Example {
                    request: "restart nginx if it is failing",
                    args: r#"{"name": "nginx.service"}"#,
                },
            ],
            ServiceAction::Enable => &[
                Example {
                    request: "start nginx at boot",
                    args: r#"{"name": "nginx"}"#,
                },
                Example {
                    request: "enable the ssh service",
                    args: r#"{"name": "ssh"}"#,
                },
                Example {
                    request: "make cron come up after a reboot",
                    args: r#"{"name": "cron.service"}"#,
                },
            ],
            ServiceAction::Disable => &[
                Example {
                    request: "don't start cups at boot",
                    args: r#"{"name": "cups"}"#,
                },
                Example {
                    request: "disable the bluetooth service",
                    args: r#"{"name": "bluetooth.service"}"#,
                },
                Example {
                    request: "turn off apache autostart",
                    args: r#"{"name": "apache2"}"#,
                },
            ],
        }
    }

    fn resources(&self, args: &ServiceChangeArgs) -> Vec<Resource> {
        vec![Resource::Service(args.name.as_str().to_string())]
    }

    fn preview(&self, args: &ServiceChangeArgs) -> String {
        format!("{} service {}", self.action, args.name.as_str())
    }

    async fn assess(
        &self,
        ctx: &ToolCtx,
        args: &ServiceChangeArgs,
    ) -> Result<Assessment, ToolError> {
        let name = args.name.as_str();
        let (manager, before) = self.state(ctx, name).await?;
        let deps = self.dependents(ctx, manager, name).await?;
        let now = match self.action {
            ServiceAction::Enable | ServiceAction::Disable => {
                format!("{} at boot", or_unknown(&before.enabled))
            }
            _ => before.describe(),
        };
        let mut summary = if already(self.action, &before) {
            format!("{name}: already {now}; nothing will change")
        } else {
            format!("{name}: {now} → {}", target(self.action))
        };
        if !deps.is_empty() {
            summary.push_str(&format!(
                "; {} running unit{} need{} it: {}{}",
                deps.len(),
                if deps.len() == 1 { "" } else { "s" },
                if deps.len() == 1 { "s" } else { "" },
                deps.join(", "),
                if self.action == ServiceAction::Disable {
                    ""
                } else {
                    " (they stop too)"
                }
            ));
        }
        if manager == Manager::Initd && takes_down(self.action) {
            summary.push_str("; initd stops the services that require it first");
        }
        if manager == Manager::Systemd && ctx.access().identity().uid != 0 {
            summary.push_str(" (the real run needs root)");
        }
        let mut items = vec![format!(
            "{name}: {}, {} at boot (by {})",
            before.describe(),
            or_unknown(&before.enabled),
            match manager {
                Manager::Initd => "initd",
                Manager::Systemd => "systemd",
            }
        )];
        items.extend(deps.iter().map(|d| format!("{d}: running, needs {name}")));
        let mut resources = self.resources(args);
        resources.extend(deps.into_iter().map(Resource::Service));
        Ok(Assessment {
            effect: Risk::Change,
            resources,
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected { items, bytes: None },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: ServiceChangeArgs) -> Result<Value, ToolError> {
        let name = args.name.as_str();
        let (manager, before) = self.state(&ctx, name).await?;
        let dependents = self.dependents(&ctx, manager, name).await?;
        let after = match manager {
            Manager::Initd => {
                let sup = ctx.supervisor().ok_or_else(|| {
                    ToolError::failed("initd answered a moment ago but is no longer reachable")
                })?;
                let s = sup.act(name, self.action).await?.ok_or_else(|| {
                    ToolError::failed(format!(
                        "initd stopped managing {name} (or went away) before it could {}",
                        self.action
                    ))
                })?;
                UnitState::from_initd(&s)
            }
            Manager::Systemd => {
                require_root(&ctx, self.name())?;
                self.host
                    .run_ok(
                        &ctx,
                        "systemctl",
                        &[self.action.as_str(), "--no-pager", "--", name],
                        Duration::from_secs(120),
                        64 * 1024,
                    )
                    .await?;
                systemd_state(&ctx, &self.host, name).await?
            }
        };
        let changed = !already(self.action, &before);
        if let Some(inverse) = self.action.inverse().filter(|_| changed) {
            ctx.set_undo(UndoRecord {
                tool: format!("service.{inverse}"),
                args: serde_json::json!({ "name": name }),
                summary: format!("{inverse} {name} again"),
            });
        }
        let summary = match self.action {
            ServiceAction::Enable | ServiceAction::Disable => format!(
                "{name}: {} at boot → {} at boot",
                or_unknown(&before.enabled),
                or_unknown(&after.enabled)
            ),
            _ => format!("{name}: {} → {}", before.describe(), after.describe()),
        };
        crate::builtin::to_value(&ServiceChanged {
            summary,
            name: name.to_string(),
            action: self.action.to_string(),
            manager,
            before,
            after,
            dependents,
        })
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

#[cfg(test)]
#[path = "fake_systemctl_tests.rs"]
mod fake_systemctl_tests;

//! `sys.reboot` and `sys.poweroff`: destructive, root only. The preview
//! lists who is logged in and how many services run, since all of them go
//! away. The run asks systemd (`systemctl reboot|poweroff`) when systemd is
//! the running service manager; under aiOS initd it says the executor must
//! route it through initd's power call (the `Supervisor` trait has no power
//! method yet), and it never calls `reboot(2)` itself.

use std::time::Duration;

use aios_domain::{Preview, PreviewDetail, Risk};
use serde::Serialize;
use serde_json::Value;

use super::super::hw::NoArgs;
use super::{init_system, systemd_running};
use crate::command::run_command;
use crate::util::truncate;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sys.reboot`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysReboot;

/// `sys.poweroff`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysPoweroff;

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct PowerResult {
    /// One line for a human.
    pub summary: String,
    /// `reboot` or `poweroff`.
    pub action: &'static str,
    /// Who carried it out (`systemd`).
    pub via: &'static str,
}

/// `(user, terminal)` pairs from `who` output.
pub fn parse_who(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next().unwrap_or("?").to_string()))
        })
        .collect()
}

/// What a power action would cut off, as preview lines, and the summary.
async fn affected(ctx: &ToolCtx, action: &str) -> Result<Assessment, ToolError> {
    let sessions = match run_command(ctx, "who", &[], Duration::from_secs(5), 64 * 1024).await {
        Ok(out) if out.code == Some(0) => Some(parse_who(&out.stdout)),
        _ => None,
    };
    let services = if systemd_running() {
        match run_command(
            ctx,
            "systemctl",
            &[
                "list-units",
                "--type=service",
                "--state=running",
                "--no-legend",
                "--plain",
                "--no-pager",
            ],
            Duration::from_secs(10),
            1 << 20,
        )
        .await
        {
            Ok(out) if out.code == Some(0) => {
                Some(out.stdout.lines().filter(|l| !l.trim().is_empty()).count())
            }
            _ => None,
        }
    } else {
        None
    };
    let mut items = Vec::new();
    match &sessions {
        Some(s) if s.is_empty() => items.push("no one is logged in".to_string()),
        Some(s) => items.extend(s.iter().map(|(u, t)| format!("logged in: {u} on {t}"))),
        None => items.push("logged-in users: unknown (`who` is not available)".to_string()),
    }
    let (_, init) = init_system();
    items.push(match services {
        Some(n) => format!("{n} running service(s) under systemd will be stopped"),
        None => format!("running services: not counted (init system: {init})"),
    });
    let users: Vec<&str> = {
        let mut u: Vec<&str> = sessions.iter().flatten().map(|(u, _)| u.as_str()).collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    let summary = format!(
        "{action} the machine: {}{}; the run needs root",
        if users.is_empty() {
            "no user sessions".to_string()
        } else {
            format!("{} user(s) logged in ({})", users.len(), users.join(", "))
        },
        services
            .map(|n| format!(", {n} service(s) running"))
            .unwrap_or_default()
    );
    Ok(Assessment {
        effect: Risk::Destructive,
        resources: vec![Resource::System],
        preview: Preview {
            summary,
            detail: PreviewDetail::Affected { items, bytes: None },
        },
    })
}

async fn power(ctx: &ToolCtx, action: &'static str) -> Result<Value, ToolError> {
    let id = ctx.access().identity();
    if id.uid != 0 || !nix::unistd::geteuid().is_root() {
        return Err(ToolError::denied(format!(
            "sys.{action} needs root: approve it as an administrator ({} may not)",
            ctx.access().who()
        )));
    }
    // aiOS initd, through the executor, only when it is PID 1: the
    // development `initd --user` would stop aiOS, not the machine.
    if init_system().1 == "aios-initd"
        && let Some(sup) = ctx.supervisor()
    {
        let what = if action == "reboot" {
            aios_domain::PowerAction::Reboot
        } else {
            aios_domain::PowerAction::Poweroff
        };
        if sup.power(what).await? {
            return crate::builtin::to_value(&PowerResult {
                summary: format!("{action} requested from aiOS initd"),
                action,
                via: "initd",
            });
        }
    }
    if !systemd_running() {
        let (comm, init) = init_system();
        return Err(ToolError::unsupported(format!(
            "sys.{action}: neither aiOS initd nor systemd answers (pid 1 is {comm}, {init}); \
             use that init system's own command"
        )));
    }
    let out = run_command(
        ctx,
        "systemctl",
        &[action, "--no-wall"],
        Duration::from_secs(30),
        64 * 1024,
    )
    .await?;
    if out.code != Some(0) {
        return Err(ToolError::failed(format!(
            "systemctl {action}: {}",
            truncate(out.stderr.trim(), 500)
        )));
    }
    crate::builtin::to_value(&PowerResult {
        summary: format!("{action} requested from systemd"),
        action,
        via: "systemd",
    })
}

macro_rules! power_tool {
    ($ty:ident, $name:literal, $action:literal, $desc:literal, $examples:expr) => {
        impl Tool for $ty {
            type Args = NoArgs;

            fn name(&self) -> &'static str {
                $name
            }

            fn description(&self) -> &'static str {
                $desc
            }

            fn effect(&self) -> Risk {
                Risk::Destructive
            }

            fn resource_kinds(&self) -> &'static [ResourceKind] {
                &[ResourceKind::System]
            }

            fn examples(&self) -> &'static [Example] {
                $examples
            }

            fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
                vec![Resource::System]
            }

            fn preview(&self, _args: &NoArgs) -> String {
                concat!($action, " the machine").into()
            }

            async fn assess(&self, ctx: &ToolCtx, _args: &NoArgs) -> Result<Assessment, ToolError> {
                affected(ctx, $action).await
            }

            async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
                power(&ctx, $action).await
            }
        }
    };
}

power_tool!(
    SysReboot,
    "sys.reboot",
    "reboot",
    "Reboot the machine. Destructive: every session and service stops. Needs root; the preview lists the \
     logged-in users and the number of running services.",
    &[
        Example {
            request: "reboot the machine",
            args: r#"{}"#
        },
        Example {
            request: "restart the computer now",
            args: r#"{}"#
        },
        Example {
            request: "please reboot so the new kernel is used",
            args: r#"{}"#
        },
    ]
);

power_tool!(
    SysPoweroff,
    "sys.poweroff",
    "poweroff",
    "Power the machine off. Destructive: every session and service stops and someone must power it on \
     again. Needs root; the preview lists the logged-in users and the number of running services.",
    &[
        Example {
            request: "shut down the machine",
            args: r#"{}"#
        },
        Example {
            request: "power off the server",
            args: r#"{}"#
        },
        Example {
            request: "turn the computer off",
            args: r#"{}"#
        },
    ]
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registry, ToolErrorKind};
    use std::path::Path;

    fn nobody() -> ToolCtx {
        ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            crate::OutputSink::discard(),
            crate::Access::as_user(crate::Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
                name: None,
                home: None,
            }),
        )
    }

    #[test]
    fn who_output_parses() {
        let s = parse_who(
            "alice    pts/0        2026-12-02 07:00 (10.0.0.1)\nbob tty1 2026-12-02 06:00\n\n",
        );
        assert_eq!(
            s,
            [
                ("alice".into(), "pts/0".into()),
                ("bob".into(), "tty1".into())
            ]
        );
    }

    /// Never reboots: the preview runs as nobody; the run is refused for
    /// nobody, and as root only where systemd is absent (then unsupported).
    #[tokio::test]
    async fn preview_works_without_root_and_the_run_is_refused() {
        let r = Registry::builtin();
        for name in ["sys.reboot", "sys.poweroff"] {
            let p = r.prepare(name, serde_json::json!({})).unwrap();
            let a = p.assess(&nobody()).await.unwrap();
            assert_eq!(a.effect, Risk::Destructive);
            assert!(a.preview.summary.contains("needs root"), "{:?}", a.preview);
            match &a.preview.detail {
                PreviewDetail::Affected { items, .. } => assert!(items.len() >= 2, "{items:?}"),
                d => panic!("{d:?}"),
            }
            if !nix::unistd::geteuid().is_root() {
                continue;
            }
            let e = r
                .prepare(name, serde_json::json!({}))
                .unwrap()
                .run(nobody())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
            assert!(e.message().contains("needs root"), "{e}");
            if !Path::new("/run/systemd/system").exists() {
                let e = r
                    .prepare(name, serde_json::json!({}))
                    .unwrap()
                    .run(ToolCtx::local())
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), ToolErrorKind::Unsupported, "{e}");
            }
        }
    }
}

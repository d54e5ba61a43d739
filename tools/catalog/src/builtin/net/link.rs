//! `net.link`: set an interface administratively up or down with
//! `ip link set`. Refuses the loopback interface, the interface carrying a
//! default route, and the one holding the address of an SSH session: those
//! cut the machine (or the user) off. Undo is the opposite call.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::interfaces::Interface;
use super::sockets::all_sockets;
use super::{check_ifname, check_netns, ip_failure};
use crate::command::run_command;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.link`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetLink;

/// The wanted administrative state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Bring the interface up.
    Up,
    /// Take the interface down.
    Down,
}

impl LinkState {
    fn as_str(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Down => "down",
        }
    }

    fn opposite(self) -> LinkState {
        match self {
            LinkState::Up => LinkState::Down,
            LinkState::Down => LinkState::Up,
        }
    }
}

/// Arguments of `net.link`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetLinkArgs {
    /// The interface (`eth1`); net.interfaces lists them.
    pub interface: String,
    /// `up` or `down`.
    pub state: LinkState,
    /// Network namespace the interface lives in (a name from `ip netns list`); null for the host's own.
    #[serde(default)]
    pub netns: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct LinkResult {
    /// One line for a human.
    pub summary: String,
    /// The interface.
    pub interface: String,
    /// Whether it was administratively up before.
    pub was_up: bool,
    /// Whether it is up now.
    pub up: bool,
    /// Operational state now.
    pub state: String,
    /// Whether anything changed.
    pub changed: bool,
}

/// What the call would touch, read now.
struct Current {
    iface: Interface,
    /// Why the call is refused, if it is.
    refusal: Option<String>,
}

/// Local addresses that an SSH session is connected to: established TCP
/// sockets whose local port is 22 or a port sshd listens on.
fn ssh_session_addresses() -> HashSet<String> {
    let socks = all_sockets();
    let mut ports: HashSet<u16> = HashSet::from([22]);
    let listening: HashSet<u64> = socks
        .iter()
        .filter(|s| s.is_listening())
        .map(|s| s.inode)
        .collect();
    for pid in crate::procfs::pids() {
        let is_sshd =
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sshd");
        if !is_sshd {
            continue;
        }
        for inode in super::sockets::socket_inodes_of(pid).unwrap_or_default() {
            if listening.contains(&inode)
                && let Some(s) = socks.iter().find(|s| s.inode == inode)
            {
                ports.insert(s.port);
            }
        }
    }
    socks
        .iter()
        .filter(|s| s.proto == "tcp" && s.state == 0x01 && ports.contains(&s.port))
        .map(|s| s.addr.to_string())
        .collect()
}

async fn current(ctx: &ToolCtx, args: &NetLinkArgs) -> Result<Current, ToolError> {
    let ns = args.netns.as_deref();
    let (ifs, _) = super::interfaces::list(ctx, ns).await?;
    let iface = ifs
        .into_iter()
        .find(|i| i.name == args.interface)
        .ok_or_else(|| {
            ToolError::not_found(format!(
                "no interface named {}{}; net.interfaces lists them",
                args.interface,
                ns.map(|n| format!(" in namespace {n}")).unwrap_or_default()
            ))
        })?;
    let mut refusal = None;
    if args.state == LinkState::Down {
        let (routes, _) = super::routes::list(ctx, ns).await?;
        if iface.link_type == "loopback" {
            refusal = Some(format!(
                "{} is the loopback interface: taking it down breaks every local service",
                iface.name
            ));
        } else if let Some(r) = routes
            .iter()
            .find(|r| r.default && r.interface.as_deref() == Some(iface.name.as_str()))
        {
            refusal = Some(format!(
                "{} carries the {} default route (via {}): taking it down would cut this machine off the network",
                iface.name,
                r.family,
                r.gateway.as_deref().unwrap_or("direct")
            ));
        } else if ns.is_none() {
            let ssh = ctx.blocking(|_| Ok(ssh_session_addresses())).await?;
            let (addrs, _) = super::addresses::list(ctx, ns).await?;
            if let Some(a) = addrs
                .iter()
                .find(|a| a.interface == iface.name && ssh.contains(&a.address))
            {
                refusal = Some(format!(
                    "{} holds {}, the address of an SSH session: taking it down would cut that session off",
                    iface.name, a.address
                ));
            }
        }
    }
    Ok(Current { iface, refusal })
}

fn describe(i: &Interface) -> String {
    format!(
        "{}: {} (operational state {}, mtu {}{})",
        i.name,
        if i.up { "up" } else { "down" },
        i.state,
        i.mtu,
        i.mac
            .as_deref()
            .map(|m| format!(", mac {m}"))
            .unwrap_or_default()
    )
}

impl Tool for NetLink {
    type Args = NetLinkArgs;

    fn name(&self) -> &'static str {
        "net.link"
    }

    fn description(&self) -> &'static str {
        "Set a network interface administratively up or down (`ip link set`). Refuses the loopback interface, \
         the interface carrying a default route and the one an SSH session is connected through. Needs root; \
         the preview shows the interface's current state; undo is the opposite call."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Network]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "bring eth1 up",
                args: r#"{"interface": "eth1", "state": "up"}"#,
            },
            Example {
                request: "take the wlan0 interface down",
                args: r#"{"interface": "wlan0", "state": "down"}"#,
            },
            Example {
                request: "disable the veth0 link in namespace blue",
                args: r#"{"interface": "veth0", "state": "down", "netns": "blue"}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut NetLinkArgs, _home: Option<&Path>) -> Result<(), ToolError> {
        check_ifname(&args.interface)?;
        args.netns.as_deref().map(check_netns).transpose()?;
        Ok(())
    }

    fn resources(&self, _args: &NetLinkArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, args: &NetLinkArgs) -> String {
        format!("set interface {} {}", args.interface, args.state.as_str())
    }

    async fn assess(&self, ctx: &ToolCtx, args: &NetLinkArgs) -> Result<Assessment, ToolError> {
        let cur = current(ctx, args).await?;
        if let Some(why) = cur.refusal {
            return Err(ToolError::denied(format!("net.link refuses: {why}")));
        }
        let noop = cur.iface.up == (args.state == LinkState::Up);
        let summary = if noop {
            format!(
                "{} is already {}: nothing to do",
                cur.iface.name,
                args.state.as_str()
            )
        } else {
            format!(
                "set {} {} → {} (the run needs root)",
                cur.iface.name,
                if cur.iface.up { "up" } else { "down" },
                args.state.as_str()
            )
        };
        Ok(Assessment {
            effect: if noop { Risk::Read } else { Risk::Change },
            resources: vec![Resource::Network],
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected {
                    items: vec![describe(&cur.iface)],
                    bytes: None,
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: NetLinkArgs) -> Result<Value, ToolError> {
        let before = current(&ctx, &args).await?;
        if let Some(why) = before.refusal {
            return Err(ToolError::denied(format!("net.link refuses: {why}")));
        }
        let was_up = before.iface.up;
        let changed = was_up != (args.state == LinkState::Up);
        if changed {
            let mut argv: Vec<&str> = Vec::new();
            if let Some(ns) = &args.netns {
                argv.extend(["-n", ns.as_str()]);
            }
            argv.extend(["link", "set", "dev", &args.interface, args.state.as_str()]);
            let out = run_command(&ctx, "ip", &argv, Duration::from_secs(10), 64 * 1024).await?;
            if out.code != Some(0) {
                return Err(ip_failure(&argv, &out.stderr));
            }
            let undo = NetLinkArgs {
                state: args.state.opposite(),
                ..args.clone()
            };
            ctx.set_undo(UndoRecord {
                tool: "net.link".into(),
                args: crate::builtin::to_value(&undo)?,
                summary: format!("set {} {} again", args.interface, undo.state.as_str()),
            });
        }
        let after = current(&ctx, &args).await?.iface;
        let summary = if changed {
            format!(
                "{} is now {} (was {})",
                after.name,
                args.state.as_str(),
                if was_up { "up" } else { "down" }
            )
        } else {
            format!("{} was already {}", after.name, args.state.as_str())
        };
        crate::builtin::to_value(&LinkResult {
            summary,
            interface: after.name,
            was_up,
            up: after.up,
            state: after.state,
            changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testns::TestNs;
    use super::*;
    use crate::{Registry, ToolErrorKind};

    fn nobody_ctx() -> ToolCtx {
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

    #[tokio::test]
    async fn link_down_and_undo_in_a_test_namespace() {
        let Some(ns) = TestNs::with_veth("link") else {
            return;
        };
        let r = Registry::builtin();
        let args = serde_json::json!({"interface": "veth1", "state": "down", "netns": ns.0});
        let p = r.prepare("net.link", args.clone()).unwrap();
        let a = p.assess(&ToolCtx::local()).await.unwrap();
        assert_eq!(a.effect, Risk::Change);
        assert!(a.preview.summary.contains("up → down"), "{:?}", a.preview);
        match &a.preview.detail {
            PreviewDetail::Affected { items, .. } => {
                assert!(items[0].starts_with("veth1: up"), "{items:?}")
            }
            d => panic!("{d:?}"),
        }
        // Ordinary users may not: the kernel refuses `ip -n`, and we say so.
        let e = r
            .prepare("net.link", args.clone())
            .unwrap()
            .run(nobody_ctx())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("root"), "{e}");
        let ctx = ToolCtx::local();
        let v = p.run(ctx.clone()).await.unwrap();
        assert_eq!(v["changed"], true);
        assert_eq!(v["up"], false, "{v}");
        let out = std::process::Command::new("ip")
            .args(["-n", &ns.0, "-o", "link", "show", "veth1"])
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(",UP"),
            "really down"
        );
        let undo = ctx.take_undo().unwrap();
        assert_eq!(undo.tool, "net.link");
        assert_eq!(undo.args["state"], "up");
        let v = r
            .prepare(&undo.tool, undo.args)
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["up"], true, "{v}");
        // Doing it twice changes nothing and leaves no undo.
        let ctx = ToolCtx::local();
        let v = r
            .prepare(
                "net.link",
                serde_json::json!({"interface": "veth1", "state": "up", "netns": ns.0}),
            )
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        assert_eq!(v["changed"], false);
        assert!(ctx.take_undo().is_none());
    }

    #[tokio::test]
    async fn refuses_the_default_route_and_loopback() {
        let Some(ns) = TestNs::with_veth("linkno") else {
            return;
        };
        let r = Registry::builtin();
        for (ifname, why) in [("veth0", "default route"), ("lo", "loopback")] {
            let p = r
                .prepare(
                    "net.link",
                    serde_json::json!({"interface": ifname, "state": "down", "netns": ns.0}),
                )
                .unwrap();
            let e = p.assess(&ToolCtx::local()).await.unwrap_err();
            assert!(e.message().contains(why), "{e}");
            let e = p.run(ToolCtx::local()).await.unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied);
        }
        let e = r
            .prepare(
                "net.link",
                serde_json::json!({"interface": "nosuch0", "state": "up", "netns": ns.0}),
            )
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
    }
}

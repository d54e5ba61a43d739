//! `sec.ports_audit`: the listening sockets of `net.listening`, judged:
//! bound to every interface, to one address, or to loopback only, and
//! flagged when exposed on a port the caller did not list as expected.

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::net::listening::{Listener, listening};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.ports_audit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecPortsAudit;

/// Arguments of `sec.ports_audit`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortsAuditArgs {
    /// Ports that are meant to be reachable from the network. Default [22].
    #[serde(default = "default_expected")]
    pub expected_ports: Vec<u16>,
}

fn default_expected() -> Vec<u16> {
    vec![22]
}

/// One socket, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    /// The socket.
    #[serde(flatten)]
    pub socket: Listener,
    /// `all_interfaces`, `address` (one non-loopback address) or `loopback`.
    pub exposure: &'static str,
    /// Reachable from the network and not expected.
    pub flagged: bool,
    /// Why, for flagged sockets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct PortsAudit {
    /// One line for people.
    pub summary: String,
    /// Flagged sockets first, then by port.
    pub sockets: Vec<Exposure>,
    /// Sockets in all.
    pub total: usize,
    /// Never cut: a host has a bounded number of listening sockets.
    pub truncated: bool,
    /// Set when some owners could not be seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How reachable an address is.
pub fn exposure(addr: &str) -> &'static str {
    match addr.parse::<std::net::IpAddr>() {
        Ok(a) if a.is_unspecified() => "all_interfaces",
        Ok(a) if a.is_loopback() => "loopback",
        Ok(std::net::IpAddr::V6(a)) if a.to_ipv4_mapped().is_some_and(|v| v.is_loopback()) => {
            "loopback"
        }
        _ => "address",
    }
}

fn judge(sockets: Vec<Listener>, expected: &[u16]) -> Vec<Exposure> {
    let mut out: Vec<Exposure> = sockets
        .into_iter()
        .map(|s| {
            let exp = exposure(&s.address);
            let flagged = exp != "loopback" && !expected.contains(&s.port);
            let reason = flagged.then(|| {
                format!(
                    "{} port {} is reachable {} by {} and is not in expected_ports",
                    s.proto,
                    s.port,
                    if exp == "all_interfaces" {
                        "on every interface"
                    } else {
                        "on a network address"
                    },
                    s.process.as_deref().unwrap_or("an unknown process"),
                )
            });
            Exposure {
                socket: s,
                exposure: exp,
                flagged,
                reason,
            }
        })
        .collect();
    out.sort_by_key(|e| (!e.flagged, e.socket.port));
    out
}

impl Tool for SecPortsAudit {
    type Args = PortsAuditArgs;

    fn name(&self) -> &'static str {
        "sec.ports_audit"
    }

    fn description(&self) -> &'static str {
        "Audit listening sockets: which are bound to every interface, to one address, or to loopback only, with \
         the owning process, and which are reachable from the network on a port not listed in expected_ports \
         (default 22)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Network, ResourceKind::Port]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "which services are exposed to the network?",
                args: r#"{}"#,
            },
            Example {
                request: "audit open ports, only ssh and https should be reachable",
                args: r#"{"expected_ports": [22, 443]}"#,
            },
            Example {
                request: "is anything listening on all interfaces that shouldn't be",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut PortsAuditArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.expected_ports.sort_unstable();
        args.expected_ports.dedup();
        Ok(())
    }

    fn resources(&self, _args: &PortsAuditArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, _args: &PortsAuditArgs) -> String {
        "audit listening sockets for network exposure".into()
    }

    async fn run(&self, ctx: ToolCtx, args: PortsAuditArgs) -> Result<Value, ToolError> {
        let l = ctx.blocking(|ctx| listening(&ctx)).await?;
        let sockets = judge(l.sockets, &args.expected_ports);
        let total = sockets.len();
        let flagged: Vec<String> = sockets
            .iter()
            .filter(|s| s.flagged)
            .map(|s| format!("{}/{}", s.socket.port, s.socket.proto))
            .collect();
        let open = sockets.iter().filter(|s| s.exposure != "loopback").count();
        let summary = if flagged.is_empty() {
            format!(
                "{total} listening socket(s), {open} reachable from the network, none unexpected"
            )
        } else {
            format!(
                "{total} listening socket(s), {open} reachable from the network; unexpected: {}",
                flagged.join(", ")
            )
        };
        super::super::to_value(&PortsAudit {
            summary,
            sockets,
            total,
            truncated: false,
            note: l.note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn exposure_classes() {
        assert_eq!(exposure("0.0.0.0"), "all_interfaces");
        assert_eq!(exposure("::"), "all_interfaces");
        assert_eq!(exposure("127.0.0.1"), "loopback");
        assert_eq!(exposure("::1"), "loopback");
        assert_eq!(exposure("::ffff:127.0.0.1"), "loopback");
        assert_eq!(exposure("192.0.2.1"), "address");
    }

    #[tokio::test]
    async fn flags_our_wildcard_listener_and_not_our_loopback_one() {
        let open = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let open_port = open.local_addr().unwrap().port();
        let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local_port = local.local_addr().unwrap().port();
        let r = Registry::builtin();
        let v = r
            .prepare("sec.ports_audit", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let find = |v: &Value, port: u16| {
            v["sockets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["proto"] == "tcp" && s["port"] == port)
                .cloned()
                .unwrap()
        };
        let o = find(&v, open_port);
        assert_eq!(o["exposure"], "all_interfaces");
        assert_eq!(o["flagged"], true);
        assert_eq!(o["pid"], std::process::id());
        assert!(o["reason"].as_str().unwrap().contains("every interface"));
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("{open_port}/tcp"))
        );
        let l = find(&v, local_port);
        assert_eq!(l["exposure"], "loopback");
        assert_eq!(l["flagged"], false);
        // Listed as expected: no longer flagged.
        let v = r
            .prepare(
                "sec.ports_audit",
                serde_json::json!({"expected_ports": [open_port]}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(find(&v, open_port)["flagged"], false);
        drop((open, local));
    }
}

//! `net.routes`: the IPv4 and IPv6 routing tables (main table), default
//! routes first, from `ip -j route` or `/proc/net/route` and
//! `/proc/net/ipv6_route`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{check_limit, check_netns, ip_json};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.routes`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetRoutes;

fn default_limit() -> usize {
    200
}

/// Arguments of `net.routes`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetRoutesArgs {
    /// Network namespace to look in (a name from `ip netns list`); null for the host's own.
    #[serde(default)]
    pub netns: Option<String>,
    /// Most routes to return (default 200, at most 5000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One route.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Route {
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Destination prefix, or `default`.
    pub destination: String,
    /// Whether this is a default route.
    pub default: bool,
    /// Next hop, when not directly connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Outgoing interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Metric (lower wins), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<u64>,
    /// Who added it (`kernel`, `dhcp`, `static`…), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Preferred source address, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Routes {
    /// One line for a human.
    pub summary: String,
    /// Default routes first, then IPv4, then IPv6.
    pub routes: Vec<Route>,
    /// Routes found.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
    /// `ip` or `procfs`.
    pub backend: &'static str,
}

/// Routes from `ip -j -4|-6 route show` output.
pub fn from_ip(v: &Value, family: &'static str) -> Vec<Route> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let dst = r["dst"].as_str()?.to_string();
            // Unreachable/prohibit/blackhole routes have a "type" and no device.
            let s = |k: &str| r[k].as_str().map(str::to_string);
            Some(Route {
                family,
                default: dst == "default",
                destination: dst,
                gateway: s("gateway"),
                interface: s("dev"),
                metric: r["metric"].as_u64(),
                protocol: s("protocol"),
                source: s("prefsrc"),
            })
        })
        .collect()
}

/// IPv4 routes from `/proc/net/route` (addresses in host byte order).
pub fn from_proc_v4(text: &str) -> Vec<Route> {
    let hex4 = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let (dst, gw, mask) = (hex4(f[1])?, hex4(f[2])?, hex4(f[7])?);
            let flags = u16::from_str_radix(f[3], 16).ok()?;
            // RTF_UP
            if flags & 0x1 == 0 {
                return None;
            }
            let plen = mask.to_bits().count_ones();
            let default = plen == 0 && dst.is_unspecified();
            Some(Route {
                family: "ipv4",
                destination: if default {
                    "default".into()
                } else {
                    format!("{dst}/{plen}")
                },
                default,
                gateway: (!gw.is_unspecified()).then(|| gw.to_string()),
                interface: Some(f[0].to_string()),
                metric: f[6].parse().ok().filter(|m| *m > 0),
                protocol: None,
                source: None,
            })
        })
        .collect()
}

/// IPv6 routes from `/proc/net/ipv6_route` (addresses in network order).
pub fn from_proc_v6(text: &str) -> Vec<Route> {
    let hex6 = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let dst = hex6(f[0])?;
            let plen = u8::from_str_radix(f[1], 16).ok()?;
            let gw = hex6(f[4])?;
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            // RTF_UP, and not the local/multicast entries of other tables
            // (RTF_LOCAL 0x80000000 marks the host's own addresses).
            if flags & 0x1 == 0 || flags & 0x8000_0000 != 0 || f[9] == "lo" && plen == 128 {
                return None;
            }
            let default = plen == 0 && dst.is_unspecified();
            Some(Route {
                family: "ipv6",
                destination: if default {
                    "default".into()
                } else {
                    format!("{dst}/{plen}")
                },
                default,
                gateway: (!gw.is_unspecified()).then(|| gw.to_string()),
                interface: Some(f[9].to_string()),
                metric: u64::from_str_radix(f[5], 16).ok(),
                protocol: None,
                source: None,
            })
        })
        .collect()
}

/// Every route of the main table, default routes first, and the back-end.
pub(crate) async fn list(
    ctx: &ToolCtx,
    netns: Option<&str>,
) -> Result<(Vec<Route>, &'static str), ToolError> {
    let (mut routes, backend) = match ip_json(ctx, netns, &["-4", "route", "show"]).await? {
        Some(v4) => {
            let mut r = from_ip(&v4, "ipv4");
            if let Some(v6) = ip_json(ctx, netns, &["-6", "route", "show"]).await? {
                r.extend(from_ip(&v6, "ipv6"));
            }
            (r, "ip")
        }
        None => {
            let r = ctx
                .blocking(|_| {
                    let mut r = from_proc_v4(
                        &std::fs::read_to_string("/proc/net/route").unwrap_or_default(),
                    );
                    r.extend(from_proc_v6(
                        &std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default(),
                    ));
                    Ok(r)
                })
                .await?;
            (r, "procfs")
        }
    };
    // Stable: within a group the kernel's order (by prefix) is kept.
    routes.sort_by_key(|r| (!r.default, r.family != "ipv4"));
    Ok((routes, backend))
}

impl Tool for NetRoutes {
    type Args = NetRoutesArgs;

    fn name(&self) -> &'static str {
        "net.routes"
    }

    fn description(&self) -> &'static str {
        "Show the routing table (IPv4 and IPv6), default routes first: destination, gateway, interface, metric, \
         protocol. Answers 'what is my default gateway' and 'which interface reaches X'."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Network]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what is my default gateway?",
                args: r#"{}"#,
            },
            Example {
                request: "show the routing table",
                args: r#"{}"#,
            },
            Example {
                request: "list the routes in namespace blue",
                args: r#"{"netns": "blue"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut NetRoutesArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        check_limit("net.routes", args.limit, 5000)?;
        args.netns.as_deref().map(check_netns).transpose()?;
        Ok(())
    }

    fn resources(&self, _args: &NetRoutesArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, _args: &NetRoutesArgs) -> String {
        "show the routing table".into()
    }

    async fn run(&self, ctx: ToolCtx, args: NetRoutesArgs) -> Result<Value, ToolError> {
        let (mut routes, backend) = list(&ctx, args.netns.as_deref()).await?;
        let total = routes.len();
        routes.truncate(args.limit);
        let defaults: Vec<String> = routes
            .iter()
            .filter(|r| r.default)
            .map(|r| {
                format!(
                    "{} via {} dev {}",
                    r.family,
                    r.gateway.as_deref().unwrap_or("(direct)"),
                    r.interface.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let summary = format!(
            "{total} route(s); default: {}",
            if defaults.is_empty() {
                "none".to_string()
            } else {
                defaults.join("; ")
            }
        );
        crate::builtin::to_value(&Routes {
            summary,
            truncated: total > routes.len(),
            routes,
            total,
            backend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testns::TestNs;
    use super::*;
    use crate::Registry;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";
    const ROUTE6: &str = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
";

    #[test]
    fn procfs_tables_parse() {
        let r = from_proc_v4(ROUTE);
        assert_eq!(r.len(), 2);
        assert!(r[0].default);
        assert_eq!(r[0].gateway.as_deref(), Some("192.0.2.1"));
        assert_eq!(r[0].metric, Some(100));
        assert_eq!(r[1].destination, "192.0.2.0/24");
        assert_eq!(r[1].gateway, None);
        let r6 = from_proc_v6(ROUTE6);
        assert_eq!(r6.len(), 2, "{r6:?}");
        assert_eq!(r6[0].destination, "fd00::/64");
        assert!(r6[1].default);
        assert_eq!(r6[1].gateway.as_deref(), Some("fd00::1"));
    }

    #[tokio::test]
    async fn live_backends_agree_on_the_default_route() {
        let (ip, backend) = list(&ToolCtx::local(), None).await.unwrap();
        let proc = from_proc_v4(&std::fs::read_to_string("/proc/net/route").unwrap());
        let d1: Vec<_> = ip
            .iter()
            .filter(|r| r.default && r.family == "ipv4")
            .map(|r| r.gateway.clone())
            .collect();
        let d2: Vec<_> = proc
            .iter()
            .filter(|r| r.default)
            .map(|r| r.gateway.clone())
            .collect();
        if backend == "ip" {
            assert_eq!(d1, d2);
        }
        if !ip.is_empty() && ip.iter().any(|r| r.default) {
            assert!(ip[0].default, "default first: {ip:?}");
        }
    }

    #[tokio::test]
    async fn routes_in_a_test_namespace_default_first() {
        let Some(ns) = TestNs::with_veth("routes") else {
            return;
        };
        let v = Registry::builtin()
            .prepare("net.routes", serde_json::json!({"netns": ns.0}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let r = v["routes"].as_array().unwrap();
        assert_eq!(r[0]["default"], true, "{v}");
        assert_eq!(r[0]["gateway"], "192.0.2.1");
        assert_eq!(r[0]["interface"], "veth0");
        assert!(
            r.iter()
                .any(|r| r["destination"] == "198.51.100.0/24" && r["interface"] == "veth1")
        );
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .contains("via 192.0.2.1 dev veth0"),
            "{v}"
        );
    }
}

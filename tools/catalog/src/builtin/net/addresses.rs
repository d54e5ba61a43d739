//! `net.addresses`: IPv4 and IPv6 addresses per interface, from
//! `ip -j addr` or `getifaddrs(3)`.

use std::net::IpAddr;
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{check_ifname, check_limit, check_netns, ip_json};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.addresses`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetAddresses;

fn default_limit() -> usize {
    200
}

/// Arguments of `net.addresses`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetAddressesArgs {
    /// Only this interface (`eth0`); null for all.
    #[serde(default)]
    pub interface: Option<String>,
    /// Network namespace to look in (a name from `ip netns list`); null for the host's own.
    #[serde(default)]
    pub netns: Option<String>,
    /// Most addresses to return (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One address.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Address {
    /// Interface carrying it.
    pub interface: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// The address.
    pub address: String,
    /// Prefix length (`24` in `/24`).
    pub prefix_len: u8,
    /// `host`, `link` or `global`.
    pub scope: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Addresses {
    /// One line for a human.
    pub summary: String,
    /// Addresses, by interface then family.
    pub addresses: Vec<Address>,
    /// Addresses found.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
    /// `ip` or `getifaddrs`.
    pub backend: &'static str,
}

/// Addresses from `ip -j addr show` output.
pub fn from_ip(v: &Value) -> Vec<Address> {
    let mut out = Vec::new();
    for l in v.as_array().into_iter().flatten() {
        let Some(name) = l["ifname"].as_str() else {
            continue;
        };
        for a in l["addr_info"].as_array().into_iter().flatten() {
            let family = match a["family"].as_str() {
                Some("inet") => "ipv4",
                Some("inet6") => "ipv6",
                _ => continue,
            };
            let (Some(addr), Some(plen)) = (a["local"].as_str(), a["prefixlen"].as_u64()) else {
                continue;
            };
            out.push(Address {
                interface: name.to_string(),
                family,
                address: addr.to_string(),
                prefix_len: u8::try_from(plen).unwrap_or(0),
                scope: a["scope"].as_str().unwrap_or("global").to_string(),
            });
        }
    }
    out
}

/// The scope `ip` would print, derived from the address itself.
fn scope_of(a: &IpAddr) -> &'static str {
    match a {
        IpAddr::V4(v) if v.is_loopback() => "host",
        IpAddr::V4(v) if v.is_link_local() => "link",
        IpAddr::V6(v) if v.is_loopback() => "host",
        IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80 => "link",
        _ => "global",
    }
}

/// Addresses from `getifaddrs(3)` (this process's namespace).
pub fn from_getifaddrs() -> Result<Vec<Address>, ToolError> {
    let addrs =
        nix::ifaddrs::getifaddrs().map_err(|e| ToolError::failed(format!("getifaddrs: {e}")))?;
    let mut out = Vec::new();
    for ifa in addrs {
        let Some(sa) = ifa.address else { continue };
        let (ip, plen) = if let Some(v4) = sa.as_sockaddr_in() {
            let mask = ifa
                .netmask
                .and_then(|m| m.as_sockaddr_in().map(|m| m.ip().to_bits().count_ones()));
            (IpAddr::V4(v4.ip()), mask.unwrap_or(32))
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            let mask = ifa
                .netmask
                .and_then(|m| m.as_sockaddr_in6().map(|m| m.ip().to_bits().count_ones()));
            (IpAddr::V6(v6.ip()), mask.unwrap_or(128))
        } else {
            continue;
        };
        out.push(Address {
            interface: ifa.interface_name.clone(),
            family: if ip.is_ipv4() { "ipv4" } else { "ipv6" },
            address: ip.to_string(),
            prefix_len: u8::try_from(plen).unwrap_or(0),
            scope: scope_of(&ip).to_string(),
        });
    }
    Ok(out)
}

/// Every address of the namespace, and the back-end used.
pub(crate) async fn list(
    ctx: &ToolCtx,
    netns: Option<&str>,
) -> Result<(Vec<Address>, &'static str), ToolError> {
    match ip_json(ctx, netns, &["addr", "show"]).await? {
        Some(v) => Ok((from_ip(&v), "ip")),
        None => Ok((ctx.blocking(|_| from_getifaddrs()).await?, "getifaddrs")),
    }
}

impl Tool for NetAddresses {
    type Args = NetAddressesArgs;

    fn name(&self) -> &'static str {
        "net.addresses"
    }

    fn description(&self) -> &'static str {
        "List the IP addresses (IPv4 and IPv6) of each network interface with prefix length and scope. \
         Answers 'what is my IP address'. Optionally one interface, or a named network namespace."
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
                request: "what is my IP address?",
                args: r#"{}"#,
            },
            Example {
                request: "which addresses does eth0 have",
                args: r#"{"interface": "eth0"}"#,
            },
            Example {
                request: "show me the IPv6 addresses",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut NetAddressesArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        check_limit("net.addresses", args.limit, 2000)?;
        args.netns.as_deref().map(check_netns).transpose()?;
        args.interface.as_deref().map(check_ifname).transpose()?;
        Ok(())
    }

    fn resources(&self, _args: &NetAddressesArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, args: &NetAddressesArgs) -> String {
        match &args.interface {
            Some(i) => format!("list the addresses of {i}"),
            None => "list the IP addresses of every interface".into(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: NetAddressesArgs) -> Result<Value, ToolError> {
        let (mut all, backend) = list(&ctx, args.netns.as_deref()).await?;
        if let Some(want) = &args.interface {
            all.retain(|a| &a.interface == want);
            if all.is_empty() {
                let (ifs, _) = super::interfaces::list(&ctx, args.netns.as_deref()).await?;
                if !ifs.iter().any(|i| &i.name == want) {
                    return Err(ToolError::not_found(format!(
                        "no interface named {want}; net.interfaces lists them"
                    )));
                }
            }
        }
        let total = all.len();
        all.truncate(args.limit);
        let globals: Vec<String> = all
            .iter()
            .filter(|a| a.scope == "global")
            .take(6)
            .map(|a| format!("{} {}/{}", a.interface, a.address, a.prefix_len))
            .collect();
        let summary = format!(
            "{total} address(es); global: {}",
            if globals.is_empty() {
                "none".to_string()
            } else {
                globals.join(", ")
            }
        );
        crate::builtin::to_value(&Addresses {
            summary,
            truncated: total > all.len(),
            addresses: all,
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

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("net.addresses", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn loopback_address_from_both_backends() {
        let v = call(serde_json::json!({"interface": "lo"})).await.unwrap();
        let a = v["addresses"].as_array().unwrap();
        assert!(
            a.iter().any(|a| a["address"] == "127.0.0.1"
                && a["prefix_len"] == 8
                && a["scope"] == "host"),
            "{v}"
        );
        let g = from_getifaddrs().unwrap();
        assert!(g.iter().any(|a| a.interface == "lo"
            && a.address == "127.0.0.1"
            && a.prefix_len == 8
            && a.scope == "host"));
        let e = call(serde_json::json!({"interface": "nosuchif0"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound, "{e}");
        let e = call(serde_json::json!({"interface": "eth0;ls"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`interface`"), "{e}");
    }

    #[tokio::test]
    async fn addresses_in_a_test_namespace() {
        let Some(ns) = TestNs::with_veth("addr") else {
            return;
        };
        let v = call(serde_json::json!({"netns": ns.0, "interface": "veth1"}))
            .await
            .unwrap();
        let a = v["addresses"].as_array().unwrap();
        assert!(
            a.iter().any(|a| a["address"] == "198.51.100.7"
                && a["prefix_len"] == 24
                && a["family"] == "ipv4"),
            "{v}"
        );
        assert!(a.iter().all(|a| a["interface"] == "veth1"));
        assert!(
            v["summary"].as_str().unwrap().contains("198.51.100.7"),
            "{v}"
        );
    }
}

//! `net.interfaces`: network interfaces with state, MTU, MAC address and
//! traffic counters, from `ip -j -s link` or `/sys/class/net`.

use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{check_limit, check_netns, ip_json};
use crate::util::human_bytes;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.interfaces`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetInterfaces;

fn default_limit() -> usize {
    100
}

/// Arguments of `net.interfaces`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetInterfacesArgs {
    /// Network namespace to look in (a name from `ip netns list`); null for the host's own.
    #[serde(default)]
    pub netns: Option<String>,
    /// Most interfaces to return (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One interface.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Administratively up (`ip link set … up`).
    pub up: bool,
    /// Operational state: `up`, `down`, `unknown` (loopback, dummies), `lowerlayerdown`…
    pub state: String,
    /// Maximum transmission unit.
    pub mtu: u32,
    /// Hardware address, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Link type (`ether`, `loopback`, `none`…).
    pub link_type: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
    /// Traffic, human: `rx 1.2 GiB, tx 300 MiB`.
    pub traffic: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Interfaces {
    /// One line for a human.
    pub summary: String,
    /// Interfaces by index.
    pub interfaces: Vec<Interface>,
    /// Interfaces found.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
    /// Where the data came from: `ip` or `sysfs`.
    pub backend: &'static str,
}

/// Interfaces from `ip -j -s link show` output.
pub fn from_ip(v: &Value) -> Vec<Interface> {
    let Some(arr) = v.as_array() else {
        return Vec::new();
    };
    arr.iter()
        .filter_map(|l| {
            let name = l["ifname"].as_str()?.to_string();
            let flags: Vec<&str> = l["flags"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let st = |dir: &str, k: &str| l["stats64"][dir][k].as_u64().unwrap_or(0);
            Some(finish(Interface {
                name,
                index: u32::try_from(l["ifindex"].as_u64()?).ok()?,
                up: flags.contains(&"UP"),
                state: l["operstate"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_ascii_lowercase(),
                mtu: u32::try_from(l["mtu"].as_u64().unwrap_or(0)).unwrap_or(0),
                mac: l["address"].as_str().map(str::to_string),
                link_type: l["link_type"].as_str().unwrap_or("unknown").to_string(),
                rx_bytes: st("rx", "bytes"),
                tx_bytes: st("tx", "bytes"),
                rx_packets: st("rx", "packets"),
                tx_packets: st("tx", "packets"),
                rx_errors: st("rx", "errors"),
                tx_errors: st("tx", "errors"),
                rx_dropped: st("rx", "dropped"),
                tx_dropped: st("tx", "dropped"),
                traffic: String::new(),
            }))
        })
        .collect()
}

fn finish(mut i: Interface) -> Interface {
    // A MAC of all zeroes (loopback, tunnels) is no address.
    if i.mac
        .as_deref()
        .is_some_and(|m| m.chars().all(|c| c == '0' || c == ':'))
    {
        i.mac = None;
    }
    i.traffic = format!(
        "rx {}, tx {}",
        human_bytes(i.rx_bytes),
        human_bytes(i.tx_bytes)
    );
    i
}

/// Interfaces from `/sys/class/net` (this process's namespace).
pub fn from_sysfs(root: &Path) -> Vec<Interface> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let dir = e.path();
            let name = e.file_name().to_str()?.to_string();
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            let num = |f: &str| read(f).parse::<u64>().unwrap_or(0);
            let flags =
                u64::from_str_radix(read("flags").trim_start_matches("0x"), 16).unwrap_or(0);
            let link_type = match num("type") {
                1 => "ether",
                772 => "loopback",
                65534 => "none",
                _ => "other",
            };
            let mac = read("address");
            Some(finish(Interface {
                index: u32::try_from(num("ifindex")).ok()?,
                up: flags & 1 != 0,
                state: read("operstate"),
                mtu: u32::try_from(num("mtu")).unwrap_or(0),
                mac: (!mac.is_empty()).then_some(mac),
                link_type: link_type.to_string(),
                rx_bytes: num("statistics/rx_bytes"),
                tx_bytes: num("statistics/tx_bytes"),
                rx_packets: num("statistics/rx_packets"),
                tx_packets: num("statistics/tx_packets"),
                rx_errors: num("statistics/rx_errors"),
                tx_errors: num("statistics/tx_errors"),
                rx_dropped: num("statistics/rx_dropped"),
                tx_dropped: num("statistics/tx_dropped"),
                traffic: String::new(),
                name,
            }))
        })
        .collect()
}

/// Every interface of the namespace, by index, and the back-end used.
pub(crate) async fn list(
    ctx: &ToolCtx,
    netns: Option<&str>,
) -> Result<(Vec<Interface>, &'static str), ToolError> {
    let (mut ifs, backend) = match ip_json(ctx, netns, &["-s", "link", "show"]).await? {
        Some(v) => (from_ip(&v), "ip"),
        None => (
            ctx.blocking(|_| Ok(from_sysfs(Path::new("/sys/class/net"))))
                .await?,
            "sysfs",
        ),
    };
    ifs.sort_by_key(|i| i.index);
    Ok((ifs, backend))
}

impl Tool for NetInterfaces {
    type Args = NetInterfacesArgs;

    fn name(&self) -> &'static str {
        "net.interfaces"
    }

    fn description(&self) -> &'static str {
        "List network interfaces: name, whether it is up, operational state, MTU, MAC address and traffic counters \
         (bytes, packets, errors, drops). Optionally in a named network namespace."
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
                request: "what network interfaces do I have?",
                args: r#"{}"#,
            },
            Example {
                request: "is eth0 up",
                args: r#"{}"#,
            },
            Example {
                request: "show the interfaces in the blue namespace",
                args: r#"{"netns": "blue"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut NetInterfacesArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        check_limit("net.interfaces", args.limit, 1000)?;
        args.netns.as_deref().map(check_netns).transpose()?;
        Ok(())
    }

    fn resources(&self, _args: &NetInterfacesArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, args: &NetInterfacesArgs) -> String {
        match &args.netns {
            Some(ns) => format!("list the network interfaces of namespace {ns}"),
            None => "list the network interfaces".into(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: NetInterfacesArgs) -> Result<Value, ToolError> {
        let (mut ifs, backend) = list(&ctx, args.netns.as_deref()).await?;
        let total = ifs.len();
        ifs.truncate(args.limit);
        let up: Vec<&str> = ifs
            .iter()
            .filter(|i| i.up && i.link_type != "loopback")
            .map(|i| i.name.as_str())
            .collect();
        let summary = format!(
            "{total} interface(s); up besides loopback: {}",
            if up.is_empty() {
                "none".to_string()
            } else {
                up.join(", ")
            }
        );
        crate::builtin::to_value(&Interfaces {
            summary,
            truncated: total > ifs.len(),
            interfaces: ifs,
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
            .prepare("net.interfaces", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn loopback_is_listed_by_both_backends() {
        let v = call(serde_json::json!({})).await.unwrap();
        let ifs = v["interfaces"].as_array().unwrap();
        let lo = ifs.iter().find(|i| i["name"] == "lo").unwrap();
        assert_eq!(lo["link_type"], "loopback");
        assert!(lo.get("mac").is_none(), "{lo}");
        let sys = from_sysfs(Path::new("/sys/class/net"));
        let lo2 = sys.iter().find(|i| i.name == "lo").unwrap();
        assert_eq!(lo2.index, lo["index"].as_u64().unwrap() as u32);
        assert_eq!(lo2.mtu, lo["mtu"].as_u64().unwrap() as u32);
        assert_eq!(lo2.link_type, "loopback");
    }

    #[tokio::test]
    async fn interfaces_in_a_test_namespace() {
        let Some(ns) = TestNs::with_veth("ifs") else {
            return;
        };
        let v = call(serde_json::json!({"netns": ns.0})).await.unwrap();
        assert_eq!(v["backend"], "ip");
        assert_eq!(v["total"], 3, "{v}");
        let d = v["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "veth0")
            .unwrap()
            .clone();
        assert_eq!(d["up"], true);
        assert_eq!(d["link_type"], "ether");
        assert!(d["mac"].as_str().unwrap().len() == 17, "{d}");
        assert!(v["summary"].as_str().unwrap().contains("veth0"), "{v}");
        let v = call(serde_json::json!({"netns": ns.0, "limit": 1}))
            .await
            .unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["interfaces"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_arguments_are_refused() {
        let e = call(serde_json::json!({"netns": "../x"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`netns`"), "{e}");
        let e = call(serde_json::json!({"limit": 0})).await.unwrap_err();
        assert!(e.message().contains("`limit`"), "{e}");
        let e = call(serde_json::json!({"netns": "aios-no-such-ns"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("aios-no-such-ns"), "{e}");
    }
}

//! `net.listening`: listening TCP and bound UDP sockets from `/proc/net`,
//! with the owning process found through `/proc/<pid>/fd` socket inodes.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::procfs::{self, UserNames};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.listening`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetListening;

/// `net.listening` takes no arguments.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A socket line of `/proc/net/{tcp,udp}[6]` that is listening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocket {
    /// Local address.
    pub addr: IpAddr,
    /// Local port.
    pub port: u16,
    /// Owning uid.
    pub uid: u32,
    /// Socket inode.
    pub inode: u64,
}

/// Parse a `/proc/net` table, keeping listening TCP sockets (state `0A`)
/// or, with `udp`, bound unconnected UDP sockets (state `07`, no peer).
pub fn parse_net_table(text: &str, udp: bool) -> Vec<RawSocket> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let (laddr, lport) = parse_endpoint(f[1])?;
            let (_, rport) = parse_endpoint(f[2])?;
            let listening = if udp {
                f[3] == "07" && rport == 0
            } else {
                f[3] == "0A"
            };
            if !listening {
                return None;
            }
            Some(RawSocket {
                addr: laddr,
                port: lport,
                uid: f[7].parse().ok()?,
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:0CEA` → (127.0.0.1, 3306). The address words are printed in
/// host byte order, so their native-endian bytes are the address bytes.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let addr = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(a, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
                b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((addr, port))
}

/// A listening socket as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// Local address (`0.0.0.0` / `::` mean every interface).
    pub address: String,
    /// Local port.
    pub port: u16,
    /// Socket owner's login name.
    pub user: String,
    /// Owning process id, when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Owning process name, when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Listening {
    /// Sockets, by port then protocol.
    pub sockets: Vec<Listener>,
    /// Set when some owners could not be seen (other users' processes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Socket inode → (pid, process name, process uid).
type Owners = HashMap<u64, (u32, String, u32)>;

/// Map socket inodes to their owners by reading `/proc/*/fd` links.
/// Returns the map and how many processes could not be inspected.
fn socket_owners(ctx: &ToolCtx, wanted: &HashSet<u64>) -> Result<(Owners, usize), ToolError> {
    let mut owners = HashMap::new();
    let mut hidden = 0;
    for pid in procfs::pids() {
        ctx.check_cancelled()?;
        let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            hidden += 1;
            continue;
        };
        let mut info: Option<(String, u32)> = None;
        for fd in rd.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if !wanted.contains(&inode) || owners.contains_key(&inode) {
                continue;
            }
            if info.is_none() {
                let Some(p) = procfs::read_process(pid) else {
                    break;
                };
                info = Some((p.stat.comm, p.uid));
            }
            if let Some((name, uid)) = &info {
                owners.insert(inode, (pid, name.clone(), *uid));
            }
        }
    }
    Ok((owners, hidden))
}

pub(crate) fn listening(ctx: &ToolCtx) -> Result<Listening, ToolError> {
    let mut raw = Vec::new();
    for (file, proto, udp) in [
        ("/proc/net/tcp", "tcp", false),
        ("/proc/net/tcp6", "tcp", false),
        ("/proc/net/udp", "udp", true),
        ("/proc/net/udp6", "udp", true),
    ] {
        // A kernel without IPv6 has no *6 files; that is not an error.
        if let Ok(text) = std::fs::read_to_string(file) {
            raw.extend(parse_net_table(&text, udp).into_iter().map(|s| (proto, s)));
        }
    }
    let wanted: HashSet<u64> = raw.iter().map(|(_, s)| s.inode).collect();
    let (owners, hidden) = socket_owners(ctx, &wanted)?;
    // On behalf of an ordinary user, show only their own processes, as the
    // kernel would.
    let who = ctx.access().identity().uid;
    let restricted = ctx.access().enforced() && who != 0;
    let mut names = UserNames::default();
    let mut unknown = 0;
    let mut sockets: Vec<Listener> = raw
        .into_iter()
        .map(|(proto, s)| {
            let owner = owners
                .get(&s.inode)
                .filter(|(_, _, uid)| !restricted || *uid == who);
            if owner.is_none() {
                unknown += 1;
            }
            Listener {
                proto,
                address: s.addr.to_string(),
                port: s.port,
                user: names.name(s.uid),
                pid: owner.map(|o| o.0),
                process: owner.map(|o| o.1.clone()),
            }
        })
        .collect();
    sockets.sort_by(|a, b| (a.port, a.proto, &a.address).cmp(&(b.port, b.proto, &b.address)));
    sockets.dedup_by(|a, b| {
        a.port == b.port && a.proto == b.proto && a.address == b.address && a.pid == b.pid
    });
    let note = (unknown > 0 && (hidden > 0 || restricted)).then(|| {
        format!("{unknown} socket(s) have no visible owner: their processes belong to other users (run as an administrator to see them)")
    });
    Ok(Listening { sockets, note })
}

impl Tool for NetListening {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "net.listening"
    }

    fn description(&self) -> &'static str {
        "List listening TCP sockets and bound UDP sockets (IPv4 and IPv6): address, port, owning user and, when \
         visible, the owning process id and name. Answers 'what is listening on port N' and 'what services are exposed'."
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
                request: "which ports are open?",
                args: r#"{}"#,
            },
            Example {
                request: "what is listening on the network",
                args: r#"{}"#,
            },
            Example {
                request: "is anything listening on port 80",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "list listening network sockets".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        ctx.blocking(|ctx| super::to_value(&listening(&ctx)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D2C4 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000  1000        0 23456 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn parses_tcp_listeners_only() {
        let s = parse_net_table(TCP, false);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s[0].port, 3306);
        assert_eq!(s[0].uid, 999);
        assert_eq!(s[0].inode, 12345);
    }

    #[test]
    fn parses_ipv6_endpoints() {
        let (a, p) = parse_endpoint("00000000000000000000000001000000:0016").unwrap();
        assert_eq!(a, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(p, 22);
        assert!(parse_endpoint("zz:1").is_none());
    }

    #[tokio::test]
    async fn our_tcp_listener_appears_with_our_pid() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = u.local_addr().unwrap().port();
        let v = crate::Registry::builtin()
            .prepare("net.listening", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let socks = v["sockets"].as_array().unwrap();
        let tcp = socks
            .iter()
            .find(|s| s["proto"] == "tcp" && s["port"] == port)
            .unwrap();
        assert_eq!(tcp["address"], "127.0.0.1");
        assert_eq!(tcp["pid"], std::process::id());
        let udp = socks
            .iter()
            .find(|s| s["proto"] == "udp" && s["port"] == uport)
            .unwrap();
        assert_eq!(udp["pid"], std::process::id());
        drop((l, u));
    }
}

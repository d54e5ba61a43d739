//! Sockets from `/proc/net/{tcp,udp}[6]` and their owners, found through
//! the socket inodes behind `/proc/<pid>/fd` links. Shared by
//! `net.listening`, `net.connections`, `process.info` and `process.find`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::procfs;
use crate::{ToolCtx, ToolError};

/// One line of a `/proc/net` socket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocket {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// Local address.
    pub addr: IpAddr,
    /// Local port.
    pub port: u16,
    /// Remote address.
    pub remote_addr: IpAddr,
    /// Remote port (0 when unconnected).
    pub remote_port: u16,
    /// Kernel state code (`0A` listen, `01` established…).
    pub state: u8,
    /// Owning uid.
    pub uid: u32,
    /// Socket inode.
    pub inode: u64,
}

impl RawSocket {
    /// A listening TCP socket, or a bound unconnected UDP socket.
    pub fn is_listening(&self) -> bool {
        match self.proto {
            "udp" => self.state == 0x07 && self.remote_port == 0,
            _ => self.state == 0x0A,
        }
    }

    /// The state's name as `ss` prints it (lower case).
    pub fn state_name(&self) -> &'static str {
        if self.proto == "udp" {
            return if self.remote_port == 0 {
                "unconn"
            } else {
                "connected"
            };
        }
        tcp_state_name(self.state)
    }
}

/// TCP state names, by the kernel's numbering (`include/net/tcp_states.h`).
pub const TCP_STATES: [&str; 12] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "new_syn_recv",
];

/// The name of TCP state `code`, `unknown` outside the table.
pub fn tcp_state_name(code: u8) -> &'static str {
    usize::from(code)
        .checked_sub(1)
        .and_then(|i| TCP_STATES.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// Parse a `/proc/net` table of protocol `proto`, skipping malformed lines.
pub fn parse_table(text: &str, proto: &'static str) -> Vec<RawSocket> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let (addr, port) = parse_endpoint(f[1])?;
            let (remote_addr, remote_port) = parse_endpoint(f[2])?;
            Some(RawSocket {
                proto,
                addr,
                port,
                remote_addr,
                remote_port,
                state: u8::from_str_radix(f[3], 16).ok()?,
                uid: f[7].parse().ok()?,
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:0CEA` → (127.0.0.1, 3306). The address words are printed in
/// host byte order, so their native-endian bytes are the address bytes.
pub fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
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

/// Every TCP and UDP socket of this network namespace, IPv4 and IPv6.
pub fn all_sockets() -> Vec<RawSocket> {
    let mut out = Vec::new();
    for (file, proto) in [
        ("/proc/net/tcp", "tcp"),
        ("/proc/net/tcp6", "tcp"),
        ("/proc/net/udp", "udp"),
        ("/proc/net/udp6", "udp"),
    ] {
        // A kernel without IPv6 has no *6 files; that is not an error.
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_table(&text, proto));
        }
    }
    out
}

/// Who owns a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// The process's real uid.
    pub uid: u32,
}

/// Socket inode → owner.
pub type Owners = HashMap<u64, Owner>;

/// The socket inodes open in process `pid` (empty when its descriptors
/// cannot be read: another user's process, or gone).
pub fn socket_inodes_of(pid: u32) -> Option<Vec<u64>> {
    let rd = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        rd.flatten()
            .filter_map(|fd| {
                let target = std::fs::read_link(fd.path()).ok()?;
                target
                    .to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .collect(),
    )
}

/// Map socket inodes in `wanted` to their owners by reading `/proc/*/fd`
/// links (with the caller's credentials when the context has them).
/// Returns the map and how many processes could not be inspected.
pub fn socket_owners(ctx: &ToolCtx, wanted: &HashSet<u64>) -> Result<(Owners, usize), ToolError> {
    let mut owners = HashMap::new();
    let mut hidden = 0;
    for pid in procfs::pids() {
        ctx.check_cancelled()?;
        let Some(inodes) = socket_inodes_of(pid) else {
            hidden += 1;
            continue;
        };
        let mut info: Option<(String, u32)> = None;
        for inode in inodes {
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
                owners.insert(
                    inode,
                    Owner {
                        pid,
                        name: name.clone(),
                        uid: *uid,
                    },
                );
            }
        }
    }
    Ok((owners, hidden))
}

/// Whether owners are limited to the caller's own processes (acting for
/// an ordinary user, show what the kernel would show them).
pub fn restricted_to(ctx: &ToolCtx) -> Option<u32> {
    let who = ctx.access().identity().uid;
    (ctx.access().enforced() && who != 0).then_some(who)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D2C4 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000  1000        0 23456 1 0000000000000000 20 4 30 10 -1
   2: garbage
";

    #[test]
    fn parses_every_state() {
        let s = parse_table(TCP, "tcp");
        assert_eq!(s.len(), 2);
        assert!(s[0].is_listening());
        assert_eq!(s[0].state_name(), "listen");
        assert_eq!(s[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s[0].port, 3306);
        assert!(!s[1].is_listening());
        assert_eq!(s[1].state_name(), "established");
        assert_eq!(s[1].remote_port, 3306);
        assert_eq!(s[1].uid, 1000);
        assert_eq!(tcp_state_name(0), "unknown");
        assert_eq!(tcp_state_name(99), "unknown");
    }

    #[test]
    fn parses_ipv6_endpoints() {
        let (a, p) = parse_endpoint("00000000000000000000000001000000:0016").unwrap();
        assert_eq!(a, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(p, 22);
        assert!(parse_endpoint("zz:1").is_none());
    }

    #[test]
    fn our_socket_is_owned_by_us() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let s = all_sockets()
            .into_iter()
            .find(|s| s.port == port && s.is_listening())
            .unwrap();
        let wanted = HashSet::from([s.inode]);
        let (owners, _) = socket_owners(&ToolCtx::local(), &wanted).unwrap();
        assert_eq!(owners[&s.inode].pid, std::process::id());
        assert!(
            socket_inodes_of(std::process::id())
                .unwrap()
                .contains(&s.inode)
        );
    }
}

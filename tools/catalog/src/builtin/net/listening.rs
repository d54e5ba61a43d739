//! `net.listening`: listening TCP and bound UDP sockets from `/proc/net`,
//! with the owning process found through `/proc/<pid>/fd` socket inodes
//! ([`super::sockets`]).

use std::collections::HashSet;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sockets::{all_sockets, restricted_to, socket_owners};
use crate::procfs::UserNames;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.listening`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetListening;

/// `net.listening` takes no arguments.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

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
    /// One line for a human.
    pub summary: String,
    /// Sockets, by port then protocol.
    pub sockets: Vec<Listener>,
    /// Set when some owners could not be seen (other users' processes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub(crate) fn listening(ctx: &ToolCtx) -> Result<Listening, ToolError> {
    let raw: Vec<_> = all_sockets()
        .into_iter()
        .filter(|s| s.is_listening())
        .collect();
    let wanted: HashSet<u64> = raw.iter().map(|s| s.inode).collect();
    let (owners, hidden) = socket_owners(ctx, &wanted)?;
    let who = restricted_to(ctx);
    let restricted = who.is_some();
    let mut names = UserNames::default();
    let mut unknown = 0;
    let mut sockets: Vec<Listener> = raw
        .into_iter()
        .map(|s| {
            let owner = owners
                .get(&s.inode)
                .filter(|o| who.is_none_or(|w| o.uid == w));
            if owner.is_none() {
                unknown += 1;
            }
            Listener {
                proto: s.proto,
                address: s.addr.to_string(),
                port: s.port,
                user: names.name(s.uid),
                pid: owner.map(|o| o.pid),
                process: owner.map(|o| o.name.clone()),
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
    let mut ports: Vec<u16> = sockets.iter().map(|s| s.port).collect();
    ports.dedup();
    let shown: Vec<String> = ports.iter().take(10).map(u16::to_string).collect();
    let summary = format!(
        "{} listening socket(s) on {} port(s){}{}",
        sockets.len(),
        ports.len(),
        if shown.is_empty() { "" } else { ": " },
        shown.join(", ") + if ports.len() > 10 { ", …" } else { "" }
    );
    Ok(Listening {
        summary,
        sockets,
        note,
    })
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
        ctx.blocking(|ctx| crate::builtin::to_value(&listening(&ctx)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(v["summary"].as_str().unwrap().contains("listening"), "{v}");
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

//! `net.connections`: TCP and UDP sockets in every state with their owning
//! process, filtered by state, protocol and port, capped.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check_limit;
use super::sockets::{TCP_STATES, all_sockets, restricted_to, socket_owners};
use crate::procfs::UserNames;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.connections`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetConnections;

/// Protocol filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
}

fn default_limit() -> usize {
    100
}

/// Arguments of `net.connections`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetConnectionsArgs {
    /// Only sockets in this state: a TCP state (established, listen, time_wait, close_wait, syn_sent…) or, for UDP, unconn/connected; null for all.
    #[serde(default)]
    pub state: Option<String>,
    /// Only sockets with this local or remote port; null for all.
    #[serde(default)]
    pub port: Option<u16>,
    /// Only this protocol (tcp or udp); null for both.
    #[serde(default)]
    pub proto: Option<Proto>,
    /// Most sockets to return (default 100, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One socket.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// State (`established`, `listen`…; `unconn`/`connected` for UDP).
    pub state: &'static str,
    /// Local address.
    pub local_address: String,
    /// Local port.
    pub local_port: u16,
    /// Remote address.
    pub remote_address: String,
    /// Remote port (0 when unconnected).
    pub remote_port: u16,
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
pub struct Connections {
    /// One line for a human.
    pub summary: String,
    /// Sockets, by protocol, state, then local port.
    pub connections: Vec<Connection>,
    /// Sockets that matched the filters.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
    /// Matching sockets per state.
    pub by_state: BTreeMap<&'static str, usize>,
    /// Set when some owners could not be seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn connections(ctx: &ToolCtx, args: &NetConnectionsArgs) -> Result<Connections, ToolError> {
    let mut raw = all_sockets();
    raw.retain(|s| {
        args.proto.is_none_or(|p| match p {
            Proto::Tcp => s.proto == "tcp",
            Proto::Udp => s.proto == "udp",
        }) && args.port.is_none_or(|p| s.port == p || s.remote_port == p)
            && args.state.as_deref().is_none_or(|st| s.state_name() == st)
    });
    // Sockets in TIME_WAIT have no inode (no process holds them).
    let wanted: HashSet<u64> = raw.iter().map(|s| s.inode).filter(|i| *i != 0).collect();
    let (owners, hidden) = socket_owners(ctx, &wanted)?;
    let who = restricted_to(ctx);
    let mut names = UserNames::default();
    let mut by_state = BTreeMap::new();
    let mut unknown = 0;
    let mut rows: Vec<Connection> = raw
        .into_iter()
        .map(|s| {
            *by_state.entry(s.state_name()).or_insert(0) += 1;
            let owner = owners
                .get(&s.inode)
                .filter(|o| who.is_none_or(|w| o.uid == w));
            if owner.is_none() && s.inode != 0 {
                unknown += 1;
            }
            Connection {
                proto: s.proto,
                state: s.state_name(),
                local_address: s.addr.to_string(),
                local_port: s.port,
                remote_address: s.remote_addr.to_string(),
                remote_port: s.remote_port,
                user: names.name(s.uid),
                pid: owner.map(|o| o.pid),
                process: owner.map(|o| o.name.clone()),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.proto, a.state, a.local_port, a.remote_port).cmp(&(
            b.proto,
            b.state,
            b.local_port,
            b.remote_port,
        ))
    });
    let total = rows.len();
    rows.truncate(args.limit);
    let states: Vec<String> = by_state.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let summary = format!(
        "{total} socket(s){}",
        if states.is_empty() {
            String::new()
        } else {
            format!(": {}", states.join(", "))
        }
    );
    let note = (unknown > 0 && (hidden > 0 || who.is_some())).then(|| {
        format!("{unknown} socket(s) have no visible owner: their processes belong to other users (run as an administrator to see them)")
    });
    Ok(Connections {
        summary,
        truncated: total > rows.len(),
        connections: rows,
        total,
        by_state,
        note,
    })
}

impl Tool for NetConnections {
    type Args = NetConnectionsArgs;

    fn name(&self) -> &'static str {
        "net.connections"
    }

    fn description(&self) -> &'static str {
        "List TCP and UDP sockets in every state (established, listening, time_wait…) with local and remote \
         endpoints and the owning process; filter by state, protocol or port. Answers 'who is connected to this \
         machine' and 'which process talks to port 443'."
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
                request: "who is connected to this machine?",
                args: r#"{"state": "established"}"#,
            },
            Example {
                request: "which connections use port 443",
                args: r#"{"port": 443}"#,
            },
            Example {
                request: "show all open network connections",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut NetConnectionsArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        check_limit("net.connections", args.limit, 2000)?;
        if let Some(st) = &mut args.state {
            *st = st.trim().to_ascii_lowercase().replace('-', "_");
            if !TCP_STATES.contains(&st.as_str()) && st != "unconn" && st != "connected" {
                return Err(ToolError::invalid(format!(
                    "net.connections: field `state`: unknown state {st:?}; use one of {}, unconn, connected",
                    TCP_STATES.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn resources(&self, args: &NetConnectionsArgs) -> Vec<Resource> {
        let mut r = vec![Resource::Network];
        r.extend(args.port.map(Resource::Port));
        r
    }

    fn preview(&self, _args: &NetConnectionsArgs) -> String {
        "list network connections".into()
    }

    async fn run(&self, ctx: ToolCtx, args: NetConnectionsArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| crate::builtin::to_value(&connections(&ctx, &args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("net.connections", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn an_established_pair_is_seen_with_its_owner() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_s, _) = l.accept().unwrap();
        let v = call(serde_json::json!({"port": port, "state": "ESTABLISHED"}))
            .await
            .unwrap();
        let rows = v["connections"].as_array().unwrap();
        // Both ends of the pair: the client's and the accepted socket.
        assert_eq!(rows.len(), 2, "{v}");
        assert!(
            rows.iter()
                .all(|r| r["state"] == "established" && r["pid"] == std::process::id())
        );
        assert_eq!(v["by_state"]["established"], 2);
        assert!(
            v["summary"].as_str().unwrap().contains("2 established"),
            "{v}"
        );
        let v = call(serde_json::json!({"port": port, "state": "listen", "proto": "tcp"}))
            .await
            .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        let v = call(serde_json::json!({"port": port, "proto": "udp"}))
            .await
            .unwrap();
        assert_eq!(v["total"], 0, "{v}");
        let v = call(serde_json::json!({"port": port, "limit": 1}))
            .await
            .unwrap();
        assert_eq!(v["truncated"], true);
        drop(c);
    }

    #[tokio::test]
    async fn unknown_state_is_refused_with_the_list() {
        let e = call(serde_json::json!({"state": "open"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("established"), "{e}");
    }
}

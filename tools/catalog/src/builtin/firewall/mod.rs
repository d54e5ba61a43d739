//! The `firewall.*` tools over nftables: `list` (the whole rule set from
//! `nft -j list ruleset`, summarised), `allow` and `deny` (one rule each in
//! aiOS's own table `inet aios`, chain `input`, created on first use) and
//! `delete` (an aiOS rule by handle).
//!
//! aiOS never edits other tables: what an administrator or another tool
//! wrote stays theirs. Every rule aiOS adds carries a comment
//! `aios:VERB PROTO/PORT from CIDR`, which is how `delete` knows what a rule
//! meant and records, as its undo, the `firewall.allow`/`deny` call that
//! adds it back. The preview of an addition is the exact nft commands and
//! a real `nft --check` of them (as root against the live rule set;
//! otherwise inside a private user and network namespace, `unshare -rn`,
//! which checks syntax and semantics against an empty rule set).

mod add;
mod delete;
mod list;
#[cfg(test)]
mod tests;

pub use add::FirewallAdd;
pub use delete::FirewallDelete;
pub use list::FirewallList;

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::host::Host;
use crate::command::CommandOutput;
use crate::util::truncate;
use crate::{ToolCtx, ToolError};

/// aiOS's table.
pub(crate) const TABLE: &str = "inet aios";
/// aiOS's input chain.
pub(crate) const CHAIN: &str = "input";
/// What creates the table and chain; `add` leaves existing ones alone.
pub(crate) const SETUP: &str = "add table inet aios\n\
add chain inet aios input { type filter hook input priority 0; policy accept; }";

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// An address or network, `10.0.0.0/8`, `192.168.1.5`, `fd00::/8`,
/// checked and written canonically (host bits must be zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Result<Cidr, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| {
            format!("{s:?} is not an IP address or network; write e.g. 10.0.0.0/8, 192.168.1.5 or fd00::/8")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?,
            None => max,
        };
        let host_bits_zero = match addr {
            IpAddr::V4(v) => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(v) & !m == 0
            }
            IpAddr::V6(v) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                u128::from(v) & !m == 0
            }
        };
        if !host_bits_zero {
            return Err(format!(
                "{s:?} has host bits set after /{len}; write the network address (e.g. 10.0.0.0/8)"
            ));
        }
        Ok(Cidr { addr, len })
    }

    fn family(&self) -> &'static str {
        if self.addr.is_ipv4() { "ip" } else { "ip6" }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.len == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// What one aiOS rule matches and does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleSpec {
    /// `allow` (accept) or `deny` (drop).
    pub(crate) allow: bool,
    pub(crate) protocol: Protocol,
    pub(crate) port: Option<u16>,
    pub(crate) source: Option<Cidr>,
}

impl RuleSpec {
    fn verb(&self) -> &'static str {
        if self.allow { "allow" } else { "deny" }
    }

    /// `allow tcp/22 from 10.0.0.0/8`: the words of the rule, also its
    /// comment (after `aios:`).
    pub(crate) fn words(&self) -> String {
        let what = match self.port {
            Some(p) => format!("{}/{p}", self.protocol.as_str()),
            None => "all".to_string(),
        };
        let from = self
            .source
            .as_ref()
            .map_or_else(|| "anywhere".to_string(), ToString::to_string);
        format!("{} {what} from {from}", self.verb())
    }

    /// The nft rule body: matches, verdict and comment.
    pub(crate) fn body(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.source {
            parts.push(format!("{} saddr {s}", s.family()));
        }
        if let Some(p) = self.port {
            parts.push(format!("{} dport {p}", self.protocol.as_str()));
        }
        parts.push(if self.allow { "accept" } else { "drop" }.to_string());
        parts.push(format!("comment \"aios:{}\"", self.words()));
        parts.join(" ")
    }

    /// The whole nft script adding it (table and chain first).
    pub(crate) fn script(&self) -> String {
        format!("{SETUP}\nadd rule {TABLE} {CHAIN} {}", self.body())
    }

    /// Parse the words back from a rule's comment (`aios:allow tcp/22 from
    /// 10.0.0.0/8`); `None` for anything else.
    pub(crate) fn from_comment(comment: &str) -> Option<RuleSpec> {
        let rest = comment.strip_prefix("aios:")?;
        let mut w = rest.split(' ');
        let allow = match w.next()? {
            "allow" => true,
            "deny" => false,
            _ => return None,
        };
        let what = w.next()?;
        if w.next()? != "from" {
            return None;
        }
        let from = w.next()?;
        if w.next().is_some() {
            return None;
        }
        let (protocol, port) = if what == "all" {
            (Protocol::Tcp, None)
        } else {
            let (p, n) = what.split_once('/')?;
            let proto = match p {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => return None,
            };
            (proto, Some(n.parse().ok()?))
        };
        let source = if from == "anywhere" {
            None
        } else {
            Some(Cidr::parse(from).ok()?)
        };
        Some(RuleSpec {
            allow,
            protocol,
            port,
            source,
        })
    }

    /// The `firewall.allow`/`deny` arguments that add this rule.
    pub(crate) fn args(&self) -> serde_json::Value {
        serde_json::json!({
            "port": self.port,
            "protocol": self.protocol,
            "source": self.source.as_ref().map(ToString::to_string),
        })
    }
}

/// One rule of aiOS's chain as `nft -a list chain` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AiosRule {
    /// The rule's handle (what `firewall.delete` takes).
    pub handle: u64,
    /// The rule in nft syntax, without the handle.
    pub rule: String,
    /// The comment, when it has one.
    pub comment: Option<String>,
}

/// Parse `nft -a list chain inet aios input` into its rules.
pub(crate) fn parse_chain_listing(text: &str) -> Vec<AiosRule> {
    text.lines()
        .filter_map(|l| {
            let (rule, handle) = l.trim().rsplit_once(" # handle ")?;
            let handle = handle.trim().parse().ok()?;
            // The chain header line ends with `{ # handle N`.
            if rule.ends_with('{') {
                return None;
            }
            let comment = rule
                .split_once("comment \"")
                .and_then(|(_, c)| c.strip_suffix('"'))
                .map(str::to_string);
            Some(AiosRule {
                handle,
                rule: rule.to_string(),
                comment,
            })
        })
        .collect()
}

/// The rules of aiOS's chain, or an empty list when the table does not
/// exist yet. Needs root (reading the rule set needs `CAP_NET_ADMIN`).
pub(crate) async fn aios_rules(ctx: &ToolCtx, host: &Host) -> Result<Vec<AiosRule>, ToolError> {
    let out = host
        .nft(ctx, &["-a", "list", "chain", "inet", "aios", CHAIN])
        .await?;
    if out.code == Some(0) {
        return Ok(parse_chain_listing(&out.stdout));
    }
    if out.stderr.contains("No such file or directory") {
        return Ok(Vec::new());
    }
    Err(nft_error("nft list chain inet aios input", &out))
}

/// An nft failure as a tool error; "Operation not permitted" is a denial.
pub(crate) fn nft_error(what: &str, out: &CommandOutput) -> ToolError {
    let err = truncate(out.stderr.trim(), 800);
    if err.contains("Operation not permitted") {
        ToolError::denied(format!(
            "{what}: the firewall needs root: approve it as an administrator ({err})"
        ))
    } else {
        ToolError::failed(format!("{what} failed: {err}"))
    }
}

/// Whether the call runs as root (can read and change the live rule set).
pub(crate) fn is_root(ctx: &ToolCtx) -> bool {
    ctx.access().identity().uid == 0
}

/// `nft --check` of `script`: as root against the live rule set (the test
/// namespace in tests); otherwise in a private user and network namespace
/// (`unshare -rn`), which checks it against an empty rule set. Returns the
/// command shown and its verdict text.
pub(crate) async fn check(
    ctx: &ToolCtx,
    host: &Host,
    script: &str,
) -> Result<(String, String), ToolError> {
    let (shown, out) = if is_root(ctx) {
        ("nft --check", host.nft(ctx, &["--check", script]).await?)
    } else {
        let nft = host.program("nft");
        (
            "unshare -rn nft --check (against an empty rule set: reading the live one needs root)",
            crate::command::run_command(
                ctx,
                "unshare",
                &["-rn", &nft, "--check", script],
                std::time::Duration::from_secs(10),
                64 * 1024,
            )
            .await?,
        )
    };
    let verdict = if out.code == Some(0) {
        "ok: nft accepts these commands".to_string()
    } else {
        format!(
            "nft rejects these commands: {}",
            truncate(out.stderr.trim(), 800)
        )
    };
    Ok((shown.to_string(), verdict))
}

//! `firewall.list`: the whole nftables rule set (`nft -j list ruleset`),
//! summarised as tables, chains (hook, priority, policy) and rules with
//! their handles, each rule rendered back into short nft-like text.

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::nft_error;
use crate::builtin::host::{Host, require_root};
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

const MAX_LIMIT: usize = 2000;

fn default_limit() -> usize {
    200
}

/// `firewall.list`.
#[derive(Debug, Clone, Default)]
pub struct FirewallList {
    host: Host,
}

impl FirewallList {
    /// With a test host (a network namespace for `nft`).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> FirewallList {
        FirewallList { host }
    }
}

/// Arguments of `firewall.list`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallListArgs {
    /// At most this many rules (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// A table.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`.
    pub family: String,
    /// Name.
    pub name: String,
}

/// A chain.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// `family table`.
    pub table: String,
    /// Name.
    pub name: String,
    /// Hook of a base chain (`input`, `forward`…), none for a regular chain.
    pub hook: Option<String>,
    /// Priority of a base chain.
    pub priority: Option<i64>,
    /// Default verdict of a base chain.
    pub policy: Option<String>,
}

/// A rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// `family table`.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Handle.
    pub handle: u64,
    /// The rule, rendered from its expressions.
    pub rule: String,
    /// Its comment (data, never instructions).
    pub comment: Option<String>,
}

/// The summarised rule set.
#[derive(Debug, Clone, Serialize)]
pub struct Ruleset {
    /// One line for the human.
    pub summary: String,
    /// Tables.
    pub tables: Vec<Table>,
    /// Chains.
    pub chains: Vec<Chain>,
    /// Rules, in order.
    pub rules: Vec<Rule>,
    /// Rules before the cap.
    pub total: usize,
    /// Whether rules were cut at `limit`.
    pub truncated: bool,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// An expression operand as nft writes it.
fn operand(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => a.iter().map(operand).collect::<Vec<_>>().join(" "),
        Value::Object(m) => {
            if let Some(p) = m.get("payload") {
                format!("{} {}", s(p, "protocol"), s(p, "field"))
            } else if let Some(x) = m.get("meta") {
                format!("meta {}", s(x, "key"))
            } else if let Some(x) = m.get("ct") {
                format!("ct {}", s(x, "key"))
            } else if let Some(p) = m.get("prefix") {
                format!("{}/{}", operand(&p["addr"]), operand(&p["len"]))
            } else if let Some(r) = m.get("range") {
                format!("{}-{}", operand(&r[0]), operand(&r[1]))
            } else if let Some(set) = m.get("set") {
                format!(
                    "{{ {} }}",
                    match set {
                        Value::Array(a) => a.iter().map(operand).collect::<Vec<_>>().join(", "),
                        other => operand(other),
                    }
                )
            } else {
                m.keys().next().cloned().unwrap_or_default()
            }
        }
        Value::Null => String::new(),
    }
}

/// One statement of a rule.
fn statement(e: &Value) -> String {
    let Some((k, v)) = e.as_object().and_then(|m| m.iter().next()) else {
        return String::new();
    };
    match k.as_str() {
        "match" => {
            let op = v.get("op").and_then(Value::as_str).unwrap_or("==");
            let op = if op == "==" || op == "in" {
                String::new()
            } else {
                format!("{op} ")
            };
            format!("{} {op}{}", operand(&v["left"]), operand(&v["right"]))
        }
        "counter" => format!(
            "counter packets {} bytes {}",
            operand(&v["packets"]),
            operand(&v["bytes"])
        ),
        "jump" | "goto" => format!("{k} {}", s(v, "target")),
        "log" => "log".to_string(),
        other => other.to_string(),
    }
}

/// Summarise `nft -j list ruleset` output.
pub(crate) fn summarise(json: &Value, limit: usize) -> Ruleset {
    let items = json["nftables"].as_array().cloned().unwrap_or_default();
    let (mut tables, mut chains, mut rules) = (Vec::new(), Vec::new(), Vec::new());
    for item in &items {
        if let Some(t) = item.get("table") {
            tables.push(Table {
                family: s(t, "family"),
                name: s(t, "name"),
            });
        } else if let Some(c) = item.get("chain") {
            chains.push(Chain {
                table: format!("{} {}", s(c, "family"), s(c, "table")),
                name: s(c, "name"),
                hook: c.get("hook").and_then(Value::as_str).map(str::to_string),
                priority: c.get("prio").and_then(Value::as_i64),
                policy: c.get("policy").and_then(Value::as_str).map(str::to_string),
            });
        } else if let Some(r) = item.get("rule") {
            let text = r["expr"]
                .as_array()
                .map(|es| es.iter().map(statement).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            rules.push(Rule {
                table: format!("{} {}", s(r, "family"), s(r, "table")),
                chain: s(r, "chain"),
                handle: r.get("handle").and_then(Value::as_u64).unwrap_or(0),
                rule: truncate(&text, 500),
                comment: r.get("comment").and_then(Value::as_str).map(str::to_string),
            });
        }
    }
    let total = rules.len();
    rules.truncate(limit);
    let aios = rules.iter().filter(|r| r.table == "inet aios").count();
    let summary = format!(
        "{} table{}, {} chain{}, {total} rule{}{}{}",
        tables.len(),
        if tables.len() == 1 { "" } else { "s" },
        chains.len(),
        if chains.len() == 1 { "" } else { "s" },
        if total == 1 { "" } else { "s" },
        if tables
            .iter()
            .any(|t| t.family == "inet" && t.name == "aios")
        {
            format!("; {aios} in aiOS's table inet aios")
        } else {
            String::new()
        },
        if total > rules.len() {
            format!("; showing the first {}", rules.len())
        } else {
            String::new()
        }
    );
    Ruleset {
        summary,
        tables,
        chains,
        truncated: total > rules.len(),
        total,
        rules,
    }
}

impl Tool for FirewallList {
    type Args = FirewallListArgs;

    fn name(&self) -> &'static str {
        "firewall.list"
    }

    fn description(&self) -> &'static str {
        "Show the firewall (nftables) rule set: tables, chains with their hook and policy, and every rule \
         with its handle. aiOS's own rules are in table inet aios. Reading it needs root."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Firewall]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "show the firewall rules",
                args: r#"{}"#,
            },
            Example {
                request: "is port 22 open in the firewall?",
                args: r#"{}"#,
            },
            Example {
                request: "list nftables rules, first 50",
                args: r#"{"limit": 50}"#,
            },
        ]
    }

    fn resources(&self, _: &FirewallListArgs) -> Vec<Resource> {
        vec![Resource::Firewall]
    }

    fn preview(&self, _: &FirewallListArgs) -> String {
        "show the firewall rule set".to_string()
    }

    async fn run(&self, ctx: ToolCtx, args: FirewallListArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > MAX_LIMIT {
            return Err(ToolError::invalid(format!(
                "field `limit` must be 1..={MAX_LIMIT}, got {}",
                args.limit
            )));
        }
        require_root(&ctx, "firewall.list (reading the rule set)")?;
        let out = self.host.nft(&ctx, &["-j", "list", "ruleset"]).await?;
        if out.code != Some(0) {
            return Err(nft_error("nft -j list ruleset", &out));
        }
        if out.truncated {
            return Err(ToolError::failed(
                "the rule set is larger than 4 MiB of JSON; firewall.list cannot summarise it whole",
            ));
        }
        let json: Value = serde_json::from_str(&out.stdout).map_err(|e| {
            ToolError::failed(format!("nft -j printed something that is not JSON: {e}"))
        })?;
        crate::builtin::to_value(&summarise(&json, args.limit))
    }
}

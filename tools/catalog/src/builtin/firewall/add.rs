//! `firewall.allow` and `firewall.deny`: add one rule (a port and protocol,
//! a source network, or both) to aiOS's chain `inet aios input`, creating
//! the table and chain on first use. Undo: `firewall.delete` of the handle
//! nft echoed back.

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CHAIN, Cidr, Protocol, RuleSpec, TABLE, aios_rules, check, is_root, nft_error};
use crate::builtin::host::{Host, require_root};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `firewall.allow` (accept) or `firewall.deny` (drop).
#[derive(Debug, Clone)]
pub struct FirewallAdd {
    allow: bool,
    host: Host,
}

impl FirewallAdd {
    /// `firewall.allow`.
    pub fn allow() -> FirewallAdd {
        FirewallAdd {
            allow: true,
            host: Host::default(),
        }
    }

    /// `firewall.deny`.
    pub fn deny() -> FirewallAdd {
        FirewallAdd {
            allow: false,
            host: Host::default(),
        }
    }

    /// With a test host (a network namespace for `nft`).
    #[cfg(test)]
    pub(crate) fn with_host(allow: bool, host: Host) -> FirewallAdd {
        FirewallAdd { allow, host }
    }
}

fn default_protocol() -> Protocol {
    Protocol::Tcp
}

/// Arguments of `firewall.allow` and `firewall.deny`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallAddArgs {
    /// Destination port (1-65535). Null: every port (then give `source`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Protocol of `port`: tcp (default) or udp.
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Only traffic from this address or network, e.g. 10.0.0.0/8,
    /// 192.168.1.5 or fd00::/8. Null: from anywhere.
    #[serde(default)]
    pub source: Option<String>,
}

/// What an addition did.
#[derive(Debug, Clone, Serialize)]
pub struct RuleAdded {
    /// One line for the human.
    pub summary: String,
    /// Table and chain.
    pub chain: String,
    /// The rule's handle (give it to `firewall.delete`).
    pub handle: u64,
    /// The rule in nft syntax.
    pub rule: String,
    /// False when an identical aiOS rule already existed (nothing added).
    pub added: bool,
}

impl FirewallAdd {
    fn spec(&self, args: &FirewallAddArgs) -> Result<RuleSpec, ToolError> {
        let source = args
            .source
            .as_deref()
            .map(Cidr::parse)
            .transpose()
            .map_err(|e| ToolError::invalid(format!("field `source`: {e}")))?;
        if args.port == Some(0) {
            return Err(ToolError::invalid("field `port` must be 1..=65535"));
        }
        if args.port.is_none() && source.is_none() {
            return Err(ToolError::invalid(format!(
                "{}: give `port`, `source` or both; a rule for every port from anywhere would {} all traffic",
                self.name(),
                if self.allow { "accept" } else { "drop" }
            )));
        }
        Ok(RuleSpec {
            allow: self.allow,
            protocol: args.protocol,
            port: args.port,
            source,
        })
    }
}

/// The handle in nft's `--echo --handle` line for the added rule.
pub(crate) fn echoed_handle(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .filter(|l| l.starts_with("add rule "))
        .find_map(|l| l.rsplit_once("# handle ")?.1.trim().parse().ok())
}

impl Tool for FirewallAdd {
    type Args = FirewallAddArgs;

    fn name(&self) -> &'static str {
        if self.allow {
            "firewall.allow"
        } else {
            "firewall.deny"
        }
    }

    fn description(&self) -> &'static str {
        if self.allow {
            "Allow incoming traffic to a port (tcp or udp), optionally only from an address or network: adds an \
             accept rule to aiOS's own nftables table `inet aios` (other tables are untouched; a drop there \
             still wins). Undo: firewall.delete of the new rule."
        } else {
            "Block incoming traffic to a port (tcp or udp), from an address or network, or both: adds a drop \
             rule to aiOS's own nftables table `inet aios`. Undo: firewall.delete of the new rule."
        }
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[
            ResourceKind::Firewall,
            ResourceKind::Port,
            ResourceKind::Cidr,
        ]
    }

    fn examples(&self) -> &'static [Example] {
        if self.allow {
            &[
                Example {
                    request: "open port 443",
                    args: r#"{"port": 443}"#,
                },
                Example {
                    request: "allow ssh from the office network 10.0.0.0/8",
                    args: r#"{"port": 22, "source": "10.0.0.0/8"}"#,
                },
                Example {
                    request: "let DNS queries in",
                    args: r#"{"port": 53, "protocol": "udp"}"#,
                },
            ]
        } else {
            &[
                Example {
                    request: "block 203.0.113.7, it keeps hammering us",
                    args: r#"{"source": "203.0.113.7"}"#,
                },
                Example {
                    request: "close port 23",
                    args: r#"{"port": 23}"#,
                },
                Example {
                    request: "deny udp 161 from 192.168.0.0/16",
                    args: r#"{"port": 161, "protocol": "udp", "source": "192.168.0.0/16"}"#,
                },
            ]
        }
    }

    fn canonicalize(
        &self,
        args: &mut FirewallAddArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        let spec = self.spec(args)?;
        args.source = spec.source.as_ref().map(ToString::to_string);
        Ok(())
    }

    fn resources(&self, args: &FirewallAddArgs) -> Vec<Resource> {
        let mut r = vec![Resource::Firewall];
        if let Some(p) = args.port {
            r.push(Resource::Port(p));
        }
        if let Some(s) = &args.source {
            r.push(Resource::Cidr(s.clone()));
        }
        r
    }

    fn preview(&self, args: &FirewallAddArgs) -> String {
        match self.spec(args) {
            Ok(s) => format!("add to {TABLE} {CHAIN}: {}", s.words()),
            Err(e) => e.to_string(),
        }
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FirewallAddArgs) -> Result<Assessment, ToolError> {
        let spec = self.spec(args)?;
        let script = spec.script();
        let (command, verdict) = check(ctx, &self.host, &script).await?;
        let mut summary = format!("add to {TABLE} {CHAIN}: {}", spec.words());
        if !is_root(ctx) {
            summary.push_str(" (the real run needs root)");
        }
        Ok(Assessment {
            effect: Risk::Change,
            resources: self.resources(args),
            preview: Preview {
                summary,
                detail: PreviewDetail::DryRun {
                    command: format!("{command}:\n{script}"),
                    output: verdict,
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FirewallAddArgs) -> Result<Value, ToolError> {
        require_root(&ctx, self.name())?;
        let spec = self.spec(&args)?;
        let comment = format!("aios:{}", spec.words());
        let existing = aios_rules(&ctx, &self.host).await?;
        if let Some(r) = existing
            .iter()
            .find(|r| r.comment.as_deref() == Some(&comment))
        {
            return crate::builtin::to_value(&RuleAdded {
                summary: format!(
                    "already in {TABLE} {CHAIN} as handle {}: {}",
                    r.handle,
                    spec.words()
                ),
                chain: format!("{TABLE} {CHAIN}"),
                handle: r.handle,
                rule: r.rule.clone(),
                added: false,
            });
        }
        let script = spec.script();
        let out = self
            .host
            .nft(&ctx, &["--echo", "--handle", &script])
            .await?;
        if out.code != Some(0) {
            return Err(nft_error("nft add rule", &out));
        }
        let handle = echoed_handle(&out.stdout).ok_or_else(|| {
            ToolError::failed(format!(
                "nft added the rule but did not echo its handle; find it with firewall.list (output: {})",
                crate::util::truncate(out.stdout.trim(), 400)
            ))
        })?;
        ctx.set_undo(UndoRecord {
            tool: "firewall.delete".into(),
            args: serde_json::json!({ "handle": handle }),
            summary: format!("delete the rule {}", spec.words()),
        });
        crate::builtin::to_value(&RuleAdded {
            summary: format!("{}: handle {handle} in {TABLE} {CHAIN}", spec.words()),
            chain: format!("{TABLE} {CHAIN}"),
            handle,
            rule: spec.body(),
            added: true,
        })
    }
}

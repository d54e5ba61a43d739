//! `firewall.delete`: delete one of aiOS's rules (table `inet aios`) by
//! handle. Other tables are never touched. Undo: the `firewall.allow` or
//! `firewall.deny` call that adds the same rule again, read from the rule's
//! `aios:` comment (a rule without one has no undo).

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AiosRule, CHAIN, RuleSpec, TABLE, aios_rules, is_root, nft_error};
use crate::builtin::host::{Host, require_root};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `firewall.delete`.
#[derive(Debug, Clone, Default)]
pub struct FirewallDelete {
    host: Host,
}

impl FirewallDelete {
    /// With a test host (a network namespace for `nft`).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> FirewallDelete {
        FirewallDelete { host }
    }
}

/// Arguments of `firewall.delete`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallDeleteArgs {
    /// The rule's handle in table inet aios (firewall.list shows it).
    pub handle: u64,
}

/// What a deletion did.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDeleted {
    /// One line for the human.
    pub summary: String,
    /// The deleted rule.
    pub rule: AiosRule,
}

impl FirewallDelete {
    async fn find(&self, ctx: &ToolCtx, handle: u64) -> Result<AiosRule, ToolError> {
        let rules = aios_rules(ctx, &self.host).await?;
        let handles: Vec<String> = rules.iter().map(|r| r.handle.to_string()).collect();
        rules
            .into_iter()
            .find(|r| r.handle == handle)
            .ok_or_else(|| {
                ToolError::not_found(format!(
                    "no rule with handle {handle} in {TABLE} {CHAIN}; its rules have handles [{}] \
                     (firewall.delete only deletes aiOS's own rules; firewall.list shows all)",
                    handles.join(", ")
                ))
            })
    }
}

impl Tool for FirewallDelete {
    type Args = FirewallDeleteArgs;

    fn name(&self) -> &'static str {
        "firewall.delete"
    }

    fn description(&self) -> &'static str {
        "Delete one of aiOS's firewall rules (nftables table `inet aios`) by its handle, as firewall.list \
         shows it. Undo: the firewall.allow/deny call that adds it again."
    }

    fn effect(&self) -> Risk {
        Risk::Destructive
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Firewall]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "remove firewall rule 4",
                args: r#"{"handle": 4}"#,
            },
            Example {
                request: "delete the rule that opened port 8080 (handle 7)",
                args: r#"{"handle": 7}"#,
            },
            Example {
                request: "undo that firewall block, it was handle 12",
                args: r#"{"handle": 12}"#,
            },
        ]
    }

    fn resources(&self, _: &FirewallDeleteArgs) -> Vec<Resource> {
        vec![Resource::Firewall]
    }

    fn preview(&self, args: &FirewallDeleteArgs) -> String {
        format!("delete rule handle {} from {TABLE} {CHAIN}", args.handle)
    }

    async fn assess(
        &self,
        ctx: &ToolCtx,
        args: &FirewallDeleteArgs,
    ) -> Result<Assessment, ToolError> {
        let preview = if is_root(ctx) {
            let rule = self.find(ctx, args.handle).await?;
            Preview {
                summary: format!(
                    "delete from {TABLE} {CHAIN}: {}",
                    rule.comment
                        .as_deref()
                        .and_then(RuleSpec::from_comment)
                        .map_or_else(|| rule.rule.clone(), |s| s.words())
                ),
                detail: PreviewDetail::Affected {
                    items: vec![format!("{} # handle {}", rule.rule, rule.handle)],
                    bytes: None,
                },
            }
        } else {
            Preview::text(format!(
                "{} (reading the rule set needs root; the real run needs root too)",
                self.preview(args)
            ))
        };
        Ok(Assessment {
            effect: Risk::Destructive,
            resources: self.resources(args),
            preview,
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FirewallDeleteArgs) -> Result<Value, ToolError> {
        require_root(&ctx, "firewall.delete")?;
        let rule = self.find(&ctx, args.handle).await?;
        let h = args.handle.to_string();
        let out = self
            .host
            .nft(
                &ctx,
                &["delete", "rule", "inet", "aios", CHAIN, "handle", &h],
            )
            .await?;
        if out.code != Some(0) {
            return Err(nft_error("nft delete rule", &out));
        }
        let spec = rule.comment.as_deref().and_then(RuleSpec::from_comment);
        if let Some(spec) = &spec {
            ctx.set_undo(UndoRecord {
                tool: if spec.allow {
                    "firewall.allow"
                } else {
                    "firewall.deny"
                }
                .into(),
                args: spec.args(),
                summary: format!("add the rule {} again", spec.words()),
            });
        }
        crate::builtin::to_value(&RuleDeleted {
            summary: format!(
                "deleted handle {} from {TABLE} {CHAIN}: {}",
                rule.handle,
                spec.map_or_else(|| rule.rule.clone(), |s| s.words())
            ),
            rule,
        })
    }
}

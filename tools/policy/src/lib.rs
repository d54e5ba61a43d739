//! `aios-policy`: decides whether one typed tool call may run — allow, ask
//! or deny — and says why.
//!
//! The engine is pure: it reads nothing but the TOML files it is given and
//! writes nothing but grants to the user's file. toolsd builds the
//! [`PolicyInput`] from the kernel-verified caller and the tool's own
//! assessment of the call, so nothing a model says reaches a decision
//! except through typed resources.
//!
//! Order of decision ([`Policy::decide`]):
//! 1. built-in denials (`builtin.*`), which nothing lifts;
//! 2. a non-admin caller may change only paths under their own home
//!    (`builtin.not-admin`);
//! 3. every matching rule of the system file and of the user's file; the
//!    strictest wins (deny > ask > allow), so a user's rule or grant can
//!    tighten but never loosen the system file;
//! 4. defaults, only when no rule matches: read allows, change asks,
//!    destructive asks and makes the user type the target's name;
//! 5. a background session can never approve: ask becomes deny.
//!
//! Principal types: [`Policy`], [`Rule`] / [`RuleSpec`] (one `[[rule]]`),
//! [`Explanation`] (for `aios policy check`), [`PolicyError`]. The file
//! format is documented in `docs/POLICY.md`.

#![deny(missing_docs)]

mod builtin;
mod error;
mod file;
mod glob;
mod grant;
mod rule;

use std::path::Path;
use std::sync::Arc;

use aios_domain::{PolicyDecision, PolicyInput, Resource, Risk, RuleSource, SessionKind, Verdict};
use serde::Serialize;

pub use builtin::RULES as BUILTIN_RULES;
pub use error::{PolicyError, PolicyErrorKind};
pub use grant::{grant_rule, list_grants, revoke_grant, save_grant};
pub use rule::{PortSpec, Rule, RuleExample, RuleSpec};

use file::RuleSet;
use rule::Call;

const SYSTEM_LABEL: &str = "the system policy";
const USER_LABEL: &str = "your policy file";

/// A loaded policy: the system file's rules and the user's. Cheap to clone
/// and share between threads.
#[derive(Debug, Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    system: RuleSet,
    user: RuleSet,
    /// Some rule has a `resources` matcher, so calls need `kind:value` text.
    needs_display: bool,
}

/// A decision with everything behind it, for `aios policy check`.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// What [`Policy::decide`] answers.
    pub decision: PolicyDecision,
    /// Every built-in denial that applies (the first decides).
    pub builtin: Vec<BuiltinDenial>,
    /// Every file rule that matches, system file first, in file order;
    /// listed even when a built-in denial decided.
    pub matched: Vec<MatchedRule>,
}

/// A built-in denial that applies to the call.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltinDenial {
    /// `builtin.…`
    pub rule: String,
    /// Why, in one sentence.
    pub reason: String,
}

/// A file rule that matches the call.
#[derive(Debug, Clone, Serialize)]
pub struct MatchedRule {
    /// System or user file.
    pub source: RuleSource,
    /// The file's path (or label).
    pub file: String,
    /// The line of the rule's id, if known.
    pub line: Option<usize>,
    /// The rule's id.
    pub rule: String,
    /// What it decides.
    pub action: Verdict,
    /// The rule's own `reason`, if it has one.
    pub reason: Option<String>,
}

impl Policy {
    /// Loads the system and user files; a missing file (or `None`) has no
    /// rules. An unreadable or invalid file is an error naming the file,
    /// the line and the problem.
    pub fn load(system: Option<&Path>, user: Option<&Path>) -> Result<Policy, PolicyError> {
        let load = |p: Option<&Path>, label: &str| match p {
            Some(p) => file::load(p),
            None => Ok(RuleSet {
                label: label.to_string(),
                rules: Vec::new(),
            }),
        };
        Ok(Policy::new(
            load(system, SYSTEM_LABEL)?,
            load(user, USER_LABEL)?,
        ))
    }

    /// Builds a policy from the two files' text (empty text: no rules).
    pub fn from_toml(system: &str, user: &str) -> Result<Policy, PolicyError> {
        Ok(Policy::new(
            file::parse(system, SYSTEM_LABEL)?,
            file::parse(user, USER_LABEL)?,
        ))
    }

    /// Built-in denials and defaults only.
    pub fn builtin_only() -> Policy {
        Policy::new(
            RuleSet {
                label: SYSTEM_LABEL.into(),
                rules: Vec::new(),
            },
            RuleSet {
                label: USER_LABEL.into(),
                rules: Vec::new(),
            },
        )
    }

    fn new(system: RuleSet, user: RuleSet) -> Policy {
        let needs_display = system
            .rules
            .iter()
            .chain(&user.rules)
            .any(Rule::needs_display);
        Policy {
            inner: Arc::new(Inner {
                system,
                user,
                needs_display,
            }),
        }
    }

    /// The system file's rules, in file order.
    pub fn system_rules(&self) -> &[Rule] {
        &self.inner.system.rules
    }

    /// The user file's rules (grants included), in file order.
    pub fn user_rules(&self) -> &[Rule] {
        &self.inner.user.rules
    }

    fn call<'a>(&self, input: &'a PolicyInput) -> Call<'a> {
        Call::new(
            &input.tool,
            Some(input.effect),
            &input.resources,
            Some(&input.caller),
            Some(input.caller.session_kind),
            &input.caller.home,
            self.inner.needs_display,
        )
    }

    fn sets(&self) -> [(RuleSource, &RuleSet); 2] {
        [
            (RuleSource::System, &self.inner.system),
            (RuleSource::User, &self.inner.user),
        ]
    }

    /// Decides one call. The hot path: no I/O, no locks.
    pub fn decide(&self, input: &PolicyInput) -> PolicyDecision {
        let call = self.call(input);
        let mut hits = Vec::new();
        builtin::check(input, &call, false, &mut hits);
        if let Some(hit) = hits.into_iter().next() {
            return deny_builtin(hit.id, hit.reason);
        }
        if let Some(d) = not_admin(input, &call) {
            return d;
        }
        // Strictest wins; on a tie the first seen, system before user.
        let mut best: Option<(RuleSource, &RuleSet, &Rule)> = None;
        for (source, set) in self.sets() {
            for rule in &set.rules {
                if best.is_some_and(|(_, _, b)| b.action() >= rule.action()) {
                    continue;
                }
                if rule.matches(&call) {
                    best = Some((source, set, rule));
                    if rule.action() == Verdict::Deny {
                        break;
                    }
                }
            }
        }
        let decision = match best {
            Some((source, set, rule)) => from_rule(input, source, &set.label, rule),
            None => self.default_decision(input),
        };
        background(input, decision)
    }

    /// What [`Policy::decide`] would answer with `grant` saved in the
    /// user's file: `Allow` when the grant would take effect, else the
    /// built-in denial or the stricter rule (of either file) that still
    /// wins. A saved grant never overrides a configured `ask` or `deny`;
    /// this says so before the user saves one.
    pub fn decide_with_grant(&self, input: &PolicyInput, grant: &Rule) -> PolicyDecision {
        let mut user = self.inner.user.clone();
        user.rules.push(grant.clone());
        Policy::new(self.inner.system.clone(), user).decide(input)
    }

    /// A grant for `input` whose id no rule of the user's file has yet,
    /// so the rule shown before saving is the rule saved.
    pub fn fresh_grant(&self, input: &PolicyInput) -> Rule {
        let rule = grant_rule(input);
        let taken = |id: &str| self.inner.user.rules.iter().any(|r| r.id() == id);
        if !taken(rule.id()) {
            return rule;
        }
        let mut n = 2;
        while taken(&format!("{}-{n}", rule.id())) {
            n += 1;
        }
        let id = format!("{}-{n}", rule.id());
        rule.with_id(id)
    }

    /// The decision plus every built-in denial and file rule that applies.
    pub fn explain(&self, input: &PolicyInput) -> Explanation {
        let call = self.call(input);
        let mut hits = Vec::new();
        builtin::check(input, &call, true, &mut hits);
        let mut matched = Vec::new();
        for (source, set) in self.sets() {
            for rule in set.rules.iter().filter(|r| r.matches(&call)) {
                matched.push(MatchedRule {
                    source,
                    file: set.label.clone(),
                    line: rule.line(),
                    rule: rule.id().to_string(),
                    action: rule.action(),
                    reason: rule.spec().reason.clone(),
                });
            }
        }
        Explanation {
            decision: self.decide(input),
            builtin: hits
                .into_iter()
                .map(|h| BuiltinDenial {
                    rule: h.id.to_string(),
                    reason: h.reason,
                })
                .collect(),
            matched,
        }
    }

    fn default_decision(&self, input: &PolicyInput) -> PolicyDecision {
        let on = describe(&input.resources);
        let (verdict, rule, reason, confirm) = match input.effect {
            Risk::Read => (
                Verdict::Allow,
                "default.read",
                format!(
                    "No policy rule matches {}{on}, and read calls are allowed by default (default.read).",
                    input.tool
                ),
                None,
            ),
            Risk::Change => (
                Verdict::Ask,
                "default.change",
                format!(
                    "No policy rule matches {}{on}, and changes ask for approval by default (default.change); approve or reject it, or add an allow rule to {} to stop asking.",
                    input.tool, self.inner.user.label
                ),
                None,
            ),
            Risk::Destructive => {
                let name = confirm_name(input);
                (
                    Verdict::Ask,
                    "default.destructive",
                    format!(
                        "No policy rule matches {}{on}, and destructive changes ask by default (default.destructive); type `{name}` to approve it.",
                        input.tool
                    ),
                    Some(name),
                )
            }
        };
        PolicyDecision {
            verdict,
            source: RuleSource::Default,
            rule: rule.to_string(),
            reason,
            confirm,
        }
    }
}

fn deny_builtin(id: &str, reason: String) -> PolicyDecision {
    PolicyDecision {
        verdict: Verdict::Deny,
        source: RuleSource::Builtin,
        rule: id.to_string(),
        reason,
        confirm: None,
    }
}

/// Non-admins may change only their own home: every resource a path, and
/// every path under the home. Anything else is denied; what is left still
/// meets the kernel, because toolsd runs it with the caller's credentials.
fn not_admin(input: &PolicyInput, call: &Call<'_>) -> Option<PolicyDecision> {
    let c = &input.caller;
    if c.admin || input.effect == Risk::Read {
        return None;
    }
    let own = call.home.as_deref().is_some_and(|home| {
        !input.resources.is_empty()
            && call.paths.len() == input.resources.len()
            && call.paths.iter().all(|p| {
                p.strip_prefix(home)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    });
    if own {
        return None;
    }
    let who = if c.user.is_empty() {
        format!("uid {}", c.uid)
    } else {
        c.user.clone()
    };
    Some(deny_builtin(
        "builtin.not-admin",
        format!(
            "{who} is not an administrator (not root, not in group sudo, wheel or aios-admin), and only administrators may change anything outside their own home, so built-in rule builtin.not-admin denies {}{}; ask an administrator to do it.",
            input.tool,
            describe(&input.resources)
        ),
    ))
}

fn from_rule(input: &PolicyInput, source: RuleSource, file: &str, rule: &Rule) -> PolicyDecision {
    let verdict = rule.action();
    let on = describe(&input.resources);
    let why = rule
        .spec()
        .reason
        .as_deref()
        .map(|r| format!(" ({})", r.trim_end_matches('.')))
        .unwrap_or_default();
    let whose = format!("{file} rule \"{}\"", rule.id());
    let mut confirm = None;
    let reason = match verdict {
        Verdict::Allow => format!("{whose} allows {}{on}{why}.", input.tool),
        Verdict::Ask if input.effect == Risk::Destructive => {
            let name = confirm_name(input);
            let text = format!(
                "{whose} asks before {}{on}{why}; it is destructive, so type `{name}` to approve it.",
                input.tool
            );
            confirm = Some(name);
            text
        }
        Verdict::Ask => format!(
            "{whose} asks before {}{on}{why}; approve or reject it.",
            input.tool
        ),
        Verdict::Deny => {
            let fix = match source {
                RuleSource::User => "edit that rule if the call is needed",
                _ => "ask an administrator to change that rule if the call is needed",
            };
            format!("{whose} denies {}{on}{why}; {fix}.", input.tool)
        }
    };
    PolicyDecision {
        verdict,
        source,
        rule: rule.id().to_string(),
        reason,
        confirm,
    }
}

/// A background session cannot answer an approval: ask becomes deny.
fn background(input: &PolicyInput, mut d: PolicyDecision) -> PolicyDecision {
    if input.caller.session_kind == SessionKind::Background && d.verdict == Verdict::Ask {
        d.verdict = Verdict::Deny;
        d.confirm = None;
        d.reason = format!(
            "A background agent cannot approve its own calls, and this call needs approval: {} Add an allow rule for it if the agent should do it unattended.",
            d.reason
        );
    }
    d
}

/// The name a person types to approve a destructive call: the value of the
/// call's first resource that has one, else the tool's name.
fn confirm_name(input: &PolicyInput) -> String {
    input
        .resources
        .iter()
        .find_map(Resource::value)
        .unwrap_or_else(|| input.tool.clone())
}

/// " on path:/a, service:b" (at most three, then "and N more"), or "".
fn describe(resources: &[Resource]) -> String {
    if resources.is_empty() {
        return String::new();
    }
    let mut out = String::from(" on ");
    for (i, r) in resources.iter().take(3).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&r.to_string());
    }
    if resources.len() > 3 {
        out.push_str(&format!(" and {} more", resources.len() - 3));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_shareable_between_threads() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Policy>();
        shareable::<PolicyError>();
    }
}

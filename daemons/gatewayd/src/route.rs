//! Which instances a request may go to, in order, and why: the pure part
//! of routing (the gateway adds circuit breakers and the calls).
//!
//! - The request's provider, or the configured default, comes first.
//! - The fallback chain (`[model] fallback`) follows only a request routed
//!   to the default: a provider chosen by name is not silently swapped.
//! - When a budget is spent, paid instances are dropped and the budget's
//!   target (`[budget] fallback`, `local` by default) leads.

use crate::error::ProviderError;

/// One instance to try, with the reason it would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Instance name.
    pub name: String,
    /// Why it is on the route (before any failure).
    pub reason: String,
}

/// What routing needs to know.
#[derive(Debug, Clone)]
pub struct RouteInput<'a> {
    /// The request's provider, if it named one.
    pub requested: Option<&'a str>,
    /// `[model] provider`.
    pub default: &'a str,
    /// `[model] fallback`.
    pub fallback: &'a [String],
    /// Why a budget forbids paid instances now, if it does.
    pub budget_spent: Option<String>,
    /// `[budget] fallback`.
    pub budget_target: &'a str,
}

/// The ordered candidates, or why there are none.
pub fn plan(
    input: &RouteInput<'_>,
    is_paid: impl Fn(&str) -> bool,
) -> Result<Vec<Candidate>, String> {
    let primary = input
        .requested
        .filter(|r| !r.is_empty())
        .unwrap_or(input.default);
    let routed_to_default = primary == input.default;
    let mut chain = vec![Candidate {
        name: primary.to_string(),
        reason: if routed_to_default {
            "configured default".into()
        } else {
            "requested".into()
        },
    }];
    if routed_to_default {
        for f in input.fallback {
            if !chain.iter().any(|c| &c.name == f) {
                chain.push(Candidate {
                    name: f.clone(),
                    reason: "fallback".into(),
                });
            }
        }
    }
    let Some(why) = &input.budget_spent else {
        return Ok(chain);
    };
    let primary_paid = is_paid(primary);
    let mut rest: Vec<Candidate> = chain.into_iter().filter(|c| !is_paid(&c.name)).collect();
    if !primary_paid {
        return Ok(rest);
    }
    let target = input.budget_target;
    if is_paid(target) {
        return Err(format!(
            "{why}, and the budget fallback {target:?} is a paid provider too; raise [budget] or set [budget] fallback to a free instance such as \"local\""
        ));
    }
    rest.retain(|c| c.name != target);
    let mut out = vec![Candidate {
        name: target.to_string(),
        reason: format!("budget exhausted → {target} ({why})"),
    }];
    out.extend(rest);
    Ok(out)
}

/// A few words for a failure, as the route reason quotes it ("fallback
/// after 429 from claude").
pub fn short(e: &ProviderError) -> String {
    match e {
        ProviderError::RateLimited { .. } => "429".into(),
        ProviderError::Server { status, .. } | ProviderError::Rejected { status, .. } => {
            format!("HTTP {status}")
        }
        ProviderError::Connect { .. } => "connection failure (offline?)".into(),
        ProviderError::Timeout { .. } => "timeout".into(),
        ProviderError::Unauthorized { .. } => "no usable API key".into(),
        ProviderError::StreamDropped { .. } => "dropped stream".into(),
        ProviderError::BadResponse { .. } => "malformed stream".into(),
        ProviderError::Remote { kind, .. } => kind.clone(),
        ProviderError::Unavailable { .. } => "unavailable".into(),
        _ => "error".into(),
    }
}

/// Whether a failure before any output lets the next instance try. Our
/// own request being inexpressible fails the same everywhere.
pub fn falls_back(e: &ProviderError) -> bool {
    !matches!(e, ProviderError::InvalidRequest(_))
}

/// Whether a failure says something about the instance's health (and so
/// counts toward its circuit breaker). A missing key or a refused request
/// is configuration, not health.
pub fn counts_against_health(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::RateLimited { .. }
            | ProviderError::Server { .. }
            | ProviderError::Connect { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::StreamDropped { .. }
            | ProviderError::BadResponse { .. }
            | ProviderError::Remote { .. }
    )
}

/// The reason of the instance that answered: its own reason when it was
/// first, else what happened before it.
pub fn final_reason(candidate: &Candidate, first: bool, before: &[String]) -> String {
    if before.is_empty() {
        return candidate.reason.clone();
    }
    let after = format!("fallback after {}", before.join(", then "));
    if first || candidate.reason.starts_with("budget") {
        format!("{}; {after}", candidate.reason)
    } else {
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn default_then_fallback_and_requested_alone() {
        let fallback = vec!["openai".to_string(), "local".to_string()];
        let mut input = RouteInput {
            requested: None,
            default: "claude",
            fallback: &fallback,
            budget_spent: None,
            budget_target: "local",
        };
        let c = plan(&input, |_| true).unwrap();
        assert_eq!(names(&c), ["claude", "openai", "local"]);
        assert_eq!(c[0].reason, "configured default");
        input.requested = Some("claude");
        assert_eq!(
            names(&plan(&input, |_| true).unwrap()),
            ["claude", "openai", "local"]
        );
        input.requested = Some("lab");
        let c = plan(&input, |_| true).unwrap();
        assert_eq!(names(&c), ["lab"]);
        assert_eq!(c[0].reason, "requested");
    }

    #[test]
    fn a_spent_budget_drops_paid_instances() {
        let fallback = vec!["openai".to_string(), "lab".to_string()];
        let paid = |n: &str| n == "claude" || n == "openai";
        let input = RouteInput {
            requested: None,
            default: "claude",
            fallback: &fallback,
            budget_spent: Some("daily budget $1.00 spent ($1.0100)".into()),
            budget_target: "local",
        };
        let c = plan(&input, paid).unwrap();
        assert_eq!(names(&c), ["local", "lab"]);
        assert!(
            c[0].reason
                .starts_with("budget exhausted → local (daily budget"),
            "{}",
            c[0].reason
        );
        let bad = RouteInput {
            budget_target: "openai",
            ..input.clone()
        };
        assert!(plan(&bad, paid).unwrap_err().contains("paid provider too"));
        // A free default is not affected.
        let free = RouteInput {
            default: "lab",
            ..input
        };
        assert_eq!(names(&plan(&free, paid).unwrap()), ["lab"]);
    }

    #[test]
    fn reasons_name_what_failed() {
        let c = Candidate {
            name: "openai".into(),
            reason: "fallback".into(),
        };
        assert_eq!(
            final_reason(&c, false, &["429 from claude".into()]),
            "fallback after 429 from claude"
        );
        let first = Candidate {
            name: "claude".into(),
            reason: "configured default".into(),
        };
        assert_eq!(final_reason(&first, true, &[]), "configured default");
    }
}

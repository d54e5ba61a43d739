//! How domain enums are spelled in the database. Pure functions, so the
//! spellings (which the schema's CHECK constraints repeat) are tested
//! without a database. Changing a spelling needs a migration.

use aios_domain::{ApprovalMode, SessionKind, ToolStatus};

/// Column spelling of an approval mode.
pub(crate) fn approval_str(a: ApprovalMode) -> &'static str {
    match a {
        ApprovalMode::Ask => "ask",
        ApprovalMode::Policy => "policy",
        ApprovalMode::Never => "never",
    }
}

/// Parse the column spelling of an approval mode.
pub(crate) fn approval_parse(s: &str) -> Option<ApprovalMode> {
    match s {
        "ask" => Some(ApprovalMode::Ask),
        "policy" => Some(ApprovalMode::Policy),
        "never" => Some(ApprovalMode::Never),
        _ => None,
    }
}

/// Column spelling of a session kind (as in policy files).
pub(crate) fn kind_str(k: SessionKind) -> &'static str {
    k.as_str()
}

/// Parse the column spelling of a session kind.
pub(crate) fn kind_parse(s: &str) -> Option<SessionKind> {
    [
        SessionKind::Interactive,
        SessionKind::OneShot,
        SessionKind::Background,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
}

/// Column spelling of a tool status.
pub(crate) fn status_str(s: ToolStatus) -> &'static str {
    match s {
        ToolStatus::Ok => "ok",
        ToolStatus::Error => "error",
        ToolStatus::Denied => "denied",
        ToolStatus::Rejected => "rejected",
        ToolStatus::Interrupted => "interrupted",
        ToolStatus::TimedOut => "timed_out",
    }
}

/// Parse the column spelling of a tool status.
pub(crate) fn status_parse(s: &str) -> Option<ToolStatus> {
    match s {
        "ok" => Some(ToolStatus::Ok),
        "error" => Some(ToolStatus::Error),
        "denied" => Some(ToolStatus::Denied),
        "rejected" => Some(ToolStatus::Rejected),
        "interrupted" => Some(ToolStatus::Interrupted),
        "timed_out" => Some(ToolStatus::TimedOut),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_spellings_round_trip() {
        for a in [ApprovalMode::Ask, ApprovalMode::Policy, ApprovalMode::Never] {
            assert_eq!(approval_parse(approval_str(a)), Some(a));
        }
        assert_eq!(approval_parse("ASK"), None);
        for k in [
            SessionKind::Interactive,
            SessionKind::OneShot,
            SessionKind::Background,
        ] {
            assert_eq!(kind_parse(kind_str(k)), Some(k));
        }
        assert_eq!(kind_parse("one-shot"), None);
    }

    #[test]
    fn status_spellings_round_trip_and_match_serde() {
        for s in [
            ToolStatus::Ok,
            ToolStatus::Error,
            ToolStatus::Denied,
            ToolStatus::Rejected,
            ToolStatus::Interrupted,
            ToolStatus::TimedOut,
        ] {
            assert_eq!(status_parse(status_str(s)), Some(s));
            // The database spelling is the JSON spelling, so rows read the
            // same as the `--json` event stream.
            assert_eq!(serde_json::to_value(s).unwrap(), status_str(s));
        }
        assert_eq!(status_parse(""), None);
    }
}

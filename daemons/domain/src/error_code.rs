//! The one table of machine-readable error codes carried by the session
//! stream's `error` events (`docs/EVENTS.md`, "Error codes").
//!
//! Producers (aiosd's turn loop) and consumers (the shell's exit codes)
//! match on [`ErrorCode`], never on strings; the strings exist only on the
//! wire and in `--json` output, spelled exactly as before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
            /// A code this build does not know (from a newer peer); kept
            /// verbatim so it can be shown and passed on.
            Other(String),
        }

        impl ErrorCode {
            /// Every known code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Other(s) => s,
                }
            }

            /// Parse the wire spelling; unknown codes become [`ErrorCode::Other`].
            pub fn parse(s: &str) -> ErrorCode {
                match s {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_string()),
                }
            }
        }
    };
}

codes! {
    /// The model sent tool arguments that are not JSON; the turn continues.
    MalformedToolCall = "malformed_tool_call",
    /// A backend daemon is down or went away.
    DaemonUnavailable = "daemon_unavailable",
    /// The provider could not be reached.
    ModelUnavailable = "model_unavailable",
    /// The provider answered with an error, or its stream broke.
    ModelError = "model_error",
    /// The provider kept answering 429 after retries.
    RateLimited = "rate_limited",
    /// A model or backend call exceeded its deadline.
    Timeout = "timeout",
    /// The model kept calling tools past `turn.max_iterations`.
    MaxIterations = "max_iterations",
    /// One model reply passed the size limit for its text.
    ReplyTooLarge = "reply_too_large",
    /// The current turn's conversation passed the context limit.
    ContextTooLarge = "context_too_large",
    /// The model asked for more tool calls in one reply than are run.
    TooManyToolCalls = "too_many_tool_calls",
    /// The episodic store refused a write (for example, disk full).
    MemoryError = "memory_error",
    /// The turn's task failed (a bug in `aiosd`); the session goes on.
    InternalError = "internal_error",
    /// On attach: events the client asked for are no longer held.
    ReplayGap = "replay_gap",
    /// A daemon refused the orchestrator.
    PermissionDenied = "permission_denied",
    /// Another backend failed.
    BackendError = "backend_error",
    /// The request was empty.
    EmptyInput = "empty_input",
    /// The request was too large.
    InputTooLarge = "input_too_large",
    /// A turn is already running in this session.
    TurnInProgress = "turn_in_progress",
    /// An `Attach` on a stream that is already attached.
    AlreadyAttached = "already_attached",
    /// An approval decision named a call that is not waiting.
    NoPendingApproval = "no_pending_approval",
    /// The client itself failed (printed by `aios`, never sent by aiosd).
    ClientError = "client_error",
}

impl ErrorCode {
    /// Whether the code means the request was not started because of the
    /// request itself (the shell exits 2 for these).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            ErrorCode::EmptyInput | ErrorCode::InputTooLarge | ErrorCode::TurnInProgress
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares the wire spelling, so a code reads naturally in checks and
/// tests (`code == "memory_error"`).
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_survive() {
        for code in ErrorCode::ALL {
            assert_eq!(&ErrorCode::parse(code.as_str()), code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        let newer: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(newer, ErrorCode::Other("quota_exceeded".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), "\"quota_exceeded\"");
    }

    #[test]
    fn today_spellings_are_kept() {
        assert_eq!(ErrorCode::MemoryError.as_str(), "memory_error");
        assert_eq!(ErrorCode::RateLimited.as_str(), "rate_limited");
        assert_eq!(ErrorCode::DaemonUnavailable.as_str(), "daemon_unavailable");
    }
}

//! The documented exit codes (docs/CLI.md), the failure type carrying one,
//! and the one place that maps the error codes of the event stream
//! (docs/EVENTS.md) to exit codes and back.

use aios_proto::ErrorCode;

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The request completed.
    Success = 0,
    /// The request failed (model error, tool failure that ended the turn,
    /// interrupted).
    Failed = 1,
    /// Bad command line, bad configuration or bad input.
    Usage = 2,
    /// An action was refused by policy or needs an approval that cannot be
    /// given in this mode.
    Refused = 3,
    /// A daemon is not running or went away.
    DaemonUnavailable = 4,
}

/// An error that ends the command with a specific exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: Exit,
    /// Message for stderr (without the `aios:` prefix).
    pub message: String,
}

impl Failure {
    /// A failure with a code.
    pub fn new(code: Exit, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// A daemon is unavailable (exit 4).
    pub fn daemon(message: impl Into<String>) -> Failure {
        Failure::new(Exit::DaemonUnavailable, message)
    }
}

/// The exit code for a request that ended with an `Error` event carrying
/// `code`: the only place the shell maps error codes to exit codes.
///
/// - input errors (`empty_input`, `input_too_large`, `turn_in_progress`):
///   aiosd refused to start the turn, exit 2;
/// - `daemon_unavailable`: a daemon the turn needed went away, exit 4;
/// - anything else (`model_error`, `rate_limited`, ...): exit 1.
pub fn code_for_error(code: &ErrorCode) -> Exit {
    match code {
        c if c.is_bad_request() => Exit::Usage,
        ErrorCode::DaemonUnavailable => Exit::DaemonUnavailable,
        _ => Exit::Failed,
    }
}

/// The error code the shell itself reports (in `--json` mode) for a
/// failure outside the event stream; the inverse of [`code_for_error`] for
/// the codes the shell produces.
pub fn error_code_for(code: Exit) -> ErrorCode {
    match code {
        Exit::DaemonUnavailable => ErrorCode::DaemonUnavailable,
        _ => ErrorCode::ClientError,
    }
}

impl From<aios_config::ConfigError> for Failure {
    fn from(e: aios_config::ConfigError) -> Self {
        Failure::usage(format!("configuration error: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_the_documented_exit_codes() {
        for (code, exit) in [
            ("empty_input", Exit::Usage),
            ("input_too_large", Exit::Usage),
            ("turn_in_progress", Exit::Usage),
            ("daemon_unavailable", Exit::DaemonUnavailable),
            ("model_error", Exit::Failed),
            ("rate_limited", Exit::Failed),
            ("something_new", Exit::Failed),
        ] {
            assert_eq!(code_for_error(&ErrorCode::parse(code)), exit, "{code}");
        }
        for exit in [Exit::DaemonUnavailable, Exit::Failed, Exit::Usage] {
            let code = error_code_for(exit);
            if exit == Exit::DaemonUnavailable {
                assert_eq!(code_for_error(&code), exit);
            } else {
                assert_eq!(code, ErrorCode::ClientError);
            }
        }
    }
}

//! The documented exit codes (docs/CLI.md) and the failure type carrying one.

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

impl From<aios_config::ConfigError> for Failure {
    fn from(e: aios_config::ConfigError) -> Self {
        Failure::usage(format!("configuration error: {e}"))
    }
}

//! The one error type of tool lookup, argument validation and tool runs.
//!
//! Opaque struct with a `#[non_exhaustive]` kind (ripgrep style): the
//! executor maps the kind to a `ToolStatus`, and the message is what the
//! model and the human read, so every constructor takes an actionable text.

use std::fmt;
use std::path::Path;

/// What went wrong, in terms the executor maps to a call status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolErrorKind {
    /// No tool has that name (the message suggests the closest ones).
    UnknownTool,
    /// The arguments do not fit the tool's schema (the message names the field).
    InvalidArgs,
    /// A path, process, user or unit that does not exist.
    NotFound,
    /// The effective user may not do or see this.
    PermissionDenied,
    /// The host lacks what the tool needs (a service manager, journald…).
    Unsupported,
    /// The tool observed cancellation and stopped.
    Cancelled,
    /// Anything else that failed while running.
    Failed,
}

/// An error of a tool lookup, validation or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ToolError {
    kind: ToolErrorKind,
    message: String,
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ToolError {
    /// An error of `kind` with an actionable `message`.
    pub fn new(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        ToolError {
            kind,
            message: message.into(),
        }
    }

    /// The category.
    pub fn kind(&self) -> ToolErrorKind {
        self.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Invalid arguments.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::InvalidArgs, message)
    }

    /// Something does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::NotFound, message)
    }

    /// The effective user may not do this.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::PermissionDenied, message)
    }

    /// The host does not support this.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::Unsupported, message)
    }

    /// A failure while running.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::Failed, message)
    }

    /// The run was cancelled.
    pub fn cancelled() -> Self {
        Self::new(ToolErrorKind::Cancelled, "cancelled")
    }

    /// Map an I/O error on `path` to a kind and a message that says which
    /// path and what to do, instead of a bare "os error 2".
    pub fn io(path: &Path, what: &str, e: &std::io::Error) -> Self {
        let p = path.display();
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::not_found(format!("{p} does not exist")),
            std::io::ErrorKind::PermissionDenied => {
                Self::denied(format!("permission denied: cannot {what} {p}"))
            }
            _ => Self::failed(format!("cannot {what} {p}: {e}")),
        }
    }
}

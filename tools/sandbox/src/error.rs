//! The sandbox's error: an opaque type with a kind and a message that says
//! what failed and what to do.

use std::fmt;

/// What kind of failure a [`SandboxError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxErrorKind {
    /// The spec is unusable (empty argv, relative path, NUL byte…).
    InvalidSpec,
    /// `argv[0]` was not found (or not executable) inside the sandbox.
    NotFound,
    /// Running as the requested user needs privileges this process lacks.
    PermissionDenied,
    /// A confinement step that must not be skipped failed (dropping to the
    /// requested user, the working directory, a writable path).
    Setup,
    /// The run was cancelled before it ended.
    Cancelled,
    /// A system call in the parent failed (pipes, fork).
    Io,
}

/// A sandbox failure.
#[derive(Debug, thiserror::Error)]
pub struct SandboxError {
    kind: SandboxErrorKind,
    message: String,
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl SandboxError {
    pub(crate) fn new(kind: SandboxErrorKind, message: impl Into<String>) -> SandboxError {
        SandboxError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> SandboxError {
        SandboxError::new(SandboxErrorKind::InvalidSpec, message)
    }

    pub(crate) fn io(what: &str, e: impl fmt::Display) -> SandboxError {
        SandboxError::new(SandboxErrorKind::Io, format!("sandbox: {what}: {e}"))
    }

    /// The kind of failure.
    pub fn kind(&self) -> SandboxErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

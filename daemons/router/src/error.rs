//! The crate's one error type: an opaque [`RouterError`] with a [`RouterErrorKind`] to match on.

use std::fmt;

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterErrorKind {
    /// A tool in the set is malformed (empty name, or a name given twice).
    InvalidTool,
    /// An evaluation file is malformed (bad JSON, unknown tool, missing field).
    InvalidEval,
}

/// An error from `aios-router`. The message names the tool or the file line at fault.
#[derive(Debug, thiserror::Error)]
pub struct RouterError {
    kind: RouterErrorKind,
    message: String,
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl RouterError {
    pub(crate) fn new(kind: RouterErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> RouterErrorKind {
        self.kind
    }
}

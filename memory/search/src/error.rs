//! The crate's one error type: an opaque [`Error`] with a [`ErrorKind`] callers can match on.

use std::fmt;

/// What went wrong, for callers that branch on it (e.g. map to a gRPC status later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    Io,
    /// tantivy refused an operation on the text index.
    Index,
    /// A file on disk is not what this crate wrote (bad magic, bad header, bad record).
    Corrupt,
    /// A `where` / `where_document` filter is malformed.
    InvalidFilter,
    /// A request is malformed (lengths disagree, empty ids, k = 0, ...).
    InvalidInput,
    /// The caller's embedding model is not the one the collection records.
    ModelMismatch,
    /// A vector's length is not the collection's dimension.
    DimensionMismatch,
    /// An id that must exist does not.
    NotFound,
    /// `add` was given an id that already exists.
    DuplicateId,
    /// An [`crate::Embedder`] failed to load its model or to embed.
    Embedding,
    /// An index on disk was written in another format version: rebuild it from the source
    /// of truth (`aios memory reindex`).
    Outdated,
}

/// An error from `aios-search`. The message names the file, field or item at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl Error {
    /// An error without an underlying cause.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error wrapping the cause that produced it.
    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// An [`ErrorKind::Embedding`] error, for [`crate::Embedder`] implementations in other crates.
    pub fn embedding(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::with_source(ErrorKind::Embedding, message, source)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Wraps a tantivy error with what we were doing when it happened.
pub(crate) fn index_err(what: impl Into<String>) -> impl FnOnce(tantivy::TantivyError) -> Error {
    move |e| Error::with_source(ErrorKind::Index, what, e)
}

/// Wraps an I/O error with the path and action that failed.
pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::with_source(ErrorKind::Io, what, e)
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

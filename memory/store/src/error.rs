//! The store's error type: an opaque struct with a `#[non_exhaustive]`
//! [`ErrorKind`], and the mapping from SQLite result codes to kinds with
//! messages that name the database file and say what to do.

use std::path::Path;

use rusqlite::ErrorCode;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The session (or other record) asked for does not exist.
    NotFound,
    /// The file is not an aiOS memory database, or it is damaged.
    Corrupt,
    /// The disk (or the configured size limit) is full; nothing was stored.
    Full,
    /// The database file or its directory is not writable.
    ReadOnly,
    /// Another process holds a lock for longer than the busy timeout.
    Busy,
    /// The database was written by a newer aiOS (schema version too high).
    TooNew,
    /// The caller passed a value the store refuses (empty id, reassigned owner…).
    Invalid,
    /// Anything else (I/O errors, bugs).
    Other,
}

/// An error of the episodic store. The message always names the database
/// path and, where there is one, the remedy.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<rusqlite::Error>,
}

impl StoreError {
    /// Category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Build an error without an underlying SQLite cause.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Classify a SQLite error that happened while working on `path`.
    /// `doing` says what the store was doing ("append a message"), so the
    /// message reads as a sentence.
    pub(crate) fn sqlite(path: &Path, doing: &str, e: rusqlite::Error) -> Self {
        let p = path.display();
        let (kind, message) = match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => (
                ErrorKind::Full,
                format!(
                    "disk full: {p}: cannot {doing}: the database cannot grow (its filesystem is full or its \
                     size limit is reached); free space and retry. Nothing was stored"
                ),
            ),
            Some(ErrorCode::NotADatabase) => (
                ErrorKind::Corrupt,
                format!(
                    "{p} is not a SQLite database ({e}); move it aside and a new memory database will be created"
                ),
            ),
            Some(ErrorCode::DatabaseCorrupt) => (
                ErrorKind::Corrupt,
                format!(
                    "{p} is corrupt ({e}) while trying to {doing}; restore it from a backup or move it aside \
                     (`sqlite3 {p} .recover` may salvage rows)"
                ),
            ),
            Some(ErrorCode::ReadOnly) => (
                ErrorKind::ReadOnly,
                format!(
                    "{p} is read-only ({e}); cannot {doing}: make the file, its -wal/-shm files and its \
                     directory writable by the memoryd user"
                ),
            ),
            Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => (
                ErrorKind::Other,
                format!(
                    "cannot open {p} ({e}); check that its directory exists and is writable by the memoryd user"
                ),
            ),
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => (
                ErrorKind::Busy,
                format!(
                    "{p} is locked by another process ({e}); cannot {doing}. Is a second memoryd or a \
                     sqlite3 shell holding it?"
                ),
            ),
            Some(ErrorCode::ConstraintViolation) if is_foreign_key(&e) => (
                ErrorKind::NotFound,
                format!(
                    "cannot {doing} in {p}: its session does not exist; store the session first"
                ),
            ),
            _ => (ErrorKind::Other, format!("cannot {doing} in {p}: {e}")),
        };
        StoreError {
            kind,
            message,
            source: Some(e),
        }
    }
}

fn is_foreign_key(e: &rusqlite::Error) -> bool {
    e.sqlite_error()
        .is_some_and(|f| f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

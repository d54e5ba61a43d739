//! The ledger's error type: an opaque [`LedgerError`] with a
//! `#[non_exhaustive]` [`LedgerErrorKind`], and the mapping from SQLite
//! result codes to kinds. Every message names the ledger file and says what
//! to do; none carries entry contents, so no secret an entry might hold can
//! leak through an error.

use std::path::Path;

use rusqlite::ErrorCode;

/// What went wrong, in terms a caller can act on. toolsd fails closed on
/// every kind: if the intent entry cannot be written, the call does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerErrorKind {
    /// The file or its directory could not be created, opened, read or
    /// written (permissions, missing directory, I/O error).
    Io,
    /// The disk (or filesystem quota) is full: nothing was appended.
    Full,
    /// The file is a ledger but damaged: SQLite reports corruption, a row
    /// cannot be decoded, or the chain's head disagrees with its last entry.
    Corrupt,
    /// The file is not an aiOS audit ledger (not SQLite, or another
    /// program's database).
    NotALedger,
    /// Another process holds the write lock longer than the busy timeout.
    Locked,
    /// The ledger was written by a newer aiOS (schema version too high).
    TooNew,
    /// The ledger was opened read-only and cannot be appended to.
    ReadOnly,
    /// The entry asked for does not exist.
    NotFound,
    /// The caller passed something the ledger refuses (an entry that cannot
    /// be encoded).
    Invalid,
    /// Anything else SQLite reports.
    Other,
}

/// An error of the audit ledger.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LedgerError {
    kind: LedgerErrorKind,
    message: String,
    #[source]
    source: Option<rusqlite::Error>,
}

impl LedgerError {
    /// Category of the error.
    pub fn kind(&self) -> LedgerErrorKind {
        self.kind
    }

    pub(crate) fn new(kind: LedgerErrorKind, message: impl Into<String>) -> Self {
        LedgerError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Classify a SQLite error that happened while working on `path`;
    /// `doing` completes "cannot …" ("append an entry").
    pub(crate) fn sqlite(path: &Path, doing: &str, e: rusqlite::Error) -> Self {
        let p = path.display();
        let (kind, message) = match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => (
                LedgerErrorKind::Full,
                format!(
                    "disk full: audit ledger {p}: cannot {doing}: its filesystem is full; free space and \
                     retry. Nothing was appended, and actions that need the ledger will not run"
                ),
            ),
            Some(ErrorCode::NotADatabase) => (
                LedgerErrorKind::NotALedger,
                format!(
                    "{p} is not an audit ledger: it is not a SQLite database ({e}). Point aiOS at the \
                     right file, or move it aside to start a new ledger (keep it as evidence)"
                ),
            ),
            Some(ErrorCode::DatabaseCorrupt) => (
                LedgerErrorKind::Corrupt,
                format!(
                    "audit ledger {p} is corrupt ({e}) while trying to {doing}; keep the file as evidence, \
                     run `aios audit verify`, and restore from a backup or an exported copy"
                ),
            ),
            Some(ErrorCode::ReadOnly) => (
                LedgerErrorKind::ReadOnly,
                format!(
                    "audit ledger {p} is read-only ({e}); cannot {doing}: make the file, its -wal and \
                     -shm files and its directory writable by toolsd"
                ),
            ),
            Some(ErrorCode::CannotOpen)
            | Some(ErrorCode::PermissionDenied)
            | Some(ErrorCode::SystemIoFailure) => (
                LedgerErrorKind::Io,
                format!(
                    "cannot {doing}: audit ledger {p}: {e}; check that the file and its directory exist, \
                     are on a local disk and are accessible to toolsd"
                ),
            ),
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => (
                LedgerErrorKind::Locked,
                format!(
                    "audit ledger {p} is locked by another process ({e}); cannot {doing}. Is a second \
                     toolsd or a sqlite3 shell holding it?"
                ),
            ),
            _ => (
                LedgerErrorKind::Other,
                format!("cannot {doing}: audit ledger {p}: {e}"),
            ),
        };
        LedgerError {
            kind,
            message,
            source: Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_its_own_kind_and_names_the_file() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let err = LedgerError::sqlite(Path::new("/var/lib/aios/audit.db"), "append an entry", e);
        assert_eq!(err.kind(), LedgerErrorKind::Full);
        assert!(err.to_string().contains("/var/lib/aios/audit.db"), "{err}");
        assert!(err.to_string().contains("free space"), "{err}");
    }
}

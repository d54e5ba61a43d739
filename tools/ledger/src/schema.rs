//! The ledger's schema and its versioned migrations.
//!
//! `PRAGMA application_id` marks the file as an audit ledger, so a foreign
//! SQLite database (the memory store, say) is refused rather than
//! "migrated"; the applied migrations are recorded in the `migrations`
//! table and mirrored in `PRAGMA user_version`. Each migration runs in its
//! own `BEGIN IMMEDIATE` transaction together with its bookkeeping, so a
//! crash mid-migration leaves the previous version intact.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{LedgerError, LedgerErrorKind};

/// `application_id` of an aiOS audit ledger: "aLdg" in ASCII.
pub const APPLICATION_ID: i32 = 0x614c_6467;

/// Migration steps; step `i` brings the ledger to version `i + 1`.
/// Append only: never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: entries, head, append-only triggers.
    //
    // `id` is assigned by the ledger (head + 1), never by SQLite, so ids run
    // 1, 2, 3… without gaps. `entry` is the canonical JSON the hash covers.
    // The queryable columns are generated from it (VIRTUAL: computed, not
    // stored), so they cannot disagree with the hashed text, and `verify`
    // need not parse any JSON. Text that is not JSON (a damaged row) yields
    // NULLs rather than failing every query; `verify` reports the row. (No
    // CHECK (json_valid(entry)): quick_check would parse every entry.)
    "
    CREATE TABLE migrations (
        version    INTEGER PRIMARY KEY NOT NULL,
        applied_ms INTEGER NOT NULL
    );
    CREATE TABLE entries (
        id         INTEGER PRIMARY KEY NOT NULL CHECK (id >= 1),
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL,
        entry      TEXT NOT NULL,
        kind       TEXT    GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.kind') END) VIRTUAL,
        unix_ms    INTEGER GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.unix_ms') END) VIRTUAL,
        uid        INTEGER GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.uid') END) VIRTUAL,
        user       TEXT    GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.user') END) VIRTUAL,
        session_id TEXT    GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.session_id') END) VIRTUAL,
        call_id    TEXT    GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.call_id') END) VIRTUAL,
        tool       TEXT    GENERATED ALWAYS AS (CASE WHEN json_valid(entry) THEN json_extract(entry, '$.tool') END) VIRTUAL
    );
    CREATE INDEX entries_by_time ON entries (unix_ms);
    CREATE INDEX entries_by_tool ON entries (tool);
    CREATE INDEX entries_by_uid ON entries (uid);
    CREATE INDEX entries_by_user ON entries (user);
    CREATE INDEX entries_by_session ON entries (session_id);
    CREATE INDEX entries_by_call ON entries (call_id, session_id);

    -- The chain's end as of the last append, updated in the same
    -- transaction. One row.
    CREATE TABLE head (
        one  INTEGER PRIMARY KEY NOT NULL CHECK (one = 1),
        id   INTEGER NOT NULL CHECK (id >= 0),
        hash TEXT NOT NULL
    );
    INSERT INTO head (one, id, hash)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

    -- Defence in depth: the chain hash is the real check (an attacker with
    -- write access to the file can drop these).
    CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
    BEGIN
        SELECT RAISE(ABORT, 'the audit ledger is append-only: entries cannot be changed');
    END;
    CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
    BEGIN
        SELECT RAISE(ABORT, 'the audit ledger is append-only: entries cannot be deleted');
    END;
    CREATE TRIGGER head_no_delete BEFORE DELETE ON head
    BEGIN
        SELECT RAISE(ABORT, 'the audit ledger head cannot be deleted');
    END;
    CREATE TRIGGER head_only_forward BEFORE UPDATE ON head
    WHEN NEW.id < OLD.id
    BEGIN
        SELECT RAISE(ABORT, 'the audit ledger head only moves forward');
    END;
    ",
];

/// The indexes over `entries`; `verify` reads each in full.
pub(crate) const INDEXES: &[&str] = &[
    "entries_by_time",
    "entries_by_tool",
    "entries_by_uid",
    "entries_by_user",
    "entries_by_session",
    "entries_by_call",
];

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

fn read_i64(conn: &Connection, path: &Path, pragma: &str) -> Result<i64, LedgerError> {
    conn.pragma_query_value(None, pragma, |r| r.get::<_, i64>(0))
        .map_err(|e| LedgerError::sqlite(path, "open the ledger", e))
}

/// Check that `conn` is an audit ledger this build understands (or an empty
/// database), without changing anything. Returns the schema version.
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
    let p = path.display();
    let app_id = read_i64(conn, path, "application_id")?;
    let version = read_i64(conn, path, "user_version")?;
    if app_id != 0 && app_id != i64::from(APPLICATION_ID) {
        return Err(LedgerError::new(
            LedgerErrorKind::NotALedger,
            format!(
                "{p} is a SQLite database of another program (application_id {app_id:#x}), not an aiOS \
                 audit ledger; point aiOS at the right file or move this one aside"
            ),
        ));
    }
    if app_id == 0 {
        // Unmarked: only an empty database may become a ledger.
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| LedgerError::sqlite(path, "open the ledger", e))?;
        if objects != 0 || version != 0 {
            return Err(LedgerError::new(
                LedgerErrorKind::NotALedger,
                format!(
                    "{p} is a SQLite database of another program ({objects} schema objects, no audit \
                     ledger application_id), not an aiOS audit ledger; move it aside"
                ),
            ));
        }
    }
    if version > i64::from(LATEST_VERSION) {
        return Err(LedgerError::new(
            LedgerErrorKind::TooNew,
            format!(
                "audit ledger {p} has schema version {version}, but this aiOS understands versions up to \
                 {LATEST_VERSION}: it was written by a newer aiOS. Upgrade aiOS; do not move the ledger \
                 aside"
            ),
        ));
    }
    Ok(version)
}

/// Check `conn` (see [`check`]) and bring it to [`LATEST_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path, now_ms: i64) -> Result<(), LedgerError> {
    check(conn, path)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let target = i as i64 + 1;
        let doing = format!("migrate the ledger schema to version {target}");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| LedgerError::sqlite(path, &doing, e))?;
        // Re-read under the write lock: another process may have migrated
        // since we looked.
        if read_i64(&tx, path, "user_version")? >= target {
            continue;
        }
        tx.execute_batch(sql)
            .and_then(|()| {
                tx.execute(
                    "INSERT INTO migrations (version, applied_ms) VALUES (?1, ?2)",
                    (target, now_ms),
                )
            })
            .and_then(|_| tx.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| tx.pragma_update(None, "user_version", target))
            .and_then(|()| tx.commit())
            .map_err(|e| LedgerError::sqlite(path, &doing, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_to_an_empty_database_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        migrate(&mut conn, path, 1).unwrap();
        migrate(&mut conn, path, 2).unwrap();
        assert_eq!(check(&conn, path).unwrap(), i64::from(LATEST_VERSION));
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, i64::from(LATEST_VERSION));
    }

    #[test]
    fn foreign_database_is_not_a_ledger() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE accounts (id INTEGER)")
            .unwrap();
        let err = migrate(&mut conn, Path::new("/x/other.db"), 1).unwrap_err();
        assert_eq!(err.kind(), LedgerErrorKind::NotALedger);
        assert!(err.to_string().contains("/x/other.db"), "{err}");
    }

    #[test]
    fn newer_ledger_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new("a.db"), 1).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = check(&conn, Path::new("a.db")).unwrap_err();
        assert_eq!(err.kind(), LedgerErrorKind::TooNew);
    }

    #[test]
    fn triggers_refuse_update_and_delete() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new("a.db"), 1).unwrap();
        conn.execute(
            "INSERT INTO entries (id, prev_hash, hash, entry) VALUES (1, 'p', 'h', '{\"tool\":\"t\"}')",
            [],
        )
        .unwrap();
        for sql in [
            "UPDATE entries SET hash = 'x'",
            "DELETE FROM entries",
            "DELETE FROM head",
            "UPDATE head SET id = -1",
        ] {
            let err = conn.execute(sql, []).unwrap_err();
            assert!(err.to_string().contains("audit ledger"), "{sql}: {err}");
        }
    }
}

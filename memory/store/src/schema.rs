//! The database schema and its versioned migrations.
//!
//! The schema version lives in `PRAGMA user_version`; `PRAGMA
//! application_id` marks the file as ours so a foreign SQLite database is
//! refused instead of being "migrated". Each migration runs in its own
//! `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
//! mid-migration leaves the previous version intact. A database whose
//! version is newer than [`LATEST_VERSION`] is refused: an old binary must
//! not write rows a newer schema does not expect.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{ErrorKind, Result, StoreError};

/// `application_id` of an aiOS memory database: "aiOS" in ASCII.
pub const APPLICATION_ID: i32 = 0x6169_4f53;

/// Migration steps; step `i` brings the database to version `i + 1`.
/// Append only: never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, messages, tool calls.
    //
    // Row ids are AUTOINCREMENT so they are never reused: search indexes
    // (DESIGN.md §6) key documents by them and are rebuilt from SQLite.
    "
    CREATE TABLE sessions (
        id              TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
        uid             INTEGER NOT NULL CHECK (uid >= 0),
        provider        TEXT NOT NULL,
        model           TEXT NOT NULL,
        created_unix_ms INTEGER NOT NULL,
        title           TEXT NOT NULL,
        approval        TEXT NOT NULL CHECK (approval IN ('ask', 'policy'))
    );
    CREATE INDEX sessions_by_uid ON sessions (uid, created_unix_ms DESC);
    CREATE INDEX sessions_by_time ON sessions (created_unix_ms DESC);

    CREATE TABLE messages (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        turn_id         TEXT NOT NULL,
        role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
        content         TEXT NOT NULL,
        tool_calls_json TEXT NOT NULL DEFAULT '[]',
        tool_call_id    TEXT,
        unix_ms         INTEGER NOT NULL
    );
    CREATE INDEX messages_by_session ON messages (session_id, id);

    CREATE TABLE tool_calls (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        turn_id     TEXT NOT NULL,
        call_id     TEXT NOT NULL,
        tool        TEXT NOT NULL,
        args_json   TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN
                        ('ok', 'error', 'denied', 'rejected', 'interrupted', 'timed_out')),
        result_json TEXT NOT NULL,
        duration_us INTEGER NOT NULL CHECK (duration_us >= 0),
        unix_ms     INTEGER NOT NULL
    );
    CREATE INDEX tool_calls_by_session ON tool_calls (session_id, id);
    CREATE INDEX tool_calls_by_call ON tool_calls (call_id);
    ",
    // 2: sessions may have approval mode 'never'. SQLite cannot change a
    // CHECK constraint in place, so the table is rebuilt; `migrate` turns
    // foreign keys off around migrations so dropping the old table does not
    // cascade into messages and tool calls.
    "
    CREATE TABLE sessions_v2 (
        id              TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
        uid             INTEGER NOT NULL CHECK (uid >= 0),
        provider        TEXT NOT NULL,
        model           TEXT NOT NULL,
        created_unix_ms INTEGER NOT NULL,
        title           TEXT NOT NULL,
        approval        TEXT NOT NULL CHECK (approval IN ('ask', 'policy', 'never'))
    );
    INSERT INTO sessions_v2 (id, uid, provider, model, created_unix_ms, title, approval)
        SELECT id, uid, provider, model, created_unix_ms, title, approval FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions_v2 RENAME TO sessions;
    CREATE INDEX sessions_by_uid ON sessions (uid, created_unix_ms DESC);
    CREATE INDEX sessions_by_time ON sessions (created_unix_ms DESC);
    ",
    // 3: search collections, their documents, and the durable queue of index updates.
    //
    // A document row and its queue entry are written in one transaction; the search
    // indexes apply the queue and only then delete the entries, so a crash between the
    // two replays an idempotent update. Embeddings computed off the request path are
    // stored back here, so a reindex never embeds again.
    "
    CREATE TABLE collections (
        name            TEXT PRIMARY KEY NOT NULL CHECK (name <> ''),
        model           TEXT NOT NULL CHECK (model <> ''),
        dimension       INTEGER NOT NULL CHECK (dimension > 0),
        created_unix_ms INTEGER NOT NULL
    );

    CREATE TABLE documents (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        collection      TEXT NOT NULL REFERENCES collections (name) ON DELETE CASCADE,
        key             TEXT NOT NULL CHECK (key <> ''),
        text            TEXT NOT NULL,
        metadata_json   TEXT NOT NULL DEFAULT '{}',
        embedding       BLOB,
        unix_ms         INTEGER NOT NULL,
        UNIQUE (collection, key)
    );

    CREATE TABLE index_queue (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        collection      TEXT NOT NULL,
        doc_id          INTEGER NOT NULL,
        op              TEXT NOT NULL CHECK (op IN ('put', 'delete'))
    );
    CREATE INDEX index_queue_by_collection ON index_queue (collection, seq);
    ",
    // 4: each session's event log, keyed by (session, seq), so aiosd can
    // rehydrate a session after it restarts (issue 10 §7). The event is
    // stored as its JSON encoding (aios_domain::Event): the log is replayed
    // to clients as it was, never interpreted by the store.
    "
    CREATE TABLE session_events (
        session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq             INTEGER NOT NULL CHECK (seq > 0),
        unix_ms         INTEGER NOT NULL,
        event_json      TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    ",
    // 5: the files a collection is fed from (man pages, READMEs), so a restart re-reads
    // only what changed: path, mtime and size as last read, and the documents (key
    // prefix, chunk count) that file became. Deleting the collection forgets its files.
    "
    CREATE TABLE doc_sources (
        collection  TEXT NOT NULL REFERENCES collections (name) ON DELETE CASCADE,
        path        TEXT NOT NULL CHECK (path <> ''),
        mtime_ns    INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        prefix      TEXT NOT NULL CHECK (prefix <> ''),
        chunks      INTEGER NOT NULL CHECK (chunks >= 0),
        PRIMARY KEY (collection, path)
    );
    ",
    // 6: each session's kind (who drives it: a person, a one-shot run, an
    // agent), declared at creation and fixed, so a session brought back
    // after aiosd restarts is still matched by policy as what it is. Older
    // sessions get the kind aiosd used to derive from the approval mode.
    "
    ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'interactive'
        CHECK (kind IN ('interactive', 'one_shot', 'background'));
    UPDATE sessions SET kind = 'one_shot' WHERE approval <> 'ask';
    ",
];

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

fn read_i64(conn: &Connection, path: &Path, pragma: &str) -> Result<i64> {
    conn.pragma_query_value(None, pragma, |r| r.get::<_, i64>(0))
        .map_err(|e| StoreError::sqlite(path, "open the database", e))
}

/// Check that `conn` is an aiOS memory database this build understands and
/// bring it to [`LATEST_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let p = path.display();
    let version = read_i64(conn, path, "user_version")?;
    if version > i64::from(LATEST_VERSION) {
        return Err(StoreError::new(
            ErrorKind::TooNew,
            format!(
                "{p} has schema version {version}, but this aiOS understands versions up to \
                 {LATEST_VERSION}: it was written by a newer aiOS. Upgrade aiOS, or move the file aside \
                 to start an empty memory"
            ),
        ));
    }
    let app_id = read_i64(conn, path, "application_id")?;
    if app_id != 0 && app_id != i64::from(APPLICATION_ID) {
        return Err(StoreError::new(
            ErrorKind::Corrupt,
            format!(
                "{p} is a SQLite database of another program (application_id {app_id:#x}), not an aiOS \
                 memory database; point aiOS at another state directory or move the file aside"
            ),
        ));
    }
    if app_id == 0 {
        // Unmarked: only an empty database may become ours.
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(path, "open the database", e))?;
        if objects != 0 || version != 0 {
            return Err(StoreError::new(
                ErrorKind::Corrupt,
                format!(
                    "{p} is a SQLite database of another program ({objects} schema objects, no aiOS \
                     application_id), not an aiOS memory database; move it aside"
                ),
            ));
        }
    }
    // Table rebuilds must not cascade deletes; the pragma is a no-op inside
    // a transaction, so it is set around them.
    let fk: i64 = read_i64(conn, path, "foreign_keys")?;
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(|e| StoreError::sqlite(path, "open the database", e))?;
    let result = run_migrations(conn, path);
    conn.pragma_update(None, "foreign_keys", fk)
        .map_err(|e| StoreError::sqlite(path, "open the database", e))?;
    result
}

fn run_migrations(conn: &mut Connection, path: &Path) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let target = i as i64 + 1;
        let doing = format!("migrate the schema to version {target}");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::sqlite(path, &doing, e))?;
        // Re-read under the write lock: another process may have migrated
        // since we looked.
        let current = read_i64(&tx, path, "user_version")?;
        if current >= target {
            continue;
        }
        tx.execute_batch(sql)
            .and_then(|()| foreign_keys_hold(&tx))
            .and_then(|()| tx.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| tx.pragma_update(None, "user_version", target))
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::sqlite(path, &doing, e))?;
    }
    Ok(())
}

/// A migration must leave every reference intact.
fn foreign_keys_hold(conn: &Connection) -> rusqlite::Result<()> {
    let broken: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken == 0 {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            Some(format!("{broken} rows would lose their session")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_2_keeps_messages_of_existing_sessions() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO sessions VALUES ('s1', 1000, 'p', 'm', 1, 't', 'ask');
             INSERT INTO messages (session_id, turn_id, role, content, unix_ms)
                 VALUES ('s1', 't1', 'user', 'hello', 2);",
        )
        .unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "the rebuild must not cascade into messages");
        conn.execute(
            "INSERT INTO sessions (id, uid, provider, model, created_unix_ms, title, approval)
                 VALUES ('s2', 1000, 'p', 'm', 1, 't', 'never')",
            [],
        )
        .unwrap();
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "foreign keys are back on");
    }

    #[test]
    fn migration_6_gives_old_sessions_the_kind_their_approval_mode_implied() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO sessions VALUES ('a', 1000, 'p', 'm', 1, 't', 'ask');
             INSERT INTO sessions VALUES ('p', 1000, 'p', 'm', 1, 't', 'policy');
             INSERT INTO sessions VALUES ('n', 1000, 'p', 'm', 1, 't', 'never');",
        )
        .unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        let kinds: Vec<(String, String)> = conn
            .prepare("SELECT id, kind FROM sessions ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let want = [("a", "interactive"), ("n", "one_shot"), ("p", "one_shot")];
        assert_eq!(
            kinds,
            want.map(|(i, k)| (i.to_string(), k.to_string())).to_vec()
        );
        // A kind outside the three is refused by the column's CHECK.
        assert!(
            conn.execute("UPDATE sessions SET kind = 'daemon' WHERE id = 'a'", [])
                .is_err()
        );
    }

    #[test]
    fn every_migration_applies_to_an_empty_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        migrate(&mut conn, path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, i64::from(LATEST_VERSION));
        // A second run finds nothing to do (and does not fail on CREATE).
        migrate(&mut conn, path).unwrap();
    }

    #[test]
    fn foreign_sqlite_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE accounts (id INTEGER)")
            .unwrap();
        let err = migrate(&mut conn, Path::new("/x/other.db")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        assert!(err.to_string().contains("another program"), "{err}");
        assert!(err.to_string().contains("/x/other.db"), "{err}");
    }
}

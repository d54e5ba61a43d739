//! [`Ledger`]: opening the file, appending records to the chain, and
//! reading them back.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aios_domain::{AuditEntry, AuditRecord};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::canonical::{canonical_entry, hash_record};
use crate::error::{LedgerError, LedgerErrorKind};
use crate::query::{self, Query};
use crate::schema;

/// How long a writer waits for another process's lock before failing with
/// [`LedgerErrorKind::Locked`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The chain's end at some moment: the last record's id and hash. Exported
/// and kept elsewhere, it lets [`Ledger::verify_against`] detect a ledger
/// truncated or rewritten below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last record's id (0 for an empty ledger).
    pub id: u64,
    /// Its hash ([`crate::GENESIS_HASH`] for an empty ledger).
    pub hash: String,
}

/// How far an append is taken before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Committed and fsynced (`synchronous=FULL`): survives a crash of the
    /// process or of the machine. Changes wait for this.
    Durable,
    /// Committed and handed to the kernel, not fsynced
    /// (`synchronous=NORMAL`): survives a crash of the process (`kill -9`),
    /// and becomes durable with the next [`Durability::Durable`] commit or
    /// checkpoint, whose fsync of the write-ahead log covers it. A power
    /// loss before that may lose it, never the chain's integrity.
    Written,
}

/// An open audit ledger. One process appends (toolsd); readers may open
/// their own [`Ledger::open_read_only`] connection. `Send`, not `Sync`:
/// share it behind a mutex or give it its own thread.
pub struct Ledger {
    path: PathBuf,
    pub(crate) conn: Connection,
    read_only: bool,
    /// The connection's current `synchronous` setting.
    synchronous: Durability,
    /// With [`Ledger::defer_checkpoints`]: records appended since the
    /// write-ahead log was last checkpointed.
    unchecked: Option<u64>,
}

/// Records between two checkpoints when the owner runs them
/// ([`Ledger::checkpoint_if_due`]); about SQLite's own 1000 pages.
const CHECKPOINT_EVERY: u64 = 1000;

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn io_error(path: &Path, doing: &str, e: &std::io::Error) -> LedgerError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => "; run toolsd as a user that may write there",
        std::io::ErrorKind::StorageFull => "; free space and retry",
        _ => "",
    };
    let kind = if e.kind() == std::io::ErrorKind::StorageFull {
        LedgerErrorKind::Full
    } else {
        LedgerErrorKind::Io
    };
    LedgerError::new(
        kind,
        format!("cannot {doing} {}: {e}{hint}", path.display()),
    )
}

impl Ledger {
    /// Open the ledger at `path` for appending, creating it if missing (its
    /// directory with mode 0700, the file with mode 0600). The file must be
    /// an audit ledger of a schema this build understands, or empty; any
    /// other file is refused with [`LedgerErrorKind::NotALedger`].
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| io_error(dir, "create the audit ledger directory", &e))?;
            }
        }
        // Creating the file ourselves fixes its mode; SQLite gives the -wal
        // and -shm files the same one.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(path, "create the audit ledger", &e)),
        }
        if !path.is_file() {
            return Err(LedgerError::new(
                LedgerErrorKind::NotALedger,
                format!(
                    "{} is not a regular file, so it cannot be an audit ledger; point aiOS at a file",
                    path.display()
                ),
            ));
        }
        let opening = |e| LedgerError::sqlite(path, "open the ledger", e);
        let mut conn = Connection::open(path).map_err(opening)?;
        Self::configure(&conn, path)?;
        // The first statement that reads the file: a non-database fails here.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::new(
                LedgerErrorKind::Io,
                format!(
                    "audit ledger {}: SQLite refused WAL journal mode (got {mode:?}); the filesystem may \
                     not support shared memory (network filesystems do not): put it on a local disk",
                    path.display()
                ),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(opening)?;
        schema::migrate(&mut conn, path, now_ms())?;
        Ok(Ledger {
            path: path.to_path_buf(),
            conn,
            read_only: false,
            synchronous: Durability::Durable,
            unchecked: None,
        })
    }

    /// Open an existing ledger for reading only (`aios audit log`, `verify`
    /// beside a running writer). Appending through it fails with
    /// [`LedgerErrorKind::ReadOnly`].
    pub fn open_read_only(path: &Path) -> Result<Ledger, LedgerError> {
        let opening = |e| LedgerError::sqlite(path, "open the ledger", e);
        if !path.is_file() {
            return Err(LedgerError::new(
                LedgerErrorKind::NotFound,
                format!(
                    "no audit ledger at {}: it is created when toolsd first records a call",
                    path.display()
                ),
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(opening)?;
        Self::configure(&conn, path)?;
        let version = schema::check(&conn, path)?;
        if version < i64::from(schema::LATEST_VERSION) {
            return Err(LedgerError::new(
                LedgerErrorKind::NotALedger,
                format!(
                    "{} is not an initialised audit ledger (schema version {version}); open it for \
                     writing once (start toolsd) to create or upgrade it",
                    path.display()
                ),
            ));
        }
        Ok(Ledger {
            path: path.to_path_buf(),
            conn,
            read_only: true,
            synchronous: Durability::Durable,
            unchecked: None,
        })
    }

    fn configure(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
        let opening = |e| LedgerError::sqlite(path, "open the ledger", e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
        // Whoever can write the file could plant triggers or views; do not
        // let them call functions with side effects in our process.
        conn.pragma_update(None, "trusted_schema", "OFF")
            .map_err(opening)
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, doing: &str) -> impl FnOnce(rusqlite::Error) -> LedgerError + '_ {
        let doing = doing.to_string();
        move |e| LedgerError::sqlite(&self.path, &doing, e)
    }

    /// Stop SQLite from checkpointing the write-ahead log inside an append
    /// (which fsyncs, even for a [`Durability::Written`] append); the owner
    /// calls [`Ledger::checkpoint_if_due`] once the appender has been
    /// answered instead.
    pub fn defer_checkpoints(&mut self) -> Result<(), LedgerError> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(self.err("turn off automatic checkpoints"))?;
        self.unchecked = Some(0);
        Ok(())
    }

    /// With [`Ledger::defer_checkpoints`]: whether enough records were
    /// appended since the last checkpoint that the next
    /// [`Ledger::checkpoint_if_due`] would run one.
    pub fn checkpoint_due(&self) -> bool {
        self.unchecked.is_some_and(|n| n >= CHECKPOINT_EVERY)
    }

    /// With [`Ledger::defer_checkpoints`]: checkpoint the write-ahead log
    /// when enough records were appended since the last time. Whether it
    /// ran.
    pub fn checkpoint_if_due(&mut self) -> Result<bool, LedgerError> {
        match self.unchecked {
            Some(n) if n >= CHECKPOINT_EVERY => {
                self.conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .map_err(self.err("checkpoint the write-ahead log"))?;
                self.unchecked = Some(0);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Append one entry. When this returns `Ok`, the record is committed and
    /// fsynced (WAL, `synchronous=FULL`): it survives a crash of the process
    /// or of the machine.
    pub fn append(&mut self, entry: &AuditEntry) -> Result<AuditRecord, LedgerError> {
        let mut records = self.append_batch(std::slice::from_ref(entry))?;
        records.pop().ok_or_else(|| {
            LedgerError::new(
                LedgerErrorKind::Other,
                format!(
                    "audit ledger {}: an append returned no record",
                    self.path.display()
                ),
            )
        })
    }

    /// Append `entries` in one transaction: all of them, durably, or none.
    pub fn append_batch(
        &mut self,
        entries: &[AuditEntry],
    ) -> Result<Vec<AuditRecord>, LedgerError> {
        self.append_batch_with(entries, Durability::Durable)
    }

    /// Append `entries` in one transaction, all of them or none, taken as
    /// far as `durability` says before returning.
    pub fn append_batch_with(
        &mut self,
        entries: &[AuditEntry],
        durability: Durability,
    ) -> Result<Vec<AuditRecord>, LedgerError> {
        if self.read_only {
            return Err(LedgerError::new(
                LedgerErrorKind::ReadOnly,
                format!(
                    "audit ledger {} was opened read-only; appends go through toolsd",
                    self.path.display()
                ),
            ));
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Encode before taking the write lock: a bad entry costs nothing.
        let texts = entries
            .iter()
            .map(canonical_entry)
            .collect::<Result<Vec<_>, _>>()?;
        let path = self.path.clone();
        let doing = "append an entry";
        let e = |e| LedgerError::sqlite(&path, doing, e);
        if durability != self.synchronous {
            let level = match durability {
                Durability::Durable => "FULL",
                Durability::Written => "NORMAL",
            };
            self.conn
                .pragma_update(None, "synchronous", level)
                .map_err(e)?;
            self.synchronous = durability;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let (mut id, mut prev) = Self::tip(&tx, &path)?;
        let mut records = Vec::with_capacity(entries.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO entries (id, prev_hash, hash, entry) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e)?;
            for (entry, text) in entries.iter().zip(texts) {
                id += 1;
                let hash = hash_record(&prev, id, &text);
                insert
                    .execute((id as i64, &prev, &hash, &text))
                    .map_err(e)?;
                let prev_hash = std::mem::replace(&mut prev, hash.clone());
                records.push(AuditRecord {
                    id,
                    prev_hash,
                    hash,
                    entry: entry.clone(),
                });
            }
        }
        // Cached statements: a read's entry is appended before its result
        // is returned, so parsing SQL per append is on every call's path.
        tx.prepare_cached("UPDATE head SET id = ?1, hash = ?2 WHERE one = 1")
            .and_then(|mut s| s.execute((id as i64, &prev)))
            .map_err(e)?;
        tx.commit().map_err(e)?;
        if let Some(n) = &mut self.unchecked {
            *n += records.len() as u64;
        }
        Ok(records)
    }

    /// The chain's end, read under the write lock: the head row, checked
    /// against the last entry. A mismatch means someone removed or added
    /// entries behind the ledger's back; appending would hide it, so refuse.
    fn tip(conn: &Connection, path: &Path) -> Result<(u64, String), LedgerError> {
        let e = |e| LedgerError::sqlite(path, "read the ledger head", e);
        let head: Option<(i64, String)> = conn
            .prepare_cached("SELECT id, hash FROM head WHERE one = 1")
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
            .optional()
            .map_err(e)?;
        let last: Option<(i64, String)> = conn
            .prepare_cached("SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1")
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
            .optional()
            .map_err(e)?;
        let last = last.unwrap_or_else(|| (0, crate::GENESIS_HASH.to_string()));
        match head {
            Some(head) if head == last => Ok((head.0 as u64, head.1)),
            Some((hid, _)) => Err(LedgerError::new(
                LedgerErrorKind::Corrupt,
                format!(
                    "audit ledger {} was tampered with: its head says entry {hid} is last, but the last \
                     entry is {}; nothing was appended. Keep the file as evidence and run `aios audit \
                     verify`",
                    path.display(),
                    last.0
                ),
            )),
            None => Err(LedgerError::new(
                LedgerErrorKind::Corrupt,
                format!(
                    "audit ledger {} was tampered with: its head row is missing; nothing was appended. \
                     Keep the file as evidence and run `aios audit verify`",
                    path.display()
                ),
            )),
        }
    }

    /// The chain's end now, to export and keep elsewhere.
    pub fn checkpoint(&self) -> Result<Checkpoint, LedgerError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.err("read the ledger head"))?;
        let (id, hash) = Self::tip(&tx, &self.path)?;
        Ok(Checkpoint { id, hash })
    }

    fn record(&self, row: &Row<'_>) -> Result<AuditRecord, LedgerError> {
        let read = |e| LedgerError::sqlite(&self.path, "read an entry", e);
        let id: i64 = row.get(0).map_err(read)?;
        let text: String = row.get(3).map_err(read)?;
        let entry: AuditEntry = serde_json::from_str(&text).map_err(|err| {
            LedgerError::new(
                LedgerErrorKind::Corrupt,
                format!(
                    "audit ledger {}: entry {id} cannot be decoded ({err}); was it edited by hand? Run \
                     `aios audit verify`",
                    self.path.display()
                ),
            )
        })?;
        Ok(AuditRecord {
            id: id as u64,
            prev_hash: row.get(1).map_err(read)?,
            hash: row.get(2).map_err(read)?,
            entry,
        })
    }

    /// The record with this id, if there is one. Records are decoded from
    /// the stored text as is; [`Ledger::verify`] is what checks them.
    pub fn get(&self, id: u64) -> Result<Option<AuditRecord>, LedgerError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, prev_hash, hash, entry FROM entries WHERE id = ?1")
            .map_err(self.err("read an entry"))?;
        let mut rows = stmt.query([id]).map_err(self.err("read an entry"))?;
        match rows.next().map_err(self.err("read an entry"))? {
            Some(row) => self.record(row).map(Some),
            None => Ok(None),
        }
    }

    /// The newest `q.limit` records matching `q`, oldest first.
    pub fn query(&self, q: &Query) -> Result<Vec<AuditRecord>, LedgerError> {
        let (sql, params) = query::to_sql(q);
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.err("query the ledger"))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(self.err("query the ledger"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.err("query the ledger"))? {
            out.push(self.record(row)?);
        }
        out.reverse();
        Ok(out)
    }

    /// Every record of the call that record `id` belongs to (same session
    /// and call id), in order: the intent, then the outcome or refusal.
    /// Together they carry the chain request → plan step → decision →
    /// action → result. A record without a call id stands alone.
    pub fn why(&self, id: u64) -> Result<Vec<AuditRecord>, LedgerError> {
        let Some(record) = self.get(id)? else {
            return Err(LedgerError::new(
                LedgerErrorKind::NotFound,
                format!(
                    "no entry {id} in audit ledger {} (it has {} entries); list them with `aios audit log`",
                    self.path.display(),
                    self.len()?
                ),
            ));
        };
        if record.entry.call_id.is_empty() {
            return Ok(vec![record]);
        }
        let doing = "read a call's entries";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, prev_hash, hash, entry FROM entries \
                 WHERE session_id = ?1 AND call_id = ?2 ORDER BY id",
            )
            .map_err(self.err(doing))?;
        let mut rows = stmt
            .query((&record.entry.session_id, &record.entry.call_id))
            .map_err(self.err(doing))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.err(doing))? {
            out.push(self.record(row)?);
        }
        Ok(out)
    }

    /// How many entries the ledger holds (the last id: ids have no gaps).
    pub fn len(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM entries", [], |r| r.get(0))
            .map_err(self.err("count the entries"))?;
        Ok(n.max(0) as u64)
    }

    /// Whether the ledger holds no entry.
    pub fn is_empty(&self) -> Result<bool, LedgerError> {
        Ok(self.len()? == 0)
    }
}

//! [`Store`]: the typed, synchronous API over the SQLite file.
//!
//! One connection, behind a mutex, serves every call: writes are serialized
//! (SQLite allows one writer anyway) and a commit returns only after the
//! WAL is synced (`synchronous=FULL`), so a row whose id was returned
//! survives `kill -9` and power loss. Callers in async code run these
//! methods on a blocking thread.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use aios_domain::{Role, SessionInfo, StoredMessage, StoredToolCall, ToolCall};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::codec::{approval_parse, approval_str, kind_parse, kind_str, status_parse, status_str};
use crate::error::{ErrorKind, Result, StoreError};
use crate::schema;

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a call waits for a lock held by another process before
    /// failing with [`ErrorKind::Busy`].
    pub busy_timeout: Duration,
    /// Refuse to grow the database file beyond about this many bytes;
    /// writes past it fail with [`ErrorKind::Full`]. `None`: no limit
    /// beyond the filesystem's.
    pub max_bytes: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: Duration::from_secs(5),
            max_bytes: None,
        }
    }
}

/// The episodic store: sessions, their messages and their tool calls.
///
/// `Store` is `Send + Sync`; share it with an `Arc`.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// This machine's name, recorded with every remembered message and tool call.
    host: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A message row as read, before its enums and JSON are checked.
struct RawMessage {
    id: i64,
    session_id: String,
    turn_id: String,
    role: String,
    content: String,
    tool_calls_json: String,
    tool_call_id: Option<String>,
    unix_ms: i64,
}

/// A tool call row as read, before its enums and JSON are checked.
struct RawToolCall {
    id: i64,
    session_id: String,
    turn_id: String,
    call_id: String,
    tool: String,
    args_json: String,
    status: String,
    result_json: String,
    duration_us: i64,
    unix_ms: i64,
}

/// SQLite spelling of "no limit" for `limit` 0.
fn sql_limit(limit: u32) -> i64 {
    if limit == 0 { -1 } else { i64::from(limit) }
}

impl Store {
    /// Open (creating if missing) the database at `path` with default
    /// [`Options`]. The parent directory must exist.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, &Options::default())
    }

    /// Open (creating if missing) the database at `path`.
    ///
    /// A new file is created with mode 0600: it holds every user's
    /// conversations. The file is checked to be an aiOS memory database of
    /// a schema version this build understands, and migrated forward.
    pub fn open_with(path: &Path, opts: &Options) -> Result<Store> {
        let p = path.display();
        // An empty file is a valid empty database; creating it ourselves
        // fixes its mode (SQLite gives the -wal and -shm files the same).
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound => "; create its directory first",
                    std::io::ErrorKind::PermissionDenied => {
                        "; make its directory writable by the memoryd user"
                    }
                    _ => "",
                };
                return Err(StoreError::new(
                    ErrorKind::Other,
                    format!("cannot create the memory database {p}: {e}{hint}"),
                ));
            }
        }
        if path.is_dir() {
            return Err(StoreError::new(
                ErrorKind::Other,
                format!("{p} is a directory, not a memory database file"),
            ));
        }
        let opening = |e| StoreError::sqlite(path, "open the database", e);
        let mut conn = Connection::open(path).map_err(opening)?;
        conn.busy_timeout(opts.busy_timeout).map_err(opening)?;
        // The first statement that reads the file: a non-database fails here.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::new(
                ErrorKind::Other,
                format!(
                    "{p}: SQLite refused WAL journal mode (got {mode:?}); the filesystem may not support \
                     shared memory (network filesystems do not): put the state directory on a local disk"
                ),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(opening)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(opening)?;
        if let Some(max) = opts.max_bytes {
            let page: i64 = conn
                .pragma_query_value(None, "page_size", |r| r.get(0))
                .map_err(opening)?;
            let pages = i64::try_from(max).unwrap_or(i64::MAX) / page.max(1);
            conn.pragma_update(None, "max_page_count", pages.max(1))
                .map_err(opening)?;
        }
        schema::migrate(&mut conn, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            host: crate::documents::host_name(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection in a
        // half-written state: an open transaction rolls back when dropped.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn err(&self, doing: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        let doing = doing.to_string();
        move |e| StoreError::sqlite(&self.path, &doing, e)
    }

    pub(crate) fn corrupt(&self, what: String) -> StoreError {
        StoreError::new(
            ErrorKind::Corrupt,
            format!(
                "{} holds an invalid row: {what}; was it edited by hand? Restore it from a backup",
                self.path.display()
            ),
        )
    }

    /// Insert a session, or update the provider, model, title and approval
    /// of an existing one. The owner (`uid`) and the kind of a session
    /// never change, and its creation time is the first one stored.
    pub fn put_session(&self, s: &SessionInfo) -> Result<()> {
        if s.id.is_empty() {
            return Err(StoreError::new(
                ErrorKind::Invalid,
                "a session id must not be empty",
            ));
        }
        let doing = format!("store session {:?}", s.id);
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        let stored: Option<(i64, String)> = tx
            .query_row(
                "SELECT uid, kind FROM sessions WHERE id = ?1",
                [&s.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err(&doing))?;
        if let Some((owner, _)) = &stored
            && *owner != i64::from(s.uid)
        {
            return Err(StoreError::new(
                ErrorKind::Invalid,
                format!(
                    "session {:?} belongs to uid {owner}; it cannot be given to uid {}",
                    s.id, s.uid
                ),
            ));
        }
        if let Some((_, kind)) = &stored
            && kind != kind_str(s.kind)
        {
            return Err(StoreError::new(
                ErrorKind::Invalid,
                format!(
                    "session {:?} is a {kind} session; it cannot become {}",
                    s.id,
                    kind_str(s.kind)
                ),
            ));
        }
        tx.execute(
            "INSERT INTO sessions (id, uid, provider, model, created_unix_ms, title, approval, kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET
                provider = excluded.provider,
                model = excluded.model,
                title = excluded.title,
                approval = excluded.approval",
            params![
                s.id,
                s.uid,
                s.provider,
                s.model,
                s.created_unix_ms,
                s.title,
                approval_str(s.approval),
                kind_str(s.kind)
            ],
        )
        .map_err(self.err(&doing))?;
        tx.commit().map_err(self.err(&doing))
    }

    /// One session.
    pub fn get_session(&self, id: &str) -> Result<SessionInfo> {
        let doing = format!("read session {id:?}");
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, uid, provider, model, created_unix_ms, title, approval, kind
                 FROM sessions WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err(&doing))?;
        drop(conn);
        match row {
            Some(raw) => self.session_from_raw(raw),
            None => Err(StoreError::new(
                ErrorKind::NotFound,
                format!("no session {id:?} in {}", self.path.display()),
            )),
        }
    }

    #[allow(clippy::type_complexity)]
    fn session_from_raw(
        &self,
        raw: (String, i64, String, String, i64, String, String, String),
    ) -> Result<SessionInfo> {
        let (id, uid, provider, model, created_unix_ms, title, approval, kind) = raw;
        let uid = u32::try_from(uid)
            .map_err(|_| self.corrupt(format!("session {id:?} has uid {uid}")))?;
        let approval = approval_parse(&approval).ok_or_else(|| {
            self.corrupt(format!("session {id:?} has approval mode {approval:?}"))
        })?;
        let kind = kind_parse(&kind)
            .ok_or_else(|| self.corrupt(format!("session {id:?} has kind {kind:?}")))?;
        Ok(SessionInfo {
            id,
            uid,
            provider,
            model,
            created_unix_ms,
            title,
            approval,
            kind,
        })
    }

    /// Sessions owned by `uid`, newest first; `limit` 0 means all.
    pub fn list_sessions(&self, uid: u32, limit: u32) -> Result<Vec<SessionInfo>> {
        let doing = format!("list the sessions of uid {uid}");
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, uid, provider, model, created_unix_ms, title, approval, kind
                 FROM sessions WHERE uid = ?1
                 ORDER BY created_unix_ms DESC, rowid DESC LIMIT ?2",
            )
            .map_err(self.err(&doing))?;
        let raws = stmt
            .query_map(params![uid, sql_limit(limit)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err(&doing))?;
        drop(stmt);
        drop(conn);
        raws.into_iter()
            .map(|raw| self.session_from_raw(raw))
            .collect()
    }

    pub(crate) fn require_session(&self, conn: &Connection, id: &str, doing: &str) -> Result<()> {
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )
            .map_err(self.err(doing))?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::new(
                ErrorKind::NotFound,
                format!("no session {id:?} in {}", self.path.display()),
            ))
        }
    }

    /// Append a message to its session and return its row id (increasing,
    /// never reused). Durable when this returns. The session must exist.
    pub fn append_message(&self, m: &StoredMessage) -> Result<i64> {
        let doing = format!("append a message to session {:?}", m.session_id);
        let calls = serde_json::to_string(&m.tool_calls).map_err(|e| {
            StoreError::new(
                ErrorKind::Invalid,
                format!("cannot encode the message's tool calls: {e}"),
            )
        })?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        tx.prepare_cached(
            "INSERT INTO messages (session_id, turn_id, role, content, tool_calls_json, tool_call_id, unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                m.session_id,
                m.turn_id,
                m.role.as_str(),
                m.content,
                calls,
                m.tool_call_id,
                m.unix_ms
            ])
        })
        .map_err(self.err(&doing))?;
        let id = tx.last_insert_rowid();
        // Remembered in the same transaction: the search queue can never miss a message.
        crate::documents::remember_message(&tx, &self.host, id, m).map_err(self.err(&doing))?;
        tx.commit().map_err(self.err(&doing))?;
        Ok(id)
    }

    /// Messages of a session in the order they were appended: all of them
    /// when `limit` is 0, otherwise the last `limit`.
    pub fn get_messages(&self, session_id: &str, limit: u32) -> Result<Vec<StoredMessage>> {
        Ok(self
            .get_messages_with_ids(session_id, limit)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// Like [`Store::get_messages`], with each message's row id.
    pub fn get_messages_with_ids(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<(i64, StoredMessage)>> {
        let doing = format!("read the messages of session {session_id:?}");
        let conn = self.conn();
        self.require_session(&conn, session_id, &doing)?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, session_id, turn_id, role, content, tool_calls_json, tool_call_id, unix_ms
                 FROM (SELECT * FROM messages WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2)
                 ORDER BY id ASC",
            )
            .map_err(self.err(&doing))?;
        let raws = stmt
            .query_map(params![session_id, sql_limit(limit)], |r| {
                Ok(RawMessage {
                    id: r.get(0)?,
                    session_id: r.get(1)?,
                    turn_id: r.get(2)?,
                    role: r.get(3)?,
                    content: r.get(4)?,
                    tool_calls_json: r.get(5)?,
                    tool_call_id: r.get(6)?,
                    unix_ms: r.get(7)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err(&doing))?;
        drop(stmt);
        drop(conn);
        raws.into_iter()
            .map(|raw| self.message_from_raw(raw))
            .collect()
    }

    fn message_from_raw(&self, raw: RawMessage) -> Result<(i64, StoredMessage)> {
        let id = raw.id;
        let role = Role::parse(&raw.role)
            .ok_or_else(|| self.corrupt(format!("message {id} has role {:?}", raw.role)))?;
        let tool_calls: Vec<ToolCall> = serde_json::from_str(&raw.tool_calls_json)
            .map_err(|e| self.corrupt(format!("message {id} has invalid tool calls JSON ({e})")))?;
        Ok((
            id,
            StoredMessage {
                session_id: raw.session_id,
                turn_id: raw.turn_id,
                role,
                content: raw.content,
                tool_calls,
                tool_call_id: raw.tool_call_id,
                unix_ms: raw.unix_ms,
            },
        ))
    }

    /// Record a finished tool call and return its row id. Durable when this
    /// returns. The session must exist.
    pub fn record_tool_call(&self, c: &StoredToolCall) -> Result<i64> {
        let doing = format!(
            "record tool call {:?} of session {:?}",
            c.call_id, c.session_id
        );
        let duration = i64::try_from(c.duration_us).map_err(|_| {
            StoreError::new(
                ErrorKind::Invalid,
                format!(
                    "tool call {:?} has an impossible duration of {} µs",
                    c.call_id, c.duration_us
                ),
            )
        })?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        tx.prepare_cached(
            "INSERT INTO tool_calls
                (session_id, turn_id, call_id, tool, args_json, status, result_json, duration_us, unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                c.session_id,
                c.turn_id,
                c.call_id,
                c.tool,
                c.args.to_string(),
                status_str(c.status),
                c.result.to_string(),
                duration,
                c.unix_ms
            ])
        })
        .map_err(self.err(&doing))?;
        let id = tx.last_insert_rowid();
        crate::documents::remember_tool_call(&tx, &self.host, id, c, status_str(c.status))
            .map_err(self.err(&doing))?;
        tx.commit().map_err(self.err(&doing))?;
        Ok(id)
    }

    /// Tool calls of a session in the order they were recorded: all when
    /// `limit` is 0, otherwise the last `limit`.
    pub fn get_tool_calls(&self, session_id: &str, limit: u32) -> Result<Vec<StoredToolCall>> {
        let doing = format!("read the tool calls of session {session_id:?}");
        let conn = self.conn();
        self.require_session(&conn, session_id, &doing)?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, session_id, turn_id, call_id, tool, args_json, status, result_json,
                        duration_us, unix_ms
                 FROM (SELECT * FROM tool_calls WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2)
                 ORDER BY id ASC",
            )
            .map_err(self.err(&doing))?;
        let raws = stmt
            .query_map(params![session_id, sql_limit(limit)], raw_tool_call)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err(&doing))?;
        drop(stmt);
        drop(conn);
        raws.into_iter()
            .map(|raw| self.tool_call_from_raw(raw))
            .collect()
    }

    /// The tool call `call_id` of a session (the newest, should an id
    /// repeat), or `None`.
    pub fn get_tool_call(&self, session_id: &str, call_id: &str) -> Result<Option<StoredToolCall>> {
        let doing = format!("read tool call {call_id:?} of session {session_id:?}");
        let conn = self.conn();
        self.require_session(&conn, session_id, &doing)?;
        let raw = conn
            .prepare_cached(
                "SELECT id, session_id, turn_id, call_id, tool, args_json, status, result_json,
                        duration_us, unix_ms
                 FROM tool_calls WHERE session_id = ?1 AND call_id = ?2 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![session_id, call_id], raw_tool_call)?
                    .next()
                    .transpose()
            })
            .map_err(self.err(&doing))?;
        drop(conn);
        raw.map(|raw| self.tool_call_from_raw(raw)).transpose()
    }

    fn tool_call_from_raw(&self, raw: RawToolCall) -> Result<StoredToolCall> {
        let id = raw.id;
        let status = status_parse(&raw.status)
            .ok_or_else(|| self.corrupt(format!("tool call {id} has status {:?}", raw.status)))?;
        let json = |field: &str, text: &str| {
            serde_json::from_str(text)
                .map_err(|e| self.corrupt(format!("tool call {id} has invalid {field} ({e})")))
        };
        Ok(StoredToolCall {
            args: json("args_json", &raw.args_json)?,
            result: json("result_json", &raw.result_json)?,
            session_id: raw.session_id,
            turn_id: raw.turn_id,
            call_id: raw.call_id,
            tool: raw.tool,
            status,
            duration_us: u64::try_from(raw.duration_us).map_err(|_| {
                self.corrupt(format!("tool call {id} has duration {}", raw.duration_us))
            })?,
            unix_ms: raw.unix_ms,
        })
    }

    /// Run SQLite's `quick_check`; [`ErrorKind::Corrupt`] when it finds damage.
    pub fn quick_check(&self) -> Result<()> {
        let doing = "check the database";
        let conn = self.conn();
        let mut problems = Vec::new();
        conn.pragma_query(None, "quick_check", |r| {
            problems.push(r.get::<_, String>(0)?);
            Ok(())
        })
        .map_err(self.err(doing))?;
        if problems.len() == 1 && problems[0] == "ok" {
            return Ok(());
        }
        Err(StoreError::new(
            ErrorKind::Corrupt,
            format!(
                "{} failed its integrity check: {}",
                self.path.display(),
                problems.join("; ")
            ),
        ))
    }
}

/// A `tool_calls` row as selected by the tool-call reads (`id, session_id,
/// turn_id, call_id, tool, args_json, status, result_json, duration_us,
/// unix_ms`).
fn raw_tool_call(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawToolCall> {
    Ok(RawToolCall {
        id: r.get(0)?,
        session_id: r.get(1)?,
        turn_id: r.get(2)?,
        call_id: r.get(3)?,
        tool: r.get(4)?,
        args_json: r.get(5)?,
        status: r.get(6)?,
        result_json: r.get(7)?,
        duration_us: r.get(8)?,
        unix_ms: r.get(9)?,
    })
}

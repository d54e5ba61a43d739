//! The requests the user typed, across sessions, in SQLite
//! (`$XDG_STATE_HOME/aios/history.sqlite`, WAL, so several shells write
//! it at once): one row per submitted line with when, the session, the
//! working directory and the host. The TUI walks it with Up/Down and
//! searches it with Ctrl-R; the line mode records into the same file and
//! its editor walks the same rows ([`crate::editor::history`]).
//!
//! Losing the file never costs the shell: when it cannot be opened the
//! history lives in an in-memory database for this run, and the user is
//! told once ([`History::take_hint`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// The history file in the state directory `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("history.sqlite")
}

/// Where a request was typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The session it went to.
    pub session: String,
    /// The shell's working directory.
    pub cwd: String,
    /// The host name.
    pub host: String,
}

impl Origin {
    /// This process's working directory and host, for `session`.
    pub fn here(session: &str) -> Origin {
        Origin {
            session: session.to_string(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            host: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
        }
    }
}

/// One stored request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its row id: later requests have larger ids.
    pub id: i64,
    /// What was typed.
    pub text: String,
}

/// The history database (a file, or memory when the file failed).
#[derive(Debug)]
pub struct History {
    db: Option<Connection>,
    hint: Option<String>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    unix_ms INTEGER NOT NULL,
    session TEXT NOT NULL,
    cwd TEXT NOT NULL,
    host TEXT NOT NULL
)";

impl History {
    /// Open (or create) the history at `file`. Never fails: on an error
    /// the history is kept in memory and [`History::take_hint`] says why.
    pub fn open(file: &Path) -> History {
        match open_file(file) {
            Ok(db) => History {
                db: Some(db),
                hint: None,
            },
            Err(e) => {
                let mut h = History::in_memory();
                h.hint = Some(format!(
                    "history is not saved this time: cannot open {} ({e}); requests are kept in memory",
                    file.display()
                ));
                h
            }
        }
    }

    /// No history at all (until one is opened): costs nothing, keeps
    /// nothing.
    pub fn none() -> History {
        History {
            db: None,
            hint: None,
        }
    }

    /// A history that lives in memory only (tests, and the fallback).
    pub fn in_memory() -> History {
        let db = Connection::open_in_memory()
            .and_then(|db| db.execute_batch(SCHEMA).map(|()| db))
            .ok();
        History { db, hint: None }
    }

    /// The one thing to tell the user about the history, once.
    pub fn take_hint(&mut self) -> Option<String> {
        self.hint.take()
    }

    /// Record a submitted request. A failed write is told once and
    /// otherwise ignored: the request itself goes on.
    pub fn add(&mut self, text: &str, origin: &Origin) {
        self.add_at(text, origin, aios_proto::now_unix_ms());
    }

    /// [`History::add`] at a given time.
    pub fn add_at(&mut self, text: &str, origin: &Origin, unix_ms: i64) {
        let Some(db) = &self.db else { return };
        let r = db.execute(
            "INSERT INTO history (text, unix_ms, session, cwd, host) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![text, unix_ms, origin.session, origin.cwd, origin.host],
        );
        if let Err(e) = r
            && self.hint.is_none()
        {
            self.hint = Some(format!("could not save the request to the history: {e}"));
        }
    }

    /// The newest request older than `before` (any when `None`) whose
    /// text is not `skip` (so Up never shows the same line twice in a row).
    pub fn older(&self, before: Option<i64>, skip: &str) -> Option<Entry> {
        self.one(
            "SELECT id, text FROM history WHERE id < ?1 AND text != ?2 ORDER BY id DESC LIMIT 1",
            params![before.unwrap_or(i64::MAX), skip],
        )
    }

    /// The oldest request newer than `after` whose text is not `skip`.
    pub fn newer(&self, after: i64, skip: &str) -> Option<Entry> {
        self.one(
            "SELECT id, text FROM history WHERE id > ?1 AND text != ?2 ORDER BY id ASC LIMIT 1",
            params![after, skip],
        )
    }

    /// The newest request older than `before` (any when `None`) that
    /// contains `query`, ignoring ASCII case; across all sessions.
    pub fn search(&self, query: &str, before: Option<i64>) -> Option<Entry> {
        self.one(
            "SELECT id, text FROM history WHERE id < ?1 AND instr(lower(text), lower(?2)) > 0 \
             ORDER BY id DESC LIMIT 1",
            params![before.unwrap_or(i64::MAX), query],
        )
    }

    /// How many requests are stored.
    pub fn len(&self) -> usize {
        self.db
            .as_ref()
            .and_then(|db| {
                db.query_row("SELECT count(*) FROM history", [], |r| r.get::<_, i64>(0))
                    .ok()
            })
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The database, for the line mode's editor, which reads the same rows
    /// ([`crate::editor::history`]).
    pub(crate) fn connection(&self) -> Option<&Connection> {
        self.db.as_ref()
    }

    fn one(&self, sql: &str, p: impl rusqlite::Params) -> Option<Entry> {
        let db = self.db.as_ref()?;
        db.query_row(sql, p, |r| {
            Ok(Entry {
                id: r.get(0)?,
                text: r.get(1)?,
            })
        })
        .optional()
        .ok()
        .flatten()
    }
}

fn open_file(file: &Path) -> Result<Connection, String> {
    if let Some(dir) = file.parent() {
        aios_config::private_dir(dir).map_err(|e| e.to_string())?;
    }
    let db = Connection::open(file).map_err(|e| e.to_string())?;
    db.busy_timeout(Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    let mode: String = db
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the database refused WAL mode ({mode})"));
    }
    db.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(session: &str) -> Origin {
        Origin {
            session: session.into(),
            cwd: "/home/u".into(),
            host: "box".into(),
        }
    }

    fn filled() -> History {
        let mut h = History::in_memory();
        for (i, (t, s)) in [
            ("list the files", "a"),
            ("show disk usage", "a"),
            ("show disk usage", "b"),
            ("what is in /etc/MOTD", "b"),
            ("list the services", "c"),
        ]
        .iter()
        .enumerate()
        {
            h.add_at(t, &origin(s), 1_000 + i as i64);
        }
        h
    }

    #[test]
    fn up_and_down_walk_the_history_skipping_repeats() {
        let h = filled();
        assert_eq!(h.len(), 5);
        let e = h.older(None, "").unwrap();
        assert_eq!(e.text, "list the services");
        let e = h.older(Some(e.id), &e.text).unwrap();
        assert_eq!(e.text, "what is in /etc/MOTD");
        let e = h.older(Some(e.id), &e.text).unwrap();
        assert_eq!(e.text, "show disk usage");
        // The same text from another session is not shown twice.
        let e = h.older(Some(e.id), &e.text).unwrap();
        assert_eq!(e.text, "list the files");
        assert_eq!(h.older(Some(e.id), &e.text), None);
        let e = h.newer(e.id, &e.text).unwrap();
        assert_eq!(e.text, "show disk usage");
    }

    #[test]
    fn search_finds_older_matches_across_sessions_ignoring_case() {
        let h = filled();
        let e = h.search("LIST", None).unwrap();
        assert_eq!(e.text, "list the services");
        let e = h.search("LIST", Some(e.id)).unwrap();
        assert_eq!(e.text, "list the files");
        assert_eq!(h.search("LIST", Some(e.id)), None);
        assert_eq!(h.search("motd", None).unwrap().text, "what is in /etc/MOTD");
        assert_eq!(h.search("nothing like it", None), None);
        // `%` and `_` are plain characters, not patterns.
        assert_eq!(h.search("%", None), None);
    }

    #[test]
    fn a_file_keeps_the_history_for_the_next_shell() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(&dir.path().join("state"));
        let mut h = History::open(&file);
        assert_eq!(h.take_hint(), None);
        h.add("first request", &origin("s1"));
        drop(h);
        let h = History::open(&file);
        assert_eq!(h.older(None, "").unwrap().text, "first request");
    }

    #[test]
    fn an_unusable_file_degrades_to_memory_with_one_hint() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the database file should be.
        let file = dir.path().join("history.sqlite");
        std::fs::create_dir(&file).unwrap();
        let mut h = History::open(&file);
        let hint = h.take_hint().unwrap();
        assert!(hint.contains("history is not saved"), "{hint}");
        assert_eq!(h.take_hint(), None);
        h.add("kept anyway", &origin("s"));
        assert_eq!(h.older(None, "").unwrap().text, "kept anyway");
    }
}

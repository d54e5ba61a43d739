//! Checking the whole chain (`aios audit verify`).
//!
//! One pass over the entries in id order, in one read transaction (a
//! consistent snapshot beside a running writer), holding one row at a time:
//! memory does not grow with the ledger. Hashes are recomputed from the
//! stored text itself; nothing is re-serialised. The walk stops at the
//! first bad entry, which is what [`VerifyReport::first_bad`] names.
//!
//! After the walk, every index is read in full (one row per entry) and the
//! small tables too, so damage to pages the walk does not touch is found.
//! SQLite's full `integrity_check` is [`Ledger::verify_deep`]: it is several
//! times slower than the walk (it re-derives every indexed value from the
//! entry's JSON), too slow for the 3 s budget of a million entries.

use aios_domain::VerifyReport;
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row};

use crate::canonical::{GENESIS_HASH, hash_record};
use crate::error::LedgerError;
use crate::ledger::{Checkpoint, Ledger};

/// SQLite's `integrity_check`: `None` when the file is sound, else its
/// first complaint.
fn integrity_problem(conn: &rusqlite::Connection) -> rusqlite::Result<Option<String>> {
    let first: String = conn.query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))?;
    Ok((first != "ok").then_some(first))
}

/// Whether SQLite reported a damaged page.
fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase)
    )
}

/// Walk every index and the migrations table, the pages the chain walk
/// does not read: each index must hold exactly one row per entry. Returns
/// a problem, or `Err` for a failure that is not damage.
fn indexes_problem(conn: &rusqlite::Connection, entries: u64) -> rusqlite::Result<Option<String>> {
    let mut problem = None;
    for index in crate::schema::INDEXES {
        let exists: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?1 AND tbl_name = 'entries'",
            [index],
            |r| r.get(0),
        )?;
        if exists == 0 {
            problem = Some(format!(
                "index {index} is missing: the ledger's schema was altered, so filtered `aios audit \
                 log` output cannot be trusted"
            ));
            break;
        }
        // A full count through the index reads every one of its pages.
        let sql = format!("SELECT count(*) FROM entries INDEXED BY {index}");
        match conn.query_row(&sql, [], |r| r.get::<_, i64>(0)) {
            Ok(n) if n == entries as i64 => {}
            Ok(n) => {
                problem = Some(format!(
                    "index {index} holds {n} rows for {entries} entries: it was edited, so filtered \
                     `aios audit log` output cannot be trusted"
                ));
                break;
            }
            Err(e) if is_corrupt(&e) => {
                problem = Some(format!("index {index} is damaged ({e})"));
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if problem.is_none() {
        match conn.query_row("SELECT count(*) FROM migrations", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(e) if is_corrupt(&e) => {
                problem = Some(format!("the migrations table is damaged ({e})"))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(problem)
}

/// Why the walk stopped early: the first bad id and what is wrong with it.
struct Bad(u64, String);

fn text<'r>(row: &'r Row<'_>, i: usize, id: u64, column: &str) -> Result<&'r str, Bad> {
    match row.get_ref(i) {
        Ok(ValueRef::Text(b)) => std::str::from_utf8(b).map_err(|_| {
            Bad(
                id,
                format!("entry {id}: column {column} is not valid UTF-8"),
            )
        }),
        _ => Err(Bad(id, format!("entry {id}: column {column} is not text"))),
    }
}

fn int(row: &Row<'_>, i: usize, id: u64, column: &str) -> Result<i64, Bad> {
    match row.get_ref(i) {
        Ok(ValueRef::Integer(n)) => Ok(n),
        _ => Err(Bad(
            id,
            format!("entry {id}: column {column} is not an integer"),
        )),
    }
}

/// Check one row against the chain so far (`expected` is its id, `prev`
/// the previous record's hash); returns its hash.
fn check_row(row: &Row<'_>, expected: u64, prev: &str) -> Result<String, Bad> {
    let raw_id = int(row, 0, expected, "id")?;
    if raw_id != expected as i64 {
        return Err(Bad(
            expected,
            if raw_id > expected as i64 {
                format!(
                    "entry {expected} is missing (the next entry is {raw_id}): entries were deleted"
                )
            } else {
                format!("entry {expected} has id {raw_id}: the ids were rewritten")
            },
        ));
    }
    let id = expected;
    let prev_hash = text(row, 1, id, "prev_hash")?;
    if prev_hash != prev {
        return Err(Bad(
            id,
            format!(
                "entry {id}: prev_hash does not match the hash of entry {}: an entry before it was \
                 deleted, inserted or reordered, or its prev_hash was edited",
                id - 1
            ),
        ));
    }
    let hash = text(row, 2, id, "hash")?;
    let entry = text(row, 3, id, "entry")?;
    let computed = hash_record(prev_hash, id, entry);
    if computed != hash {
        return Err(Bad(
            id,
            format!(
                "entry {id}: its hash does not match its contents: the entry or its hash was edited"
            ),
        ));
    }
    Ok(computed)
}

impl Ledger {
    /// Check the whole chain: ids run 1, 2, 3… without gaps; each record's
    /// `prev_hash` is the previous record's hash; each hash matches the
    /// stored text; the chain ends where the `head` row says; and every
    /// index holds one row per entry (`first_bad` is `None` when only an
    /// index is wrong). `entries` in the report counts the
    /// records found intact before the first bad one (all of them when
    /// `ok`). An `Err` means the ledger could not be read at all (which
    /// `aios audit verify` must also report as a failure).
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        self.verify_inner(None)
    }

    /// [`Ledger::verify`], and also check that the chain still contains the
    /// record `checkpoint` names, with its hash: this detects a ledger
    /// truncated, or rewritten from the start, after the checkpoint was
    /// exported.
    pub fn verify_against(&self, checkpoint: &Checkpoint) -> Result<VerifyReport, LedgerError> {
        self.verify_inner(Some(checkpoint))
    }

    /// [`Ledger::verify`], preceded by SQLite's `integrity_check`: every
    /// page, and every index row against the entry it points to (so a
    /// filtered query cannot be steered by edited index pages). Several
    /// times slower than `verify` (it re-derives each indexed value from
    /// the entry's JSON); for `aios audit verify --deep`.
    pub fn verify_deep(&self) -> Result<VerifyReport, LedgerError> {
        let err = |e| LedgerError::sqlite(self.path(), "check the ledger file", e);
        let problem = match integrity_problem(&self.conn) {
            Ok(p) => p,
            Err(e) if is_corrupt(&e) => Some(e.to_string()),
            Err(e) => return Err(err(e)),
        };
        if let Some(problem) = problem {
            return Ok(VerifyReport {
                ok: false,
                entries: 0,
                path: self.path().display().to_string(),
                first_bad: None,
                problem: Some(format!(
                    "the database file is damaged ({problem}); keep it as evidence and restore from a \
                     backup or an exported copy"
                )),
            });
        }
        self.verify()
    }

    fn verify_inner(&self, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport, LedgerError> {
        let doing = "verify the ledger";
        let err = |e| LedgerError::sqlite(self.path(), doing, e);
        // One snapshot for the head, the entries and the indexes.
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        let head: Option<(i64, String)> = tx
            .query_row("SELECT id, hash FROM head WHERE one = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(err)?;
        let mut stmt = tx
            .prepare("SELECT id, prev_hash, hash, entry FROM entries ORDER BY id")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut prev = GENESIS_HASH.to_string();
        let mut last: u64 = 0;
        let outcome = loop {
            let expected = last + 1;
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break Ok(()),
                Err(e) if is_corrupt(&e) => {
                    break Err(Bad(
                        expected,
                        format!("the database file is damaged at or after entry {expected} ({e})"),
                    ));
                }
                Err(e) => return Err(err(e)),
            };
            match check_row(row, expected, &prev) {
                Ok(hash) => {
                    if let Some(cp) = checkpoint.filter(|cp| cp.id == expected)
                        && cp.hash != hash
                    {
                        {
                            break Err(Bad(
                                expected,
                                format!(
                                    "entry {expected} differs from the exported checkpoint: the \
                                     ledger was rewritten up to there"
                                ),
                            ));
                        }
                    }
                    prev = hash;
                    last = expected;
                }
                Err(bad) => break Err(bad),
            }
        };
        let outcome = outcome.and_then(|()| {
            if let Some(cp) = checkpoint.filter(|cp| cp.id > last) {
                return Err(Bad(
                    last + 1,
                    format!(
                        "the ledger ends at entry {last}, but an exported checkpoint records entry {}: \
                         entries after {last} were deleted",
                        cp.id
                    ),
                ));
            }
            match head {
                None => Err(Bad(
                    last + 1,
                    "the head row is missing: the ledger was tampered with".to_string(),
                )),
                Some((hid, _)) if hid < last as i64 => Err(Bad(
                    hid.max(0) as u64 + 1,
                    format!(
                        "the head says entry {hid} is last, but the chain goes on to {last}: entries \
                         were appended behind the ledger's back"
                    ),
                )),
                Some((hid, _)) if hid > last as i64 => Err(Bad(
                    last + 1,
                    format!(
                        "the chain ends at entry {last}, but the head says {hid}: the last entries were \
                         deleted"
                    ),
                )),
                Some((_, hhash)) if hhash != prev => Err(Bad(
                    last,
                    format!("entry {last}: its hash differs from the one recorded in the head"),
                )),
                Some(_) => Ok(()),
            }
        });
        let path = self.path().display().to_string();
        if outcome.is_ok()
            && let Some(problem) = indexes_problem(&tx, last).map_err(err)?
        {
            {
                return Ok(VerifyReport {
                    ok: false,
                    entries: last,
                    path,
                    first_bad: None,
                    problem: Some(problem),
                });
            }
        }
        Ok(match outcome {
            Ok(()) => VerifyReport {
                ok: true,
                entries: last,
                path,
                first_bad: None,
                problem: None,
            },
            Err(Bad(id, problem)) => VerifyReport {
                ok: false,
                entries: last,
                path,
                first_bad: Some(id),
                problem: Some(problem),
            },
        })
    }
}

//! Checking the whole chain (`aios audit verify`).
//!
//! One pass over the entries in id order, in one read transaction (a
//! consistent snapshot beside a running writer), holding one row at a time:
//! memory does not grow with the ledger. Hashes are recomputed from the
//! stored text itself; nothing is re-serialised. The walk stops at the
//! first bad entry, which is what [`VerifyReport::first_bad`] names.

use aios_domain::VerifyReport;
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row};

use crate::canonical::{GENESIS_HASH, hash_record};
use crate::error::LedgerError;
use crate::ledger::{Checkpoint, Ledger};

/// SQLite's `quick_check`: `None` when the file's structure is sound,
/// else its first complaint.
fn structure_problem(conn: &rusqlite::Connection) -> rusqlite::Result<Option<String>> {
    let first: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
    Ok((first != "ok").then_some(first))
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
    /// Check the whole ledger: the file's structure (SQLite `quick_check`,
    /// every page), then the chain: ids run 1, 2, 3… without gaps; each record's
    /// `prev_hash` is the previous record's hash; each hash matches the
    /// stored text; and the chain ends
    /// where the `head` row says. `entries` in the report counts the
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

    fn verify_inner(&self, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport, LedgerError> {
        let doing = "verify the ledger";
        let err = |e| LedgerError::sqlite(self.path(), doing, e);
        // One snapshot for the structure check, the head and the entries.
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        // Every page's b-tree structure, including the indexes and tables
        // the chain walk does not read: a damaged index could hide entries
        // from `aios audit log` while the chain still verifies.
        if let Some(problem) = structure_problem(&tx).map_err(err)? {
            return Ok(VerifyReport {
                ok: false,
                entries: 0,
                path: self.path().display().to_string(),
                first_bad: Some(1),
                problem: Some(format!(
                    "the database file is damaged ({problem}); keep it as evidence and restore from a \
                     backup or an exported copy"
                )),
            });
        }
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
            let Some(row) = rows.next().map_err(err)? else {
                break Ok(());
            };
            let expected = last + 1;
            match check_row(row, expected, &prev) {
                Ok(hash) => {
                    if let Some(cp) = checkpoint.filter(|cp| cp.id == expected) {
                        if cp.hash != hash {
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

//! Tamper detection: an attacker with write access to the file drops the
//! triggers and edits the ledger through SQL, or flips bytes in the file;
//! `verify` must never say "ok", and must name the first bad entry.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use aios_ledger::{Ledger, LedgerErrorKind, entry_hash};
use rusqlite::Connection;

const N: u64 = 50;
const K: i64 = 17;

fn build(n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut l = Ledger::open(&path).unwrap();
    let entries: Vec<_> = (0..n).map(common::entry).collect();
    l.append_batch(&entries).unwrap();
    assert!(l.verify().unwrap().ok);
    (dir, path)
}

/// A raw connection as an attacker would have it: the append-only
/// triggers dropped and CHECK constraints off.
fn attacker(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete;
         DROP TRIGGER head_no_delete; DROP TRIGGER head_only_forward;
         PRAGMA ignore_check_constraints = ON;",
    )
    .unwrap();
    c
}

/// Drop the indexes over the entry's JSON (they refuse text that is not
/// JSON); returns the SQL that recreates them.
fn drop_indexes(c: &Connection) -> Vec<String> {
    let mut stmt = c
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap();
    let indexes: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes.len(), 6);
    for (name, _) in &indexes {
        c.execute_batch(&format!("DROP INDEX {name}")).unwrap();
    }
    indexes.into_iter().map(|(_, sql)| sql).collect()
}

fn col(c: &Connection, id: i64, column: &str) -> String {
    c.query_row(
        &format!("SELECT {column} FROM entries WHERE id = ?1"),
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

fn flip(s: &str, at: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    assert!(b[at].is_ascii());
    b[at] ^= 0x01;
    String::from_utf8(b).unwrap()
}

/// Move entries `from..` up by one id, highest first so ids stay unique.
fn shift_up(c: &Connection, from: i64) {
    let last: i64 = c
        .query_row("SELECT max(id) FROM entries", [], |r| r.get(0))
        .unwrap();
    for id in (from..=last).rev() {
        c.execute("UPDATE entries SET id = id + 1 WHERE id = ?1", [id])
            .unwrap();
    }
}

fn forged_row(c: &Connection, id: i64, prev: &str) -> (String, String) {
    let mut e = common::entry(3);
    e.summary = "nothing to see here".into();
    let text = aios_ledger::canonical_entry(&e).unwrap();
    let hash = entry_hash(prev, id as u64, &e).unwrap();
    c.execute(
        "INSERT INTO entries (id, prev_hash, hash, entry) VALUES (?1, ?2, ?3, ?4)",
        (id, prev, &hash, &text),
    )
    .unwrap();
    (text, hash)
}

type Attack = fn(&Connection);

#[test]
fn every_kind_of_sql_tampering_is_detected_at_the_right_entry() {
    let cases: &[(&str, Attack, u64)] = &[
        (
            "flip one byte in entry k's JSON",
            |c| {
                let t = col(c, K, "entry");
                c.execute(
                    "UPDATE entries SET entry = ?1 WHERE id = ?2",
                    (flip(&t, t.len() / 2), K),
                )
                .unwrap();
            },
            K as u64,
        ),
        (
            "change entry k's prev_hash",
            |c| {
                c.execute(
                    "UPDATE entries SET prev_hash = ?1 WHERE id = ?2",
                    ("f".repeat(64), K),
                )
                .unwrap();
            },
            K as u64,
        ),
        (
            "change entry k's hash",
            |c| {
                let h = col(c, K, "hash");
                c.execute(
                    "UPDATE entries SET hash = ?1 WHERE id = ?2",
                    (flip(&h, 0), K),
                )
                .unwrap();
            },
            K as u64,
        ),
        (
            "delete entry k",
            |c| {
                c.execute("DELETE FROM entries WHERE id = ?1", [K]).unwrap();
            },
            K as u64,
        ),
        (
            "delete entry k and renumber the rest",
            |c| {
                c.execute("DELETE FROM entries WHERE id = ?1", [K]).unwrap();
                c.execute("UPDATE entries SET id = id - 1 WHERE id > ?1", [K])
                    .unwrap();
                c.execute("UPDATE head SET id = id - 1", []).unwrap();
            },
            K as u64,
        ),
        (
            "insert a forged entry with a well-formed hash at k",
            |c| {
                shift_up(c, K);
                let prev = col(c, K - 1, "hash");
                forged_row(c, K, &prev);
                let (id, hash): (i64, String) = c
                    .query_row(
                        "SELECT id, hash FROM entries ORDER BY id DESC LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                c.execute("UPDATE head SET id = ?1, hash = ?2", (id, hash))
                    .unwrap();
            },
            K as u64 + 1,
        ),
        (
            "insert a forged entry with a garbage hash at k",
            |c| {
                shift_up(c, K);
                c.execute(
                "INSERT INTO entries (id, prev_hash, hash, entry) SELECT ?1, prev_hash, ?2, entry FROM entries WHERE id = ?3",
                rusqlite::params![K, "0".repeat(64), K + 1],
            ).unwrap();
            },
            K as u64,
        ),
        (
            "append a forged entry after the last, head untouched",
            |c| {
                let prev = col(c, N as i64, "hash");
                forged_row(c, N as i64 + 1, &prev);
            },
            N + 1,
        ),
        (
            "swap the whole contents of entries k and 30",
            |c| {
                c.execute_batch(&format!(
                    "UPDATE entries SET id = 1000 WHERE id = {K};
                 UPDATE entries SET id = {K} WHERE id = 30;
                 UPDATE entries SET id = 30 WHERE id = 1000;"
                ))
                .unwrap();
            },
            K as u64,
        ),
        (
            "swap only the entry texts of k and k+1",
            |c| {
                let (a, b) = (col(c, K, "entry"), col(c, K + 1, "entry"));
                c.execute("UPDATE entries SET entry = ?1 WHERE id = ?2", (&b, K))
                    .unwrap();
                c.execute("UPDATE entries SET entry = ?1 WHERE id = ?2", (&a, K + 1))
                    .unwrap();
            },
            K as u64,
        ),
        (
            "delete the last entry",
            |c| {
                c.execute("DELETE FROM entries WHERE id = ?1", [N as i64])
                    .unwrap();
            },
            N,
        ),
        (
            "delete the last three entries",
            |c| {
                c.execute("DELETE FROM entries WHERE id > ?1", [N as i64 - 3])
                    .unwrap();
            },
            N - 2,
        ),
        (
            "edit the head's hash",
            |c| {
                c.execute("UPDATE head SET hash = ?1", ["a".repeat(64)])
                    .unwrap();
            },
            N,
        ),
        (
            "delete the head",
            |c| {
                c.execute("DELETE FROM head", []).unwrap();
            },
            N + 1,
        ),
        (
            "give entry 1 id 0",
            |c| {
                // The CHECK (id >= 1) constraint is no obstacle to the file's owner.
                c.pragma_update(None, "ignore_check_constraints", "ON")
                    .unwrap();
                c.execute("UPDATE entries SET id = 0 WHERE id = 1", [])
                    .unwrap();
            },
            1,
        ),
        (
            "store entry k's text as a blob",
            |c| {
                c.execute(
                    "UPDATE entries SET entry = CAST(entry AS BLOB) WHERE id = ?1",
                    [K],
                )
                .unwrap();
            },
            K as u64,
        ),
    ];
    for (name, attack, first_bad) in cases {
        let (_dir, path) = build(N);
        attack(&attacker(&path));
        let l = Ledger::open(&path).unwrap();
        let report = l.verify().unwrap();
        assert!(!report.ok, "{name}: verify said ok");
        assert_eq!(report.first_bad, Some(*first_bad), "{name}: {report:?}");
        assert!(report.problem.is_some(), "{name}");
        assert_eq!(report.path, path.display().to_string());
    }
}

#[test]
fn the_queryable_columns_cannot_be_edited_apart_from_the_hashed_text() {
    let (_dir, path) = build(N);
    let c = attacker(&path);
    let err = c
        .execute("UPDATE entries SET tool = 'fs.read' WHERE id = ?1", [K])
        .unwrap_err();
    assert!(err.to_string().contains("generated column"), "{err}");
    // Editing the text moves the column with it, and breaks the hash.
    let t = col(&c, K, "entry")
        .replace("fs.write", "fs.read")
        .replace("service.restart", "fs.read");
    c.execute("UPDATE entries SET entry = ?1 WHERE id = ?2", (&t, K))
        .unwrap();
    assert_eq!(col(&c, K, "tool"), "fs.read");
    let report = Ledger::open(&path).unwrap().verify().unwrap();
    assert_eq!(report.first_bad, Some(K as u64), "{report:?}");
}

#[test]
fn every_byte_of_an_entry_its_hash_and_prev_hash_is_covered() {
    let (_dir, path) = build(N);
    let c = attacker(&path);
    let recreate = drop_indexes(&c);
    let l = Ledger::open_read_only(&path).unwrap();
    for column in ["entry", "prev_hash", "hash"] {
        let original = col(&c, K, column);
        for at in 0..original.len() {
            let set = format!("UPDATE entries SET {column} = ?1 WHERE id = ?2");
            c.execute(&set, (flip(&original, at), K)).unwrap();
            let report = l.verify().unwrap();
            assert!(!report.ok, "{column} byte {at}: verify said ok");
            assert_eq!(report.first_bad, Some(K as u64), "{column} byte {at}");
            c.execute(&set, (&original, K)).unwrap();
        }
        // Restored: the same check passes again, so the loop above measured
        // the flips and nothing else.
        for sql in &recreate {
            c.execute_batch(sql).unwrap();
        }
        assert!(l.verify().unwrap().ok, "{column} restored");
        drop_indexes(&c);
    }
}

#[test]
fn a_dropped_index_is_reported() {
    let (_dir, path) = build(N);
    attacker(&path)
        .execute_batch("DROP INDEX entries_by_tool")
        .unwrap();
    let report = Ledger::open(&path).unwrap().verify().unwrap();
    assert!(!report.ok, "{report:?}");
    assert_eq!(report.first_bad, None, "every entry is intact");
    assert!(report.problem.unwrap().contains("entries_by_tool"));
}

#[test]
fn an_append_after_the_tail_was_deleted_is_refused() {
    let (_dir, path) = build(N);
    attacker(&path)
        .execute("DELETE FROM entries WHERE id = ?1", [N as i64])
        .unwrap();
    let mut l = Ledger::open(&path).unwrap();
    let err = l.append(&common::entry(N)).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("tampered"), "{err}");
    assert_eq!(l.len().unwrap(), N - 1, "nothing was appended");
}

#[test]
fn truncation_with_a_rewritten_head_needs_an_exported_checkpoint() {
    let (_dir, path) = build(N);
    let checkpoint = Ledger::open(&path).unwrap().checkpoint().unwrap();
    assert_eq!(checkpoint.id, N);
    let c = attacker(&path);
    c.execute("DELETE FROM entries WHERE id > 40", []).unwrap();
    let hash = col(&c, 40, "hash");
    c.execute("UPDATE head SET id = 40, hash = ?1", [hash])
        .unwrap();
    let l = Ledger::open(&path).unwrap();
    // The honest limitation: the remaining chain is consistent.
    assert!(l.verify().unwrap().ok);
    let report = l.verify_against(&checkpoint).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad, Some(41), "{report:?}");
}

#[test]
fn a_rewritten_chain_differs_from_an_exported_checkpoint() {
    let (_dir, path) = build(10);
    let checkpoint = Ledger::open(&path).unwrap().checkpoint().unwrap();
    // Rebuild the ledger with entry 5 changed and every hash recomputed.
    let dir2 = tempfile::tempdir().unwrap();
    let forged_path = dir2.path().join("audit.db");
    let mut forged = Ledger::open(&forged_path).unwrap();
    let mut entries: Vec<_> = (0..10).map(common::entry).collect();
    entries[4].summary = "rewritten".into();
    forged.append_batch(&entries).unwrap();
    assert!(forged.verify().unwrap().ok);
    let report = forged.verify_against(&checkpoint).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad, Some(10), "{report:?}");
    // The genuine ledger passes against its own checkpoint.
    assert!(
        Ledger::open(&path)
            .unwrap()
            .verify_against(&checkpoint)
            .unwrap()
            .ok
    );
}

/// Flip one byte of the database file itself, not through SQL.
fn flip_file_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} not in the file", String::from_utf8_lossy(needle)))
}

#[test]
fn flipping_a_byte_of_the_file_is_never_reported_ok() {
    // Offsets chosen from the file's contents: inside one entry's text,
    // inside a stored hash, and in b-tree page headers.
    type Locate = fn(&[u8], &Path) -> usize;
    let cases: &[(&str, Locate)] = &[
        ("a byte of an entry's text", |b, _| find(b, b"snap-8\"") + 2),
        ("a byte of a stored hash", |b, p| {
            let hash = Ledger::open_read_only(p)
                .unwrap()
                .get(30)
                .unwrap()
                .unwrap()
                .hash;
            find(b, hash.as_bytes()) + 10
        }),
        ("the page-type byte of page 2", |_, _| 4096),
        ("the cell count of page 3", |_, _| 2 * 4096 + 4),
        ("the first cell pointer of the last page", |b, _| {
            b.len() - 4096 + 8
        }),
    ];
    for (name, locate) in cases {
        let (_dir, path) = build(N);
        // Closed: the WAL is checkpointed into the main file and removed.
        assert!(!path.with_extension("db-wal").exists());
        let bytes = std::fs::read(&path).unwrap();
        flip_file_byte(&path, locate(&bytes, &path));
        match Ledger::open(&path).and_then(|l| l.verify()) {
            Ok(report) => assert!(!report.ok, "{name}: verify said ok: {report:?}"),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    LedgerErrorKind::Corrupt | LedgerErrorKind::NotALedger
                ),
                "{name}: {e}"
            ),
        }
    }
}

#[test]
fn verify_deep_catches_an_edited_index_row_that_verify_cannot() {
    let (_dir, path) = build(N);
    assert!(Ledger::open(&path).unwrap().verify_deep().unwrap().ok);
    let root: i64 = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'entries_by_tool'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // 50 entries fit in the index's root page: edit a tool name there.
    let root = root as usize;
    let page = (root - 1) * 4096..root * 4096;
    let bytes = std::fs::read(&path).unwrap();
    let at = page.start + find(&bytes[page], b"service.restart");
    flip_file_byte(&path, at);
    let l = Ledger::open(&path).unwrap();
    // The honest limitation: the index still has one row per entry.
    assert!(l.verify().unwrap().ok);
    let report = l.verify_deep().unwrap();
    assert!(!report.ok, "{report:?}");
    assert!(report.problem.unwrap().contains("damaged"));
}

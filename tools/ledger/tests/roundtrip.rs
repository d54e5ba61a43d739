//! Appending and reading back: get, query with each filter, why, and
//! opening edge cases (permissions, foreign files, read-only readers).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use aios_ledger::{GENESIS_HASH, Ledger, LedgerErrorKind, Query, entry_hash};

fn ledger_with(n: u64) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("state/audit.db")).unwrap();
    let entries: Vec<_> = (0..n).map(common::entry).collect();
    l.append_batch(&entries).unwrap();
    (dir, l)
}

fn ids(records: &[aios_domain::AuditRecord]) -> Vec<u64> {
    records.iter().map(|r| r.id).collect()
}

#[test]
fn append_returns_chained_records_and_get_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut l = Ledger::open(&path).unwrap();
    assert_eq!(l.len().unwrap(), 0);
    assert!(l.get(1).unwrap().is_none());
    let a = l.append(&common::entry(0)).unwrap();
    let b = l.append(&common::entry(1)).unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(a.prev_hash, GENESIS_HASH);
    assert_eq!(b.prev_hash, a.hash);
    assert_eq!(
        a.hash,
        entry_hash(GENESIS_HASH, 1, &common::entry(0)).unwrap()
    );
    assert_eq!(l.get(2).unwrap().unwrap(), b);
    assert_eq!(l.get(1).unwrap().unwrap(), a);
    assert!(l.get(3).unwrap().is_none());
    assert!(l.get(u64::MAX).unwrap().is_none());
    assert_eq!(l.len().unwrap(), 2);
    // Reopening continues the chain.
    drop(l);
    let mut l = Ledger::open(&path).unwrap();
    let c = l.append(&common::entry(2)).unwrap();
    assert_eq!((c.id, c.prev_hash.as_str()), (3, b.hash.as_str()));
    assert!(l.verify().unwrap().ok);
}

#[test]
fn batch_continues_ids_and_an_empty_batch_is_a_no_op() {
    let (_d, mut l) = ledger_with(5);
    assert!(l.append_batch(&[]).unwrap().is_empty());
    let recs = l
        .append_batch(&[common::entry(5), common::entry(6)])
        .unwrap();
    assert_eq!(ids(&recs), [6, 7]);
    assert_eq!(recs[1].prev_hash, recs[0].hash);
    assert_eq!(l.get(5).unwrap().unwrap().hash, recs[0].prev_hash);
    let report = l.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 7);
}

#[test]
fn query_filters_each_field_and_returns_the_newest_oldest_first() {
    let (_d, l) = ledger_with(40);
    // Default: everything (40 < 100), in id order.
    assert_eq!(
        ids(&l.query(&Query::default()).unwrap()),
        (1..=40).collect::<Vec<_>>()
    );
    // limit keeps the newest.
    let q = Query {
        limit: 3,
        ..Query::default()
    };
    assert_eq!(ids(&l.query(&q).unwrap()), [38, 39, 40]);
    let q = Query {
        limit: 0,
        ..Query::default()
    };
    assert!(l.query(&q).unwrap().is_empty());
    // since: entry i (id i + 1) is at 1_700_000_000_000 + 1000 i.
    let q = Query {
        since_unix_ms: Some(1_700_000_000_000 + 37_000),
        ..Query::default()
    };
    assert_eq!(ids(&l.query(&q).unwrap()), [38, 39, 40]);
    // tool: exact and glob. Calls alternate fs.write / service.restart in pairs.
    let q = Query {
        tool: Some("service.restart".into()),
        limit: 4,
        ..Query::default()
    };
    assert_eq!(ids(&l.query(&q).unwrap()), [35, 36, 39, 40]);
    let q = Query {
        tool: Some("fs.*".into()),
        limit: 4,
        ..Query::default()
    };
    assert_eq!(ids(&l.query(&q).unwrap()), [33, 34, 37, 38]);
    let q = Query {
        tool: Some("fs".into()),
        ..Query::default()
    };
    assert!(
        l.query(&q).unwrap().is_empty(),
        "an exact name is not a prefix"
    );
    // uid and user select the same calls (alice = 1000 = fs.write calls).
    let by_uid = Query {
        uid: Some(1001),
        ..Query::default()
    };
    let by_user = Query {
        user: Some("bob".into()),
        ..Query::default()
    };
    let bob = l.query(&by_uid).unwrap();
    assert_eq!(bob.len(), 20);
    assert!(
        bob.iter()
            .all(|r| r.entry.user == "bob" && r.entry.tool == "service.restart")
    );
    assert_eq!(bob, l.query(&by_user).unwrap());
    // session and call, combined with another filter.
    let q = Query {
        session_id: Some("s1".into()),
        uid: Some(1000),
        ..Query::default()
    };
    let got = l.query(&q).unwrap();
    assert!(!got.is_empty());
    assert!(
        got.iter()
            .all(|r| r.entry.session_id == "s1" && r.entry.uid == 1000)
    );
    let q = Query {
        call_id: Some("call-7".into()),
        ..Query::default()
    };
    assert_eq!(ids(&l.query(&q).unwrap()), [15, 16]);
    // A filter that matches nothing.
    let q = Query {
        user: Some("mallory".into()),
        ..Query::default()
    };
    assert!(l.query(&q).unwrap().is_empty());
}

#[test]
fn why_returns_intent_then_outcome_of_the_same_call() {
    let (_d, l) = ledger_with(10);
    for id in [7, 8] {
        let chain = l.why(id).unwrap();
        assert_eq!(ids(&chain), [7, 8], "why({id})");
        assert_eq!(chain[0].entry.kind, aios_domain::AuditKind::Intent);
        assert_eq!(chain[1].entry.kind, aios_domain::AuditKind::Outcome);
        assert_eq!(chain[1].entry.intent_id, Some(7));
        assert_eq!(chain[0].entry.request, common::entry(6).request);
        assert!(chain[1].entry.undo.is_some());
    }
    let err = l.why(11).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::NotFound);
    assert!(err.to_string().contains("10 entries"), "{err}");
}

#[test]
fn why_keeps_calls_of_other_sessions_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("a.db")).unwrap();
    let mut other = common::entry(0);
    other.session_id = "elsewhere".into();
    l.append_batch(&[common::entry(0), other, common::entry(1)])
        .unwrap();
    assert_eq!(ids(&l.why(1).unwrap()), [1, 3]);
    assert_eq!(ids(&l.why(2).unwrap()), [2]);
}

#[test]
fn open_creates_a_private_directory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/audit.db");
    Ledger::open(&path).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
}

#[test]
fn a_file_that_is_not_a_ledger_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all.
    let text = dir.path().join("notes.txt");
    let content =
        "dear diary, this is not a database, but it is long enough to be a header\n".repeat(4);
    std::fs::write(&text, &content).unwrap();
    let err = Ledger::open(&text).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::NotALedger, "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        content,
        "the file was changed"
    );
    // Another program's SQLite database.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER)")
        .unwrap();
    let err = Ledger::open(&other).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::NotALedger, "{err}");
    // A directory.
    let err = Ledger::open(dir.path()).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::NotALedger, "{err}");
}

#[test]
fn a_read_only_reader_sees_appends_and_cannot_append() {
    let (dir, mut l) = ledger_with(3);
    let path = dir.path().join("state/audit.db");
    let mut r = Ledger::open_read_only(&path).unwrap();
    assert_eq!(r.len().unwrap(), 3);
    l.append(&common::entry(3)).unwrap();
    assert_eq!(r.len().unwrap(), 4);
    assert!(r.verify().unwrap().ok);
    let err = r.append(&common::entry(4)).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::ReadOnly);
    assert_eq!(l.len().unwrap(), 4);
    let missing = Ledger::open_read_only(&dir.path().join("nope.db")).unwrap_err();
    assert_eq!(missing.kind(), LedgerErrorKind::NotFound);
}

#[test]
fn the_triggers_refuse_edits_through_sql() {
    let (dir, _l) = ledger_with(3);
    let raw = rusqlite::Connection::open(dir.path().join("state/audit.db")).unwrap();
    assert!(
        raw.execute("UPDATE entries SET tool = 'x' WHERE id = 2", [])
            .is_err()
    );
    assert!(raw.execute("DELETE FROM entries WHERE id = 3", []).is_err());
    let n: i64 = raw
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn written_appends_with_deferred_checkpoints_read_back_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut l = aios_ledger::Ledger::open(&path).unwrap();
    l.defer_checkpoints().unwrap();
    let batch: Vec<_> = (0..999).map(common::entry).collect();
    l.append_batch_with(&batch, aios_ledger::Durability::Written)
        .unwrap();
    assert!(
        !l.checkpoint_if_due().unwrap(),
        "not due before 1000 records"
    );
    l.append_batch_with(&[common::entry(999)], aios_ledger::Durability::Written)
        .unwrap();
    assert!(l.checkpoint_if_due().unwrap(), "due at 1000 records");
    // A durable append after written ones: all of them in one chain.
    l.append(&common::entry(1000)).unwrap();
    drop(l);
    let report = aios_ledger::Ledger::open_read_only(&path)
        .unwrap()
        .verify()
        .unwrap();
    assert!(report.ok && report.entries == 1001, "{report:?}");
}

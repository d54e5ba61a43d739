//! Ledger benchmarks (issue 8): durable appends per second, one append per
//! transaction with `synchronous=FULL` on the target directory's disk;
//! written (not fsynced) appends, as toolsd records read calls; and
//! `verify` of 1,000,000 entries (gate: ≤ 3 s).
//!
//! `cargo bench -p aios-ledger --bench ledger`. The million-entry ledger is
//! built once with `append_batch` under `CARGO_TARGET_TMPDIR` and reused by
//! later runs while it still verifies.

// A bench is test code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use aios_ledger::{Durability, Ledger};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MILLION: u64 = 1_000_000;

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ledger-bench");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn durable_append(c: &mut Criterion) {
    let path = dir().join("append.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut ledger = Ledger::open(&path).unwrap();
    let mut i = 0u64;
    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(1));
    g.bench_function("append_durable", |b| {
        b.iter(|| {
            i += 1;
            ledger.append(&common::entry(i)).unwrap()
        })
    });
    g.finish();
}

/// A read call's entry as toolsd writes it: committed, not fsynced
/// (`Durability::Written`), with checkpoints run by the owner.
fn written_append(c: &mut Criterion) {
    let path = dir().join("append-written.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut ledger = Ledger::open(&path).unwrap();
    ledger.defer_checkpoints().unwrap();
    let mut i = 0u64;
    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(1));
    g.bench_function("append_written", |b| {
        b.iter(|| {
            i += 1;
            let r = ledger
                .append_batch_with(&[common::entry(i)], Durability::Written)
                .unwrap();
            ledger.checkpoint_if_due().unwrap();
            r
        })
    });
    g.finish();
}

fn million() -> Ledger {
    let path = dir().join("million.db");
    if let Ok(l) = Ledger::open(&path)
        && l.len().unwrap() == MILLION
    {
        return l;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut l = Ledger::open(&path).unwrap();
    let mut next = 0u64;
    while next < MILLION {
        let batch: Vec<_> = (next..(next + 10_000).min(MILLION))
            .map(common::entry)
            .collect();
        l.append_batch(&batch).unwrap();
        next += batch.len() as u64;
    }
    l
}

fn verify_million(c: &mut Criterion) {
    let ledger = million();
    let report = ledger.verify().unwrap();
    assert!(report.ok && report.entries == MILLION, "{report:?}");
    let size = std::fs::metadata(ledger.path()).unwrap().len();
    eprintln!(
        "ledger: {} entries, {} MB",
        report.entries,
        size / 1_000_000
    );
    let mut g = c.benchmark_group("ledger");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("verify_1m", |b| b.iter(|| ledger.verify().unwrap()));
    g.finish();
}

criterion_group!(benches, durable_append, written_append, verify_million);
criterion_main!(benches);

//! Disk full, for real: the ledger on a tiny tmpfs. Appends fail with
//! `LedgerErrorKind::Full`, nothing half-written remains, the chain still
//! verifies, and appending works again once space is freed. Mounting needs
//! root (CAP_SYS_ADMIN); elsewhere the test prints a note and passes
//! without checking anything.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aios_ledger::{Ledger, LedgerErrorKind};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "NOTE: disk-full test skipped: cannot mount a tmpfs here ({}); it runs as root in CI",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_reported_as_full_loses_nothing_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = Tmpfs::mount(dir.path(), "256k") else {
        return;
    };
    // Ballast to free later, so the test can show recovery.
    let ballast = dir.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 64 * 1024]).unwrap();
    let path = dir.path().join("audit.db");
    let mut ledger = Ledger::open(&path).unwrap();

    let mut acked = 0u64;
    let err = loop {
        match ledger.append(&common::entry(acked)) {
            Ok(record) => {
                acked += 1;
                assert_eq!(record.id, acked);
            }
            Err(e) => break e,
        }
        assert!(acked < 100_000, "a 256k tmpfs never filled up");
    };
    assert_eq!(err.kind(), LedgerErrorKind::Full, "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(acked > 0, "not a single entry fit");

    // Still full: a batch fails as a whole.
    let batch: Vec<_> = (acked..acked + 5).map(common::entry).collect();
    let err = ledger.append_batch(&batch).unwrap_err();
    assert_eq!(err.kind(), LedgerErrorKind::Full, "{err}");
    assert_eq!(ledger.len().unwrap(), acked);
    let report = ledger.verify().unwrap();
    assert!(report.ok && report.entries == acked, "{report:?}");

    // Free space: appends resume and the chain stays whole.
    std::fs::remove_file(&ballast).unwrap();
    let record = ledger.append(&common::entry(acked)).unwrap();
    assert_eq!(record.id, acked + 1);
    drop(ledger);
    let ledger = Ledger::open(&path).unwrap();
    let report = ledger.verify().unwrap();
    assert!(report.ok && report.entries == acked + 1, "{report:?}");
}

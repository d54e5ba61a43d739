//! kill -9 durability: a separate process appends up to 1,000 entries, one
//! transaction each, printing every acknowledged id; the test SIGKILLs it
//! mid-run, reopens the ledger and checks that every acknowledged id is
//! there and the chain verifies. The ledger lives under the target
//! directory, on a real disk, so fsync is real.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use aios_ledger::Ledger;

const PER_ROUND: u64 = 1_000;
const KILL_AFTER: usize = 200;
const MAX_ROUNDS: usize = 10;

#[test]
fn kill_9_loses_no_acknowledged_entry_and_leaves_a_chain_that_verifies() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("audit.db");
    let mut kills = 0;
    let mut before = 0u64;
    // Usually the first round is killed mid-run; a round that finished
    // before the signal landed proves nothing about kill -9, so go again on
    // the same ledger (which also exercises reopening after a kill).
    for round in 0..MAX_ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-append-stress"))
            .arg(&path)
            .arg(PER_ROUND.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut acked: Vec<u64> = Vec::new();
        for line in lines.by_ref() {
            acked.push(line.unwrap().parse().unwrap());
            if acked.len() >= KILL_AFTER {
                break;
            }
        }
        child.kill().unwrap();
        // Ids printed before the signal landed were acknowledged too.
        for line in lines {
            acked.push(line.unwrap().parse().unwrap());
        }
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(SIGKILL);
        assert!(
            killed || status.success(),
            "round {round}: helper failed: {status}"
        );
        assert!(
            acked.len() >= KILL_AFTER,
            "round {round}: only {} acks",
            acked.len()
        );
        let expected: Vec<u64> = (before + 1..=before + acked.len() as u64).collect();
        assert_eq!(acked, expected, "round {round}: ids are not consecutive");

        let ledger = Ledger::open(&path).unwrap();
        for id in &acked {
            let record = ledger.get(*id).unwrap();
            assert!(
                record.is_some(),
                "round {round}: acknowledged entry {id} was lost"
            );
        }
        let report = ledger.verify().unwrap();
        assert!(report.ok, "round {round}: {report:?}");
        // At most the one append in flight when the signal landed may have
        // committed without being printed.
        let len = ledger.len().unwrap();
        let last = *acked.last().unwrap();
        assert!(
            len == last || len == last + 1,
            "round {round}: len {len}, last ack {last}"
        );
        before = len;
        if killed {
            kills += 1;
            break;
        }
        eprintln!("round {round}: the helper finished before SIGKILL landed; again");
    }
    assert_eq!(
        kills, 1,
        "the helper was never killed mid-run in {MAX_ROUNDS} rounds"
    );
}

/// SIGKILL is 9 on every Linux architecture.
const SIGKILL: i32 = 9;

//! The disk-root boot test (issue 3): boot the aiOS kernel with the small
//! base on an ext4 disk (virtio-blk, `root=/dev/vda rw`, no initramfs,
//! `/sbin/init` is initd) in QEMU under TCG, and check:
//!
//! 1. initd runs as PID 1 from the disk and / is the ext4 disk, read-write;
//! 2. `[limits] memory` is enforced: `oom-probe` (a test-only service whose
//!    shell reads 64 MiB under a 16 MiB `memory.max`) is killed by the
//!    kernel's memory-cgroup OOM killer, restarted once by initd
//!    (`restart = "on-failure"`), and then left `failed` by its start limit;
//! 3. a request through the real daemons completes and its session lands
//!    in the SQLite store on the disk;
//! 4. `poweroff` stops everything, syncs, remounts / read-only and QEMU
//!    exits 0; afterwards, on the host, the image is a clean ext4
//!    filesystem (`e2fsck -fn` finds nothing, no journal to replay), the
//!    marker file the script wrote without syncing is there, and the
//!    session store has the request's session.
//!
//! The image is `AIOS_BOOT_DISK`, built by `cargo xtask test` from the
//! small base plus `tests/boot/disk-overlay` (the two test-only services);
//! the test boots a copy, so every run starts from the same disk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use aios_tests::qemu::{self, Reader, artifact};

/// Prefix of the in-VM script's lines (`/usr/lib/aios/disk-test`).
const TAG: &str = "AIOS-DISK-TEST: ";

/// `debugfs -R CMD image`: a read-only look into the image from the host.
fn debugfs(image: &Path, cmd: &str) -> std::process::Output {
    Command::new("debugfs")
        .arg("-R")
        .arg(cmd)
        .arg(image)
        .output()
        .expect("cannot run debugfs (apt-get install e2fsprogs)")
}

#[test]
fn a_disk_root_enforces_memory_limits_and_shuts_down_clean() {
    let kernel = artifact("AIOS_BOOT_KERNEL");
    let pristine = artifact("AIOS_BOOT_DISK");
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("root.ext4");
    std::fs::copy(&pristine, &image).unwrap();

    let args: Vec<OsString> = vec![
        "-kernel".into(),
        kernel.into(),
        "-drive".into(),
        format!("file={},format=raw,if=virtio", image.display()).into(),
        "-append".into(),
        "root=/dev/vda rw rootfstype=ext4 rootwait console=ttyS0,115200 panic=-1 \
         aios.boot_test=disk AIOS_LOG=info"
            .into(),
    ];
    let boot = qemu::boot(
        &args,
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "boot-disk-serial.log",
    );
    let mut r = Reader::new(&boot, TAG);

    // 1. PID 1 from the disk, / on the ext4 disk, read-write.
    r.expect("the kernel banner", "Linux version ");
    if r.find_from(0, "Unpacking initramfs").is_some() {
        r.fail("an initramfs was unpacked: this boot must run from the disk alone");
    }
    r.expect(
        "the kernel mounting the disk root",
        "VFS: Mounted root (ext4 filesystem)",
    );
    let init = r.expect(
        "the kernel starting initd from the disk",
        "Run /sbin/init as init process",
    );
    r.expect("initd's supervisor running", "initd running");
    r.no_failed_services(init, &["oom-probe"]);
    r.expect("the in-VM disk test starting", &format!("{TAG}started"));
    let root = r.tagged("root");
    let Some(root) = root.first() else {
        r.fail("the script did not report the root mount")
    };
    let fields: Vec<&str> = root.split_whitespace().collect();
    if fields.len() < 3 || fields[0] != "/dev/root" && fields[0] != "/dev/vda" {
        r.fail(&format!("/ is not the virtio disk: {root}"));
    }
    if fields[1] != "ext4" || !fields[2].split(',').any(|o| o == "rw") {
        r.fail(&format!("/ is not ext4 mounted read-write: {root}"));
    }

    // 2. The memory limit: each of the probe's two runs (start + one
    //    restart) ended by SIGKILL after the kernel's memory-cgroup OOM
    //    killer hit the probe's own cgroup. (The killer may take a second
    //    process of the same run, so kills are matched to runs, not counted.)
    let probe_start = r.at(init, "started service=oom-probe");
    let mut runs = 0;
    let mut at = probe_start;
    while let Some(started) = r.find_from(at, "started service=oom-probe") {
        runs += 1;
        let Some(ended) = r.find_from(started, "exited service=oom-probe status=signal 9") else {
            r.fail(&format!("oom-probe run {runs} did not end by SIGKILL"))
        };
        let mut oom = false;
        let mut k = started;
        while let Some(found) = r.find_from(k, "oom-kill:constraint=CONSTRAINT_MEMCG") {
            if found > ended {
                break;
            }
            // The kernel names the cgroup whose memory.max was hit.
            oom |= r.line_at(found).contains("oom_memcg=/aios/oom-probe,");
            k = found + 1;
        }
        if !oom {
            r.fail(&format!(
                "oom-probe run {runs} was killed without a memory-cgroup OOM kill in /aios/oom-probe"
            ));
        }
        at = ended;
    }
    if runs != 2 {
        r.fail(&format!(
            "expected 2 runs of oom-probe (start + one restart), saw {runs}"
        ));
    }
    let limit = r.at(probe_start, "start limit hit");
    if !r.line_at(limit).contains("service=oom-probe") {
        r.fail(&format!(
            "the start limit line is not oom-probe's: {}",
            r.line_at(limit)
        ));
    }
    let status = r.tagged("oom-probe");
    let Some(row) = status.first() else {
        r.fail("the script did not report oom-probe's status")
    };
    // SERVICE STATE PID ENABLED RESTARTS STATUS
    let cols: Vec<&str> = row.split_whitespace().collect();
    if cols.len() < 5 || cols[0] != "oom-probe" || cols[1] != "failed" || cols[4] != "1" {
        r.fail(&format!(
            "oom-probe should be failed after exactly one restart (aios service status): {row}"
        ));
    }

    // 3. A request through the real daemons.
    let events = r.expect_completed_request();
    let session_id = events
        .iter()
        .find(|e| e["type"] == "session_started")
        .and_then(|e| e["session_id"].as_str())
        .unwrap_or_else(|| r.fail(&format!("no session_started event: {events:?}")))
        .to_string();

    // 4. Ordered shutdown, / read-only, power off.
    let (_, stopped) = r.expect_clean_power_off();
    let remounted = r.at(stopped, "remounted / read-only");
    if remounted > r.at(stopped, "reboot: Power down") {
        r.fail("/ was remounted read-only only after the power down");
    }

    // On the host: a clean filesystem with everything written.
    let fsck = Command::new("e2fsck")
        .arg("-fn")
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "e2fsck -fn found problems after the power off ({}):\n{}{}",
        fsck.status,
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    let sb = Command::new("dumpe2fs")
        .arg("-h")
        .arg(&image)
        .output()
        .unwrap();
    let sb = String::from_utf8_lossy(&sb.stdout);
    let field = |name: &str| {
        sb.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    assert_eq!(field("Filesystem state:"), "clean", "superblock:\n{sb}");
    assert!(
        !field("Filesystem features:").contains("needs_recovery"),
        "the journal still needs replaying: / was not remounted read-only or unmounted\n{sb}"
    );
    let marker = debugfs(&image, "cat /var/lib/disk-test.marker");
    assert_eq!(
        String::from_utf8_lossy(&marker.stdout),
        "disk-marker-42\n",
        "the file written just before poweroff (never synced by the script) is not on the disk"
    );

    // The session store on the disk has the request's session: dump the
    // database (and a WAL, if one was left) and open it with SQLite.
    let db = work.path().join("memory.sqlite3");
    for (inside, host) in [
        ("/var/lib/aios/memory.sqlite3", db.clone()),
        (
            "/var/lib/aios/memory.sqlite3-wal",
            work.path().join("memory.sqlite3-wal"),
        ),
    ] {
        let out = debugfs(&image, &format!("dump {inside} {}", host.display()));
        assert!(out.status.success(), "debugfs dump {inside} failed");
    }
    assert!(
        db.is_file(),
        "no session store at /var/lib/aios/memory.sqlite3 on the disk"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let title: String = conn
        .query_row(
            "SELECT title FROM sessions WHERE id = ?1",
            [&session_id],
            |row| row.get(0),
        )
        .unwrap_or_else(|e| panic!("session {session_id} is not in the store on the disk: {e}"));
    assert_eq!(title, "how full is my disk?");
}

//! The boot test (issue 3, section 4): boot the aiOS kernel and initramfs
//! in QEMU under TCG emulation with the serial port as the console, and
//! check from what the machine prints, in order:
//!
//! 1. the kernel booted and ran `/init`;
//! 2. `initd` mounted the API filesystems and started the daemons in
//!    dependency order, each after its dependencies reported readiness;
//! 3. `aios` came up on the serial console (autologin, motd, prompt);
//! 4. a non-interactive request with the scripted provider went through the
//!    real daemons (a tool ran in toolsd, the model turn came from gatewayd)
//!    and the session is in the session store (memoryd lists it);
//! 5. `poweroff` stopped the services in reverse order and QEMU exited 0.
//!
//! Steps 4 and 5 are driven inside the VM by `/usr/lib/aios/boot-test`
//! (started by initd only with `aios.boot_test=1` on the kernel command
//! line); it prints lines starting with `AIOS-BOOT-TEST: `.
//!
//! Markers are substrings of the serial log with ANSI escapes removed
//! (firmware and initd's coloured log share lines). Nothing here asserts on
//! time; the only limit is the outer 180 s after which QEMU is killed.
//!
//! The kernel and initramfs come from `AIOS_BOOT_KERNEL` and
//! `AIOS_BOOT_INITRD`, which `cargo xtask test` sets after building them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The outer limit: QEMU is killed after this.
const LIMIT: Duration = Duration::from_secs(180);

/// Prefix of the in-VM test script's lines.
const TAG: &str = "AIOS-BOOT-TEST: ";

fn artifact(var: &str) -> PathBuf {
    let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        panic!(
            "{var} is not set. The boot test needs the kernel and initramfs that \
             `cargo xtask test` builds and exports (AIOS_BOOT_KERNEL, AIOS_BOOT_INITRD): \
             run the suite with `cargo xtask test`."
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{var}={} does not exist; run `cargo xtask test` to build it",
        path.display()
    );
    path
}

/// What one boot produced.
struct Boot {
    /// The serial log, ANSI escapes removed, `\r` dropped.
    log: String,
    status: ExitStatus,
    killed_at_limit: bool,
    stderr: String,
    saved_at: PathBuf,
}

fn boot(kernel: &PathBuf, initrd: &PathBuf) -> Boot {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-m", "1024", "-smp", "1", "-no-reboot"])
        .args(["-device", "virtio-rng-pci"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0,115200 panic=-1 aios.boot_test=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);

    // The outer timeout: a watchdog kills QEMU unless told the boot ended.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(LIMIT) {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            return true;
        }
        false
    });
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let mut raw = Vec::new();
    // Ends when QEMU exits (or is killed) and closes the pipe.
    let _ = child.stdout.take().unwrap().read_to_end(&mut raw);
    let status = child.wait().unwrap();
    let _ = done_tx.send(());
    let killed_at_limit = watchdog.join().unwrap();
    let stderr = stderr_reader.join().unwrap();

    let saved_at = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boot-serial.log");
    let _ = std::fs::write(&saved_at, &raw);
    Boot {
        log: strip_ansi(&String::from_utf8_lossy(&raw)).replace('\r', ""),
        status,
        killed_at_limit,
        stderr,
        saved_at,
    }
}

/// Remove ANSI CSI sequences (`ESC [ ... final`) and other escapes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte.
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// The log with a cursor: each expectation must come after the previous.
struct Reader<'a> {
    boot: &'a Boot,
    pos: usize,
}

impl Reader<'_> {
    fn fail(&self, what: &str) -> ! {
        let tail: Vec<&str> = self.boot.log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "boot test: {what}\nQEMU: {} (killed at the {LIMIT:?} limit: {})\nQEMU stderr: {}\nfull serial log: {}\nlast lines:\n{}",
            self.boot.status,
            self.boot.killed_at_limit,
            self.boot.stderr.trim(),
            self.boot.saved_at.display(),
            tail.join("\n")
        );
    }

    /// Position of `needle` (as a whole token: not followed by a name
    /// character) at or after `from`.
    fn find_from(&self, from: usize, needle: &str) -> Option<usize> {
        let log = &self.boot.log;
        let mut start = from;
        while let Some(i) = log[start..].find(needle) {
            let at = start + i;
            let next = log[at + needle.len()..].chars().next();
            let ends = !needle.ends_with(|c: char| c.is_ascii_alphanumeric())
                || !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if ends {
                return Some(at);
            }
            start = at + needle.len();
        }
        None
    }

    /// Advance past `needle`, which must appear after the cursor.
    fn expect(&mut self, what: &str, needle: &str) -> usize {
        match self.find_from(self.pos, needle) {
            Some(at) => {
                self.pos = at + needle.len();
                at
            }
            None => self.fail(&format!(
                "expected {what} ({needle:?}) after offset {}",
                self.pos
            )),
        }
    }

    /// Position of `needle` anywhere after `from`, without moving.
    fn at(&self, from: usize, needle: &str) -> usize {
        self.find_from(from, needle)
            .unwrap_or_else(|| self.fail(&format!("expected {needle:?} after offset {from}")))
    }

    /// The payloads of the script's `TAG kind ...` lines.
    fn tagged(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{TAG}{kind} ");
        self.boot
            .log
            .lines()
            .filter_map(|l| l.find(&prefix).map(|i| l[i + prefix.len()..].to_string()))
            .collect()
    }
}

#[test]
fn the_image_boots_to_aios_runs_a_request_and_powers_off() {
    let kernel = artifact("AIOS_BOOT_KERNEL");
    let initrd = artifact("AIOS_BOOT_INITRD");
    let boot = boot(&kernel, &initrd);
    let mut r = Reader {
        boot: &boot,
        pos: 0,
    };

    // 1. The kernel.
    r.expect("the kernel banner", "Linux version ");
    r.expect("the initramfs unpacked", "Unpacking initramfs");
    let init = r.expect(
        "the kernel starting /init (initd)",
        "Run /init as init process",
    );

    // 2. initd: filesystems and services.
    r.expect("initd's supervisor running", "initd running");
    // A service that failed says so in initd's log; name it first.
    for bad in [
        "start limit hit",
        "exited before it was ready",
        "not started: required service",
    ] {
        if let Some(at) = r.find_from(init, bad) {
            let line = r.boot.log[..at].rfind('\n').map_or(0, |n| n + 1);
            let end = r.boot.log[at..]
                .find('\n')
                .map_or(r.boot.log.len(), |n| at + n);
            r.fail(&format!(
                "a service failed to start: {}",
                &r.boot.log[line..end]
            ));
        }
    }
    let ready = |name: &str| r.at(init, &format!("ready service={name}"));
    let started = |name: &str| r.at(init, &format!("started service={name}"));
    let setup_ready = ready("aios-setup");
    for d in ["memoryd", "toolsd", "gatewayd"] {
        let s = started(d);
        if s < setup_ready {
            r.fail(&format!("{d} started before aios-setup was ready"));
        }
    }
    let aiosd_started = started("aiosd");
    for d in ["memoryd", "toolsd", "gatewayd"] {
        if ready(d) > aiosd_started {
            r.fail(&format!(
                "aiosd started before its dependency {d} was ready"
            ));
        }
    }
    let aiosd_ready = ready("aiosd");
    if aiosd_ready < aiosd_started {
        r.fail("aiosd ready before it started");
    }
    // What initd mounted, as the in-VM script (started after aiosd) saw it.
    if r.find_from(aiosd_ready, &format!("{TAG}started")).is_none() {
        r.fail("the in-VM boot test (/usr/lib/aios/boot-test) never started");
    }
    let mounts = r.tagged("mount");
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "devtmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/run", "tmpfs"),
        ("/sys/fs/cgroup", "cgroup2"),
    ] {
        let want = format!("{point} {fstype}");
        if !mounts.iter().any(|m| m.trim() == want) {
            r.fail(&format!(
                "{point} is not mounted as {fstype}; mounts: {mounts:?}"
            ));
        }
    }

    // 3. The console shell, after the daemons.
    r.pos = aiosd_ready;
    r.expect("the motd of the autologin", "Welcome to aiOS.");
    let prompt = r.expect("the aios prompt on the serial console", "aios> ");

    // 4. One request through the real daemons.
    let request = r.at(aiosd_ready, &format!("{TAG}request exit="));
    r.pos = request;
    r.expect("the request to succeed", &format!("{TAG}request exit=0"));
    let events: Vec<serde_json::Value> = r
        .tagged("event")
        .iter()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| r.fail(&format!("an event line is not JSON ({e}): {l}")))
        })
        .collect();
    let kind = |e: &serde_json::Value| e["type"].as_str().unwrap_or("").to_string();
    let Some(first) = events.first() else {
        r.fail("the request printed no events")
    };
    if kind(first) != "session_started" {
        r.fail(&format!("the first event is not session_started: {first}"));
    }
    let session_id = first["session_id"].as_str().unwrap_or("").to_string();
    if session_id.is_empty() {
        r.fail("session_started has no session_id");
    }
    let last = events.last().unwrap();
    if kind(last) != "turn_completed" || last["status"] != "completed" {
        r.fail(&format!("the turn did not complete: {last}"));
    }
    // A tool ran in toolsd, and the model turn came through gatewayd.
    if !events.iter().any(|e| kind(e) == "tool_call_begin")
        || !events.iter().any(|e| kind(e) == "tool_call_end")
    {
        r.fail(&format!("no tool call in the events: {events:?}"));
    }
    if !events
        .iter()
        .any(|e| kind(e) == "usage" && e["provider"] == "scripted")
    {
        r.fail("no usage event from the scripted provider");
    }
    // The session store (memoryd, through aiosd) lists the session.
    r.expect("the sessions listing", &format!("{TAG}sessions exit=0"));
    let sessions: Vec<serde_json::Value> = r
        .tagged("session")
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let Some(stored) = sessions.iter().find(|s| s["id"] == session_id.as_str()) else {
        r.fail(&format!(
            "session {session_id} is not in the session store: {sessions:?}"
        ))
    };
    if stored["title"] != "how full is my disk?" || stored["uid"] != 1000 {
        r.fail(&format!(
            "the stored session is not the request's: {stored}"
        ));
    }

    // 5. Ordered shutdown and power off.
    r.expect("the script asking for poweroff", &format!("{TAG}poweroff"));
    let shutdown = r.expect(
        "initd taking SIGTERM as poweroff",
        "SIGTERM: shutting down (Poweroff)",
    );
    let stop = |name: &str| r.at(shutdown, &format!("stopping service={name}"));
    let aiosd_stop = stop("aiosd");
    for d in ["memoryd", "toolsd", "gatewayd"] {
        if stop(d) < aiosd_stop {
            r.fail(&format!("{d} stopped before aiosd, which requires it"));
        }
    }
    r.expect("every service stopped", "all services stopped");
    r.expect("the kernel powering off", "reboot: Power down");
    if r.find_from(0, "Kernel panic").is_some() {
        r.fail("the kernel panicked");
    }
    if boot.killed_at_limit || !boot.status.success() {
        r.fail("QEMU did not exit 0 by itself after the power off");
    }
    // The prompt came up before the machine went down.
    assert!(prompt < shutdown);
}

#[test]
fn ansi_sequences_are_removed() {
    assert_eq!(
        strip_ansi(
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m ready \u{1b}[3mservice\u{1b}[0m\u{1b}[2m=\u{1b}[0maiosd"
        ),
        "2026  INFO ready service=aiosd"
    );
    assert_eq!(strip_ansi("plain"), "plain");
}

/// A fatal failure of PID 1 drops to a working recovery shell on the
/// console instead of a kernel panic. `AIOS_RECOVERY=1` on the kernel
/// command line takes initd down that same fatal path.
#[test]
fn fatal_failure_drops_to_a_working_recovery_console() {
    use std::io::Write;
    let kernel = artifact("AIOS_BOOT_KERNEL");
    let initrd = artifact("AIOS_BOOT_INITRD");
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-m", "1024", "-smp", "1", "-no-reboot"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0,115200 panic=-1 AIOS_RECOVERY=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + LIMIT;
    let mut raw = Vec::new();
    let mut wait_for = |marker: &str| {
        loop {
            let text = strip_ansi(&String::from_utf8_lossy(&raw)).replace('\r', "");
            if text.contains(marker) {
                return;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(bytes) => raw.extend(bytes),
                Err(_) => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    panic!("no {marker:?} on the serial console; saw:\n{text}");
                }
            }
        }
    };
    wait_for("FATAL: recovery requested");
    wait_for("dropping to a recovery shell");
    let mut stdin = child.stdin.take().unwrap();
    // The shell evaluates what we type: the marker only appears computed.
    stdin.write_all(b"echo RECOVERY-$((6*7))\n").unwrap();
    wait_for("RECOVERY-42");
    stdin.write_all(b"poweroff -f\n").unwrap();
    wait_for("Power down");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "QEMU exits cleanly after the recovery shell powers off"
    );
}

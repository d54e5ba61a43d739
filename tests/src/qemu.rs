//! QEMU for the boot tests: run one boot under TCG with the serial port as
//! the console and an outer time limit, keep what it printed (ANSI escapes
//! removed), and read it in order with [`Reader`].
//!
//! Markers are substrings of the serial log: firmware and initd's coloured
//! log share lines. Nothing here asserts on time; the only limit is
//! [`LIMIT`], after which QEMU is killed.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The outer limit of one boot: QEMU is killed after this.
pub const LIMIT: Duration = Duration::from_secs(180);

/// A boot artifact named by an environment variable `cargo xtask test`
/// exports (`AIOS_BOOT_KERNEL`, `AIOS_BOOT_INITRD`, `AIOS_BOOT_DISK`,
/// `AIOS_BOOT_ISO`).
pub fn artifact(var: &str) -> PathBuf {
    let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        panic!(
            "{var} is not set. The boot tests need the kernel and images that \
             `cargo xtask test` builds and exports (AIOS_BOOT_KERNEL, AIOS_BOOT_INITRD, \
             AIOS_BOOT_DISK, AIOS_BOOT_ISO): run the suite with `cargo xtask test`."
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

/// The QEMU arguments every boot test uses: TCG (the machine's KVM does not
/// work), one CPU, no reboot (a reboot or panic ends QEMU), entropy for
/// early getrandom(), the serial port on standard output.
pub fn base_args() -> Vec<OsString> {
    [
        "-accel",
        "tcg",
        "-m",
        "1024",
        "-smp",
        "1",
        "-no-reboot",
        "-device",
        "virtio-rng-pci",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
    ]
    .iter()
    .map(OsString::from)
    .collect()
}

/// What one boot produced.
pub struct Boot {
    /// The serial log, ANSI escapes removed, `\r` dropped.
    pub log: String,
    /// QEMU's exit status.
    pub status: ExitStatus,
    /// Whether the outer limit killed QEMU.
    pub killed_at_limit: bool,
    /// QEMU's standard error.
    pub stderr: String,
    /// Where the raw serial log was saved.
    pub saved_at: PathBuf,
}

/// Boot QEMU with [`base_args`] plus `args`, wait until it exits or
/// [`LIMIT`] passes, and save the raw serial log as `save_dir/log_name`.
pub fn boot(args: &[OsString], save_dir: &Path, log_name: &str) -> Boot {
    boot_watching(args, save_dir, log_name, |_: &mut Console<'_>| {})
}

/// The running machine as a watcher of [`boot_watching`] sees it.
pub struct Console<'a> {
    /// Everything the serial port printed so far (raw, escapes included).
    pub raw: &'a [u8],
    /// The serial port's input: what is written here is typed.
    pub input: &'a mut dyn Write,
    pid: nix::unistd::Pid,
}

impl Console<'_> {
    /// Kill QEMU now (the boot then ends as if at the limit, but at once).
    pub fn kill(&self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// [`boot`], with `watch` called each time the serial port printed more:
/// it may type on the serial port or end the boot early.
pub fn boot_watching(
    args: &[OsString],
    save_dir: &Path,
    log_name: &str,
    mut watch: impl FnMut(&mut Console<'_>),
) -> Boot {
    let mut child = Command::new("qemu-system-x86_64")
        .args(base_args())
        .args(args)
        .stdin(Stdio::piped())
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
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Ends when QEMU exits (or is killed) and closes the pipe.
    while let Ok(n) = stdout.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        watch(&mut Console {
            raw: &raw,
            input: &mut stdin,
            pid,
        });
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let _ = done_tx.send(());
    let killed_at_limit = watchdog.join().unwrap();
    let stderr = stderr_reader.join().unwrap();

    let saved_at = save_dir.join(log_name);
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
pub fn strip_ansi(s: &str) -> String {
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
pub struct Reader<'a> {
    /// The boot being read.
    pub boot: &'a Boot,
    /// The cursor (a byte offset into the log).
    pub pos: usize,
    /// Prefix of the in-VM test script's lines (e.g. `AIOS-BOOT-TEST: `).
    pub tag: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `boot`'s log.
    pub fn new(boot: &'a Boot, tag: &'static str) -> Reader<'a> {
        Reader { boot, pos: 0, tag }
    }

    /// Fail the test, showing QEMU's status and the log's last lines.
    pub fn fail(&self, what: &str) -> ! {
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
    pub fn find_from(&self, from: usize, needle: &str) -> Option<usize> {
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
    pub fn expect(&mut self, what: &str, needle: &str) -> usize {
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
    pub fn at(&self, from: usize, needle: &str) -> usize {
        self.find_from(from, needle)
            .unwrap_or_else(|| self.fail(&format!("expected {needle:?} after offset {from}")))
    }

    /// The whole line around byte offset `at`.
    pub fn line_at(&self, at: usize) -> &str {
        let log = &self.boot.log;
        let start = log[..at].rfind('\n').map_or(0, |n| n + 1);
        let end = log[at..].find('\n').map_or(log.len(), |n| at + n);
        &log[start..end]
    }

    /// Fail naming the first line that reports a failed service start,
    /// after `from`; `except` lists services expected to fail.
    pub fn no_failed_services(&self, from: usize, except: &[&str]) {
        for bad in [
            "start limit hit",
            "exited before it was ready",
            "not started: required service",
        ] {
            let mut at = from;
            while let Some(found) = self.find_from(at, bad) {
                let line = self.line_at(found);
                // The in-VM script may quote a status; only initd's lines
                // report failures.
                if !line.contains(self.tag)
                    && !except
                        .iter()
                        .any(|s| line.contains(&format!("service={s}")))
                {
                    self.fail(&format!("a service failed to start: {line}"));
                }
                at = found + bad.len();
            }
        }
    }

    /// The payloads of the in-VM script's `TAG kind ...` lines.
    pub fn tagged(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{}{kind} ", self.tag);
        self.boot
            .log
            .lines()
            .filter_map(|l| l.find(&prefix).map(|i| l[i + prefix.len()..].to_string()))
            .collect()
    }

    /// The in-VM script's request succeeded (`TAG request exit=0`) and its
    /// turn completed; returns its JSON events.
    pub fn expect_completed_request(&mut self) -> Vec<serde_json::Value> {
        self.expect(
            "the request to succeed",
            &format!("{}request exit=0", self.tag),
        );
        let events = self.events();
        if !events
            .iter()
            .any(|e| e["type"] == "turn_completed" && e["status"] == "completed")
        {
            self.fail(&format!("the request's turn did not complete: {events:?}"));
        }
        events
    }

    /// The script asked for power off, initd took it, stopped every service
    /// and the kernel powered down without a panic; QEMU exited 0 by
    /// itself. Returns where initd began shutting down and where every
    /// service had stopped.
    pub fn expect_clean_power_off(&mut self) -> (usize, usize) {
        self.expect(
            "the script asking for poweroff",
            &format!("{}poweroff", self.tag),
        );
        let shutdown = self.expect(
            "initd taking SIGTERM as poweroff",
            "SIGTERM: shutting down (Poweroff)",
        );
        let stopped = self.expect("every service stopped", "all services stopped");
        self.expect("the kernel powering off", "reboot: Power down");
        if self.find_from(0, "Kernel panic").is_some() {
            self.fail("the kernel panicked");
        }
        if self.boot.killed_at_limit || !self.boot.status.success() {
            self.fail("QEMU did not exit 0 by itself after the power off");
        }
        (shutdown, stopped)
    }

    /// The JSON events the script printed as `TAG event {...}` lines.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.tagged("event")
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| self.fail(&format!("an event line is not JSON ({e}): {l}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! `aios` as a login shell on a real terminal: the real binary runs in a
//! pseudo-terminal (its controlling terminal, as under getty), and the real
//! daemons come and go under it. With the daemons absent it waits instead
//! of exiting, connects when they appear, reports and survives losing them
//! mid-session, and leaves only when the user asks (Ctrl-D, Ctrl-C).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use aios_tests::{Env, open_pty};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

const WAITING: &str = "waiting for them — Ctrl-C or Ctrl-D to quit";
const PROMPT: &str = "aios> ";

/// Everything the shell wrote to the terminal, shared with a reader thread.
#[derive(Default)]
struct Screen {
    bytes: Vec<u8>,
    /// The terminal hung up: every process holding it has exited.
    closed: bool,
}

/// The `aios` binary on a pseudo-terminal.
struct Shell {
    /// `None` once waited for.
    child: Option<Child>,
    master: File,
    screen: Arc<(Mutex<Screen>, Condvar)>,
    /// How far [`Shell::expect`] has consumed the output.
    pos: usize,
}

impl Shell {
    /// Start `aios ARGS` in `env` with a new pty as its controlling
    /// terminal, in a session of its own (what getty gives a login shell).
    fn spawn(env: &Env, args: &[&str]) -> Shell {
        let (master, slave) = open_pty();
        let mut cmd = env.cmd("aios");
        // These are the line mode's tests; the full-screen TUI has its own
        // (tests/tests/tui.rs).
        cmd.arg("--line")
            .args(args)
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid and ioctl are async-signal-safe. Stdin is the pty
        // slave: make it the controlling terminal so ^C raises SIGINT.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        // Our copies of the slave close here, so the master reads EIO once
        // the shell (and anything it started on the terminal) has exited.
        drop(cmd);
        let screen = Arc::new((Mutex::new(Screen::default()), Condvar::new()));
        let mut reader = master.try_clone().unwrap();
        let shared = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cond) = &*shared;
                let mut s = lock.lock().unwrap_or_else(PoisonError::into_inner);
                if n == 0 {
                    s.closed = true;
                    cond.notify_all();
                    return;
                }
                s.bytes.extend_from_slice(&buf[..n]);
                cond.notify_all();
            }
        });
        Shell {
            child: Some(child),
            master,
            screen,
            pos: 0,
        }
    }

    /// Wait until the output after the last match contains `needle`;
    /// returns the text up to and including it and consumes it.
    fn expect(&mut self, needle: &str) -> String {
        self.expect_any(&[needle]).1
    }

    /// Wait until one of `needles` appears; the index of the first to
    /// appear and the text up to and including it.
    fn expect_any(&mut self, needles: &[&str]) -> (usize, String) {
        let deadline = Instant::now() + LIMIT;
        let (lock, cond) = &*self.screen;
        let mut s = lock.lock().unwrap();
        loop {
            let text = String::from_utf8_lossy(&s.bytes[self.pos..]).into_owned();
            let hit = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| text.find(n).map(|at| (at + n.len(), i)))
                .min();
            if let Some((end, i)) = hit {
                self.pos += end;
                return (i, text[..end].to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && !s.closed,
                "{} waiting for {needles:?}; the terminal shows:\n{}",
                if s.closed {
                    "the terminal closed"
                } else {
                    "timed out"
                },
                String::from_utf8_lossy(&s.bytes)
            );
            s = cond.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Wait until every process holding the terminal has let go of it.
    fn wait_closed(&self) {
        let deadline = Instant::now() + LIMIT;
        let (lock, cond) = &*self.screen;
        let mut s = lock.lock().unwrap();
        while !s.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the terminal stayed open");
            s = cond.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Everything written so far (for failure messages).
    fn all(&self) -> String {
        String::from_utf8_lossy(&self.screen.0.lock().unwrap().bytes).into_owned()
    }

    /// Type on the keyboard.
    fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// The shell must still be running.
    fn assert_running(&mut self) {
        let status = self.child.as_mut().unwrap().try_wait().unwrap();
        assert!(
            status.is_none(),
            "aios exited ({status:?}); the terminal shows:\n{}",
            self.all()
        );
    }

    /// Wait for the shell to exit.
    fn wait_exit(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(LIMIT) {
            Ok(status) => {
                // Its last words may still be in flight: read until the
                // terminal hangs up (nothing else holds it open).
                self.wait_closed();
                (status.unwrap(), self.all())
            }
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                panic!("aios did not exit; the terminal shows:\n{}", self.all());
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn script() -> serde_json::Value {
    // The shell keeps its session across aiosd restarts, so each request
    // is the next turn of one conversation.
    json!({"turns": [
        {"text": "Hello from the script."},
        {"text": "Second answer."},
        {"text": "Third answer."},
        {"text": "Fourth answer."}
    ]})
}

/// `aios daemons start|stop` in `env`, required to succeed.
fn daemons(env: &Env, action: &str) {
    let out = env.aios(&["daemons", action], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "aios daemons {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ask something and see the scripted answer and the next prompt.
fn ask(shell: &mut Shell, answer: &str) {
    shell.send(b"what is up?\n");
    shell.expect(answer);
    shell.expect(PROMPT);
}

fn session_id(text: &str, marker: &str) -> String {
    let at = text.rfind(marker).unwrap() + marker.len();
    text[at..].chars().take_while(|c| *c != ')').collect()
}

#[test]
fn login_shell_waits_for_the_daemons_and_survives_losing_them() {
    let env = Env::scripted(&script());
    let mut shell = Shell::spawn(&env, &["--no-autostart"]);

    // Nothing runs yet: one clear line naming what is down, and no exit.
    let waiting = shell.expect(WAITING);
    assert!(
        waiting.contains("aiosd: ") && waiting.contains("aiosd.sock: no such socket"),
        "{waiting}"
    );
    shell.assert_running();

    // The daemons appear: it connects on its own and shows the prompt.
    daemons(&env, "start");
    let connected = shell.expect("connected (session ");
    assert!(!connected.contains("reconnected"), "{connected}");
    shell.expect(PROMPT);
    // Sparing: a single waiting line, however long the wait took.
    assert_eq!(shell.all().matches(WAITING).count(), 1, "{}", shell.all());
    ask(&mut shell, "Hello from the script.");
    ask(&mut shell, "Second answer.");

    // aiosd is killed while the user is at the prompt: reported at once;
    // the supervisor restarts it and the shell resumes the same session.
    let old = env.daemon_pid("aiosd").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (_, lost) = shell.expect_any(&[
        "lost the connection to aiosd",
        "aiosd ended the session stream",
    ]);
    assert!(!lost.contains(PROMPT), "{lost}");
    shell.expect("reconnected to session ");
    shell.expect(PROMPT);
    let first = session_id(&shell.all(), "connected (session ");
    let all = shell.all();
    let at = all.rfind("reconnected to session ").unwrap() + "reconnected to session ".len();
    let second: String = all[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(!first.is_empty() && first == second, "{all}");
    shell.assert_running();
    ask(&mut shell, "Third answer.");

    // The whole set goes away and nobody restarts it: the shell waits.
    daemons(&env, "stop");
    shell.expect_any(&[
        "lost the connection to aiosd",
        "aiosd ended the session stream",
    ]);
    let waiting = shell.expect(WAITING);
    assert!(waiting.contains("aiosd: "), "{waiting}");
    shell.assert_running();
    // A line typed meanwhile is not silently lost.
    shell.send(b"are you there?\n");
    shell.expect("that line was not sent");
    shell.assert_running();

    // They come back: reconnected to the same session (memoryd kept it),
    // and requests work again.
    daemons(&env, "start");
    shell.expect(&format!("reconnected to session {first}"));
    shell.expect(PROMPT);
    ask(&mut shell, "Fourth answer.");

    // Ctrl-D at the prompt leaves with the last request's code.
    shell.send(b"\x04");
    let (status, screen) = shell.wait_exit();
    assert_eq!(status.code(), Some(0), "{screen}");
}

/// Press `key` while the shell waits for absent daemons: it quits with
/// exit 4 and says `why`.
fn quit_while_waiting(key: &[u8], why: &str) {
    let env = Env::scripted(&script());
    let mut shell = Shell::spawn(&env, &["--no-autostart"]);
    shell.expect(WAITING);
    shell.send(key);
    let (status, screen) = shell.wait_exit();
    assert_eq!(status.code(), Some(4), "{screen}");
    assert!(screen.contains(why), "{screen}");
}

#[test]
fn ctrl_d_while_waiting_exits_4() {
    quit_while_waiting(b"\x04", "stopped waiting");
}

#[test]
fn ctrl_c_while_waiting_exits_4() {
    quit_while_waiting(b"\x03", "(interrupted)");
}

#[test]
fn ctrl_c_at_the_prompt_gives_a_fresh_prompt_not_an_exit() {
    let env = Env::scripted(&script());
    daemons(&env, "start");
    let mut shell = Shell::spawn(&env, &["--no-autostart"]);
    shell.expect(PROMPT);
    shell.send(b"half a line\x03");
    shell.expect(PROMPT);
    shell.assert_running();
    // The dropped half line was not sent along with the next one.
    ask(&mut shell, "Hello from the script.");
    shell.send(b"exit\n");
    let (status, screen) = shell.wait_exit();
    assert_eq!(status.code(), Some(0), "{screen}");
    assert!(!screen.contains(WAITING), "{screen}");
}

#[test]
fn aiosd_killed_mid_turn_fails_that_turn_and_the_shell_reconnects() {
    let chunks: Vec<String> = (0..200).map(|i| format!("part {i}. ")).collect();
    let env = Env::scripted(&json!({"turns": [{"chunks": chunks, "delay_ms": 100}]}));
    daemons(&env, "start");
    let mut shell = Shell::spawn(&env, &["--no-autostart"]);
    shell.expect(PROMPT);
    shell.send(b"tell me a long story\n");
    shell.expect("part 1. ");
    let pid = env.daemon_pid("aiosd").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The turn is reported as failed, as in one-shot mode, on a line of
    // its own after the half answer...
    let (_, lost) = shell.expect_any(&[
        "lost the connection to aiosd mid-turn",
        "aiosd ended the session stream mid-turn",
    ]);
    let last_line = &lost[lost.rfind('\n').unwrap() + 1..];
    assert!(last_line.starts_with("aios: "), "{lost}");
    // ...and the shell carries on with the same session once initd has
    // restarted aiosd; the replay says how the cut turn ended.
    shell.expect("reconnected to session ");
    shell.expect("interrupted by a daemon restart");
    shell.expect(PROMPT);
    shell.assert_running();
    // Leaving now reports that the last request failed: the daemon went away.
    shell.send(b"\x04");
    let (status, screen) = shell.wait_exit();
    assert_eq!(status.code(), Some(4), "{screen}");
}

/// Lines typed before the shell has connected (a fast typist, or
/// `printf '...' | ssh -tt box`) are run once it is, in order, and an end
/// of input typed ahead ends the shell after them.
#[test]
fn lines_typed_ahead_of_the_connection_are_run_not_dropped() {
    let env = Env::scripted(&script());
    daemons(&env, "start");
    let mut shell = Shell::spawn(&env, &["--no-autostart"]);
    // Sent at once, before the shell can have shown its first prompt.
    shell.send(b"what is up?\nexit\n");
    shell.expect("Hello from the script.");
    let (status, screen) = shell.wait_exit();
    assert_eq!(status.code(), Some(0), "{screen}");
    assert!(
        !screen.contains("not sent"),
        "type-ahead was dropped:\n{screen}"
    );
}

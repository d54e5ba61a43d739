//! Waiting for the daemons in the interactive line mode.
//!
//! `aios` is the login shell of the console user: exiting because the
//! daemons are down would make getty restart it in a tight loop. So line
//! mode on a terminal says once what is down and why, probes again with a
//! capped backoff, and quits (exit 4) only when the user asks with Ctrl-C or
//! Ctrl-D. This module owns the pieces: the backoff, the probe of the whole
//! daemon set (over [`crate::probe`]) and its description of what is down,
//! the messages, and the "user wants out" future. The loop that uses them is in [`crate::line`].

use std::time::Duration;

use aios_config::{Daemon, Paths};
use tokio::signal::unix::Signal;

use crate::exit::Failure;
use crate::input::{Line, Lines};
use crate::printer::{self, say};
use crate::probe;

/// First retry delay.
pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Longest retry delay: a restarted daemon is noticed within this.
pub const MAX_RETRY: Duration = Duration::from_secs(2);

/// Exponential backoff, doubling from `first` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// A backoff starting at `first`, capped at `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            next: first.min(max),
            max,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(FIRST_RETRY, MAX_RETRY)
    }
}

/// Why the daemons cannot be used right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// The daemon named first: aiosd when it is down (it is the one the
    /// shell talks to), else the first down in start order.
    pub daemon: &'static str,
    /// What went wrong with it, e.g. `/run/aios/aiosd.sock: connection refused`.
    pub reason: String,
    /// Other daemons that are down too.
    pub others: Vec<&'static str>,
}

impl Down {
    /// A failure that is not about one socket (e.g. creating the session).
    pub fn other(daemon: &'static str, reason: impl Into<String>) -> Down {
        Down {
            daemon,
            reason: reason.into(),
            others: Vec::new(),
        }
    }

    /// What identifies this cause for "has it changed?": the main daemon and
    /// its reason, not the list of others, which changes on every step of a
    /// start-up and would make the waiting line chatty.
    pub fn key(&self) -> (&'static str, &str) {
        (self.daemon, &self.reason)
    }
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.daemon, self.reason)?;
        if !self.others.is_empty() {
            write!(f, "; also down: {}", self.others.join(", "))?;
        }
        Ok(())
    }
}

/// The line shown once when waiting starts.
pub fn waiting_line(down: &Down) -> String {
    format!(
        "the aiOS daemons are not reachable ({down}); waiting for them — Ctrl-C or Ctrl-D to quit"
    )
}

/// The line shown when the cause changes while waiting.
pub fn still_waiting_line(down: &Down) -> String {
    format!("still waiting ({down})")
}

/// Check that every daemon answers a health ping; otherwise say which are
/// down and why.
pub async fn probe(paths: &Paths) -> Result<(), Down> {
    // aiosd first: when everything is down, it is the one worth naming.
    let order = std::iter::once(Daemon::Aiosd)
        .chain(Daemon::ALL.into_iter().filter(|d| *d != Daemon::Aiosd));
    let mut first: Option<(&'static str, String)> = None;
    let mut others = Vec::new();
    for d in order {
        if let Err(reason) = probe::ping(&paths.socket(d)).await {
            match first {
                None => first = Some((d.name(), reason)),
                Some(_) => others.push(d.name()),
            }
        }
    }
    match first {
        None => Ok(()),
        Some((daemon, reason)) => Err(Down {
            daemon,
            reason,
            others,
        }),
    }
}

/// What the user typed while a connection was being made.
///
/// A normal connect takes milliseconds, and people (and `ssh -tt` scripts)
/// type ahead: those lines, and an end of input after them, are kept and
/// run once connected. Once the shell says it is *waiting* for absent
/// daemons, typing ahead makes no sense (the answer may come minutes
/// later): queued lines are then dropped with a note, so are lines typed
/// while waiting, and Ctrl-D quits.
#[derive(Debug, Default)]
pub struct TypeAhead {
    lines: std::collections::VecDeque<String>,
    eof: bool,
    waiting: bool,
}

/// What is said about a line that cannot be sent.
const NOT_SENT: &str =
    "not connected to the daemons; that line was not sent (retype it once connected)";

impl TypeAhead {
    /// The next queued input, if any: a line, then end of input.
    pub fn pop(&mut self) -> Option<Line> {
        match self.lines.pop_front() {
            Some(t) => Some(Line::Text(t)),
            None if self.eof => Some(Line::Eof),
            None => None,
        }
    }

    /// The shell starts waiting for absent daemons: drop what was queued
    /// (saying so), and quit if input already ended.
    pub fn start_waiting(&mut self) -> Result<(), Failure> {
        self.waiting = true;
        for _ in self.lines.drain(..) {
            say(NOT_SENT);
        }
        if self.eof {
            return Err(Failure::daemon("stopped waiting for the aiOS daemons"));
        }
        Ok(())
    }

    /// Connected again: later input is typed ahead again.
    pub fn connected(&mut self) {
        self.waiting = false;
    }
}

/// Resolves when the user asks to stop waiting: Ctrl-D (end of input) or
/// Ctrl-C (`sigint`). Meanwhile typed lines go to `ahead` (see
/// [`TypeAhead`]). Cancel-safe (no input is lost when another branch of a
/// `select!` wins), so it can be raced against each attempt and each sleep.
pub async fn quit_requested(
    lines: &mut Lines,
    sigint: &mut Signal,
    ahead: &mut TypeAhead,
) -> Failure {
    loop {
        // After an end of input typed ahead there is nothing more to read.
        // The line editor reads only once the shell waits (its prompt
        // would otherwise flash during every connect).
        let read = !ahead.eof && (ahead.waiting || lines.reads_ahead());
        tokio::select! {
            line = lines.recv(), if read => match line {
                Line::Text(t) if t.trim().is_empty() => {}
                Line::Text(_) if ahead.waiting => say(NOT_SENT),
                Line::Text(t) => ahead.lines.push_back(t),
                Line::Eof if ahead.waiting => {
                    return Failure::daemon("stopped waiting for the aiOS daemons");
                }
                Line::Eof => ahead.eof = true,
                Line::Error(e) => return Failure::usage(format!("cannot read input: {e}")),
                // Ctrl-C at the editor's prompt (it left the line already).
                Line::Interrupt => {
                    return Failure::daemon("stopped waiting for the aiOS daemons (interrupted)");
                }
            },
            _ = sigint.recv() => {
                // The terminal echoed ^C without a newline.
                lines.quiet().await;
                let _ = writeln!(printer::stderr());
                return Failure::daemon("stopped waiting for the aiOS daemons (interrupted)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn waiting_line_names_the_daemon_the_socket_and_how_to_quit() {
        let down = Down {
            daemon: "aiosd",
            reason: "/run/aios/aiosd.sock: connection refused".into(),
            others: vec!["toolsd", "memoryd"],
        };
        assert_eq!(
            waiting_line(&down),
            "the aiOS daemons are not reachable (aiosd: /run/aios/aiosd.sock: connection refused; \
             also down: toolsd, memoryd); waiting for them — Ctrl-C or Ctrl-D to quit"
        );
        assert_eq!(
            still_waiting_line(&Down::other("aiosd", "cannot create a session: x")),
            "still waiting (aiosd: cannot create a session: x)"
        );
    }

    #[test]
    fn the_key_ignores_the_other_daemons() {
        let a = Down {
            daemon: "aiosd",
            reason: "r".into(),
            others: vec!["toolsd"],
        };
        let b = Down {
            others: vec![],
            ..a.clone()
        };
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), Down::other("aiosd", "s").key());
    }

    #[tokio::test]
    async fn probe_says_missing_then_refused_for_real_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            runtime_dir: dir.path().to_path_buf(),
            state_dir: dir.path().to_path_buf(),
            system_policy: std::path::PathBuf::from("/nonexistent/policy.toml"),
        };
        let down = probe(&paths).await.unwrap_err();
        assert_eq!(down.daemon, "aiosd");
        assert!(
            down.reason.ends_with("aiosd.sock: no such socket"),
            "{down}"
        );
        assert_eq!(down.others, ["memoryd", "toolsd", "runtimed", "gatewayd"]);

        // A socket file nobody listens on: what a killed daemon leaves.
        let sock = paths.socket(Daemon::Aiosd);
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let down = probe(&paths).await.unwrap_err();
        assert!(
            down.reason.ends_with("aiosd.sock: connection refused"),
            "{down}"
        );
    }

    #[tokio::test]
    async fn quit_on_end_of_input_is_exit_4_and_typed_lines_do_not_quit() {
        let mut lines = Lines::spawn(&b"hello\n\n"[..]).unwrap();
        let mut sigint =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).unwrap();
        let mut ahead = TypeAhead::default();
        ahead.start_waiting().unwrap();
        let f = quit_requested(&mut lines, &mut sigint, &mut ahead).await;
        assert_eq!(f.code, crate::exit::Exit::DaemonUnavailable);
        assert!(f.message.contains("stopped waiting"), "{}", f.message);
        assert!(ahead.pop().is_none(), "a line typed while waiting was kept");
    }

    #[tokio::test]
    async fn lines_typed_while_connecting_are_kept_in_order_with_the_end_of_input() {
        let mut lines = Lines::spawn(&b"first\n\nsecond\n"[..]).unwrap();
        let mut sigint =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).unwrap();
        let mut ahead = TypeAhead::default();
        // Not waiting: the end of input is queued, not a request to quit, so
        // this only ends by the timeout.
        let quit = tokio::time::timeout(
            Duration::from_millis(300),
            quit_requested(&mut lines, &mut sigint, &mut ahead),
        )
        .await;
        assert!(quit.is_err(), "type-ahead ended the connect");
        assert!(matches!(ahead.pop(), Some(Line::Text(t)) if t.trim() == "first"));
        assert!(matches!(ahead.pop(), Some(Line::Text(t)) if t.trim() == "second"));
        assert!(matches!(ahead.pop(), Some(Line::Eof)));
    }

    #[test]
    fn starting_to_wait_drops_the_queue_and_quits_after_a_queued_end_of_input() {
        let mut ahead = TypeAhead::default();
        ahead.lines.push_back("typed early\n".into());
        assert!(ahead.start_waiting().is_ok());
        assert!(ahead.pop().is_none());
        ahead.eof = true;
        let f = ahead.start_waiting().unwrap_err();
        assert_eq!(f.code, crate::exit::Exit::DaemonUnavailable);
    }
}

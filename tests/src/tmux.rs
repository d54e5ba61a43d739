//! The real-terminal harness: one tmux server (its own socket) holding one
//! pane that runs a command (usually the real `aios`); tests type with
//! `send-keys` and wait on `capture-pane` with a timeout, never a sleep.
//! `tui.rs`, `sessions.rs` and `ssh.rs` share it.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{Env, bin, wait_until};

/// How long every wait of the harness may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// What [`Tmux::wait_for`] searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// The visible screen (the full-screen TUI draws on the alternate
    /// screen, which has no scrollback).
    Screen,
    /// The screen and its scrollback, wrapped lines joined (line mode,
    /// whose output scrolls away).
    History,
}

/// How to start the pane: size, terminal, environment and what to watch.
#[derive(Clone, Debug)]
pub struct Spawn {
    name: String,
    width: u16,
    height: u16,
    term: String,
    unset: Vec<String>,
    vars: Vec<(String, String)>,
    colour: bool,
    watch: Watch,
}

/// Names of panes started so far by this process, to keep sockets apart.
static COUNT: AtomicUsize = AtomicUsize::new(0);

impl Spawn {
    /// An 80×24 `xterm-256color` pane watching the screen, with the
    /// environment tmux itself has; `name` appears in the socket's name.
    pub fn new(name: &str) -> Spawn {
        Spawn {
            name: name.to_string(),
            width: 80,
            height: 24,
            term: "xterm-256color".into(),
            unset: Vec::new(),
            vars: Vec::new(),
            colour: false,
            watch: Watch::Screen,
        }
    }

    /// The pane's size in cells.
    pub fn size(mut self, width: u16, height: u16) -> Spawn {
        self.width = width;
        self.height = height;
        self
    }

    /// The pane's `TERM`.
    pub fn term(mut self, term: &str) -> Spawn {
        self.term = term.to_string();
        self
    }

    /// One more variable for the command.
    pub fn var(mut self, key: &str, value: &str) -> Spawn {
        self.vars.push((key.to_string(), value.to_string()));
        self
    }

    /// What [`Tmux::wait_for`] searches.
    pub fn watch(mut self, watch: Watch) -> Spawn {
        self.watch = watch;
        self
    }

    /// Run in `env`: exactly the environment the harness gives every
    /// `aios` (the caller's aiOS, XDG and provider variables removed).
    pub fn env(mut self, env: &Env) -> Spawn {
        for k in [
            "AIOS_CONFIG",
            "XDG_RUNTIME_DIR",
            "XDG_STATE_HOME",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
        ] {
            self.unset.push(k.into());
        }
        self.vars.extend(env.vars.iter().cloned());
        self
    }

    /// Let the TUI use colour: drop the harness's `NO_COLOR` and the
    /// caller's `COLORTERM` (a test may set its own with [`Spawn::var`]).
    pub fn colour(mut self) -> Spawn {
        self.colour = true;
        self
    }

    /// Start the built `aios ARGS`.
    pub fn aios(self, args: &[&str]) -> Tmux {
        let mut argv = vec![bin("aios").display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.run(&argv)
    }

    /// Start `argv` (run directly, not through a shell).
    pub fn run(self, argv: &[String]) -> Tmux {
        let socket = format!(
            "aios-{}-{}-{}",
            self.name,
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux {
            socket,
            watch: self.watch,
        };
        let mut cmd: Vec<String> = vec!["env".into()];
        let mut unset = self.unset.clone();
        if self.colour {
            unset.extend(["NO_COLOR".into(), "COLORTERM".into()]);
        }
        for k in &unset {
            cmd.push("-u".into());
            cmd.push(k.clone());
        }
        cmd.push(format!("TERM={}", self.term));
        // `env` applies every `-u` before any assignment, so a test's own
        // `COLORTERM` survives [`Spawn::colour`]; later assignments win.
        cmd.extend(
            self.vars
                .iter()
                .filter(|(k, _)| !(self.colour && k == "NO_COLOR"))
                .map(|(k, v)| format!("{k}={v}")),
        );
        cmd.extend(argv.iter().cloned());
        let (w, h) = (self.width.to_string(), self.height.to_string());
        let mut new: Vec<&str> = vec![
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &w,
            "-y",
            &h,
        ];
        new.extend(cmd.iter().map(String::as_str));
        t.ok(&new);
        // Keep the pane after the command exits, to read what it left.
        t.ok(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        t
    }
}

/// One tmux server (its own socket) holding one pane; killed on drop.
pub struct Tmux {
    socket: String,
    watch: Watch,
}

impl Tmux {
    /// Run `tmux ARGS` against this server.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// Run `tmux ARGS`, require success, and return its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible screen, as text.
    pub fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", "t"])
    }

    /// The visible screen with its colour escapes.
    pub fn screen_escaped(&self) -> String {
        self.ok(&["capture-pane", "-p", "-e", "-t", "t"])
    }

    /// The normal screen plus its scrollback, line by line as shown.
    pub fn history(&self) -> String {
        self.ok(&["capture-pane", "-p", "-S", "-", "-t", "t"])
    }

    /// The normal screen plus its scrollback, wrapped lines joined.
    pub fn history_joined(&self) -> String {
        self.ok(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
    }

    /// What [`Tmux::wait_for`] watches, now.
    pub fn watched(&self) -> String {
        match self.watch {
            Watch::Screen => self.screen(),
            Watch::History => self.history_joined(),
        }
    }

    /// Press keys (tmux key names: `Enter`, `C-c`, ...).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Type `text` literally.
    pub fn literal(&self, text: &str) {
        self.ok(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Type `text`, then Enter.
    pub fn line(&self, text: &str) {
        self.literal(text);
        self.keys(&["Enter"]);
    }

    /// A tmux format (`#{...}`) evaluated for the pane.
    pub fn format(&self, f: &str) -> String {
        self.ok(&["display-message", "-p", "-t", "t", f])
            .trim()
            .to_string()
    }

    /// Wait until the watched text contains every one of `needles`; that
    /// text.
    pub fn wait_for(&self, needles: &[&str]) -> String {
        wait_until(
            &format!("{needles:?} on the screen"),
            LIMIT,
            || self.watched(),
            || {
                let s = self.watched();
                needles.iter().all(|n| s.contains(n)).then_some(s)
            },
        )
    }

    /// Send SIGCHLD to the tmux server, which then reaps its dead panes.
    fn nudge_reaper(&self) {
        if let Ok(pid) = self.format("#{pid}").parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGCHLD,
            );
        }
    }

    /// Wait for the pane's command to exit; its exit status. Death by a
    /// signal fails the test with the signal's number (tmux then has no
    /// status).
    pub fn wait_exit(&self) -> i32 {
        let (status, signal) = wait_until(
            "the pane's command to exit",
            LIMIT,
            || self.screen(),
            || {
                let f = self.format("#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}");
                let mut parts = f.split('|');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("1"), Some(""), Some("")) => {
                        // The pty closed but tmux has not reaped the child:
                        // tmux 3.3 can miss the SIGCHLD (tmux/tmux#311, its
                        // libutempter handler), leaving a zombie and no
                        // status. Nudge the server to run waitpid again.
                        self.nudge_reaper();
                        None
                    }
                    (Some("1"), Some(status), Some(signal)) => {
                        Some((status.to_string(), signal.to_string()))
                    }
                    _ => None,
                }
            },
        );
        match status.parse() {
            Ok(code) => code,
            Err(_) => panic!(
                "the pane's command died by signal {signal:?}, not an exit:\n{}",
                self.history()
            ),
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

//! `aios -c CMD`: POSIX `/bin/sh [-l] -c CMD`, so scp, rsync and git work
//! over ssh when `aios` is the login shell; and the command recorded in
//! toolsd's audit ledger (issue 10 §8).
//!
//! The shell cannot both `exec` the command and report how it ended, so it
//! spawns `/bin/sh`, waits, then records the outcome and exits with the
//! child's status (128 + the signal's number when a signal ended it). The
//! child gets this process's stdin, stdout and stderr as they are (the raw
//! fds: it is scp's transport; nothing is buffered and nothing is ever
//! written to stdout here). Signals sent to this process (SIGTERM, SIGHUP,
//! and SIGINT or SIGQUIT not sent by the terminal, which already sent them
//! to the child) are passed on to the child.
//!
//! Recording fails open: when toolsd cannot be reached (within
//! [`CONNECT_TIMEOUT`], so an ssh login never stalls on a daemon) or does
//! not answer, the command runs anyway and one short note goes to stderr.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aios_config::Daemon;
use aios_proto::{CommandRecord, ToolsClient};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Cli;
use crate::exit::Exit;
use crate::printer::say;

/// The longest wait to reach toolsd's socket.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// The longest wait for toolsd to write an entry.
const RECORD_TIMEOUT: Duration = Duration::from_secs(2);

/// Run `cmd` as `aios -c` does; the child's exit status.
pub fn run(cli: &Cli, cmd: &str, login: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(Exit::Failed as u8);
        }
    };
    let code = rt.block_on(run_recorded(cli, cmd, login));
    ExitCode::from(code)
}

async fn run_recorded(cli: &Cli, cmd: &str, login: bool) -> u8 {
    let mut ledger = Recorder::connect(cli).await;
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let intent = ledger
        .record(CommandRecord::Intent {
            command: cmd.to_string(),
            cwd,
            login,
        })
        .await;
    let started = Instant::now();
    let mut sh = tokio::process::Command::new("/bin/sh");
    if login {
        sh.arg("-l");
    }
    sh.arg("-c").arg(cmd);
    let status = match sh.spawn() {
        Ok(child) => wait(child).await,
        Err(e) => {
            say(&format!("cannot run /bin/sh: {e}"));
            Err(e)
        }
    };
    let (exit_code, sig, code) = match &status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => (Some(c), None, u8::try_from(c & 0xff).unwrap_or(1)),
            (None, Some(sig)) => (None, Some(sig), u8::try_from(128 + sig).unwrap_or(255)),
            (None, None) => (None, None, Exit::Failed as u8),
        },
        // POSIX shells exit 127 when the command cannot be run.
        Err(_) => (Some(127), None, 127),
    };
    if let Some(intent_id) = intent {
        ledger
            .record(CommandRecord::Outcome {
                intent_id,
                exit_code,
                signal: sig,
                duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            })
            .await;
    }
    code
}

/// Wait for the child, passing signals on.
async fn wait(mut child: tokio::process::Child) -> std::io::Result<std::process::ExitStatus> {
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(nix::unistd::Pid::from_raw);
    // SIGINT and SIGQUIT typed at the terminal reach the child from the
    // terminal itself (same foreground process group): not twice.
    let from_terminal = terminal_sends_to_us();
    let mut handlers = Vec::new();
    for (kind, sig) in [
        (SignalKind::terminate(), nix::sys::signal::Signal::SIGTERM),
        (SignalKind::hangup(), nix::sys::signal::Signal::SIGHUP),
        (SignalKind::interrupt(), nix::sys::signal::Signal::SIGINT),
        (SignalKind::quit(), nix::sys::signal::Signal::SIGQUIT),
    ] {
        // Without a handler the signal keeps its default (it ends this
        // process, and the child is left to the same fate by the sender).
        if let Ok(h) = signal(kind) {
            handlers.push((h, sig));
        }
    }
    if handlers.is_empty() {
        return child.wait().await;
    }
    loop {
        let next = futures::future::select_all(
            handlers
                .iter_mut()
                .map(|(h, sig)| Box::pin(async move { h.recv().await.map(|()| *sig) })),
        );
        tokio::select! {
            status = child.wait() => return status,
            (got, _, _) = next => {
                let Some(sig) = got else { continue };
                let typed = matches!(
                    sig,
                    nix::sys::signal::Signal::SIGINT | nix::sys::signal::Signal::SIGQUIT
                ) && from_terminal;
                if let (Some(pid), false) = (pid, typed) {
                    let _ = nix::sys::signal::kill(pid, sig);
                }
            }
        }
    }
}

/// Whether stdin is a terminal whose foreground process group is ours.
fn terminal_sends_to_us() -> bool {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    nix::unistd::tcgetpgrp(stdin.as_fd()).is_ok_and(|fg| fg == nix::unistd::getpgrp())
}

/// toolsd's ledger, when it can be reached; one note on stderr when not.
struct Recorder {
    client: Option<ToolsClient>,
    noted: bool,
}

impl Recorder {
    async fn connect(cli: &Cli) -> Recorder {
        let mut r = Recorder {
            client: None,
            noted: false,
        };
        let socket = match aios_config::load(&cli.overrides()) {
            Ok(config) => aios_config::Paths::resolve(&config).socket(Daemon::Toolsd),
            Err(e) => {
                r.note(&e.to_string());
                return r;
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, aios_proto::connect(&socket)).await {
            Ok(Ok(channel)) => r.client = Some(ToolsClient::new(channel)),
            Ok(Err(e)) => r.note(&e.to_string()),
            Err(_) => r.note(&format!(
                "{} did not answer within {} ms",
                socket.display(),
                CONNECT_TIMEOUT.as_millis()
            )),
        }
        r
    }

    /// Record `what`; the entry's id, or `None` (noted) when it could not be.
    async fn record(&mut self, what: CommandRecord) -> Option<u64> {
        let client = self.client.as_mut()?;
        match tokio::time::timeout(RECORD_TIMEOUT, client.record_command(what)).await {
            Ok(Ok(id)) => Some(id),
            Ok(Err(e)) => {
                self.note(&e.message);
                None
            }
            Err(_) => {
                self.note("toolsd did not answer in time");
                None
            }
        }
    }

    fn note(&mut self, why: &str) {
        if !std::mem::replace(&mut self.noted, true) {
            say(&format!("this command is not in the audit ledger: {why}"));
        }
    }
}

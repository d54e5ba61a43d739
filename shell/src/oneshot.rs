//! `aios -p`, piped prompts, and the session connection the plain line mode
//! ([`crate::line`]) shares: one session, requests sent as `UserInput`,
//! events rendered (or printed as JSON) until each turn completes.

use std::io::{IsTerminal, Write};

use aios_config::{Daemon, Paths};
use aios_proto::{
    ApiErrorKind, ApprovalMode, BoxStream, CreateSession, Event, EventKind, Op, SessionClient,
    TurnStatus,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::cli::{ApproveMode, Cli};
use crate::exit::{Exit, Failure};
use crate::input;
use crate::launch;
use crate::line;
use crate::render::{Out, Renderer};

/// How the request arrives.
enum Mode {
    /// One request, then exit.
    Once(String),
    /// Read requests line by line from a terminal.
    Lines,
}

/// Entry for `aios` without a subcommand.
pub async fn run(cli: &Cli) -> Result<Exit, Failure> {
    let mode = match cli.prompt.as_deref() {
        Some("-") => Mode::Once(input::read_prompt(std::io::stdin().lock())?),
        Some(text) => {
            input::validate(text)?;
            Mode::Once(text.to_string())
        }
        None if !std::io::stdin().is_terminal() => {
            Mode::Once(input::read_prompt(std::io::stdin().lock())?)
        }
        None if cli.json => {
            return Err(Failure::usage(
                "--json needs a request: pass -p \"...\" or pipe it on stdin",
            ));
        }
        None => Mode::Lines,
    };
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    match mode {
        Mode::Once(text) => {
            // Not interactive: nobody to wait with, so an absent daemon is
            // exit 4 at once.
            launch::ensure_running(cli, &config, &paths).await?;
            let mut conn = Connection::open(cli, &paths).await?;
            let code = conn.turn(text).await;
            conn.detach();
            code
        }
        Mode::Lines => line::run(cli, &config, &paths).await,
    }
}

/// One attached session.
pub(crate) struct Connection {
    /// The session's id.
    pub(crate) session_id: String,
    ops: mpsc::UnboundedSender<Op>,
    /// The session's events (replayed from the start, then live).
    pub(crate) events: BoxStream<Event>,
    /// Renders events.
    pub(crate) printer: Printer,
}

impl Connection {
    /// Create a session on aiosd and attach to it.
    pub(crate) async fn open(cli: &Cli, paths: &Paths) -> Result<Connection, Failure> {
        let socket = paths.socket(Daemon::Aiosd);
        let channel = aios_proto::connect(&socket)
            .await
            .map_err(|e| Failure::daemon(format!("aiosd is not reachable: {e}")))?;
        let mut client = SessionClient::new(channel);
        let info = client
            .create(CreateSession {
                provider: cli.provider.clone(),
                model: cli.model.clone(),
                approval: match cli.approve {
                    ApproveMode::Ask => ApprovalMode::Ask,
                    ApproveMode::Policy => ApprovalMode::Policy,
                },
                title: cli
                    .prompt
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect(),
            })
            .await
            .map_err(|e| match e.kind {
                ApiErrorKind::Transport | ApiErrorKind::Unavailable => {
                    Failure::daemon(format!("cannot create a session: {}", e.message))
                }
                ApiErrorKind::InvalidArgument => Failure::usage(e.message),
                _ => Failure::new(
                    Exit::Failed,
                    format!("cannot create a session: {}", e.message),
                ),
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        // Attach first; the session replays from the start.
        let _ = tx.send(Op::Attach {
            session_id: info.id.clone(),
            after_seq: 0,
        });
        let events = client
            .stream(UnboundedReceiverStream::new(rx))
            .await
            .map_err(|e| Failure::daemon(format!("cannot attach to the session: {}", e.message)))?;
        Ok(Connection {
            session_id: info.id,
            ops: tx,
            events,
            printer: Printer::new(cli.json),
        })
    }

    /// Send one request and print events until its turn completes.
    pub(crate) async fn turn(&mut self, text: String) -> Result<Exit, Failure> {
        if self.ops.send(Op::UserInput { text }).is_err() {
            return Err(Failure::daemon("aiosd closed the session stream"));
        }
        let mut last_fatal: Option<String> = None;
        let mut interrupts = 0u32;
        loop {
            let next = tokio::select! {
                e = self.events.next() => e,
                _ = tokio::signal::ctrl_c() => {
                    interrupts += 1;
                    if interrupts > 1 {
                        return Ok(Exit::Failed);
                    }
                    let _ = self.ops.send(Op::Interrupt);
                    continue;
                }
            };
            let event = match next {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    return Err(self.printer.fail(Failure::daemon(format!(
                        "lost the connection to aiosd mid-turn: {}",
                        e.message
                    ))));
                }
                None => {
                    return Err(self
                        .printer
                        .fail(Failure::daemon("aiosd ended the session stream mid-turn")));
                }
            };
            self.printer.event(&event)?;
            match &event.kind {
                EventKind::Error {
                    code, fatal: true, ..
                } => last_fatal = Some(code.clone()),
                EventKind::Error {
                    code, fatal: false, ..
                } if is_input_error(code) => {
                    return Ok(Exit::Usage);
                }
                EventKind::TurnCompleted { status, .. } => {
                    return Ok(match status {
                        TurnStatus::Completed => Exit::Success,
                        TurnStatus::Refused => Exit::Refused,
                        TurnStatus::Interrupted => Exit::Failed,
                        TurnStatus::Failed
                            if last_fatal.as_deref() == Some("daemon_unavailable") =>
                        {
                            Exit::DaemonUnavailable
                        }
                        TurnStatus::Failed => Exit::Failed,
                    });
                }
                _ => {}
            }
        }
    }

    /// Leave the session (it stays on aiosd).
    pub(crate) fn detach(&self) {
        let _ = self.ops.send(Op::Detach);
    }
}

/// Errors aiosd reports instead of starting a turn.
fn is_input_error(code: &str) -> bool {
    matches!(code, "empty_input" | "input_too_large" | "turn_in_progress")
}

/// Writes events as readable text or JSON lines.
pub(crate) struct Printer {
    json: bool,
    renderer: Renderer,
}

impl Printer {
    fn new(json: bool) -> Printer {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer {
            json,
            renderer: Renderer::new(color),
        }
    }

    /// Print one event.
    pub(crate) fn event(&mut self, e: &Event) -> Result<(), Failure> {
        if self.json {
            let line = serde_json::to_string(e)
                .map_err(|err| Failure::new(Exit::Failed, format!("cannot encode event: {err}")))?;
            let mut out = std::io::stdout().lock();
            write_out(&mut out, format_args!("{line}\n"))?;
            // A script may only capture stdout; a person watching still
            // needs to see why the request failed.
            if let EventKind::Error {
                message,
                fatal: true,
                ..
            } = &e.kind
            {
                let _ = writeln!(std::io::stderr().lock(), "aios: error: {message}");
            }
            return Ok(());
        }
        let outs = self.renderer.event(&e.kind);
        write_outs(outs)
    }

    /// End a half-written answer line (text mode).
    pub(crate) fn end_line(&mut self) -> Result<(), Failure> {
        if self.json {
            return Ok(());
        }
        let outs = self.renderer.end_line();
        write_outs(outs)
    }

    /// Print an event that arrived while the prompt was shown, on a line of
    /// its own; `true` when it printed anything (the prompt is then shown
    /// again).
    pub(crate) fn event_at_prompt(&mut self, e: &Event) -> Result<bool, Failure> {
        if self.json {
            self.event(e)?;
            return Ok(true);
        }
        let outs = self.renderer.event(&e.kind);
        if outs.is_empty() {
            return Ok(false);
        }
        let _ = writeln!(std::io::stderr().lock());
        write_outs(outs)?;
        Ok(true)
    }

    /// In JSON mode a failure outside the stream is also a JSON line, so a
    /// script reading stdout sees why the stream ended.
    fn fail(&self, f: Failure) -> Failure {
        if self.json {
            let line = serde_json::json!({
                "type": "error",
                "code": if f.code == Exit::DaemonUnavailable { "daemon_unavailable" } else { "client_error" },
                "message": f.message,
                "fatal": true,
            });
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        f
    }
}

fn write_outs(outs: Vec<Out>) -> Result<(), Failure> {
    for o in outs {
        match o {
            Out::Stdout(t) => {
                let mut out = std::io::stdout().lock();
                write_out(&mut out, format_args!("{t}"))?;
                let _ = out.flush();
            }
            Out::Stderr(t) => {
                let _ = write!(std::io::stderr().lock(), "{t}");
            }
        }
    }
    Ok(())
}

/// Write to stdout; a closed pipe (`aios -p ... | head`) ends quietly with
/// success, as ripgrep does.
fn write_out(out: &mut impl Write, args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    match out.write_fmt(args) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::new(
            Exit::Failed,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

/// `aios sessions`.
pub async fn list_sessions(cli: &Cli) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let channel = aios_proto::connect(&paths.socket(Daemon::Aiosd))
        .await
        .map_err(|e| Failure::daemon(format!("aiosd is not reachable: {e}")))?;
    let sessions = SessionClient::new(channel)
        .list()
        .await
        .map_err(|e| Failure::daemon(format!("cannot list sessions: {}", e.message)))?;
    let mut out = std::io::stdout().lock();
    for s in sessions {
        if cli.json {
            let line =
                serde_json::to_string(&s).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
            write_out(&mut out, format_args!("{line}\n"))?;
        } else {
            write_out(
                &mut out,
                format_args!("{}  {:<9} {}\n", s.id, s.provider, s.title),
            )?;
        }
    }
    Ok(Exit::Success)
}

//! The plain line mode: `aios` on a terminal. Read a request, run its turn,
//! show the prompt again; `exit`, `quit` or Ctrl-D leaves.
//!
//! It is the console user's login shell, so losing the daemons does not end
//! it: at start, or when aiosd goes away mid-session, it waits for them
//! ([`crate::wait`]) and reconnects to the same session, from the last
//! event it showed (a new one only if that session cannot be resumed). Only the user ends
//! the wait (Ctrl-C or Ctrl-D, exit 4). Non-interactive uses (`-p`, piped
//! stdin, `--json`) never come here and still exit 4 at once.
//!
//! The `/` commands of the TUI work here too ([`crate::slash`]), and every
//! submitted line goes to the same history file ([`crate::history`]).
//!
//! On a terminal that can draw it, lines are read with the line editor
//! ([`crate::editor`]: history, Tab completion, Ctrl-R); elsewhere
//! (`TERM=dumb`, stdin not a terminal) with the plain reader. Before the
//! session prints while a prompt may be up, the editor steps aside
//! ([`Lines::quiet`]), so output never crosses the prompt.

use aios_config::{Config, Paths};
use std::sync::{Arc, Mutex};

use futures::{FutureExt, StreamExt};
use tokio::signal::unix::{Signal, SignalKind};

use crate::cli::Cli;
use crate::connection::{Connection, Pending};
use crate::editor::{self, Names, Setup};
use crate::exit::{Exit, Failure};
use crate::history::{self, History, Origin};
use crate::input::{self, Line, Lines};
use crate::launch;
use crate::printer::{self, say};
use crate::slash::{self, Request};
use crate::wait::{self, Backoff, Down, TypeAhead};

/// How long the terminal has to answer whether it can draw the editor.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Why a connection is being made.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Why {
    /// The shell is starting.
    Start,
    /// The connection to aiosd was lost: resume this session after the
    /// last event shown.
    Lost {
        /// The session.
        session_id: String,
        /// The last event shown.
        after_seq: u64,
    },
}

impl Why {
    fn lost(conn: &Connection) -> Why {
        Why::Lost {
            session_id: conn.session_id.clone(),
            after_seq: conn.last_seq(),
        }
    }
}

/// What happened while the prompt was shown.
enum Idle {
    Line(Line),
    Event(Option<Result<aios_proto::Event, aios_proto::ApiError>>),
    Interrupt,
}

/// The user's side of the terminal: typed lines and Ctrl-C.
struct Term {
    lines: Lines,
    /// Held for the whole line mode: from the start, Ctrl-C is handled by
    /// the shell (cancel the line, stop waiting) instead of killing it.
    sigint: Signal,
    /// Input typed while connecting, run once connected.
    ahead: TypeAhead,
}

/// Run the line mode until the user leaves; the exit code is the last
/// turn's.
pub(crate) async fn run(cli: &Cli, config: &Config, paths: &Paths) -> Result<Exit, Failure> {
    // Cards are drawn from the same cells and theme as the TUI's.
    if let Some(why) = printer::choose_theme(config.ui.theme.as_deref()) {
        say(&why);
    }
    let sigint = tokio::signal::unix::signal(SignalKind::interrupt())
        .map_err(|e| Failure::new(Exit::Failed, format!("cannot handle Ctrl-C: {e}")))?;
    let names = Arc::new(Mutex::new(Names::default()));
    let probe = if editor::wanted() {
        editor::probe(PROBE_TIMEOUT)
    } else {
        editor::Probe::default()
    };
    if probe.answered && probe.top_row {
        // Not on the top row: see `Probe::top_row`.
        say("line mode: say what you need; /help lists the commands, Ctrl-D leaves");
    }
    let lines = if probe.answered {
        Lines::editor(Setup {
            history_file: history::path(&paths.state_dir),
            names: names.clone(),
            colour: printer::colour(),
        })?
    } else {
        // Lines typed while the terminal was asked come first.
        let typed = std::io::Cursor::new(probe.typed);
        Lines::spawn(std::io::Read::chain(
            typed,
            std::io::BufReader::new(std::io::stdin()),
        ))?
    };
    let mut term = Term {
        lines,
        sigint,
        ahead: TypeAhead::default(),
    };
    let result = session(cli, config, paths, &mut term, names).await;
    // Never leave the terminal with a prompt up (raw mode) behind.
    term.lines.quiet().await;
    result
}

/// The line mode's loop, on `term`.
async fn session(
    cli: &Cli,
    config: &Config,
    paths: &Paths,
    term: &mut Term,
    names: Arc<Mutex<Names>>,
) -> Result<Exit, Failure> {
    let mut conn = connect(cli, config, paths, term, Why::Start).await?;
    // What Tab completes after a command: tools (from toolsd, in the
    // background) and themes.
    {
        let paths = paths.clone();
        let themes = crate::transcript::ThemeSet::load(
            aios_config::xdg_config_home()
                .map(|d| d.join("aios/themes"))
                .as_deref(),
        )
        .names();
        tokio::spawn(async move {
            let tools = crate::slash::run::tool_names(&paths).await;
            if let Ok(mut n) = names.lock() {
                *n = Names { tools, themes };
            }
        });
    }
    let mut history = History::open(&history::path(&paths.state_dir));
    if let Some(h) = history.take_hint() {
        say(&h);
    }
    let mut last = Exit::Success;
    let mut show_prompt = true;
    // Approvals seen at the prompt (a replay after attaching) and not
    // yet ended.
    let mut pending = Pending::default();
    // An event read while an approval was asked, still to be handled.
    let mut carried = None;
    // The plain reader's prompt stands on the line that output at the
    // prompt starts after; the editor's steps aside instead.
    let after_prompt = term.lines.reads_ahead();
    loop {
        term.lines
            .prompt_request(editor::PROMPT, std::mem::take(&mut show_prompt));
        // Watch the session stream too, so a daemon that goes away while
        // the user is idle is reported now, not at the next request.
        let idle = if let Some(next) = carried.take() {
            Idle::Event(next)
        } else if let Some(line) = term.ahead.pop() {
            // Typed before the prompt: show it after the prompt, as if
            // typed there, so the transcript reads in order.
            if let Line::Text(t) = &line {
                let _ = writeln!(printer::stderr(), "{}", t.trim_end());
            }
            Idle::Line(line)
        } else {
            tokio::select! {
                line = term.lines.recv() => Idle::Line(line),
                event = conn.events.next() => Idle::Event(event),
                _ = term.sigint.recv() => Idle::Interrupt,
            }
        };
        let text = match idle {
            Idle::Event(Some(Ok(event))) => {
                // E.g. the session's replayed start, which shows nothing.
                let mut next = Some(event);
                // Read what has already arrived too (a replay comes in a
                // burst), then re-present the approvals still waiting.
                while let Some(event) = next.take() {
                    let out = conn.printer.at_prompt(&event);
                    pending.see(&event);
                    if out.shows() {
                        term.lines.quiet().await;
                        show_prompt |= conn.printer.write_at_prompt(out, after_prompt)?;
                    }
                    if let Some(Some(Ok(e))) = conn.events.next().now_or_never() {
                        next = Some(e);
                    }
                }
                let waiting = pending.take();
                if !waiting.is_empty() {
                    term.lines.quiet().await;
                }
                let mut waiting = waiting.into_iter();
                while let Some(a) = waiting.next() {
                    show_prompt = true;
                    // The call may end while the user thinks (expired,
                    // answered elsewhere): the event that ended the
                    // question is handled as any other, and the questions
                    // not yet asked wait for their turn.
                    if let Some(next) = conn.ask_watching(&a, Some(&mut term.lines)).await? {
                        carried = Some(next);
                        pending.put_back(waiting);
                        break;
                    }
                }
                continue;
            }
            Idle::Interrupt => {
                // As other shells do: the terminal dropped the typed line;
                // start a fresh one.
                term.lines.quiet().await;
                if after_prompt {
                    let _ = writeln!(printer::stderr());
                }
                show_prompt = true;
                continue;
            }
            // Ctrl-C at the editor's prompt: it left the line on screen and
            // moved below it, as other shells do.
            Idle::Line(Line::Interrupt) => {
                show_prompt = true;
                continue;
            }
            Idle::Event(lost) => {
                show_prompt = true;
                let why = match lost {
                    Some(Err(e)) => format!("lost the connection to aiosd: {}", e.message),
                    _ => "aiosd ended the session stream".to_string(),
                };
                term.lines.quiet().await;
                if after_prompt {
                    let _ = writeln!(printer::stderr());
                }
                say(&why);
                conn = connect(cli, config, paths, term, Why::lost(&conn))
                    .await?
                    .after(conn);
                continue;
            }
            Idle::Line(Line::Eof) => break,
            Idle::Line(Line::Error(e)) => {
                return Err(Failure::usage(format!("cannot read input: {e}")));
            }
            Idle::Line(Line::Text(text)) => text,
        };
        show_prompt = true;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if matches!(text, "exit" | "quit") {
            break;
        }
        if slash::is_command(text) {
            let request = match slash::parse(text) {
                Ok(r) => r,
                Err(e) => {
                    say(&e);
                    continue;
                }
            };
            history.add(text, &Origin::here(&conn.session_id));
            match request {
                Request::Detach => {
                    conn.detach();
                    say(&format!(
                        "detached from session {0}; `aios attach {0}` resumes it",
                        conn.session_id
                    ));
                    return Ok(last);
                }
                Request::Attach(id) => {
                    match Connection::resume(cli, paths, &id, 0).await {
                        Ok(other) => {
                            conn.detach();
                            conn = other;
                            say(&format!("attached to session {id}"));
                        }
                        Err(f) => say(&f.message),
                    }
                    continue;
                }
                _ => {}
            }
            let copy = conn.printer.copy_text();
            match command(cli, config, paths, term, request, copy).await? {
                Flow::Go => continue,
                Flow::Leave => break,
            }
        }
        if let Err(f) = input::validate(text) {
            say(&f.message);
            continue;
        }
        history.add(text, &Origin::here(&conn.session_id));
        // The turn reads Ctrl-C from this same handler, so the one that
        // interrupted it is consumed there and cannot also cancel the next
        // line or end a wait.
        let turn = conn
            .turn(
                text.to_string(),
                Some(&mut term.lines),
                Some(&mut term.sigint),
            )
            .await;
        match turn {
            Ok(code) => last = code,
            // aiosd went away: the turn failed (said above, and by the
            // exit code if the user leaves now); wait and reconnect.
            Err(f) if f.code == Exit::DaemonUnavailable => {
                conn.printer.end_line()?;
                say(&f.message);
                last = Exit::DaemonUnavailable;
                conn = connect(cli, config, paths, term, Why::lost(&conn))
                    .await?
                    .after(conn);
            }
            Err(f) => return Err(f),
        }
    }
    conn.detach();
    Ok(last)
}

/// After a `/` command: prompt again, or leave.
enum Flow {
    Go,
    Leave,
}

/// Carry out a `/` command at the line prompt: the daemon-answered ones
/// print the CLI subcommand's text; `/undo` asks its approval here.
async fn command(
    cli: &Cli,
    config: &Config,
    paths: &Paths,
    term: &mut Term,
    request: Request,
    copy: Option<(&'static str, String)>,
) -> Result<Flow, Failure> {
    match request {
        Request::Quit => return Ok(Flow::Leave),
        Request::Help => {
            let _ = write!(printer::stdout(), "{}", slash::help_text());
        }
        Request::Clear => {
            use std::io::IsTerminal;
            if printer::terminal().is_terminal() {
                // Home, then clear the screen (the scrollback stays): the
                // shell's own escape, so not through the sanitizing writer.
                printer::rendered("\x1b[H\x1b[2J");
            }
        }
        Request::Theme(_) => say(
            "the line mode draws with the configuration's ui.theme; /theme switches the full-screen TUI's",
        ),
        Request::Copy => match copy {
            Some((what, text)) => match printer::clipboard(&text) {
                Ok(()) => say(&format!(
                    "copied the {what} ({} bytes) to your clipboard (OSC 52; a terminal that does not allow it ignores it)",
                    text.len()
                )),
                Err(e) => say(&e.to_string()),
            },
            None => say(&crate::clipboard::CopyError::Empty.to_string()),
        },
        Request::Undo(id) => {
            let mode = cli.approve.for_typed_undo();
            if let Err(f) = crate::audit::undo_with(cli, mode, id, Some(&mut term.lines)).await {
                say(&f.message);
            }
        }
        request => match slash::run::text(config, paths, &request).await {
            Some(Ok(text)) => {
                let _ = write!(printer::stdout(), "{text}");
            }
            Some(Err(f)) => say(&f.message),
            None => {}
        },
    }
    Ok(Flow::Go)
}

/// A connected session: autostart first when allowed (as the one-shot
/// modes do), else, or when that fails, wait until the daemons answer.
async fn connect(
    cli: &Cli,
    config: &Config,
    paths: &Paths,
    term: &mut Term,
    why: Why,
) -> Result<Connection, Failure> {
    let Term {
        lines,
        sigint,
        ahead,
    } = term;
    if !cli.no_autostart {
        // Starting can take seconds; the user may still leave meanwhile.
        let started = tokio::select! {
            r = launch::ensure_running(cli, config, paths) => r,
            f = wait::quit_requested(lines, sigint, ahead) => return Err(f),
        };
        match started {
            Ok(()) => {}
            // Cannot start them (e.g. they belong to the system's initd):
            // say why, then wait for whoever does.
            Err(f) if f.code == Exit::DaemonUnavailable => say(&f.message),
            Err(f) => return Err(f),
        }
    }
    let mut backoff = Backoff::default();
    let mut shown: Option<Down> = None;
    loop {
        let attempt = tokio::select! {
            r = attempt(cli, paths, &why) => r?,
            f = wait::quit_requested(lines, sigint, ahead) => return Err(f),
        };
        match attempt {
            Ok(conn) => {
                ahead.connected();
                if shown.is_some() || matches!(why, Why::Lost { .. }) {
                    // The editor's prompt may be up while waiting.
                    lines.quiet().await;
                }
                match &why {
                    Why::Lost { session_id, .. } if *session_id == conn.session_id => {
                        say(&format!("reconnected to session {session_id}"));
                    }
                    Why::Lost { .. } => {
                        say(&format!("reconnected (new session {})", conn.session_id))
                    }
                    Why::Start if shown.is_some() => {
                        say(&format!("connected (session {})", conn.session_id));
                    }
                    Why::Start => {}
                }
                return Ok(conn);
            }
            Err(down) => {
                if shown.as_ref().is_some_and(|old| old.key() != down.key()) {
                    lines.quiet().await;
                }
                match &shown {
                    None => {
                        say(&wait::waiting_line(&down));
                        ahead.start_waiting()?;
                    }
                    Some(old) if old.key() != down.key() => {
                        say(&wait::still_waiting_line(&down));
                    }
                    Some(_) => {}
                }
                shown = Some(down);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            f = wait::quit_requested(lines, sigint, ahead) => return Err(f),
        }
    }
}

/// Probe the daemons, then resume the lost session or open one.
/// `Err(Down)` is worth waiting on; an outer `Err(Failure)` is not (e.g.
/// aiosd rejects the provider).
async fn attempt(cli: &Cli, paths: &Paths, why: &Why) -> Result<Result<Connection, Down>, Failure> {
    if let Err(down) = wait::probe(paths).await {
        return Ok(Err(down));
    }
    if let Why::Lost {
        session_id,
        after_seq,
    } = why
    {
        match Connection::resume(cli, paths, session_id, *after_seq).await {
            Ok(conn) => return Ok(Ok(conn)),
            Err(f) if f.code == Exit::DaemonUnavailable => {
                return Ok(Err(Down::other("aiosd", f.message)));
            }
            // E.g. memoryd lost it: a new session is better than none.
            Err(f) => say(&f.message),
        }
    }
    match Connection::open(cli, paths, aios_proto::SessionKind::Interactive).await {
        Ok(conn) => Ok(Ok(conn)),
        Err(f) if f.code == Exit::DaemonUnavailable => Ok(Err(Down::other("aiosd", f.message))),
        Err(f) => Err(f),
    }
}

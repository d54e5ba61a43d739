//! The full-screen TUI: `aios` with a terminal on stdin and stdout.
//!
//! One `tokio::select!` loop owns everything that happens: terminal input
//! (crossterm's `EventStream`; in raw mode Ctrl-C is a key, so the loop is
//! its only owner), the session's events, the answers from toolsd,
//! signals and a spinner tick that runs only while a turn does. Keys change
//! the [`app::App`] state and come back as effects, which only this loop
//! carries out. Redraws are requested by events and capped at one per
//! [`FRAME`]; an idle shell sleeps in `select!` and uses no CPU.
//!
//! When aiosd goes away (killed, restarted by initd), a task resumes the
//! same session from the last event shown ([`reconnect`]); the replay then
//! shows how the interrupted turn ended.
//!
//! On exit the terminal is restored ([`terminal`]) and the conversation is
//! printed to the normal scrollback from the same cells the screen drew.

pub mod app;
pub mod editor;
pub mod keymap;
pub mod sgr;
pub mod status;
pub mod terminal;
pub mod view;

use std::time::Duration;

use aios_config::{Config, Daemon, Paths};
use aios_proto::{ApprovalNeeded, Decision};
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::approve::Desk;
use crate::cli::{ApproveMode, Cli};
use crate::connection::Connection;
use crate::exit::{Exit, Failure};
use crate::history::{self, History, Origin};
use crate::launch;
use crate::printer;
use crate::slash;
use crate::transcript::{self, ColorDepth, Glyphs, Level, Theme, ThemeSet};
use app::{App, Effect, UndoUpdate};

/// The shortest time between two frames (about 60 per second).
pub const FRAME: Duration = Duration::from_millis(16);
/// Spinner speed while a turn runs.
const TICK: Duration = Duration::from_millis(120);
/// How often the daemon set's health is probed for the status bar: rare
/// enough that an idle shell stays idle (one ping per daemon).
const HEALTH_EVERY: Duration = Duration::from_secs(30);

/// A decision on its way to toolsd.
type Decide = (Box<ApprovalNeeded>, Decision, Option<String>);

/// Whether `aios` on this terminal should start the TUI: stdin and stdout
/// are terminals, `--line` was not given and the terminal can draw it.
pub fn wanted(cli: &Cli) -> bool {
    use std::io::IsTerminal;
    let term = std::env::var("TERM").unwrap_or_default();
    !cli.line
        && std::io::stdin().is_terminal()
        && printer::terminal().is_terminal()
        && can_draw(&term)
}

/// Whether a terminal of type `term` can hold the TUI. Without an
/// alternate screen (`dumb`, the real DEC VT100/VT52 types a serial console
/// announces) the TUI would overwrite what the user had on screen and the
/// promise of an intact scrollback breaks, so those keep the line mode.
pub fn can_draw(term: &str) -> bool {
    !matches!(term, "" | "dumb" | "vt52" | "vt100" | "vt102" | "unknown")
}

/// Run the TUI until the user leaves.
pub(crate) async fn run(cli: &Cli, config: &Config, paths: &Paths) -> Result<Exit, Failure> {
    // Connect before taking the screen: with the daemons up this costs
    // milliseconds; with them down, the line mode's wait-and-reconnect
    // (login-shell use, [`crate::wait`]) takes over on the plain terminal.
    let opened = if cli.no_autostart {
        Connection::open(cli, paths, aios_proto::SessionKind::Interactive).await
    } else {
        match launch::ensure_running(cli, config, paths).await {
            Ok(()) => Connection::open(cli, paths, aios_proto::SessionKind::Interactive).await,
            Err(f) => Err(f),
        }
    };
    let mut conn = match opened {
        Ok(conn) => conn,
        Err(f) if f.code == Exit::DaemonUnavailable => {
            printer::say(&f.message);
            return crate::line::run(cli, config, paths).await;
        }
        Err(f) => return Err(f),
    };
    // Handled from before the screen is taken, so no signal can end the
    // process with the terminal still in raw mode.
    let sig = |k: SignalKind| {
        signal(k).map_err(|e| Failure::new(Exit::Failed, format!("cannot handle signals: {e}")))
    };
    let (mut term_sig, mut hup, mut int) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::hangup())?,
        sig(SignalKind::interrupt())?,
    );
    let (theme, themes, term_glyphs, mut warnings) = start_theme(config);
    // The user's keys, merged over the default (help shows the result).
    let (keys, why) = keymap::Keymap::load(
        aios_config::xdg_config_home()
            .map(|d| d.join("aios"))
            .as_deref(),
    );
    keymap::install(keys);
    warnings.extend(why);
    let mut app = App::with_themes(theme, user_host(), themes);
    app.term_glyphs = term_glyphs;
    app.localities = status::localities(config);
    for w in warnings {
        app.transcript.note(Level::Warning, &w);
    }
    let mut guard = terminal::enter()?;
    draw(&mut guard, &mut app)?;
    // After the first frame, before any key is read (so Up always finds
    // it): a millisecond of SQLite is not worth a later paint.
    app.origin = Origin::here(&conn.session_id);
    app.set_history(History::open(&history::path(&paths.state_dir)));
    if app.hint.is_some() {
        draw(&mut guard, &mut app)?;
    }

    // Decisions go to toolsd from a task of their own, so the screen keeps
    // drawing while toolsd answers; the answer comes back as an event.
    let (decide_tx, mut decide_rx) = mpsc::unbounded_channel::<Decide>();
    let (result_tx, mut result_rx) = mpsc::unbounded_channel::<Result<String, String>>();
    // Under --approve=all every card is answered by `approve_all`, and the
    // desk marks those answers as automatic.
    let mut desk = Desk::new(
        cli.approve,
        paths.socket(Daemon::Toolsd),
        conn.session_id.clone(),
    );
    tokio::spawn(async move {
        while let Some((a, decision, confirm)) = decide_rx.recv().await {
            let r = desk.send(&a, decision, confirm).await;
            if result_tx.send(r).is_err() {
                break;
            }
        }
    });

    // Work for `/` commands runs in tasks of its own; answers come back
    // here as events, so the screen never waits on a daemon.
    let (bg_tx, mut bg_rx) = mpsc::unbounded_channel::<Background>();
    // Syntect's first use of a language costs hundreds of milliseconds:
    // paid on threads of their own, after the first frame; a block is drawn
    // plain until its language is ready, then again.
    let ready_tx = bg_tx.clone();
    transcript::highlight::in_background(move || {
        let _ = ready_tx.send(Background::Highlighted);
    });
    // Off the start's path: the tool names for completion are asked once
    // the session is attached.
    let mut tools_asked = false;

    let mut input = EventStream::new();
    // The first probe after the first frame; then every HEALTH_EVERY.
    let mut health = tokio::time::interval_at(Instant::now() + FRAME, HEALTH_EVERY);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_draw = Instant::now();
    let mut redraw_at: Option<Instant> = None;
    let mut last = Exit::Success;
    let mut detached = false;
    loop {
        let mut effects = Vec::new();
        // The event ends a stream (a model reply, a turn): nothing follows
        // it soon, so it is drawn at once instead of at the next frame.
        let mut ends = false;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => {
                    effects = app.on_key(k);
                }
                Some(Ok(TermEvent::Paste(text))) => app.on_paste(&text),
                Some(Ok(TermEvent::Mouse(m))) => app.on_mouse(m),
                Some(Ok(_)) => {}
                // The terminal is gone (e.g. the ssh connection dropped).
                Some(Err(_)) | None => break,
            },
            ev = conn.events.next(), if !app.disconnected => match ev {
                Some(Ok(e)) => {
                    if !std::mem::replace(&mut tools_asked, true) {
                        let (tx, paths) = (bg_tx.clone(), paths.clone());
                        tokio::spawn(async move {
                            let names = slash::run::tool_names(&paths).await;
                            let _ = tx.send(Background::ToolNames(names));
                        });
                    }
                    if let aios_proto::EventKind::TurnCompleted { status, .. } = &e.kind {
                        last = match status {
                            aios_proto::TurnStatus::Completed => Exit::Success,
                            aios_proto::TurnStatus::Refused => Exit::Refused,
                            _ => Exit::Failed,
                        };
                    }
                    ends = matches!(
                        e.kind,
                        aios_proto::EventKind::Usage(_) | aios_proto::EventKind::TurnCompleted { .. }
                    );
                    app.on_event(&e);
                    if cli.approve == ApproveMode::All
                        && let aios_proto::EventKind::ApprovalRequested(a) = &e.kind
                    {
                        effects = app.approve_all(a);
                    }
                }
                lost => {
                    let why = match lost {
                        Some(Err(e)) => format!("lost the connection to aiosd: {}; reconnecting", e.message),
                        _ => "aiosd ended the session stream; reconnecting".to_string(),
                    };
                    app.disconnected = true;
                    app.health = status::Health::Down(vec!["aiosd".into()]);
                    app.transcript.note(Level::Error, &why);
                    last = Exit::DaemonUnavailable;
                    tokio::spawn(reconnect(
                        bg_tx.clone(),
                        cli.clone(),
                        paths.clone(),
                        conn.session_id.clone(),
                        conn.last_seq(),
                    ));
                }
            },
            r = result_rx.recv() => if let Some(r) = r {
                app.decision_result(r);
            },
            b = bg_rx.recv() => match b {
                Some(Background::Answer { label, result }) => app.command_done(&label, result),
                Some(Background::ToolNames(names)) => app.tool_names = names,
                Some(Background::Highlighted) => app.transcript.restyle(),
                Some(Background::Health(h)) => app.health = h,
                Some(Background::Grant { call_id, shown }) => app.grant_shown(&call_id, shown),
                Some(Background::Reconnected(Ok(c))) => {
                    let same = c.session_id == conn.session_id;
                    conn.detach();
                    conn = *c;
                    app.disconnected = false;
                    probe_health(bg_tx.clone(), paths.clone());
                    if same {
                        app.transcript.note(Level::Info, &format!("reconnected to session {}", conn.session_id));
                    } else {
                        // Another session: its transcript replaces this one.
                        let theme = app.transcript.theme().clone();
                        app.transcript = transcript::Transcript::new(theme);
                        app.origin = Origin::here(&conn.session_id);
                    }
                }
                Some(Background::Reconnected(Err(why))) => {
                    app.transcript.note(Level::Error, &format!("cannot resume the session: {why}"));
                }
                Some(Background::Undo(u)) => {
                    let all = match &u {
                        UndoUpdate::Approval(a) if cli.approve == ApproveMode::All => Some(a.clone()),
                        _ => None,
                    };
                    app.undo_update(u);
                    if let Some(a) = all {
                        effects = app.approve_all(&a);
                    }
                }
                None => {}
            },
            _ = tick.tick(), if app.transcript.running => app.tick += 1,
            _ = health.tick() => {
                probe_health(bg_tx.clone(), paths.clone());
                // Nothing to draw until the answer comes.
                continue;
            }
            () = sleep_until(redraw_at), if redraw_at.is_some() => {}
            _ = term_sig.recv() => break,
            _ = hup.recv() => break,
            _ = int.recv() => effects = app.on_key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char('c'),
                crossterm::event::KeyModifiers::CONTROL,
            )),
        }
        let mut quit = false;
        for e in effects {
            match e {
                Effect::Op(op) => {
                    if !conn.send(op) {
                        app.disconnected = true;
                        app.transcript
                            .note(Level::Error, "aiosd closed the session stream");
                    }
                }
                Effect::Decide {
                    needed,
                    decision,
                    confirm,
                } => {
                    let _ = decide_tx.send((needed, decision, confirm));
                }
                Effect::Command { label, request } => {
                    let (tx, config, paths) = (bg_tx.clone(), config.clone(), paths.clone());
                    tokio::spawn(async move {
                        let result = match slash::run::text(&config, &paths, &request).await {
                            Some(Ok(text)) => Ok(text),
                            Some(Err(f)) => Err(f.message),
                            None => Err("not a command for a daemon".to_string()),
                        };
                        let _ = tx.send(Background::Answer { label, result });
                    });
                }
                Effect::Undo(id) => {
                    let req = crate::audit::undo_request(
                        &conn.session_id,
                        id,
                        conn.kind,
                        cli.approve.for_typed_undo().approval(),
                    );
                    tokio::spawn(undo(bg_tx.clone(), paths.clone(), req, id));
                }
                Effect::GrantPreview(a) => {
                    let tx = bg_tx.clone();
                    let mut desk = Desk::new(
                        ApproveMode::Ask,
                        paths.socket(Daemon::Toolsd),
                        conn.session_id.clone(),
                    );
                    tokio::spawn(async move {
                        let shown = desk.grant_preview(&a).await;
                        let _ = tx.send(Background::Grant {
                            call_id: a.call_id.clone(),
                            shown,
                        });
                    });
                }
                Effect::Redraw => {
                    let _ = guard.term.clear();
                }
                Effect::Quit => quit = true,
                Effect::Detach => {
                    quit = true;
                    detached = true;
                }
                Effect::Copy(text) => {
                    // Checked when the effect was made; written between
                    // frames, where it moves nothing on the screen.
                    let _ = printer::clipboard(&text);
                }
                Effect::Attach(id) => {
                    tokio::spawn(reconnect(bg_tx.clone(), cli.clone(), paths.clone(), id, 0));
                }
            }
        }
        if quit {
            break;
        }
        // Every wake-up changed something; draw now, or at the next
        // frame when the last one was too recent (a burst of deltas then
        // costs one frame). The end of a stream is drawn at once: the cap
        // bounds a burst's frames, and an end adds at most one.
        let now = Instant::now();
        if ends || now.duration_since(last_draw) >= FRAME {
            draw(&mut guard, &mut app)?;
            last_draw = now;
            redraw_at = None;
        } else if redraw_at.is_none() {
            redraw_at = Some(last_draw + FRAME);
        }
    }
    conn.detach();
    let width = guard.term.size().map(|s| s.width).unwrap_or(80);
    drop(guard);
    // The conversation stays in the normal scrollback.
    let rows = app.transcript.all_rows(width);
    printer::rendered(&transcript::ansi::to_text(
        &rows,
        app.transcript.theme().depth() != ColorDepth::None,
    ));
    if detached {
        printer::say(&format!(
            "detached from session {0}; `aios attach {0}` resumes it",
            conn.session_id
        ));
    }
    Ok(last)
}

/// The themes (compiled in, plus the user's `~/.config/aios/themes/`),
/// the one to start with (the configuration's `ui.theme`, else by the
/// terminal), the terminal's own glyphs, and what is wrong with the files
/// (shown as warnings; a broken theme is left out, never fatal).
fn start_theme(config: &Config) -> (Theme, ThemeSet, Glyphs, Vec<String>) {
    let dir = aios_config::xdg_config_home().map(|d| d.join("aios/themes"));
    let set = ThemeSet::load(dir.as_deref());
    let term = std::env::var("TERM").ok();
    let (theme, why) = Theme::choose(
        &set,
        config.ui.theme.as_deref(),
        ColorDepth::detect(),
        term.as_deref(),
    );
    let mut warnings: Vec<String> = set
        .problems
        .iter()
        .map(|p| format!("theme file {p}"))
        .collect();
    warnings.extend(why);
    (theme, set, Glyphs::for_term(term.as_deref()), warnings)
}

/// What the tasks started for `/` commands report to the loop.
enum Background {
    /// A command's answer, under the line that asked.
    Answer {
        label: String,
        result: Result<String, String>,
    },
    /// The executor's tool names, for completion.
    ToolNames(Vec<String>),
    /// News from `/undo`.
    Undo(UndoUpdate),
    /// The rule an "always" answer would save, for the approval `call_id`.
    Grant {
        call_id: String,
        shown: Result<crate::approve::GrantShown, String>,
    },
    /// The lost session, attached again (or why it cannot be).
    Reconnected(Result<Box<Connection>, String>),
    /// A language's syntax is ready: draw code blocks again.
    Highlighted,
    /// The daemon set's health, probed.
    Health(status::Health),
}

/// Probe the daemon set on a task of its own; the answer comes back as
/// [`Background::Health`].
fn probe_health(tx: mpsc::UnboundedSender<Background>, paths: Paths) {
    tokio::spawn(async move {
        let h = status::Health::from_probe(crate::wait::probe(&paths).await);
        let _ = tx.send(Background::Health(h));
    });
}

/// Resume session `session_id` after `after_seq` once aiosd answers again,
/// retrying with backoff while it is down; a refusal (e.g. the session is
/// gone) ends the attempt.
async fn reconnect(
    tx: mpsc::UnboundedSender<Background>,
    cli: Cli,
    paths: Paths,
    session_id: String,
    after_seq: u64,
) {
    let mut backoff = crate::wait::Backoff::default();
    loop {
        match Connection::resume(&cli, &paths, &session_id, after_seq).await {
            Ok(conn) => {
                let _ = tx.send(Background::Reconnected(Ok(Box::new(conn))));
                return;
            }
            Err(f) if f.code == Exit::DaemonUnavailable => {
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(f) => {
                let _ = tx.send(Background::Reconnected(Err(f.message)));
                return;
            }
        }
    }
}

/// `/undo ID`: the `audit.undo` call `req` run straight on toolsd in this
/// session (as the session's kind, asked even under `--approve=policy`:
/// [`ApproveMode::for_typed_undo`]), so its approval is answered on the
/// TUI's cards through the same desk as a turn's.
async fn undo(
    tx: mpsc::UnboundedSender<Background>,
    paths: Paths,
    req: aios_proto::ExecuteRequest,
    id: u64,
) {
    use aios_proto::{ExecuteEvent, ToolStatus, ToolsClient};
    let send = |u: UndoUpdate| {
        let _ = tx.send(Background::Undo(u));
    };
    let done = |text: String, ok: bool| UndoUpdate::Done { id, text, ok };
    let channel = match aios_proto::connect(&paths.socket(Daemon::Toolsd)).await {
        Ok(c) => c,
        Err(e) => return send(done(format!("toolsd is not reachable: {e}"), false)),
    };
    let mut stream = match ToolsClient::new(channel).execute(req).await {
        Ok(s) => s,
        Err(e) => {
            return send(done(
                format!("toolsd refused the undo: {}", e.message),
                false,
            ));
        }
    };
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(ExecuteEvent::Output(_)) => {}
            Ok(ExecuteEvent::ApprovalNeeded(a)) => send(UndoUpdate::Approval(a)),
            Ok(ExecuteEvent::End(end)) => {
                let text = crate::audit::result_text(&end.result);
                return send(done(text, end.status == ToolStatus::Ok));
            }
            Err(e) => return send(done(format!("lost toolsd mid-undo: {}", e.message), false)),
        }
    }
    send(done("toolsd ended the undo without a result".into(), false));
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn draw(guard: &mut terminal::Guard, app: &mut App) -> Result<(), Failure> {
    guard
        .term
        .draw(|f| view::draw(f, app))
        .map(|_| ())
        .map_err(|e| Failure::new(Exit::Failed, format!("cannot draw on the terminal: {e}")))
}

fn user_host() -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::getuid().to_string());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    format!("{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::can_draw;

    #[test]
    fn terminals_without_an_alternate_screen_keep_line_mode() {
        for t in [
            "xterm-256color",
            "tmux-256color",
            "screen",
            "linux",
            "xterm",
        ] {
            assert!(can_draw(t), "{t}");
        }
        for t in ["", "dumb", "vt100", "vt52", "unknown"] {
            assert!(!can_draw(t), "{t}");
        }
    }
}

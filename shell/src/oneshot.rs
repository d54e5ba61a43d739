//! `aios -p`, piped prompts and `aios sessions`: pick the mode from the
//! command line, then run one request on a [`Connection`] (or hand a
//! terminal over to the line mode, [`crate::line`]).

use std::io::IsTerminal;

use aios_config::{Daemon, Paths};
use aios_proto::SessionClient;

use crate::cli::Cli;
use crate::connection::Connection;
use crate::exit::{Exit, Failure};
use crate::input;
use crate::launch;
use crate::line;
use crate::printer::{self, write_out};
use crate::sanitize::to_json;

/// How the request arrives.
enum Mode {
    /// One request, then exit.
    Once(String),
    /// Read requests line by line from a terminal.
    Lines,
    /// The full-screen TUI.
    Tui,
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
        None if crate::tui::wanted(cli) => Mode::Tui,
        None => Mode::Lines,
    };
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    match mode {
        Mode::Once(text) => {
            // Not interactive: nobody to wait with, so an absent daemon is
            // exit 4 at once.
            launch::ensure_running(cli, &config, &paths).await?;
            if !cli.json
                && let Some(why) = printer::choose_theme(config.ui.theme.as_deref())
            {
                printer::say(&why);
            }
            let mut conn = Connection::open(cli, &paths, aios_proto::SessionKind::OneShot).await?;
            // A prompt given with -p on a terminal can still be asked
            // about approvals there.
            let mut lines = if cli.prompt.as_deref() != Some("-") && std::io::stdin().is_terminal()
            {
                Some(input::Lines::stdin()?)
            } else {
                None
            };
            let code = conn.turn(text, lines.as_mut(), None).await;
            conn.detach();
            code
        }
        Mode::Lines => line::run(cli, &config, &paths).await,
        Mode::Tui => crate::tui::run(cli, &config, &paths).await,
    }
}

/// `aios attach [ID]`: resume a session on this terminal, in the TUI or
/// the line mode, as `aios` would run a new one.
pub async fn attach(cli: &Cli, id: Option<String>) -> Result<Exit, Failure> {
    if cli.prompt.is_some() || !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "aios attach resumes a session on a terminal; to send one request, use aios -p",
        ));
    }
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let id = match id {
        Some(id) => id,
        None => newest_session(&paths).await?,
    };
    let mut cli = cli.clone();
    cli.command = None;
    cli.attach_to = Some(id);
    if crate::tui::wanted(&cli) {
        crate::tui::run(&cli, &config, &paths).await
    } else {
        line::run(&cli, &config, &paths).await
    }
}

/// The id of this user's newest session.
async fn newest_session(paths: &Paths) -> Result<String, Failure> {
    let channel = aios_proto::connect(&paths.socket(Daemon::Aiosd))
        .await
        .map_err(|e| Failure::daemon(format!("aiosd is not reachable: {e}")))?;
    let sessions = SessionClient::new(channel)
        .list()
        .await
        .map_err(|e| Failure::daemon(format!("cannot list sessions: {}", e.message)))?;
    // Listed newest first.
    sessions.into_iter().next().map(|s| s.id).ok_or_else(|| {
        Failure::new(
            Exit::Failed,
            "you have no sessions to attach to; run aios to start one",
        )
    })
}

/// `aios sessions`.
pub async fn list_sessions(cli: &Cli) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let text = sessions_text(&paths, cli.json).await?;
    write_out(&mut printer::stdout(), format_args!("{text}"))?;
    Ok(Exit::Success)
}

/// The user's sessions, one line each (or one JSON object a line); the
/// `/sessions` command shows the same text.
pub async fn sessions_text(paths: &Paths, json: bool) -> Result<String, Failure> {
    let channel = aios_proto::connect(&paths.socket(Daemon::Aiosd))
        .await
        .map_err(|e| Failure::daemon(format!("aiosd is not reachable: {e}")))?;
    let sessions = SessionClient::new(channel)
        .list()
        .await
        .map_err(|e| Failure::daemon(format!("cannot list sessions: {}", e.message)))?;
    let mut out = String::new();
    for s in sessions {
        if json {
            let line = to_json(&s).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
            out.push_str(&line);
            out.push('\n');
        } else {
            out.push_str(&format!("{}  {:<9} {}\n", s.id, s.provider, s.title));
        }
    }
    Ok(out)
}

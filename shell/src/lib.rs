//! # aios: the conversational shell
//!
//! The user's front end. It knows the daemons only through `aios-proto`'s
//! clients and the session event stream; it never runs tools, never reads
//! API keys, and never prints log lines into the terminal.
//!
//! Modules:
//! - [`cli`]: the flags and subcommands (one definition, help derives from it);
//! - [`exit`]: the documented exit codes and the error type that carries one;
//! - [`clipboard`]: copying an answer or a card to the user's clipboard
//!   (OSC 52, so it works over ssh);
//! - [`input`]: reading and validating the prompt;
//! - [`sanitize`]: showing control characters in untrusted text instead of
//!   letting them drive the terminal;
//! - [`printer`]: the only writer to stdout and stderr;
//! - [`probe`]: the health probe of one daemon socket;
//! - [`launch`]: finding or starting the daemon set (DESIGN.md §8);
//! - [`connection`]: one attached session, shared by the modes below;
//! - [`oneshot`]: `aios -p`, piped prompts and `aios sessions`;
//! - [`transcript`]: the conversation as cells that draw themselves at a
//!   width (pure, snapshot-tested); the TUI, the scrollback on exit, the
//!   line mode and `aios -p` all draw from it;
//! - [`tui`]: the full-screen TUI, one event loop over terminal, session,
//!   signals and a frame tick;
//! - [`line`]: the plain line mode on a terminal (`--line`, or no TTY);
//! - [`editor`]: the line mode's `reedline` prompt (history, completion),
//!   on a thread of its own, stepping aside for output;
//! - [`login`]: `-l`/`--login` and `-aios`: the login environment first;
//! - [`command`]: `aios -c CMD`, POSIX `/bin/sh -c`, recorded in the ledger;
//! - [`wait`]: waiting for absent daemons in line mode (login-shell use);
//! - [`doctor`]: `aios doctor`;
//! - [`service`]: `aios service ...`, the supervisor's control API.
//! - [`slash`]: the `/` commands of both front ends (one table);
//! - [`history`]: the requests typed, in SQLite, for Up/Down and Ctrl-R.
#![deny(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod approve;
pub mod audit;
pub mod cli;
pub mod clipboard;
pub mod command;
pub mod connection;
pub mod doctor;
pub mod editor;
pub mod exit;
#[cfg(test)]
mod generated_docs;
pub mod history;
pub mod input;
pub mod launch;
pub mod line;
pub mod login;
pub mod memory;
pub mod model;
pub mod oneshot;
pub mod policy;
pub mod printer;
pub mod probe;
pub mod sanitize;
pub mod service;
pub mod slash;
pub mod tools;
pub mod transcript;
pub mod tui;
pub mod wait;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::{Exit, Failure};

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // clap prints its own usage errors and exits 2, as documented.
    let cli = Cli::parse();
    let login = login::wanted(cli.login, std::env::args_os().next().as_deref());
    if let Some(cmd) = &cli.command_string {
        return command::run(&cli, cmd, login);
    }
    if login {
        match login::environment(login::profile_shell()) {
            // SAFETY: no other thread exists yet: the async runtime starts
            // below, in `run`.
            Ok(vars) => unsafe { login::apply(&vars) },
            Err(why) => printer::say(&format!("{why}; going on with the inherited environment")),
        }
    }
    let code = match run(cli) {
        Ok(code) => code,
        Err(f) => {
            let _ = writeln!(printer::stderr(), "aios: {}", f.message);
            f.code
        }
    };
    ExitCode::from(code as u8)
}

fn run(cli: Cli) -> Result<Exit, Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Failed, format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        match cli.command.clone() {
            Some(Command::Doctor) => doctor::run(&cli).await,
            Some(Command::Sessions) => oneshot::list_sessions(&cli).await,
            Some(Command::Attach { id }) => oneshot::attach(&cli, id).await,
            Some(Command::Daemons { action }) => launch::daemons_command(&cli, action).await,
            Some(Command::Service { action }) => service::run(&cli, action).await,
            Some(Command::Tools { json, action }) => tools::run(&cli, json, action).await,
            Some(Command::Audit { action }) => audit::run(&cli, action).await,
            Some(Command::Why { id, json }) => audit::why(&cli, id, json).await,
            Some(Command::Undo { id }) => audit::undo(&cli, id).await,
            Some(Command::Policy { action }) => policy::run(&cli, action).await,
            Some(Command::Model { action }) => model::run(&cli, action),
            Some(Command::Memory { action }) => memory::run(&cli, action).await,
            None => oneshot::run(&cli).await,
        }
    })
}

//! Owning the terminal: raw mode, the alternate screen, bracketed paste
//! and the mouse wheel on entry, and ALWAYS the way back: on a normal exit (the guard's
//! `Drop`), on a panic (a hook that restores before the message prints)
//! and on SIGTERM/SIGHUP/SIGINT (the event loop leaves, the guard drops).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::sgr::Sgr16;
use crate::exit::{Exit, Failure};
use crate::printer;

/// Whether the terminal is in the TUI's modes (so restoring twice, from
/// the panic hook and the guard, does nothing the second time).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The drawing surface.
pub type Term = Terminal<CrosstermBackend<Sgr16<std::io::Stdout>>>;

/// Holds the terminal in the TUI's modes; dropping it restores them.
pub struct Guard {
    /// The terminal to draw on.
    pub term: Term,
}

/// Mouse reporting of button presses only (`?1000`, which includes the
/// wheel) in SGR encoding (`?1006`): not crossterm's `EnableMouseCapture`,
/// which also asks for every motion (`?1003`) and would wake the loop on
/// each move of the pointer. Shift-drag still selects text in terminals.
const MOUSE_ON: &str = "\x1b[?1000h\x1b[?1006h";
/// The reverse of [`MOUSE_ON`].
const MOUSE_OFF: &str = "\x1b[?1006l\x1b[?1000l";

/// Enter raw mode, the alternate screen, bracketed paste and the mouse
/// wheel.
pub fn enter() -> Result<Guard, Failure> {
    let fail = |what: &str, e: std::io::Error| {
        restore();
        Failure::new(
            Exit::Failed,
            format!("cannot set up the terminal ({what}): {e}"),
        )
    };
    install_panic_hook();
    enable_raw_mode().map_err(|e| fail("raw mode", e))?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = printer::terminal();
    execute!(out, EnterAlternateScreen, EnableBracketedPaste)
        .map_err(|e| fail("alternate screen", e))?;
    out.write_all(MOUSE_ON.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fail("mouse", e))?;
    let term = Terminal::new(CrosstermBackend::new(Sgr16::new(printer::terminal())))
        .map_err(|e| fail("size", e))?;
    Ok(Guard { term })
}

/// Put the terminal back as it was. Safe to call more than once.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = printer::terminal();
    let _ = out.write_all(MOUSE_OFF.as_bytes());
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The message must land on the normal screen, readable.
            restore();
            previous(info);
        }));
    });
}

//! Everything the shell writes to the terminal goes through here.
//!
//! - [`Printer`] writes a session's events: the transcript's cells as
//!   text ([`Stream`]; event text is sanitized as it enters a cell, before
//!   any colour is added) or JSON lines ([`crate::sanitize::to_json`]);
//! - [`stdout`] and [`stderr`] are for every other line (messages,
//!   tables, reports): what is written through them is sanitized as a
//!   whole, since they add no styling.
//!
//! Only this module touches the process's stdout and stderr (a unit test
//! checks that), so no text reaches the terminal without passing
//! [`crate::sanitize`].

use std::fmt;
use std::io::{IsTerminal, StderrLock, StdoutLock, Write};

use aios_proto::{Event, EventKind};

use crate::exit::{self, Exit, Failure};
use crate::sanitize::{sanitize, to_json};
use crate::transcript::stream::{Layout, Out, Sink, Stream};
use crate::transcript::{ColorDepth, Theme, ThemeSet};

/// A writer for plain text: whatever is formatted into it is sanitized on
/// the way out. Use it with `write!`/`writeln!`.
pub(crate) struct Plain<W: Write>(W);

impl<W: Write> Plain<W> {
    /// What `write!` and `writeln!` call: format, sanitize, write.
    pub(crate) fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> std::io::Result<()> {
        match args.as_str() {
            Some(s) => self.0.write_all(sanitize(s).as_bytes()),
            None => self.0.write_all(sanitize(&args.to_string()).as_bytes()),
        }
    }

    /// Flush the underlying stream.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Plain, sanitized text to stdout.
pub(crate) fn stdout() -> Plain<StdoutLock<'static>> {
    Plain(std::io::stdout().lock())
}

/// Plain, sanitized text to stderr.
pub(crate) fn stderr() -> Plain<StderrLock<'static>> {
    Plain(std::io::stderr().lock())
}

/// One `aios: ...` line on stderr (the terminal).
pub(crate) fn say(text: &str) {
    let mut err = stderr();
    let _ = writeln!(err, "aios: {text}");
    let _ = err.flush();
}

/// The terminal itself, for the full-screen TUI ([`crate::tui`]). What it
/// draws comes from transcript cells, whose text was sanitized when it
/// entered them ([`crate::transcript`]); the only escapes are ratatui's.
pub(crate) fn terminal() -> std::io::Stdout {
    std::io::stdout()
}

/// Text already sanitized and styled by [`crate::transcript::ansi`] (the
/// transcript left in the scrollback when the TUI exits).
pub(crate) fn rendered(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Whether the line editor's prompt may use colour (not under `NO_COLOR`
/// nor on a terminal without colour).
pub(crate) fn colour() -> bool {
    ColorDepth::detect() != ColorDepth::None
}

/// Whether stderr (where the prompts go) is a terminal.
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Ask the terminal where the cursor is (`ESC [ 6 n`; the answer comes
/// on stdin): whether the line editor can draw ([`crate::editor::probe`]).
pub(crate) fn query_cursor() {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\x1b[6n");
    let _ = err.flush();
}

/// Erase the line editor's prompt so output can take its place: from the
/// prompt's first row (`rows` above the cursor) to the end of the screen.
/// Only the shell's own escapes are written.
pub(crate) fn erase_prompt(rows: u16) {
    let mut err = std::io::stderr().lock();
    let up = if rows > 0 {
        format!("\x1b[{rows}A")
    } else {
        String::new()
    };
    let _ = write!(err, "\r{up}\x1b[J");
    let _ = err.flush();
}

/// Put `text` on the clipboard of the terminal emulator the user sits at
/// (OSC 52, [`crate::clipboard`]), through tmux and ssh; when stdout is
/// not a terminal, nothing is written.
pub(crate) fn clipboard(text: &str) -> Result<(), crate::clipboard::CopyError> {
    let seq = crate::clipboard::osc52(text)?;
    if std::io::stdout().is_terminal() {
        rendered(&seq);
    }
    Ok(())
}

/// Write to stdout; a closed pipe (`aios -p ... | head`) ends quietly with
/// success, as ripgrep does.
pub(crate) fn write_out(
    out: &mut Plain<impl Write>,
    args: fmt::Arguments<'_>,
) -> Result<(), Failure> {
    match out.write_fmt(args) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::new(
            Exit::Failed,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

/// The theme the line mode and `aios -p` draw with, chosen once from the
/// configuration ([`choose_theme`]); the terminal's default otherwise.
static THEME: std::sync::OnceLock<Theme> = std::sync::OnceLock::new();

/// Draw text output with the configuration's `ui.theme` (as the TUI does:
/// `console-16` on the Linux console unless the user chose; at the
/// terminal's colour depth). Returns why the wanted theme was not used.
pub(crate) fn choose_theme(wanted: Option<&str>) -> Option<String> {
    let dir = aios_config::xdg_config_home().map(|d| d.join("aios/themes"));
    let set = ThemeSet::load(dir.as_deref());
    let term = std::env::var("TERM").ok();
    let (theme, why) = Theme::choose(&set, wanted, ColorDepth::detect(), term.as_deref());
    let _ = THEME.set(theme);
    why
}

fn theme() -> Theme {
    THEME.get().cloned().unwrap_or_else(|| {
        let term = std::env::var("TERM").ok();
        let set = ThemeSet::embedded();
        Theme::choose(&set, None, ColorDepth::detect(), term.as_deref()).0
    })
}

/// The columns of the terminal on `fd`, when it is one and says.
fn columns(fd: std::os::fd::BorrowedFd<'_>) -> Option<u16> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points at a live, correctly typed local.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::TIOCGWINSZ,
            &mut size,
        )
    };
    (r == 0 && size.ws_col > 0).then_some(size.ws_col)
}

/// How text output is laid out on this process's stdout and stderr now:
/// a terminal wraps at its width and is coloured (unless `NO_COLOR`); a
/// pipe gets whole lines and no escapes.
pub(crate) fn layout(depth: ColorDepth) -> Layout {
    use std::os::fd::AsFd;
    let sink = |tty: bool, fd: std::os::fd::BorrowedFd<'_>| {
        if tty {
            Sink {
                width: columns(fd),
                colour: depth != ColorDepth::None,
            }
        } else {
            Sink::PIPE
        }
    };
    let (out, err) = (std::io::stdout(), std::io::stderr());
    let out_tty = out.is_terminal();
    Layout {
        answer: sink(out_tty, out.as_fd()),
        cards: sink(err.is_terminal(), err.as_fd()),
        live: out_tty,
    }
}

/// What an event at the prompt prints ([`Printer::at_prompt`]).
pub(crate) enum AtPrompt {
    /// Nothing (e.g. a replayed session start).
    Nothing,
    /// The event as a JSON line.
    Json(Box<Event>),
    /// The transcript's output for it.
    Text(Vec<Out>),
}

impl AtPrompt {
    /// Whether it prints anything.
    pub(crate) fn shows(&self) -> bool {
        !matches!(self, AtPrompt::Nothing)
    }
}

/// Writes events as text (the transcript's cells) or JSON lines.
pub(crate) struct Printer {
    json: bool,
    stream: Stream,
}

impl Printer {
    /// A printer for `--json` or text (laid out for this process's
    /// stdout and stderr).
    pub(crate) fn new(json: bool) -> Printer {
        let theme = theme();
        let layout = layout(theme.depth());
        Printer {
            json,
            stream: Stream::new(theme, layout),
        }
    }

    /// A request is about to be sent: take the terminal's width now (it
    /// may have been resized since), and do not echo the request.
    pub(crate) fn typed(&mut self, text: &str) {
        let depth = self.stream.transcript().theme().depth();
        self.stream.set_layout(layout(depth));
        self.stream.typed(text);
    }

    /// Print one event.
    pub(crate) fn event(&mut self, e: &Event) -> Result<(), Failure> {
        if self.json {
            let line = to_json(e)
                .map_err(|err| Failure::new(Exit::Failed, format!("cannot encode event: {err}")))?;
            write_out(&mut stdout(), format_args!("{line}\n"))?;
            // A script may only capture stdout; a person watching still
            // needs to see why the request failed.
            if let EventKind::Error {
                message,
                fatal: true,
                ..
            } = &e.kind
            {
                let _ = writeln!(stderr(), "aios: error: {message}");
            }
            return Ok(());
        }
        let outs = self.stream.apply(&e.kind, true);
        write_outs(outs)
    }

    /// Show one event of a call outside a session's stream (e.g. the
    /// approval card of `aios undo`), drawn as the line mode draws it.
    pub(crate) fn show(&mut self, kind: &EventKind) -> Result<(), Failure> {
        let outs = self.stream.apply(kind, false);
        write_outs(outs)
    }

    /// What `/copy` would copy: the newest answer or card.
    pub(crate) fn copy_text(&self) -> Option<(&'static str, String)> {
        self.stream.transcript().copy_text()
    }

    /// End a half-written answer line (text mode).
    pub(crate) fn end_line(&mut self) -> Result<(), Failure> {
        if self.json {
            return Ok(());
        }
        let outs = self.stream.end_line();
        write_outs(outs)
    }

    /// What an event that arrived while the prompt was shown will print,
    /// not written yet ([`Printer::write_at_prompt`]): the line editor
    /// steps aside first, and only when there is something to print.
    pub(crate) fn at_prompt(&mut self, e: &Event) -> AtPrompt {
        if self.json {
            return AtPrompt::Json(Box::new(e.clone()));
        }
        let outs = self.stream.apply(&e.kind, false);
        if outs.is_empty() {
            AtPrompt::Nothing
        } else {
            AtPrompt::Text(outs)
        }
    }

    /// Write what [`Printer::at_prompt`] prepared, on a line of its own
    /// (`after_prompt`: the cursor still stands after a printed prompt);
    /// `true` when it printed anything (the prompt is then shown again).
    pub(crate) fn write_at_prompt(
        &mut self,
        a: AtPrompt,
        after_prompt: bool,
    ) -> Result<bool, Failure> {
        match a {
            AtPrompt::Nothing => Ok(false),
            AtPrompt::Json(e) => {
                self.event(&e)?;
                Ok(true)
            }
            AtPrompt::Text(outs) => {
                if after_prompt {
                    let _ = writeln!(stderr());
                }
                write_outs(outs)?;
                Ok(true)
            }
        }
    }

    /// In JSON mode a failure outside the stream is also a JSON line, so a
    /// script reading stdout sees why the stream ended.
    pub(crate) fn fail(&self, f: Failure) -> Failure {
        if self.json {
            let line = serde_json::json!({
                "type": "error",
                "code": exit::error_code_for(f.code),
                "message": f.message,
                "fatal": true,
            });
            if let Ok(line) = to_json(&line) {
                let _ = writeln!(stdout(), "{line}");
            }
        }
        f
    }
}

/// Write the stream's output as it is: its text was sanitized as it
/// entered the cells, and the escape sequences in it are the stream's own
/// (SGR colours from the theme, and erasing its live line).
fn write_outs(outs: Vec<Out>) -> Result<(), Failure> {
    for o in outs {
        match o {
            Out::Stdout(t) => {
                let mut out = std::io::stdout().lock();
                match out.write_all(t.as_bytes()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
                    Err(e) => {
                        return Err(Failure::new(
                            Exit::Failed,
                            format!("cannot write to stdout: {e}"),
                        ));
                    }
                }
                let _ = out.flush();
            }
            Out::Stderr(t) => {
                let _ = std::io::stderr().lock().write_all(t.as_bytes());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_sanitized_as_a_whole() {
        let mut buf = Plain(Vec::new());
        let name = "evil\x1b]52;c;aGk=\x07\u{9b}2J";
        writeln!(buf, "aios: cannot open {name}").unwrap();
        write!(buf, "literal \x1b[2J").unwrap();
        let text = String::from_utf8(buf.0).unwrap();
        assert_eq!(
            text,
            "aios: cannot open evil␛]52;c;aGk=␇\\u{9b}2J\nliteral ␛[2J"
        );
    }

    /// The guarantee that no text bypasses the sanitizer rests on this
    /// module being the only one that writes to stdout or stderr.
    #[test]
    fn only_the_printer_touches_stdout_and_stderr() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut files = Vec::new();
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name == "printer.rs" || !name.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in ["io::stdout()", "io::stderr()", "print!(", "println!("] {
                if text.contains(needle) {
                    offenders.push(format!("{name}: {needle}"));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "write through crate::printer instead: {offenders:?}"
        );
    }
}

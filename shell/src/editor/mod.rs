//! The interactive line mode's editor: a `reedline` prompt with the
//! history the TUI keeps ([`history`], Up/Down and Ctrl-R over the same
//! SQLite rows) and Tab completion of the `/` commands from their one
//! table ([`complete`]).
//!
//! `reedline` blocks while a prompt is up, so it runs on a thread of its
//! own; the async side asks for one line at a time ([`Editor::recv`]) and
//! gets it over a channel, as the plain reader's lines come
//! ([`crate::input::Lines`]).
//!
//! Output never crosses a drawn prompt. Before the session prints
//! anything while a prompt may be up, it calls [`Editor::quiet`]: the
//! editor steps aside (the prompt's rows are erased, what was typed is
//! kept), the output goes out, and the next [`Editor::recv`] draws the
//! prompt again below it, with the same text. To step aside, the thread
//! blocked in `read_line` must wake: the shell raises `SIGWINCH`, which
//! crossterm turns into a resize event, and our edit mode turns that one
//! resize (only when a step aside was asked) into an exit from `read_line`.
//! An idle editor therefore blocks in `read` with no timer: no CPU. We do
//! not use reedline's `external_printer`: it polls every 100 ms, and its
//! queued output moved the prompt in ways the next cursor query undid,
//! wiping the screen after a reconnect.

mod complete;
pub mod history;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossterm::event::Event;
use reedline::{
    ColumnarMenu, EditCommand, EditMode, Emacs, KeyCode, KeyModifiers, MenuBuilder, Prompt,
    PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus, Reedline, ReedlineEvent,
    ReedlineMenu, ReedlineRawEvent, Signal, SimpleMatchHighlighter, default_emacs_keybindings,
};
use tokio::sync::mpsc;

use crate::exit::{Exit, Failure};
use crate::input::Line;

pub use complete::Names;

/// The prompt of the line mode.
pub const PROMPT: &str = "aios> ";

/// Which editor a prompt uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A request: history, completion.
    Request,
    /// An answer to a question (an approval): neither.
    Question,
}

/// One line asked of the editor thread.
struct Ask {
    prompt: String,
    kind: Kind,
}

/// What the editor thread answers.
enum Reply {
    /// The user ended a line (or pressed Ctrl-C or Ctrl-D).
    Line(Line),
    /// The prompt stepped aside, as asked; what was typed is kept.
    Aside,
}

/// Whether the interactive line mode can draw the editor here: stdin and
/// stderr are terminals and `TERM` is one that can move the cursor.
pub fn wanted() -> bool {
    use std::io::IsTerminal;
    let term = std::env::var("TERM").unwrap_or_default();
    std::io::stdin().is_terminal()
        && crate::printer::stderr_is_terminal()
        && !term.is_empty()
        && term != "dumb"
}

/// What [`probe`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The terminal answered a cursor position query, so the editor can
    /// draw on it.
    pub answered: bool,
    /// The cursor stood on the screen's top row. A prompt there is redrawn
    /// with "clear from the top-left down", which tmux (`scroll-on-clear`)
    /// and some terminals take for clearing the screen, copying it into
    /// the scrollback at every keystroke; the line mode then starts a row
    /// lower.
    pub top_row: bool,
    /// Bytes typed meanwhile (a typed-ahead line), for the plain reader;
    /// carriage returns read as newlines.
    pub typed: Vec<u8>,
}

/// Ask the terminal where the cursor is, as reedline will at every prompt,
/// and wait up to `timeout` for the answer. A terminal emulator answers at
/// once (over ssh, within a round trip); a bare pseudo-terminal with a
/// script at the other end (`ssh -tt` fed from a file, a test) never does,
/// and then the plain reader is used.
pub fn probe(timeout: std::time::Duration) -> Probe {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::termios::{self, SetArg};
    use std::io::Read;
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let Ok(saved) = termios::tcgetattr(fd) else {
        return Probe::default();
    };
    // An unbuffered handle: nothing read here is kept from the editor.
    let Ok(mut tty) = fd.try_clone_to_owned().map(std::fs::File::from) else {
        return Probe::default();
    };
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    if termios::tcsetattr(fd, SetArg::TCSANOW, &raw).is_err() {
        return Probe::default();
    }
    crate::printer::query_cursor();
    let deadline = std::time::Instant::now() + timeout;
    let mut got = Vec::new();
    let mut answered = false;
    let mut top_row = false;
    while !answered {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
        let mut buf = [0u8; 256];
        match tty.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if let Some(row) = cursor_report(&mut got) {
            answered = true;
            top_row = row <= 1;
        }
    }
    let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &saved);
    let typed = got
        .into_iter()
        .map(|b| if b == b'\r' { b'\n' } else { b })
        .collect();
    Probe {
        answered,
        top_row,
        typed,
    }
}

/// The row of a cursor position report (`ESC [ row ; col R`) in `got`,
/// if it holds one; the report is taken out, leaving what was typed
/// around it.
fn cursor_report(got: &mut Vec<u8>) -> Option<u16> {
    let mut i = 0;
    while i + 1 < got.len() {
        if got[i] == 0x1b && got[i + 1] == b'[' {
            let body = &got[i + 2..];
            let n = body
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b';')
                .count();
            if n > 0 && body.get(n) == Some(&b'R') && body[..n].contains(&b';') {
                let row = std::str::from_utf8(&body[..n])
                    .ok()
                    .and_then(|t| t.split(';').next())
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                got.drain(i..i + 2 + n + 1);
                return Some(row);
            }
        }
        i += 1;
    }
    None
}

/// What the editor reads from: the history file and the names Tab
/// completes.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The history database (`crate::history::path`).
    pub history_file: PathBuf,
    /// Tool and theme names, filled in when known.
    pub names: Arc<Mutex<Names>>,
    /// Whether the prompt may use colour.
    pub colour: bool,
}

/// The async side of the editor thread.
#[derive(Debug)]
pub struct Editor {
    asks: std::sync::mpsc::Sender<Ask>,
    replies: mpsc::UnboundedReceiver<Reply>,
    /// Set to ask the prompt to step aside.
    wake: Arc<AtomicBool>,
    /// A request is with the thread and not answered yet.
    outstanding: Option<(String, Kind)>,
    /// The prompt the next line is read with.
    next: (String, Kind),
    /// A line that ended while the prompt was asked to step aside.
    held: Option<Line>,
}

impl std::fmt::Debug for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ask({:?}, {:?})", self.prompt, self.kind)
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Line(l) => write!(f, "Line({l:?})"),
            Reply::Aside => write!(f, "Aside"),
        }
    }
}

impl Editor {
    /// Start the editor thread. Nothing is drawn until the first
    /// [`Editor::recv`].
    pub fn start(setup: Setup) -> Result<Editor, Failure> {
        let (asks, asked) = std::sync::mpsc::channel::<Ask>();
        let (tx, replies) = mpsc::unbounded_channel();
        let wake = Arc::new(AtomicBool::new(false));
        let woken = wake.clone();
        // A plain thread, not `spawn_blocking`: a prompt still up at exit
        // must not hold up the runtime's shutdown.
        std::thread::Builder::new()
            .name("aios-editor".into())
            .spawn(move || serve(&setup, &asked, &tx, &woken))
            .map_err(|e| {
                Failure::new(Exit::Failed, format!("cannot start the line editor: {e}"))
            })?;
        Ok(Editor {
            asks,
            replies,
            wake,
            outstanding: None,
            next: (PROMPT.to_string(), Kind::Request),
            held: None,
        })
    }

    /// The next line is a request, read at [`PROMPT`].
    pub fn prompt_request(&mut self) {
        self.next = (PROMPT.to_string(), Kind::Request);
    }

    /// The next line answers a question, read at `text`.
    pub fn prompt_question(&mut self, text: &str) {
        self.next = (text.to_string(), Kind::Question);
    }

    /// The next line, read at the prompt set last. Cancel-safe: dropped in
    /// a `select!`, the prompt stays up and its line is returned by the
    /// next call.
    pub async fn recv(&mut self) -> Line {
        if let Some(line) = self.held.take() {
            return line;
        }
        loop {
            match &self.outstanding {
                // Another prompt is up (a question that expired): it steps
                // aside for this one.
                Some(drawn) if *drawn != self.next => {
                    self.quiet().await;
                    if let Some(line) = self.held.take() {
                        return line;
                    }
                    continue;
                }
                Some(_) => {}
                None => {
                    let (prompt, kind) = self.next.clone();
                    if self.asks.send(Ask { prompt, kind }).is_err() {
                        return Line::Eof;
                    }
                    self.outstanding = Some(self.next.clone());
                }
            }
            match self.replies.recv().await {
                None => {
                    self.outstanding = None;
                    return Line::Eof;
                }
                // Stepped aside for output after all: draw it again.
                Some(Reply::Aside) => self.outstanding = None,
                Some(Reply::Line(line)) => {
                    self.outstanding = None;
                    return line;
                }
            }
        }
    }

    /// Make sure no prompt is drawn, so output can be written: a prompt
    /// that is up steps aside (what was typed is kept for the next
    /// [`Editor::recv`]). A line ended meanwhile is kept for the next
    /// [`Editor::recv`] too.
    pub async fn quiet(&mut self) {
        if self.outstanding.is_none() {
            return;
        }
        self.wake.store(true, Ordering::SeqCst);
        let reply = loop {
            // crossterm reads SIGWINCH as a resize; our edit mode turns it
            // into leaving `read_line` since `wake` is set. Raised again
            // while no answer comes (a signal that arrived before the
            // thread read it is not lost, but one never hurts).
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGWINCH);
            tokio::select! {
                r = self.replies.recv() => break r,
                () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            }
        };
        match reply {
            Some(Reply::Aside) | None => {}
            Some(Reply::Line(line)) => {
                // The line ended first; the resize is then an ordinary one.
                self.wake.store(false, Ordering::SeqCst);
                self.held = Some(line);
            }
        }
        self.outstanding = None;
    }
}

/// How many times in a row the editor tries to read one line before the
/// error ends the line mode.
const READ_ATTEMPTS: u32 = 3;

/// The editor thread: one `read_line` per ask.
fn serve(
    setup: &Setup,
    asked: &std::sync::mpsc::Receiver<Ask>,
    replies: &mpsc::UnboundedSender<Reply>,
    wake: &Arc<AtomicBool>,
) {
    // crossterm's event source (and with it the SIGWINCH handler) exists
    // from now on, so a wake-up is never lost.
    let _ = crossterm::event::poll(std::time::Duration::ZERO);
    let stepped = Arc::new(AtomicBool::new(false));
    let mut request = request_editor(setup, wake, &stepped, None);
    let mut question = question_editor(setup, wake, &stepped, None);
    while let Ok(ask) = asked.recv() {
        let prompt = Text(&ask.prompt);
        let editor = match ask.kind {
            Kind::Request => &mut request,
            Kind::Question => &mut question,
        };
        let mut failed = 0;
        let read = loop {
            stepped.store(false, Ordering::SeqCst);
            match editor.read_line(&prompt) {
                // reedline asks the terminal where the cursor is and gives
                // up after 2 s: a loaded machine or a slow ssh link can miss
                // that once, and losing the shell for it would be wrong. A
                // terminal that is gone fails every time and ends below.
                Err(_) if failed < READ_ATTEMPTS - 1 => failed += 1,
                other => break other,
            }
        };
        let reply = match read {
            Ok(Signal::Success(_)) if stepped.swap(false, Ordering::SeqCst) => {
                let text = editor.current_buffer_contents().to_string();
                let at = editor.current_insertion_point();
                let rows = rows_above(&ask.prompt, text.get(..at).unwrap_or(&text), width());
                crate::printer::erase_prompt(rows);
                // A new editor, so the prompt is drawn afresh below the
                // output (reedline would reuse the old rows), with the
                // same text at the same place.
                let keep = Some((text, at));
                match ask.kind {
                    Kind::Request => request = request_editor(setup, wake, &stepped, keep),
                    Kind::Question => question = question_editor(setup, wake, &stepped, keep),
                }
                Reply::Aside
            }
            Ok(Signal::Success(text)) => Reply::Line(Line::Text(text)),
            Ok(Signal::CtrlC) => Reply::Line(Line::Interrupt),
            Ok(Signal::CtrlD) => Reply::Line(Line::Eof),
            Err(e) => Reply::Line(Line::Error(e.to_string())),
        };
        let last = matches!(reply, Reply::Line(Line::Error(_)));
        if replies.send(reply).is_err() || last {
            return;
        }
    }
}

/// The terminal's width in columns (80 when unknown).
fn width() -> u16 {
    match crossterm::terminal::size() {
        Ok((w, _)) if w > 0 => w,
        _ => 80,
    }
}

/// How many rows above the cursor the prompt starts, when the cursor
/// stands after `before` (the text before it) at `prompt`, wrapped at
/// `width` columns (as reedline lays it out).
pub fn rows_above(prompt: &str, before: &str, width: u16) -> u16 {
    use unicode_width::UnicodeWidthStr;
    let width = usize::from(width.max(1));
    let text = format!("{prompt}{before}");
    let mut rows = 0usize;
    for line in text.split('\n') {
        let w = line.width();
        rows += w.div_ceil(width).max(1);
    }
    // The cursor stands on the last row; after a line that exactly fills
    // the width it stays on that row until more is written.
    u16::try_from(rows.saturating_sub(1)).unwrap_or(u16::MAX)
}

/// The editor of requests: history, completion, Emacs keys.
fn request_editor(
    setup: &Setup,
    wake: &Arc<AtomicBool>,
    stepped: &Arc<AtomicBool>,
    keep: Option<(String, usize)>,
) -> Reedline {
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu(MENU.to_string()),
            ReedlineEvent::MenuNext,
        ]),
    );
    let menu = ColumnarMenu::default().with_name(MENU);
    let editor = Reedline::create()
        .with_history(Box::new(history::Shared::open(&setup.history_file)))
        .with_completer(Box::new(complete::Slash::new(setup.names.clone())))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)));
    finish(editor, setup, Emacs::new(keys), wake, stepped, keep)
}

/// The editor of answers: no history, no completion.
fn question_editor(
    setup: &Setup,
    wake: &Arc<AtomicBool>,
    stepped: &Arc<AtomicBool>,
    keep: Option<(String, usize)>,
) -> Reedline {
    let editor = Reedline::create().with_history(Box::new(history::Shared::none()));
    finish(editor, setup, Emacs::default(), wake, stepped, keep)
}

fn finish(
    editor: Reedline,
    setup: &Setup,
    keys: Emacs,
    wake: &Arc<AtomicBool>,
    stepped: &Arc<AtomicBool>,
    keep: Option<(String, usize)>,
) -> Reedline {
    let mut editor = editor
        .with_edit_mode(Box::new(Wakeable {
            inner: keys,
            wake: wake.clone(),
            stepped: stepped.clone(),
        }))
        // What the user types is shown as typed (reedline's example
        // highlighter would colour words of its own choosing).
        .with_highlighter(Box::new(SimpleMatchHighlighter::default()))
        .with_ansi_colors(setup.colour)
        .use_bracketed_paste(true);
    if let Some((text, at)) = keep {
        editor.run_edit_commands(&[
            EditCommand::InsertString(text),
            EditCommand::MoveToPosition {
                position: at,
                select: false,
            },
        ]);
    }
    editor
}

/// The completion menu's name.
const MENU: &str = "completion_menu";

/// Emacs keys, plus: a resize while a step aside is asked leaves
/// `read_line` (see the module doc).
struct Wakeable {
    inner: Emacs,
    wake: Arc<AtomicBool>,
    stepped: Arc<AtomicBool>,
}

impl EditMode for Wakeable {
    fn parse_event(&mut self, event: ReedlineRawEvent) -> ReedlineEvent {
        let event: Event = event.into();
        if matches!(event, Event::Resize(..)) && self.wake.swap(false, Ordering::SeqCst) {
            self.stepped.store(true, Ordering::SeqCst);
            return ReedlineEvent::ExecuteHostCommand(String::new());
        }
        match ReedlineRawEvent::try_from(event) {
            Ok(e) => self.inner.parse_event(e),
            Err(()) => ReedlineEvent::None,
        }
    }

    fn edit_mode(&self) -> PromptEditMode {
        self.inner.edit_mode()
    }
}

/// A prompt that is exactly its text.
struct Text<'a>(&'a str);

impl Prompt for Text<'_> {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.0)
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failed = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failing ",
        };
        Cow::Owned(format!("({failed}search: {}) ", search.term))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_report_is_taken_out_of_what_was_typed() {
        let mut got = b"ab\x1b[12;40Rcd".to_vec();
        assert_eq!(cursor_report(&mut got), Some(12));
        assert_eq!(got, b"abcd");
        let mut typed = b"hello\x1b[A".to_vec();
        assert_eq!(cursor_report(&mut typed), None);
        assert_eq!(typed, b"hello\x1b[A");
    }

    #[test]
    fn the_rows_above_count_wraps_and_newlines() {
        assert_eq!(rows_above(PROMPT, "", 80), 0);
        assert_eq!(rows_above(PROMPT, "list the files", 80), 0);
        // 6 + 74 = 80 columns: still one row.
        assert_eq!(rows_above(PROMPT, &"x".repeat(74), 80), 0);
        assert_eq!(rows_above(PROMPT, &"x".repeat(75), 80), 1);
        assert_eq!(rows_above(PROMPT, "one\ntwo", 80), 1);
        assert_eq!(rows_above(PROMPT, "one\n", 80), 1);
        assert_eq!(rows_above(PROMPT, &"x".repeat(200), 40), 5);
    }
}

//! The transcript as a stream of text: how the line mode and `aios -p`
//! show a conversation. Events go into the same [`Transcript`] the TUI
//! draws, and the rows its cells draw ([`Cell::display_lines`]) are
//! written out as they become final, so there is one renderer per cell
//! kind and no second formatter.
//!
//! Text on a terminal cannot be redrawn the way a screen can, so only
//! final rows are written:
//! - a cell's rows are written once; a cell that grows (a tool card's
//!   output, an answer's lines) writes the rows it gained;
//! - rows that may still change are held back: a running tool card's
//!   status row, an approval card's keys (the line mode asks at its own
//!   prompt), the open answer's unfinished table or code block, and every
//!   cell's separator until the cell is done;
//! - the answer's unfinished line (held back in the transcript until its
//!   newline) is shown *live* on a terminal: written as it grows, and
//!   erased and replaced by its final rows when it completes, so a long
//!   paragraph streams instead of appearing at once. Without a terminal
//!   (a pipe) it is written when complete.
//!
//! The answer goes to stdout and everything else to stderr, so
//! `aios -p "..." > answer.txt` captures only the answer.
//!
//! Pure: events in, text out ([`Out`]); tested with snapshots.

use aios_proto::EventKind;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::cell::Cell;
use super::theme::Theme;
use super::{Transcript, ansi, markdown};
use crate::sanitize::sanitize;

/// Where a piece of output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// The answer.
    Stdout(String),
    /// Cards, notes and diagnostics.
    Stderr(String),
}

/// How one of the two outputs is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sink {
    /// Columns to wrap at; `None` (a pipe, or a terminal of unknown size)
    /// does not wrap, so a consumer gets whole lines.
    pub width: Option<u16>,
    /// Whether styles are written as SGR colour codes.
    pub colour: bool,
}

impl Sink {
    /// A pipe: no wrapping, no colour.
    pub const PIPE: Sink = Sink {
        width: None,
        colour: false,
    };

    fn columns(self) -> u16 {
        self.width.filter(|w| *w > 0).unwrap_or(u16::MAX)
    }
}

/// The two outputs and whether the answer's unfinished line is shown live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Where the answer goes (stdout).
    pub answer: Sink,
    /// Where cards and notes go (stderr).
    pub cards: Sink,
    /// stdout is a terminal: the unfinished line is drawn and redrawn.
    pub live: bool,
}

impl Default for Layout {
    /// Both outputs are pipes.
    fn default() -> Layout {
        Layout {
            answer: Sink::PIPE,
            cards: Sink::PIPE,
            live: false,
        }
    }
}

/// A transcript written out as text.
#[derive(Debug)]
pub struct Stream {
    transcript: Transcript,
    layout: Layout,
    /// Rows written per cell.
    written: Vec<usize>,
    /// Every cell before this one is done and fully written.
    done: usize,
    /// The live rows on the terminal now (the answer's unfinished line);
    /// the cursor sits at the end of the last one.
    live: Vec<Line<'static>>,
    /// A request this shell sent: its user cell is not echoed (the user
    /// typed it, or gave it with `-p`); replayed requests are shown.
    typed: Option<String>,
    /// How far the open answer is written: (cell, lines). Its final lines
    /// are laid out once each, a block at a time, instead of the whole
    /// cell again at every line (which would cost the square of its
    /// length).
    answer_at: Option<(usize, usize)>,
}

impl Stream {
    /// An empty stream drawing with `theme`.
    pub fn new(theme: Theme, layout: Layout) -> Stream {
        let mut transcript = Transcript::new(theme);
        // Folded output cannot be unfolded in a terminal's scrollback.
        transcript.expand_tools = true;
        Stream {
            transcript,
            layout,
            written: Vec::new(),
            done: 0,
            live: Vec::new(),
            typed: None,
            answer_at: None,
        }
    }

    /// Lay out from now on with `layout` (e.g. the terminal was resized
    /// between two requests). Rows already written stay as they are.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The transcript behind the stream.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// This shell is sending `text` as a request: do not echo it back.
    pub fn typed(&mut self, text: &str) {
        self.typed = Some(sanitize(text).into_owned());
    }

    /// Feed one event; what to write. With `live` off (e.g. the event
    /// arrived while a prompt is shown) the unfinished line is not drawn.
    pub fn apply(&mut self, kind: &EventKind, live: bool) -> Vec<Out> {
        self.transcript.apply(kind);
        self.write(live)
    }

    /// End the answer's unfinished line: it is written as final, e.g.
    /// before saying that the turn broke off.
    pub fn end_line(&mut self) -> Vec<Out> {
        self.transcript.flush_tail();
        self.write(false)
    }

    /// What the cells gained since the last call, and the live line.
    fn write(&mut self, live: bool) -> Vec<Out> {
        let mut finals: Vec<Out> = Vec::new();
        let n = self.transcript.entries.len();
        self.written.resize(n, 0);
        for i in self.done..n {
            let sink = self.sink_of(i);
            let width = sink.columns();
            if let Some(t) = &self.typed
                && self.written[i] == 0
                && matches!(&self.transcript.entries[i].cell, Cell::User { text } if text == t)
            {
                self.typed = None;
                self.written[i] = self.transcript.rows(i, width).len();
                continue;
            }
            if self.transcript.open_answer == Some(i) {
                if let Some(text) = self.answer_lines(i, width, sink.colour) {
                    push(&mut finals, true, text);
                }
                continue;
            }
            let held = self.held(i);
            let rows = self.transcript.rows(i, width);
            let stable = rows.len().saturating_sub(held);
            let from = self.written[i];
            if from < stable {
                let text = ansi::to_text(&rows[from..stable], sink.colour);
                push(&mut finals, self.is_answer(i), text);
                self.written[i] = stable;
            }
        }
        while self.done < n && self.finished(self.done) {
            self.done += 1;
        }
        let want = if live && self.layout.live {
            self.live_rows()
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        if finals.is_empty() && self.live.is_empty() && want.is_empty() {
            return out;
        }
        let colour = self.layout.answer.colour;
        match (finals.is_empty(), extension(&self.live, &want)) {
            // Only the live line grew: write what it gained.
            (true, Some(gain)) => {
                if !gain.is_empty() {
                    out.push(Out::Stdout(live_text(&gain, colour)));
                }
            }
            _ => {
                if !self.live.is_empty() {
                    out.push(Out::Stdout(erase(self.live.len())));
                }
                out.extend(finals);
                if !want.is_empty() {
                    out.push(Out::Stdout(live_text(&want, colour)));
                }
            }
        }
        self.live = want;
        out
    }

    /// The answer goes to stdout; everything else to stderr.
    fn is_answer(&self, i: usize) -> bool {
        matches!(self.transcript.entries[i].cell, Cell::Assistant { .. })
    }

    fn sink_of(&self, i: usize) -> Sink {
        if self.is_answer(i) {
            self.layout.answer
        } else {
            self.layout.cards
        }
    }

    /// The open answer `i`'s lines that became final since the last call
    /// (up to its unfinished table or code block), laid out on their own:
    /// an answer's rows are its blocks' rows in order, so the rows of the
    /// lines from one block boundary to the next are the same as in the
    /// whole cell's layout. The separator waits until the answer closes.
    fn answer_lines(&mut self, i: usize, width: u16, colour: bool) -> Option<String> {
        let Cell::Assistant { lines } = &self.transcript.entries[i].cell else {
            return None;
        };
        let at = match self.answer_at {
            Some((cell, at)) if cell == i => at,
            _ => 0,
        };
        let to = markdown::open_block(lines).max(at);
        if to == at {
            return None;
        }
        let theme = self.transcript.theme();
        let rows = markdown::render(&lines[at..to], theme, usize::from(width));
        self.answer_at = Some((i, to));
        self.written[i] += rows.len();
        Some(ansi::to_text(&rows, colour))
    }

    /// How many of cell `i`'s last rows are not final yet (the open
    /// answer is written by [`Stream::answer_lines`]).
    fn held(&self, i: usize) -> usize {
        match &self.transcript.entries[i].cell {
            // The status row ("running") and the separator.
            Cell::Tool(t) if t.end.is_none() => 2,
            // The keys and the separator: the line mode asks at its own
            // prompt, and the TUI's decision is not known here.
            Cell::Approval(a) if a.outcome.is_none() => 2,
            _ => 0,
        }
    }

    /// Cell `i` is written in full and will not change.
    fn finished(&mut self, i: usize) -> bool {
        let width = self.sink_of(i).columns();
        let open = match &self.transcript.entries[i].cell {
            Cell::Tool(t) => t.end.is_none(),
            Cell::Approval(a) => a.outcome.is_none() && self.written[i] == 0,
            Cell::Assistant { .. } => self.transcript.open_answer == Some(i),
            _ => false,
        };
        if open {
            return false;
        }
        // An undecided approval card keeps its keys row unwritten.
        let held = self.held(i);
        self.written[i] + held >= self.transcript.rows(i, width).len()
    }

    /// The answer's unfinished line as rows, when it can be shown now (not
    /// inside a code block or table still being written).
    fn live_rows(&self) -> Vec<Line<'static>> {
        if let Some(i) = self.transcript.open_answer
            && let Cell::Assistant { lines } = &self.transcript.entries[i].cell
            && markdown::open_block(lines) < lines.len()
        {
            return Vec::new();
        }
        self.transcript.live_rows(self.layout.answer.columns())
    }
}

/// Append `text` to the last output when it goes to the same place.
fn push(out: &mut Vec<Out>, answer: bool, text: String) {
    match (out.last_mut(), answer) {
        (Some(Out::Stdout(s)), true) | (Some(Out::Stderr(s)), false) => s.push_str(&text),
        _ if answer => out.push(Out::Stdout(text)),
        _ => out.push(Out::Stderr(text)),
    }
}

/// One styled character of a row.
fn flat(line: &Line<'static>) -> Vec<(char, Style)> {
    line.spans
        .iter()
        .flat_map(|s| {
            let style = line.style.patch(s.style);
            s.content.chars().map(move |c| (c, style))
        })
        .collect()
}

/// When `new` only adds to `old` (same rows, the last one longer, maybe
/// more rows), what it adds, as text to write after `old`; `None` when
/// `old` must be erased and `new` written whole.
fn extension(old: &[Line<'static>], new: &[Line<'static>]) -> Option<Vec<Line<'static>>> {
    if old.is_empty() || new.len() < old.len() {
        return old.is_empty().then(Vec::new).filter(|_| new.is_empty());
    }
    let last = old.len() - 1;
    if old[..last] != new[..last] {
        return None;
    }
    let (was, now) = (flat(&old[last]), flat(&new[last]));
    if now.len() < was.len() || now[..was.len()] != was[..] {
        return None;
    }
    let mut gain = vec![styled(&now[was.len()..])];
    gain.extend(new[old.len()..].iter().cloned());
    if gain.len() == 1 && gain[0].spans.is_empty() {
        gain.clear();
    }
    Some(gain)
}

fn styled(cells: &[(char, Style)]) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    for (c, style) in cells {
        match spans.last_mut() {
            Some(s) if s.style == *style => s.content.to_mut().push(*c),
            _ => spans.push(Span::styled(c.to_string(), *style)),
        }
    }
    Line::from(spans)
}

/// Live rows as text: the first continues the cursor's row, the others
/// start rows of their own, and no newline ends the last one (the cursor
/// stays after it, to be erased from there).
fn live_text(rows: &[Line<'static>], colour: bool) -> String {
    rows.iter()
        .map(|r| ansi::row_text(r, colour))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Erase `rows` live rows, the cursor being at the end of the last: to
/// the start of the first, then clear to the end of the screen.
fn erase(rows: usize) -> String {
    match rows {
        0 => String::new(),
        1 => "\r\x1b[J".to_string(),
        n => format!("\r\x1b[{}A\x1b[J", n - 1),
    }
}

/// One cell drawn as text on its own (e.g. `aios undo`'s approval card),
/// at `sink`'s width and colours.
pub fn cell_text(cell: &Cell, theme: &Theme, sink: Sink) -> String {
    ansi::to_text(&cell.display_lines(sink.columns(), theme), sink.colour)
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;

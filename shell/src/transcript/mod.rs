//! The transcript: the one view model of a conversation. Session events
//! go in ([`Transcript::apply`]); immutable-looking [`Cell`]s come out,
//! each drawing itself at a width. The full-screen TUI draws the visible
//! rows from here, and on exit the whole transcript is printed to the
//! terminal's scrollback from the same cells ([`ansi`]).
//!
//! Pure: no I/O, so it is tested directly, with snapshots at several
//! widths.
//!
//! - Streaming: assistant text is committed line by line; the unfinished
//!   tail is held back until its newline, the end of the model's reply
//!   (its `Usage`) or something else shown, so nothing flickers or is
//!   drawn twice.
//! - Virtualised: rows are laid out per cell and cached per width; the
//!   visible window is found walking back from the end, so a frame costs
//!   the rows on screen, not the length of the session. The answer being
//!   streamed keeps the rows of its finished blocks when a line is added
//!   and lays out only what is new ([`Layout`]), so a long answer costs
//!   linear time, as in the line mode's [`stream`].
//! - Untrusted text (model output, tool output, arguments, errors) is
//!   sanitized as it enters a cell.

pub mod ansi;
pub mod cell;
pub mod color;
pub mod highlight;
pub mod markdown;
pub mod stream;
pub mod table;
pub mod theme;
pub mod themes;
pub mod wrap;

use std::collections::HashMap;

use aios_proto::{ApprovalNeeded, EventKind, TurnStatus};
use ratatui::text::Line;

use crate::sanitize::sanitize;
pub use cell::{ApprovalCard, Cell, Level, ToolCard};
pub use theme::{ColorDepth, Glyphs, Role, Theme};
pub use themes::{ThemeError, ThemeSet};

/// Totals for the status bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// The provider of the last model call (or the session's).
    pub provider: String,
    /// The model of the last model call (or the session's).
    pub model: String,
    /// Input tokens in this session.
    pub input_tokens: u64,
    /// Output tokens in this session.
    pub output_tokens: u64,
    /// Cost in USD, when the provider reports one.
    pub cost_usd: Option<f64>,
    /// Latency of the last model call.
    pub latency_ms: u64,
    /// Why the last model call went where it did (the gateway's route
    /// reason, e.g. "configured default", "fallback after 429 from …").
    pub route: String,
}

#[derive(Debug)]
struct Entry {
    cell: Cell,
    /// Rows at one width.
    cache: Option<Layout>,
}

/// A cell's rows at one width.
///
/// For an answer, its source lines up to `settled_lines` are whole blocks
/// (no open code block or table among them), and they lay out as
/// `rows[..settled_rows]` whatever follows: an answer's rows are its
/// blocks' rows in order ([`markdown::open_block`]). A line appended to the
/// answer marks the layout `grown`; the next use keeps the settled rows and
/// lays out only the lines after them.
#[derive(Debug)]
struct Layout {
    width: u16,
    rows: Vec<Line<'static>>,
    settled_lines: usize,
    settled_rows: usize,
    /// Lines were appended since `rows` were made.
    grown: bool,
}

/// A conversation's cells plus the streaming state.
#[derive(Debug)]
pub struct Transcript {
    theme: Theme,
    entries: Vec<Entry>,
    /// Assistant text after the last newline.
    tail: String,
    /// The assistant cell being streamed into.
    open_answer: Option<usize>,
    /// Tool cards by call id.
    tools: HashMap<String, usize>,
    /// The current turn's plan cell.
    plan: Option<usize>,
    /// A turn is running.
    pub running: bool,
    /// Status-bar totals.
    pub totals: Totals,
    /// New tool cards start expanded (the line mode cannot unfold them).
    pub expand_tools: bool,
    /// Rows laid out so far (see `take_laid_out`).
    #[cfg(test)]
    laid_out: usize,
}

impl Transcript {
    /// An empty transcript drawn with `theme`.
    pub fn new(theme: Theme) -> Transcript {
        Transcript {
            theme,
            entries: Vec::new(),
            tail: String::new(),
            open_answer: None,
            tools: HashMap::new(),
            plan: None,
            running: false,
            totals: Totals::default(),
            expand_tools: false,
            #[cfg(test)]
            laid_out: 0,
        }
    }

    /// The theme cells are drawn with.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// Draw with `theme` from now on (every cached row is dropped).
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.restyle();
    }

    /// Drop every cached row, so cells are laid out again: a language
    /// warmed in the background ([`highlight::in_background`]) is drawn
    /// highlighted from now on.
    pub fn restyle(&mut self) {
        for e in &mut self.entries {
            e.cache = None;
        }
    }

    /// How many rows were laid out since the transcript was made (or this
    /// was last called): what a frame or an event cost in layout. Tests
    /// use it to check that streaming does not lay the answer out again.
    #[cfg(test)]
    fn take_laid_out(&mut self) -> usize {
        std::mem::take(&mut self.laid_out)
    }

    /// The cells, oldest first.
    pub fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.entries.iter().map(|e| &e.cell)
    }

    /// How many cells there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing has been shown yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Add a cell (the shell's own notes use this too).
    pub fn push(&mut self, cell: Cell) -> usize {
        self.entries.push(Entry { cell, cache: None });
        self.entries.len() - 1
    }

    /// Change cell `i` in place and drop its cached rows.
    fn edit(&mut self, i: usize, f: impl FnOnce(&mut Cell)) {
        if let Some(e) = self.entries.get_mut(i) {
            f(&mut e.cell);
            e.cache = None;
        }
    }

    /// A shell note.
    pub fn note(&mut self, level: Level, text: &str) {
        self.flush_tail();
        self.push(Cell::Notice {
            level,
            text: sanitize(text).into_owned(),
        });
    }

    /// Commit the held-back tail of the answer as a line of its own.
    pub fn flush_tail(&mut self) {
        if !self.tail.is_empty() {
            let line = std::mem::take(&mut self.tail);
            self.append_answer_line(line);
        }
        self.open_answer = None;
    }

    fn append_answer_line(&mut self, line: String) {
        match self.open_answer {
            // Not `edit`: the settled rows stay valid, only the new line
            // (and the block it belongs to) is laid out again.
            Some(i) => {
                if let Some(e) = self.entries.get_mut(i)
                    && let Cell::Assistant { lines } = &mut e.cell
                {
                    lines.push(line);
                    if let Some(l) = &mut e.cache {
                        l.grown = true;
                    }
                }
            }
            None => {
                let i = self.push(Cell::Assistant { lines: vec![line] });
                self.open_answer = Some(i);
            }
        }
    }

    /// Feed one session event.
    pub fn apply(&mut self, kind: &EventKind) {
        match kind {
            EventKind::SessionStarted {
                provider, model, ..
            } => {
                self.totals.provider = sanitize(provider).into_owned();
                self.totals.model = sanitize(model).into_owned();
            }
            EventKind::TurnStarted { input, .. } => {
                self.flush_tail();
                self.running = true;
                self.plan = None;
                self.push(Cell::User {
                    text: sanitize(input).into_owned(),
                });
            }
            EventKind::AssistantDelta { text, .. } => {
                self.tail.push_str(&sanitize(text));
                while let Some(nl) = self.tail.find('\n') {
                    let line: String = self.tail.drain(..=nl).collect();
                    let line = line.trim_end_matches('\n').to_string();
                    self.append_answer_line(line);
                }
            }
            EventKind::PlanProposed { steps, .. } => {
                self.flush_tail();
                let steps = steps
                    .iter()
                    .map(|s| (sanitize(s).into_owned(), aios_proto::StepStatus::Pending))
                    .collect();
                self.plan = Some(self.push(Cell::Plan { steps }));
            }
            EventKind::StepUpdate { index, status, .. } => {
                if let Some(p) = self.plan {
                    let (index, status) = (*index as usize, *status);
                    self.edit(p, |c| {
                        if let Cell::Plan { steps } = c
                            && let Some(s) = steps.get_mut(index)
                        {
                            s.1 = status;
                        }
                    });
                }
            }
            EventKind::ToolCallBegin {
                call_id,
                tool,
                args,
                risk,
                rationale,
                ..
            } => {
                self.flush_tail();
                let i = self.push(Cell::Tool(ToolCard {
                    call_id: call_id.clone(),
                    tool: sanitize(tool).into_owned(),
                    args: sanitize(&cell::compact(args)).into_owned(),
                    risk: *risk,
                    rationale: sanitize(rationale).into_owned(),
                    output: String::new(),
                    end: None,
                    expanded: self.expand_tools,
                }));
                self.tools.insert(call_id.clone(), i);
            }
            EventKind::ToolOutputDelta { call_id, chunk } => {
                if let Some(&i) = self.tools.get(call_id) {
                    let chunk = sanitize(chunk).into_owned();
                    self.edit(i, |c| {
                        if let Cell::Tool(t) = c {
                            t.output.push_str(&chunk);
                        }
                    });
                }
            }
            EventKind::ToolCallEnd {
                call_id,
                status,
                result,
                duration_us,
            } => {
                let why = match (status, result) {
                    (aios_proto::ToolStatus::Ok, _) => String::new(),
                    (_, serde_json::Value::String(s)) => sanitize(s).into_owned(),
                    (_, other) => sanitize(&other.to_string()).into_owned(),
                };
                if let Some(i) = self.tools.remove(call_id) {
                    let (status, us) = (*status, *duration_us);
                    self.edit(i, |c| {
                        if let Cell::Tool(t) = c {
                            t.end = Some((status, why, us));
                        }
                    });
                }
            }
            EventKind::ApprovalRequested(a) => {
                self.flush_tail();
                self.push(Cell::Approval(Box::new(ApprovalCard {
                    needed: sanitized_approval(a),
                    outcome: None,
                })));
            }
            EventKind::Usage(u) => {
                // A model call's stream ends with its usage: no more text
                // of that reply follows, so its unfinished line is final
                // now. Committed here, not at `TurnCompleted`, which comes
                // only after aiosd has stored the answer (and done its
                // memory work); a later reply in the turn starts a cell
                // of its own, as it does after a tool card.
                self.flush_tail();
                self.totals.provider = sanitize(&u.provider).into_owned();
                self.totals.model = sanitize(&u.model).into_owned();
                self.totals.input_tokens += u.input_tokens;
                self.totals.output_tokens += u.output_tokens;
                if let Some(c) = u.cost_usd {
                    *self.totals.cost_usd.get_or_insert(0.0) += c;
                }
                self.totals.latency_ms = u.latency_ms;
                self.totals.route = sanitize(&u.route_reason).into_owned();
                // Routing is visible when it departs from the plan: a
                // fallback or a spent budget says who answered instead.
                if is_detour(&u.route_reason) {
                    self.note(
                        Level::Info,
                        &format!(
                            "answered by {} ({}): {}",
                            u.provider, u.model, u.route_reason
                        ),
                    );
                }
            }
            EventKind::Notification { level, text } => {
                let level = match level.as_str() {
                    "error" => Level::Error,
                    "warning" | "warn" => Level::Warning,
                    _ => Level::Info,
                };
                self.note(level, text);
            }
            EventKind::Error { message, fatal, .. } => {
                let level = if *fatal { Level::Error } else { Level::Warning };
                self.note(level, message);
            }
            EventKind::TurnCompleted {
                status, message, ..
            } => {
                self.flush_tail();
                self.running = false;
                match status {
                    TurnStatus::Completed | TurnStatus::Failed => {}
                    TurnStatus::Refused => {
                        self.note(Level::Warning, &format!("refused: {message}"))
                    }
                    TurnStatus::Interrupted => self.note(Level::Warning, "interrupted"),
                }
            }
        }
    }

    /// Record the user's decision on the approval card of `call_id`.
    pub fn decided(&mut self, call_id: &str, outcome: &str) {
        let outcome = sanitize(outcome).into_owned();
        let found = self.entries.iter().rposition(|e| {
            matches!(&e.cell, Cell::Approval(a) if a.needed.call_id == call_id && a.outcome.is_none())
        });
        if let Some(i) = found {
            self.edit(i, |c| {
                if let Cell::Approval(a) = c {
                    a.outcome = Some(outcome);
                }
            });
        }
    }

    /// What `/copy` and Ctrl-Y put on the clipboard: the newest answer
    /// (its markdown, as the model wrote it, so code pastes as code) or
    /// card (its rows, unwrapped), whichever is newer; with what it is.
    pub fn copy_text(&self) -> Option<(&'static str, String)> {
        if !self.tail.is_empty() && self.open_answer.is_none() {
            return Some(("answer", self.tail.clone()));
        }
        self.entries.iter().rev().find_map(|e| match &e.cell {
            Cell::Assistant { lines } => {
                let mut text = lines.join("\n");
                if self.open_answer.is_some() && !self.tail.is_empty() {
                    text.push('\n');
                    text.push_str(&self.tail);
                }
                Some(("answer", text))
            }
            Cell::Tool(_) | Cell::Approval(_) => {
                let rows = e.cell.display_lines(u16::MAX, &Theme::plain());
                let text = ansi::to_text(&rows, false);
                Some(("card", text.trim_end().to_string()))
            }
            _ => None,
        })
    }

    /// Expand or fold every tool card's output; returns the new state.
    pub fn toggle_expanded(&mut self) -> bool {
        let expand = !self
            .entries
            .iter()
            .rev()
            .find_map(|e| match &e.cell {
                Cell::Tool(t) => Some(t.expanded),
                _ => None,
            })
            .unwrap_or(false);
        for i in 0..self.entries.len() {
            if matches!(self.entries[i].cell, Cell::Tool(_)) {
                self.edit(i, |c| {
                    if let Cell::Tool(t) = c {
                        t.expanded = expand;
                    }
                });
            }
        }
        expand
    }

    /// The rows of cell `i` at `width`, from the cache when it is fresh.
    fn rows(&mut self, i: usize, width: u16) -> &[Line<'static>] {
        let theme = &self.theme;
        let e = &mut self.entries[i];
        let fresh = matches!(&e.cache, Some(l) if l.width == width && !l.grown);
        if !fresh {
            let old = e.cache.take().filter(|l| l.width == width);
            let layout = lay_out(&e.cell, width, theme, old);
            #[cfg(test)]
            {
                self.laid_out += layout.1;
            }
            e.cache = Some(layout.0);
        }
        match &e.cache {
            Some(l) => &l.rows,
            None => &[],
        }
    }

    /// The window of `height` rows that ends `scroll` rows above the
    /// bottom, laying out only the cells it touches. Also returns the
    /// scroll actually used: it is clamped so the window never runs past
    /// the first row.
    pub fn window(
        &mut self,
        width: u16,
        height: usize,
        scroll: usize,
    ) -> (Vec<Line<'static>>, usize) {
        let need = height + scroll;
        let mut collected: Vec<Line<'static>> = Vec::new();
        let mut chunks: Vec<Vec<Line<'static>>> = Vec::new();
        // The unfinished line of the answer is shown live below the cells
        // but not committed: it is laid out again each frame until its
        // newline arrives.
        let mut live = self.live_rows(width);
        // Continuing the open answer: draw the tail inside its cell, before
        // the separator, so committing it moves nothing.
        let continues = !live.is_empty()
            && self.open_answer.is_some()
            && self.open_answer == self.entries.len().checked_sub(1);
        if !live.is_empty() {
            live.push(Line::default());
        }
        let mut got = live.len();
        chunks.push(live);
        let count = self.entries.len();
        for i in (0..count).rev() {
            if got >= need {
                break;
            }
            let rows = self.rows(i, width);
            let rows = if continues && i + 1 == count {
                &rows[..rows.len().saturating_sub(1)]
            } else {
                rows
            };
            // Only the rows the window can reach are copied: a long open
            // answer costs the screen's rows per frame, not its length.
            let take = rows.len().min(need - got);
            got += rows.len();
            chunks.push(rows[rows.len() - take..].to_vec());
        }
        for c in chunks.into_iter().rev() {
            collected.extend(c);
        }
        let total = collected.len();
        let scroll = scroll.min(total.saturating_sub(height));
        let end = total - scroll;
        let start = end.saturating_sub(height);
        (collected.drain(start..end).collect(), scroll)
    }

    /// The held-back tail of the answer, drawn but not committed.
    fn live_rows(&self, width: u16) -> Vec<Line<'static>> {
        if self.tail.is_empty() {
            return Vec::new();
        }
        let m = markdown::line(&self.tail, &mut markdown::MdState::default(), &self.theme);
        wrap::wrap(&m.line, usize::from(width.max(1)), m.hang)
    }

    /// Every row at `width`, for the scrollback on exit.
    pub fn all_rows(&mut self, width: u16) -> Vec<Line<'static>> {
        self.flush_tail();
        let mut out = Vec::new();
        for i in 0..self.entries.len() {
            out.extend_from_slice(self.rows(i, width));
        }
        out
    }
}

/// Lay out `cell` at `width`. For an answer, `old` (its earlier layout at
/// this width, if any) gives the settled rows to keep; only the source
/// lines after them are laid out. Also returns how many rows were made.
fn lay_out(cell: &Cell, width: u16, theme: &Theme, old: Option<Layout>) -> (Layout, usize) {
    let Cell::Assistant { lines } = cell else {
        let rows = cell.display_lines(width, theme);
        let n = rows.len();
        let layout = Layout {
            width,
            rows,
            settled_lines: 0,
            settled_rows: 0,
            grown: false,
        };
        return (layout, n);
    };
    let w = usize::from(width.max(1));
    let (mut rows, at) = match old {
        Some(mut l) if l.settled_lines <= lines.len() => {
            l.rows.truncate(l.settled_rows);
            (l.rows, l.settled_lines)
        }
        _ => (Vec::new(), 0),
    };
    let before = rows.len();
    // `at` is a block boundary outside any fence, so the open block is
    // found scanning from there: the cost is the new lines, not the answer.
    let to = at + markdown::open_block(&lines[at..]);
    rows.extend(markdown::render(&lines[at..to], theme, w));
    let settled_rows = rows.len();
    rows.extend(markdown::render(&lines[to..], theme, w));
    rows.push(Line::default());
    let made = rows.len() - before;
    let layout = Layout {
        width,
        rows,
        settled_lines: to,
        settled_rows,
        grown: false,
    };
    (layout, made)
}

/// Whether a route reason says the answer came from somewhere else than
/// asked (a fallback, a spent budget), which the user should see.
fn is_detour(reason: &str) -> bool {
    reason.contains("fallback") || reason.contains("budget")
}

/// An approval request with every text field sanitized.
fn sanitized_approval(a: &ApprovalNeeded) -> ApprovalNeeded {
    use aios_proto::PreviewDetail;
    let s = |t: &str| sanitize(t).into_owned();
    let mut n = a.clone();
    n.tool = s(&a.tool);
    n.resources = a.resources.iter().map(|r| s(r)).collect();
    n.preview.summary = s(&a.preview.summary);
    n.preview.detail = match &a.preview.detail {
        PreviewDetail::None => PreviewDetail::None,
        PreviewDetail::Diff { path, unified } => PreviewDetail::Diff {
            path: s(path),
            unified: s(unified),
        },
        PreviewDetail::DryRun { command, output } => PreviewDetail::DryRun {
            command: s(command),
            output: s(output),
        },
        PreviewDetail::Affected { items, bytes } => PreviewDetail::Affected {
            items: items.iter().map(|i| s(i)).collect(),
            bytes: *bytes,
        },
    };
    n.rationale = s(&a.rationale);
    n.rule = s(&a.rule);
    n.reason = s(&a.reason);
    n.confirm = a.confirm.as_deref().map(s);
    n
}

#[cfg(test)]
mod tests;

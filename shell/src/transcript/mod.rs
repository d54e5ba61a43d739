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
//!   tail is held back until its newline (or until something else is
//!   shown), so nothing flickers or is drawn twice.
//! - Virtualised: rows are laid out per cell and cached per width; the
//!   visible window is found walking back from the end, so a frame costs
//!   the rows on screen, not the length of the session.
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
    cache: Option<(u16, Vec<Line<'static>>)>,
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
            Some(i) => self.edit(i, |c| {
                if let Cell::Assistant { lines } = c {
                    lines.push(line);
                }
            }),
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
        let fresh = matches!(&e.cache, Some((w, _)) if *w == width);
        if !fresh {
            e.cache = Some((width, e.cell.display_lines(width, theme)));
        }
        match &e.cache {
            Some((_, rows)) => rows,
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
        for i in (0..self.entries.len()).rev() {
            if got >= need {
                break;
            }
            let mut rows = self.rows(i, width).to_vec();
            if continues && i + 1 == self.entries.len() {
                rows.pop();
            }
            got += rows.len();
            chunks.push(rows);
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

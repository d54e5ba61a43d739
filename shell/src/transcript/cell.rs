//! The cells of a transcript: what one event (or a run of them) shows.
//! Each cell draws itself at a given width into styled, already wrapped
//! rows (codex's `HistoryCell::display_lines`). Cells hold only sanitized
//! text, so drawing never has to think about escape sequences.

use aios_proto::{ApprovalNeeded, PreviewDetail, Risk, StepStatus, ToolStatus};
use ratatui::text::{Line, Span};

use super::theme::{Role, Theme};
use super::wrap::wrap;
use super::{highlight, markdown};
use crate::sanitize::sanitize;

/// Lines of tool output shown while a card is folded.
pub const FOLDED_OUTPUT_LINES: usize = 6;
/// Lines of an approval preview shown.
pub const PREVIEW_LINES: usize = 40;

/// One entry of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// What the user asked.
    User {
        /// The request.
        text: String,
    },
    /// The model's answer: completed markdown lines.
    Assistant {
        /// Source lines, in order.
        lines: Vec<String>,
    },
    /// The plan of a turn.
    Plan {
        /// Each step and its state.
        steps: Vec<(String, StepStatus)>,
    },
    /// One tool call.
    Tool(ToolCard),
    /// An action waiting for (or given) the user's decision.
    Approval(Box<ApprovalCard>),
    /// A notice: a notification, warning, error or the shell's own note.
    Notice {
        /// How it is shown.
        level: Level,
        /// The text.
        text: String,
    },
}

/// How a notice is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Information.
    Info,
    /// Something the user should look at.
    Warning,
    /// Something failed.
    Error,
}

/// A tool call's card.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCard {
    /// The call's id (matches `tool_output_delta` and `tool_call_end`).
    pub call_id: String,
    /// `namespace.verb`.
    pub tool: String,
    /// The arguments as compact JSON.
    pub args: String,
    /// The risk of the call.
    pub risk: Risk,
    /// Why the model made it.
    pub rationale: String,
    /// Live output so far.
    pub output: String,
    /// The end: status, result text and duration; `None` while running.
    pub end: Option<(ToolStatus, String, u64)>,
    /// Show all output instead of the last lines.
    pub expanded: bool,
}

/// An approval card.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalCard {
    /// The request, with its text sanitized.
    pub needed: ApprovalNeeded,
    /// What the user decided, once decided.
    pub outcome: Option<String>,
}

impl Cell {
    /// The rows of this cell at `width` columns, ending with a blank
    /// separator row.
    pub fn display_lines(&self, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        let w = usize::from(width.max(1));
        if let Cell::Assistant { lines } = self {
            let mut out = markdown::render(lines, theme, w);
            out.push(Line::default());
            return out;
        }
        let mut out: Vec<Line<'static>> = Vec::new();
        let mut push = |line: Line<'static>, hang: usize| out.extend(wrap(&line, w, hang));
        let st = |r: Role| theme.style(r);
        let g = &theme.glyphs;
        match self {
            Cell::User { text } => {
                for (i, l) in text.lines().enumerate() {
                    let mark = if i == 0 { g.user } else { " " };
                    push(
                        Line::from(vec![
                            Span::styled(format!("{mark} "), st(Role::User)),
                            Span::styled(l.to_string(), st(Role::User)),
                        ]),
                        2,
                    );
                }
            }
            // Returned early above: its rows come wrapped.
            Cell::Assistant { .. } => {}
            Cell::Plan { steps } => {
                push(Line::from(Span::styled("plan", st(Role::Dim))), 0);
                for (i, (step, status)) in steps.iter().enumerate() {
                    let (mark, role) = match status {
                        StepStatus::Pending => (g.pending, Role::Dim),
                        StepStatus::Running => (g.spinner[0], Role::Warning),
                        StepStatus::Done => (g.ok, Role::Ok),
                        StepStatus::Failed => (g.fail, Role::Error),
                        StepStatus::Skipped => (g.skipped, Role::Dim),
                    };
                    push(
                        Line::from(vec![
                            Span::styled(format!("  {mark} "), st(role)),
                            Span::raw(format!("{}. {step}", i + 1)),
                        ]),
                        6,
                    );
                }
            }
            Cell::Tool(t) => t.lines(theme, &mut push),
            Cell::Approval(a) => a.lines(theme, &mut push),
            Cell::Notice { level, text } => {
                let (word, role) = match level {
                    Level::Info => ("note", Role::Dim),
                    Level::Warning => ("warning", Role::Warning),
                    Level::Error => ("error", Role::Error),
                };
                for (i, l) in text.lines().enumerate() {
                    let head = if i == 0 {
                        Span::styled(format!("{word}: "), st(role))
                    } else {
                        Span::raw(" ".repeat(word.len() + 2))
                    };
                    push(
                        Line::from(vec![head, Span::raw(l.to_string())]),
                        word.len() + 2,
                    );
                }
            }
        }
        out.push(Line::default());
        out
    }
}

fn risk_tag(risk: Risk, theme: &Theme) -> Span<'static> {
    match risk {
        Risk::Read => Span::styled("[read]", theme.style(Role::RiskRead)),
        Risk::Change => Span::styled("[change]", theme.style(Role::RiskChange)),
        Risk::Destructive => Span::styled("[destructive]", theme.style(Role::RiskDestructive)),
    }
}

/// The word for a tool call's end.
pub fn status_word(s: ToolStatus) -> &'static str {
    match s {
        ToolStatus::Ok => "ok",
        ToolStatus::Error => "failed",
        ToolStatus::Denied => "denied",
        ToolStatus::Rejected => "rejected",
        ToolStatus::Interrupted => "interrupted",
        ToolStatus::TimedOut => "timed out",
    }
}

impl ToolCard {
    fn lines(&self, theme: &Theme, push: &mut impl FnMut(Line<'static>, usize)) {
        let st = |r: Role| theme.style(r);
        let g = &theme.glyphs;
        let mark_role = match &self.end {
            None => Role::Warning,
            Some((ToolStatus::Ok, ..)) => Role::Ok,
            Some(_) => Role::Error,
        };
        let mut head = vec![
            Span::styled(format!("{} ", g.tool), st(mark_role)),
            Span::styled(self.tool.clone(), st(Role::Tool)),
            Span::raw(" "),
            risk_tag(self.risk, theme),
        ];
        if !self.args.is_empty() {
            head.push(Span::raw(" "));
            match highlight::highlight("json", &[&self.args], theme) {
                Some(mut rows) if rows.len() == 1 => head.append(&mut rows[0]),
                _ => head.push(Span::styled(self.args.clone(), st(Role::Dim))),
            }
        }
        push(Line::from(head), 2);
        let rationale = self.rationale.trim();
        if !rationale.is_empty() {
            push(
                Line::from(vec![
                    Span::styled("  why: ", st(Role::Dim)),
                    Span::raw(rationale.to_string()),
                ]),
                7,
            );
        }
        let out: Vec<&str> = self.output.lines().collect();
        let shown = if self.expanded || out.len() <= FOLDED_OUTPUT_LINES {
            &out[..]
        } else {
            push(
                Line::from(Span::styled(
                    format!(
                        "  {} {} earlier lines (Ctrl-O expands)",
                        g.ellipsis,
                        out.len() - FOLDED_OUTPUT_LINES
                    ),
                    st(Role::Dim),
                )),
                4,
            );
            &out[out.len() - FOLDED_OUTPUT_LINES..]
        };
        // Output that is one JSON document is highlighted as JSON, once the
        // call has ended (parsing each growing prefix would be quadratic).
        let coloured = (self.end.is_some() && is_json(&self.output))
            .then(|| highlight::highlight("json", shown, theme))
            .flatten()
            .filter(|rows| rows.len() == shown.len());
        for (i, l) in shown.iter().enumerate() {
            let mut spans = vec![Span::styled(format!("  {} ", g.bar), st(Role::Dim))];
            match &coloured {
                Some(rows) => spans.extend(rows[i].iter().cloned()),
                None => spans.push(Span::raw(l.to_string())),
            }
            push(Line::from(spans), 4);
        }
        let end = match &self.end {
            None => Line::from(Span::styled("  running", st(Role::Warning))),
            Some((ToolStatus::Ok, _, us)) => Line::from(vec![
                Span::styled(format!("  {} ok ", g.ok), st(Role::Ok)),
                Span::styled(format_duration(*us), st(Role::Dim)),
            ]),
            Some((status, why, us)) => Line::from(vec![
                Span::styled(
                    format!("  {} {}", g.fail, status_word(*status)),
                    st(Role::Error),
                ),
                Span::raw(if why.is_empty() {
                    String::new()
                } else {
                    format!(": {why}")
                }),
                Span::styled(format!(" {}", format_duration(*us)), st(Role::Dim)),
            ]),
        };
        push(end, 4);
    }
}

impl ApprovalCard {
    fn lines(&self, theme: &Theme, push: &mut impl FnMut(Line<'static>, usize)) {
        let st = |r: Role| theme.style(r);
        let a = &self.needed;
        push(
            Line::from(vec![
                Span::styled("? approve ", st(Role::Approval)),
                Span::styled(a.tool.clone(), st(Role::Tool)),
                Span::raw(" "),
                risk_tag(a.effect, theme),
            ]),
            2,
        );
        let field = |name: &str, value: String, role: Role| {
            Line::from(vec![
                Span::styled(format!("  {name}: "), st(Role::Dim)),
                Span::styled(value, st(role)),
            ])
        };
        push(
            field("args", sanitize(&compact(&a.args)).into_owned(), Role::Code),
            4,
        );
        if !a.resources.is_empty() {
            push(field("touches", a.resources.join(", "), Role::Text), 4);
        }
        push(field("will", a.preview.summary.clone(), Role::Text), 4);
        let mut preview: Vec<Line<'static>> = Vec::new();
        let total = match &a.preview.detail {
            PreviewDetail::None => 0,
            PreviewDetail::Diff { unified, .. } => {
                for l in unified.lines().take(PREVIEW_LINES) {
                    let role = match l.as_bytes().first() {
                        Some(b'+') if !l.starts_with("+++") => Role::DiffAdd,
                        Some(b'-') if !l.starts_with("---") => Role::DiffDel,
                        Some(b'@') => Role::DiffHunk,
                        _ => Role::Dim,
                    };
                    preview.push(Line::from(Span::styled(l.to_string(), st(role))));
                }
                unified.lines().count()
            }
            PreviewDetail::DryRun { command, output } => {
                preview.push(Line::from(Span::styled(
                    format!("$ {command}"),
                    st(Role::Code),
                )));
                for l in output.lines().take(PREVIEW_LINES) {
                    preview.push(Line::from(Span::styled(l.to_string(), st(Role::Dim))));
                }
                output.lines().count()
            }
            PreviewDetail::Affected { items, bytes } => {
                for i in items.iter().take(PREVIEW_LINES) {
                    preview.push(Line::from(i.clone()));
                }
                if let Some(b) = bytes {
                    preview.push(Line::from(format!("{b} bytes")));
                }
                items.len()
            }
        };
        for mut l in preview {
            l.spans.insert(0, Span::raw("    "));
            push(l, 4);
        }
        if total > PREVIEW_LINES {
            push(
                Line::from(Span::styled(
                    format!(
                        "    {} {} more lines",
                        theme.glyphs.ellipsis,
                        total - PREVIEW_LINES
                    ),
                    st(Role::Dim),
                )),
                4,
            );
        }
        if !a.rationale.trim().is_empty() {
            push(field("why", a.rationale.trim().to_string(), Role::Text), 4);
        }
        push(
            field("policy", format!("{} [{}]", a.reason, a.rule), Role::Text),
            4,
        );
        if let Some(name) = a.confirm.as_ref().filter(|n| !n.is_empty()) {
            push(
                field(
                    "confirm",
                    format!("type {name} to approve"),
                    Role::RiskDestructive,
                ),
                4,
            );
        }
        match &self.outcome {
            None => push(
                Line::from(Span::styled(
                    "  [y] once  [s] session  [a] always  [n] no  [e] edit",
                    st(Role::Approval),
                )),
                2,
            ),
            Some(o) => push(
                Line::from(vec![
                    Span::styled("  → ", st(Role::Dim)),
                    Span::raw(o.clone()),
                ]),
                4,
            ),
        }
    }
}

/// Whether `text` is one JSON object or array (what tools print).
fn is_json(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(t).is_ok()
}

/// Compact JSON; an empty object shows as nothing.
pub fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    }
}

/// `1.2ms`, `340µs`, `2.1s`.
pub fn format_duration(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1_000.0),
        _ => format!("{:.1}s", us as f64 / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_are_human() {
        assert_eq!(format_duration(340), "340µs");
        assert_eq!(format_duration(1_250), "1.2ms");
        assert_eq!(format_duration(2_100_000), "2.1s");
    }
}

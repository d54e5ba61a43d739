//! Readable rendering of the session event stream for `aios -p` and the
//! line mode. Pure: events in, text for stdout/stderr out, so it is tested
//! with snapshots and never touches the terminal itself.
//!
//! The answer goes to stdout and everything else (tool cards, warnings) to
//! stderr, so `aios -p "..." > answer.txt` captures only the answer.

use aios_proto::{EventKind, Risk, ToolStatus, TurnStatus};
use serde_json::Value;

/// Where a piece of output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// The answer.
    Stdout(String),
    /// Progress, cards and diagnostics.
    Stderr(String),
}

/// Longest argument or result text shown on a card.
const CARD_WIDTH: usize = 160;

/// Stateful renderer (tracks whether the answer ended its line).
#[derive(Debug)]
pub struct Renderer {
    color: bool,
    at_line_start: bool,
    wrote_answer: bool,
}

impl Renderer {
    /// A renderer; `color` enables ANSI named colours (not RGB, so themes
    /// and 16-colour consoles work).
    pub fn new(color: bool) -> Renderer {
        Renderer {
            color,
            at_line_start: true,
            wrote_answer: false,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// End the answer's current line before a card interrupts it.
    fn break_line(&mut self, out: &mut Vec<Out>) {
        if !self.at_line_start {
            out.push(Out::Stdout("\n".into()));
            self.at_line_start = true;
        }
    }

    /// End a half-written answer line, e.g. before saying that the turn
    /// broke off because the daemon went away.
    pub fn end_line(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        self.break_line(&mut out);
        out
    }

    /// Render one event.
    pub fn event(&mut self, kind: &EventKind) -> Vec<Out> {
        let mut out = Vec::new();
        match kind {
            EventKind::AssistantDelta { text, .. } => {
                if !text.is_empty() {
                    self.at_line_start = text.ends_with('\n');
                    self.wrote_answer = true;
                    out.push(Out::Stdout(text.clone()));
                }
            }
            EventKind::ToolCallBegin {
                tool, args, risk, ..
            } => {
                self.break_line(&mut out);
                let risk = match risk {
                    Risk::Read => String::new(),
                    Risk::Change => format!(" {}", self.paint("33", "[change]")),
                    Risk::Destructive => format!(" {}", self.paint("31", "[destructive]")),
                };
                out.push(Out::Stderr(format!(
                    "{} {}{} {}\n",
                    self.paint("36", "●"),
                    self.paint("1", tool),
                    risk,
                    self.paint("2", &clip(&compact(args), CARD_WIDTH))
                )));
            }
            EventKind::ToolOutputDelta { chunk, .. } => {
                for line in chunk.lines() {
                    out.push(Out::Stderr(format!(
                        "  {}\n",
                        self.paint("2", &clip(line, CARD_WIDTH))
                    )));
                }
            }
            EventKind::ToolCallEnd {
                status,
                result,
                duration_us,
                ..
            } => {
                let took = format_duration(*duration_us);
                let line = match status {
                    ToolStatus::Ok => format!(
                        "  {} ok {}\n",
                        self.paint("32", "✓"),
                        self.paint("2", &took)
                    ),
                    other => format!(
                        "  {} {}: {}\n",
                        self.paint("31", "✗"),
                        status_word(*other),
                        clip(&as_text(result), CARD_WIDTH)
                    ),
                };
                out.push(Out::Stderr(line));
            }
            EventKind::ApprovalRequested {
                call_id, preview, ..
            } => {
                self.break_line(&mut out);
                out.push(Out::Stderr(format!(
                    "{} approval needed for {call_id}: {preview}\n",
                    self.paint("33", "?")
                )));
            }
            EventKind::Notification { level, text } => {
                self.break_line(&mut out);
                out.push(Out::Stderr(format!("{level}: {text}\n")));
            }
            EventKind::Error { message, fatal, .. } => {
                self.break_line(&mut out);
                let label = if *fatal {
                    self.paint("31", "error")
                } else {
                    self.paint("33", "warning")
                };
                out.push(Out::Stderr(format!("{label}: {message}\n")));
            }
            EventKind::TurnCompleted {
                status, message, ..
            } => {
                self.break_line(&mut out);
                match status {
                    TurnStatus::Completed => {}
                    TurnStatus::Refused => out.push(Out::Stderr(format!(
                        "{}: {message}\n",
                        self.paint("33", "refused")
                    ))),
                    TurnStatus::Interrupted => out.push(Out::Stderr(format!(
                        "{}\n",
                        self.paint("33", "interrupted")
                    ))),
                    // The fatal Error event already said why.
                    TurnStatus::Failed => {}
                }
            }
            EventKind::SessionStarted { .. }
            | EventKind::TurnStarted { .. }
            | EventKind::PlanProposed { .. }
            | EventKind::StepUpdate { .. }
            | EventKind::Usage(_) => {}
        }
        out
    }
}

fn status_word(s: ToolStatus) -> &'static str {
    match s {
        ToolStatus::Ok => "ok",
        ToolStatus::Error => "failed",
        ToolStatus::Denied => "denied",
        ToolStatus::Rejected => "rejected",
        ToolStatus::Interrupted => "interrupted",
        ToolStatus::TimedOut => "timed out",
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    }
}

/// Cut `s` to `max` characters on one line.
fn clip(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
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
    use super::*;
    use serde_json::json;

    fn transcript(events: &[EventKind]) -> String {
        let mut r = Renderer::new(false);
        let mut s = String::new();
        for e in events {
            for o in r.event(e) {
                match o {
                    Out::Stdout(t) => s.push_str(&format!("[out]{t}")),
                    Out::Stderr(t) => s.push_str(&format!("[err]{t}")),
                }
            }
        }
        s
    }

    #[test]
    fn answer_and_cards_are_separated_and_lines_end() {
        let t = transcript(&[
            EventKind::AssistantDelta {
                turn_id: "t1".into(),
                text: "Checking the disk.".into(),
            },
            EventKind::ToolCallBegin {
                turn_id: "t1".into(),
                call_id: "c1".into(),
                tool: "fs.usage".into(),
                args: json!({"path": "/"}),
                risk: Risk::Read,
                rationale: String::new(),
            },
            EventKind::ToolCallEnd {
                call_id: "c1".into(),
                status: ToolStatus::Ok,
                result: json!({"use_percent": 42}),
                duration_us: 1234,
            },
            EventKind::ToolCallBegin {
                turn_id: "t1".into(),
                call_id: "c2".into(),
                tool: "service.restart".into(),
                args: json!({"name": "nginx"}),
                risk: Risk::Change,
                rationale: String::new(),
            },
            EventKind::ToolCallEnd {
                call_id: "c2".into(),
                status: ToolStatus::Denied,
                result: json!("no policy rule or approval allows service.restart"),
                duration_us: 10,
            },
            EventKind::AssistantDelta {
                turn_id: "t1".into(),
                text: "Root is 42% full.".into(),
            },
            EventKind::TurnCompleted {
                turn_id: "t1".into(),
                status: TurnStatus::Refused,
                message: "no policy rule".into(),
            },
        ]);
        insta::assert_snapshot!(t, @r#"
        [out]Checking the disk.[out]
        [err]● fs.usage {"path":"/"}
        [err]  ✓ ok 1.2ms
        [err]● service.restart [change] {"name":"nginx"}
        [err]  ✗ denied: no policy rule or approval allows service.restart
        [out]Root is 42% full.[out]
        [err]refused: no policy rule
        "#);
    }

    #[test]
    fn long_values_are_clipped_to_one_line() {
        let s = clip(&"x\n".repeat(200), 10);
        assert_eq!(s.chars().count(), 10);
        assert!(!s.contains('\n'));
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(format_duration(340), "340µs");
        assert_eq!(format_duration(1_250), "1.2ms");
        assert_eq!(format_duration(2_100_000), "2.1s");
    }

    #[test]
    fn end_line_closes_only_an_open_answer_line() {
        let mut r = Renderer::new(false);
        assert!(r.end_line().is_empty());
        r.event(&EventKind::AssistantDelta {
            turn_id: "t1".into(),
            text: "part 1. ".into(),
        });
        assert_eq!(r.end_line(), [Out::Stdout("\n".into())]);
        assert!(r.end_line().is_empty());
    }
}

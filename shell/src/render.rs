//! Readable rendering of the session event stream for `aios -p` and the
//! line mode. Pure: events in, text for stdout/stderr out, so it is tested
//! with snapshots and never touches the terminal itself.
//!
//! The answer goes to stdout and everything else (tool cards, warnings) to
//! stderr, so `aios -p "..." > answer.txt` captures only the answer.
//!
//! Every piece of event text is untrusted (model text, tool output, file
//! names in errors): it goes through [`crate::sanitize`] before the
//! renderer adds its colours, so the only escape sequences in the output
//! are the renderer's own.

use aios_proto::{ApprovalNeeded, EventKind, PreviewDetail, Risk, ToolStatus, TurnStatus};
use serde_json::Value;

use crate::sanitize::sanitize;

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
/// Most lines of a preview shown on an approval card.
const PREVIEW_LINES: usize = 40;

/// Say how many preview lines were left out.
fn more(card: Styled, total: usize) -> Styled {
    if total > PREVIEW_LINES {
        card.paint(
            "2",
            &format!("    … {} more lines\n", total - PREVIEW_LINES),
        )
    } else {
        card
    }
}

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

    /// A piece of output under construction with this renderer's colours.
    fn line(&self) -> Styled {
        Styled {
            color: self.color,
            s: String::new(),
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

    /// The approval card: the exact call, what it touches, its preview,
    /// why the model wants it and why policy asks.
    pub fn approval_card(&self, a: &ApprovalNeeded) -> String {
        let (colour, word) = match a.effect {
            Risk::Read => ("36", "read"),
            Risk::Change => ("33", "change"),
            Risk::Destructive => ("31", "destructive"),
        };
        let mut card = self
            .line()
            .paint("33", "?")
            .text(" approve ")
            .paint("1", &a.tool)
            .text(" ")
            .paint(colour, &format!("[{word}]"))
            .text("\n  args: ")
            .paint("2", &clip(&compact(&a.args), CARD_WIDTH * 4))
            .text("\n");
        if !a.resources.is_empty() {
            card = card
                .text("  touches: ")
                .text(&clip(&a.resources.join(", "), CARD_WIDTH * 2))
                .text("\n");
        }
        card = card.text("  will: ").text(&a.preview.summary).text("\n");
        match &a.preview.detail {
            PreviewDetail::None => {}
            PreviewDetail::Diff { unified, .. } => {
                for l in unified.lines().take(PREVIEW_LINES) {
                    let colour = match l.as_bytes().first() {
                        Some(b'+') if !l.starts_with("+++") => "32",
                        Some(b'-') if !l.starts_with("---") => "31",
                        Some(b'@') => "36",
                        _ => "2",
                    };
                    card = card
                        .text("    ")
                        .paint(colour, &clip(l, CARD_WIDTH))
                        .text("\n");
                }
                card = more(card, unified.lines().count());
            }
            PreviewDetail::DryRun { command, output } => {
                card = card
                    .text("    $ ")
                    .paint("2", &clip(command, CARD_WIDTH))
                    .text("\n");
                for l in output.lines().take(PREVIEW_LINES) {
                    card = card
                        .text("    ")
                        .paint("2", &clip(l, CARD_WIDTH))
                        .text("\n");
                }
                card = more(card, output.lines().count());
            }
            PreviewDetail::Affected { items, bytes } => {
                for i in items.iter().take(PREVIEW_LINES) {
                    card = card.text("    ").text(&clip(i, CARD_WIDTH)).text("\n");
                }
                card = more(card, items.len());
                if let Some(b) = bytes {
                    card = card.text(&format!("    {b} bytes\n"));
                }
            }
        }
        if !a.rationale.trim().is_empty() {
            card = card
                .text("  why: ")
                .text(&clip(a.rationale.trim(), CARD_WIDTH * 2))
                .text("\n");
        }
        card = card
            .text("  policy: ")
            .text(&a.reason)
            .text(" [")
            .text(&a.rule)
            .text("]\n");
        card.done()
    }

    /// Render one event.
    pub fn event(&mut self, kind: &EventKind) -> Vec<Out> {
        let mut out = Vec::new();
        match kind {
            EventKind::AssistantDelta { text, .. } => {
                if !text.is_empty() {
                    let shown = self.line().text(text).done();
                    self.at_line_start = shown.ends_with('\n');
                    self.wrote_answer = true;
                    out.push(Out::Stdout(shown));
                }
            }
            EventKind::ToolCallBegin {
                tool, args, risk, ..
            } => {
                self.break_line(&mut out);
                let mut card = self.line().paint("36", "●").text(" ").paint("1", tool);
                card = match risk {
                    Risk::Read => card,
                    Risk::Change => card.text(" ").paint("33", "[change]"),
                    Risk::Destructive => card.text(" ").paint("31", "[destructive]"),
                };
                let card = card
                    .text(" ")
                    .paint("2", &clip(&compact(args), CARD_WIDTH))
                    .text("\n");
                out.push(Out::Stderr(card.done()));
            }
            EventKind::ToolOutputDelta { chunk, .. } => {
                for line in chunk.lines() {
                    let shown = self
                        .line()
                        .text("  ")
                        .paint("2", &clip(line, CARD_WIDTH))
                        .text("\n");
                    out.push(Out::Stderr(shown.done()));
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
                    ToolStatus::Ok => self
                        .line()
                        .text("  ")
                        .paint("32", "✓")
                        .text(" ok ")
                        .paint("2", &took),
                    other => self
                        .line()
                        .text("  ")
                        .paint("31", "✗")
                        .text(" ")
                        .text(status_word(*other))
                        .text(": ")
                        .text(&clip(&as_text(result), CARD_WIDTH)),
                };
                out.push(Out::Stderr(line.text("\n").done()));
            }
            EventKind::ApprovalRequested(a) => {
                self.break_line(&mut out);
                out.push(Out::Stderr(self.approval_card(a)));
            }
            EventKind::Notification { level, text } => {
                self.break_line(&mut out);
                let line = self.line().text(level).text(": ").text(text).text("\n");
                out.push(Out::Stderr(line.done()));
            }
            EventKind::Error { message, fatal, .. } => {
                self.break_line(&mut out);
                let line = if *fatal {
                    self.line().paint("31", "error")
                } else {
                    self.line().paint("33", "warning")
                };
                out.push(Out::Stderr(line.text(": ").text(message).text("\n").done()));
            }
            EventKind::TurnCompleted {
                status, message, ..
            } => {
                self.break_line(&mut out);
                match status {
                    TurnStatus::Completed => {}
                    TurnStatus::Refused => {
                        let line = self
                            .line()
                            .paint("33", "refused")
                            .text(": ")
                            .text(message)
                            .text("\n");
                        out.push(Out::Stderr(line.done()));
                    }
                    TurnStatus::Interrupted => out.push(Out::Stderr(
                        self.line().paint("33", "interrupted").text("\n").done(),
                    )),
                    // The fatal Error event already said why.
                    TurnStatus::Failed => {}
                }
            }
            // Routing is visible when it departs from the plan: a fallback
            // or a spent budget says who answered instead, and why.
            EventKind::Usage(u) if is_detour(&u.route_reason) => {
                self.break_line(&mut out);
                let line = self
                    .line()
                    .paint("2", "↪ ")
                    .paint("2", &u.provider)
                    .paint("2", " (")
                    .paint("2", &u.model)
                    .paint("2", "): ")
                    .paint("2", &clip(&u.route_reason, CARD_WIDTH))
                    .text("\n");
                out.push(Out::Stderr(line.done()));
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

/// Whether a route reason says the answer came from somewhere else than
/// asked (fallback, budget), which the user should see.
fn is_detour(reason: &str) -> bool {
    reason.contains("fallback") || reason.contains("budget")
}

/// Output text being built. Every piece of text goes through
/// [`sanitize`], the shell's own words included; the only escape
/// sequences that reach the terminal raw are the colours added here, whose
/// codes are compile-time constants.
#[must_use]
struct Styled {
    color: bool,
    s: String,
}

impl Styled {
    /// Append text, with any control characters shown instead of acting.
    fn text(mut self, t: &str) -> Styled {
        self.s.push_str(&sanitize(t));
        self
    }

    /// Append text in an ANSI named colour or attribute (not RGB, so themes
    /// and 16-colour consoles work) when colour is on.
    fn paint(mut self, code: &'static str, t: &str) -> Styled {
        if self.color {
            self.s.push_str("\x1b[");
            self.s.push_str(code);
            self.s.push('m');
        }
        self = self.text(t);
        if self.color {
            self.s.push_str("\x1b[0m");
        }
        self
    }

    fn done(self) -> String {
        self.s
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
    fn a_fallback_route_is_shown_and_the_default_is_not() {
        let usage = |reason: &str| {
            EventKind::Usage(aios_proto::Usage {
                provider: "lab".into(),
                model: "qwen".into(),
                route_reason: reason.into(),
                ..Default::default()
            })
        };
        assert_eq!(transcript(&[usage("configured default")]), "");
        assert_eq!(
            transcript(&[usage("fallback after 429 from claude")]),
            "[err]↪ lab (qwen): fallback after 429 from claude\n"
        );
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

    /// Event text chosen by others, in every field the renderer shows.
    fn hostile_events() -> Vec<EventKind> {
        let evil = "f\x1b]52;c;aGk=\x07\x1b[2J\u{9b}31m\u{202e}txt";
        vec![
            EventKind::AssistantDelta {
                turn_id: "t1".into(),
                text: format!("see \x1b]8;;http://x/\x1b\\{evil}\x1b]8;;\x1b\\\r\n"),
            },
            EventKind::ToolCallBegin {
                turn_id: "t1".into(),
                call_id: "c1".into(),
                tool: format!("fs.list{evil}"),
                args: json!({ "path": evil }),
                risk: Risk::Destructive,
                rationale: String::new(),
            },
            EventKind::ToolOutputDelta {
                call_id: "c1".into(),
                chunk: format!("now in {evil}\nline two\x1b[1A\x1b[2K\n"),
            },
            EventKind::ToolCallEnd {
                call_id: "c1".into(),
                status: ToolStatus::Error,
                result: json!(format!("cannot read {evil}")),
                duration_us: 10,
            },
            EventKind::ApprovalRequested(Box::new(aios_proto::ApprovalNeeded {
                call_id: format!("c2{evil}"),
                tool: "fs.delete".into(),
                args: json!({"path": format!("/tmp/{evil}")}),
                call_hash: "0".repeat(64),
                effect: Risk::Destructive,
                resources: vec![format!("path:/tmp/{evil}")],
                preview: aios_proto::Preview {
                    summary: format!("delete {evil}"),
                    detail: PreviewDetail::Diff {
                        path: format!("/tmp/{evil}"),
                        unified: format!("--- a\n+++ b\n-{evil}\n+ok\n"),
                    },
                },
                rationale: format!("because {evil}"),
                rule: "default.destructive".into(),
                reason: format!("may lose {evil}"),
                confirm: Some(format!("/tmp/{evil}")),
                session_kind: Default::default(),
            })),
            EventKind::Notification {
                level: format!("warn{evil}"),
                text: format!("about {evil}"),
            },
            EventKind::Error {
                code: aios_proto::ErrorCode::ModelError,
                message: format!("overloaded {evil}"),
                fatal: false,
            },
            EventKind::TurnCompleted {
                turn_id: "t1".into(),
                status: TurnStatus::Refused,
                message: format!("no rule for {evil}"),
            },
        ]
    }

    #[test]
    fn untrusted_text_in_every_field_is_shown_not_acted_on() {
        let t = transcript(&hostile_events());
        insta::assert_snapshot!(t, @r#"
        [out]see ␛]8;;http://x/␛\f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt␛]8;;␛\
        [err]● fs.listf␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt [destructive] {"path":"f\u001b]52;c;aGk=\u0007\u001b[2J\u{9b}31m\u{202e}txt"}
        [err]  now in f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
        [err]  line two␛[1A␛[2K
        [err]  ✗ failed: cannot read f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
        [err]? approve fs.delete [destructive]
          args: {"path":"/tmp/f\u001b]52;c;aGk=\u0007\u001b[2J\u{9b}31m\u{202e}txt"}
          touches: path:/tmp/f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
          will: delete f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
            --- a
            +++ b
            -f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
            +ok
          why: because f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
          policy: may lose f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt [default.destructive]
        [err]warnf␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt: about f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
        [err]warning: overloaded f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
        [err]refused: no rule for f␛]52;c;aGk=␇␛[2J\u{9b}31m\u{202e}txt
        "#);
        assert!(!t.contains('\x1b'), "{t:?}");
    }

    #[test]
    fn in_colour_the_only_escapes_are_the_renderers_own() {
        let mut r = Renderer::new(true);
        let own = [
            "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m",
        ];
        let mut saw_colour = false;
        for e in hostile_events() {
            for o in r.event(&e) {
                let (Out::Stdout(t) | Out::Stderr(t)) = o;
                // Remove the renderer's own colour codes: nothing that acts
                // on a terminal may remain.
                let mut rest = t.clone();
                for code in own {
                    saw_colour |= rest.contains(code);
                    rest = rest.replace(code, "");
                }
                assert!(
                    !rest
                        .chars()
                        .any(|c| (c.is_control() && c != '\n' && c != '\t')
                            || ('\u{202a}'..='\u{202e}').contains(&c)
                            || ('\u{2066}'..='\u{2069}').contains(&c)),
                    "{t:?}"
                );
            }
        }
        assert!(saw_colour, "colour was on but no colour code was written");
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

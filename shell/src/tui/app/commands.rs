//! `/` commands in the TUI: parsed from the one table
//! ([`crate::slash`]), completed with Tab, and carried out as effects.
//! Their answers come back as notes in the transcript; `/undo` runs
//! through the same approval cards as a turn.

use aios_proto::{ApprovalNeeded, EventKind};

use super::{App, Effect};
use crate::slash::{self, Request};
use crate::transcript::{Level, Transcript};

/// What the `/undo` task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoUpdate {
    /// The undo call needs the user's decision.
    Approval(Box<ApprovalNeeded>),
    /// It ended: its summary and whether it succeeded.
    Done {
        /// The ledger entry undone.
        id: u64,
        /// What toolsd said.
        text: String,
        /// Whether the undo ran.
        ok: bool,
    },
}

impl App {
    /// Ctrl-Y or `/copy`: the newest answer or card to the clipboard, and
    /// a note saying what was copied (or why nothing was).
    pub(super) fn copy(&mut self) -> Vec<Effect> {
        let Some((what, text)) = self.transcript.copy_text() else {
            let why = crate::clipboard::CopyError::Empty.to_string();
            self.transcript.note(Level::Warning, &why);
            return vec![];
        };
        if let Err(e) = crate::clipboard::osc52(&text) {
            self.transcript.note(Level::Warning, &e.to_string());
            return vec![];
        }
        self.transcript.note(
            Level::Info,
            &format!(
                "copied the {what} ({} bytes) to your clipboard (OSC 52; a terminal that does not allow it ignores it)",
                text.len()
            ),
        );
        vec![Effect::Copy(text)]
    }

    /// Enter on a `/` command line.
    pub(super) fn command(&mut self, text: &str) -> Vec<Effect> {
        let request = match slash::parse(text) {
            Ok(r) => r,
            Err(e) => {
                // The line stays, to be fixed.
                self.hint = Some(e);
                return vec![];
            }
        };
        self.remember(text);
        self.editor.take();
        self.scroll = 0;
        match request {
            Request::Help => {
                self.open_help();
                vec![]
            }
            Request::Quit => vec![Effect::Quit],
            Request::Detach => vec![Effect::Detach],
            Request::Copy => self.copy(),
            Request::Attach(id) => {
                self.transcript
                    .note(Level::Info, &format!("{text}\nattaching to session {id}…"));
                vec![Effect::Attach(id)]
            }
            Request::Clear => {
                let theme = self.transcript.theme().clone();
                let totals = self.transcript.totals.clone();
                self.transcript = Transcript::new(theme);
                self.transcript.totals = totals;
                vec![Effect::Redraw]
            }
            Request::Theme(name) => {
                self.switch_theme(name.as_deref());
                vec![Effect::Redraw]
            }
            Request::Undo(id) => {
                self.transcript.note(
                    Level::Info,
                    &format!("{text}\nasking toolsd to undo entry #{id}…"),
                );
                vec![Effect::Undo(id)]
            }
            request => {
                let t = &self.transcript.totals;
                let label = match &request {
                    Request::Model(None) if !t.provider.is_empty() => {
                        let model = if t.model.is_empty() {
                            t.provider.clone()
                        } else {
                            format!("{}/{}", t.provider, t.model)
                        };
                        format!("{text}\nthis session: {model}")
                    }
                    _ => text.to_string(),
                };
                vec![Effect::Command { label, request }]
            }
        }
    }

    /// The answer to a `/` command arrived (or why there is none).
    pub fn command_done(&mut self, label: &str, result: Result<String, String>) {
        match result {
            Ok(text) => self
                .transcript
                .note(Level::Info, format!("{label}\n{text}").trim_end()),
            Err(e) => self.transcript.note(Level::Error, &format!("{label}: {e}")),
        }
    }

    /// News from a running `/undo`.
    pub fn undo_update(&mut self, u: UndoUpdate) {
        match u {
            UndoUpdate::Approval(a) => {
                self.own_calls.insert(a.call_id.clone());
                self.transcript
                    .apply(&EventKind::ApprovalRequested(a.clone()));
                self.queue_approval(&a);
            }
            UndoUpdate::Done { id, text, ok } => {
                let level = if ok { Level::Info } else { Level::Error };
                self.transcript.note(level, &format!("undo #{id}: {text}"));
            }
        }
    }

    /// Tab: complete the command, subcommand or tool name.
    pub(super) fn complete(&mut self) {
        let c = slash::complete(
            self.editor.text(),
            &slash::Names {
                tools: &self.tool_names,
                themes: &self.themes.names(),
            },
        );
        if let Some(line) = c.line {
            self.editor.set(&line);
        }
        if !c.choices.is_empty() {
            let naming = !self.editor.text().contains(' ');
            let shown: Vec<String> = c
                .choices
                .iter()
                .map(|n| if naming { format!("/{n}") } else { n.clone() })
                .collect();
            self.hint = Some(shown.join("  "));
        }
    }

    /// `/theme [NAME]`: list the themes, or draw with another.
    fn switch_theme(&mut self, name: Option<&str>) {
        let current = self.transcript.theme().name().to_string();
        let listed = || {
            self.themes
                .names()
                .iter()
                .map(|n| {
                    if *n == current {
                        format!("{n} (current)")
                    } else {
                        n.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(name) = name else {
            let text = format!("/theme\nthemes: {}", listed());
            self.transcript.note(Level::Info, &text);
            return;
        };
        match self.themes.get(name) {
            Some(styles) => {
                let t = self.transcript.theme().switched(styles, self.term_glyphs);
                self.transcript.set_theme(t);
                self.transcript.note(
                    Level::Info,
                    &format!("/theme {name}\nnow drawing with {name}"),
                );
            }
            None => {
                self.hint = Some(format!("no theme {name:?}; the themes are {}", listed()));
            }
        }
    }
}

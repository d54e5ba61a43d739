//! The TUI's state and how keys and session events change it. Pure: a key
//! in, [`Effect`]s out. Widgets never call the backend; the event loop
//! ([`super::run`]) carries out the effects (an operation to aiosd, a
//! decision to toolsd, leaving). `/` commands are in [`commands`], the
//! history walk and search in [`recall`].

mod commands;
mod recall;

use std::collections::VecDeque;

use aios_proto::{ApprovalNeeded, Decision, Event, EventKind, Op, TurnStatus};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use serde_json::Value;

use super::editor::Editor;
use super::keymap::{self, Command, Context};
use super::status::{Health, Locality};
use crate::approve::GrantShown;
use crate::history::{History, Origin};
use crate::input;
use crate::slash::Request;
use crate::transcript::{Glyphs, Level, Theme, ThemeSet, Transcript};
pub use commands::UndoUpdate;
pub use recall::{Search, Walk};

/// Rows one notch of the mouse wheel scrolls.
pub const WHEEL_ROWS: usize = 3;

/// What the event loop must do for the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send an operation to aiosd.
    Op(Op),
    /// Send a decision to toolsd (never through aiosd).
    Decide {
        /// The request answered.
        needed: Box<ApprovalNeeded>,
        /// The decision.
        decision: Decision,
        /// The name typed for a destructive call.
        confirm: Option<String>,
    },
    /// Carry out a `/` command that asks a daemon; its text comes back
    /// through [`App::command_done`] under `label`.
    Command {
        /// What heads the answer (the command as typed).
        label: String,
        /// The command.
        request: Request,
    },
    /// Run `audit.undo` for a ledger entry on toolsd, in this session.
    Undo(u64),
    /// Ask toolsd which rule an "always" answer to this call would save.
    GrantPreview(Box<ApprovalNeeded>),
    /// Redraw everything.
    Redraw,
    /// Leave the TUI.
    Quit,
    /// Leave the TUI; the session goes on in aiosd.
    Detach,
    /// Switch to another session of the user.
    Attach(String),
    /// Put this text on the terminal's clipboard (OSC 52).
    Copy(String),
}

/// What the approval at the front of the queue is waiting for.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// One of y/s/a/n/e.
    Choose,
    /// `a` was pressed: toolsd is asked which rule "always" would save;
    /// any key goes back.
    GrantPending,
    /// The rule is on screen: `y` saves it and runs the call (or, when a
    /// configured rule would still ask, `saves` is false and `y` runs it
    /// once); anything else goes back.
    ConfirmAlways {
        /// Whether saving the rule would stop the question.
        saves: bool,
    },
    /// A note for the model (Enter rejects).
    Note,
    /// New arguments (Enter approves the edited call).
    Edit,
    /// The target's name, for a destructive call.
    Confirm(Decision),
}

/// The TUI's whole state.
#[derive(Debug)]
pub struct App {
    /// The conversation.
    pub transcript: Transcript,
    /// The request being typed.
    pub editor: Editor,
    /// A note, edited arguments or a typed name for the approval.
    pub answer: Editor,
    /// Approvals waiting, oldest first.
    pub approvals: VecDeque<ApprovalNeeded>,
    /// What the front approval waits for.
    pub prompt: Prompt,
    /// Help is open.
    pub help: bool,
    /// Rows help is scrolled down.
    pub help_scroll: u16,
    /// Rows scrolled up from the bottom.
    pub scroll: usize,
    /// Rows in a page (set by the view).
    pub page: usize,
    /// A Ctrl-C on an idle, empty prompt was pressed; the next one exits.
    quit_armed: bool,
    /// One line for the user above the input (a hint or an error).
    pub hint: Option<String>,
    /// `user@host` for the status bar.
    pub user_host: String,
    /// Spinner frame.
    pub tick: usize,
    /// The session stream is gone.
    pub disconnected: bool,
    /// The requests typed, in every session.
    pub history: History,
    /// Where requests are typed (recorded with each).
    pub origin: Origin,
    /// Up/Down is walking the history.
    pub walk: Option<Walk>,
    /// Ctrl-R is searching the history.
    pub search: Option<Search>,
    /// The executor's tool names, for completion.
    pub tool_names: Vec<String>,
    /// Calls the shell itself started (`/undo`), not the turn's.
    own_calls: std::collections::HashSet<String>,
    /// The themes `/theme` switches between.
    pub themes: ThemeSet,
    /// The terminal's own glyphs, for a theme that does not name a set.
    pub term_glyphs: Glyphs,
    /// Where each provider instance runs, for the status bar.
    pub localities: std::collections::HashMap<String, Locality>,
    /// The daemon set's health, as last probed.
    pub health: Health,
}

impl App {
    /// A fresh state.
    pub fn new(theme: Theme, user_host: String) -> App {
        App::with_themes(theme, user_host, ThemeSet::embedded())
    }

    /// A fresh state that switches between `themes`.
    pub fn with_themes(theme: Theme, user_host: String, themes: ThemeSet) -> App {
        App {
            term_glyphs: theme.glyphs,
            themes,
            transcript: Transcript::new(theme),
            editor: Editor::default(),
            answer: Editor::default(),
            approvals: VecDeque::new(),
            prompt: Prompt::Choose,
            help: false,
            help_scroll: 0,
            scroll: 0,
            page: 10,
            quit_armed: false,
            hint: None,
            user_host,
            tick: 0,
            disconnected: false,
            history: History::none(),
            origin: Origin::default(),
            walk: None,
            search: None,
            tool_names: Vec::new(),
            own_calls: Default::default(),
            localities: Default::default(),
            health: Health::Unknown,
        }
    }

    /// The context keys are looked up in after the global ones.
    fn context(&self) -> Context {
        if !self.approvals.is_empty() && self.prompt == Prompt::Choose {
            Context::Approval
        } else if self.search.is_some() {
            Context::Search
        } else {
            Context::Input
        }
    }

    /// Whether the answer editor (not the request) has the keyboard.
    pub fn answering(&self) -> bool {
        !self.approvals.is_empty()
            && matches!(
                self.prompt,
                Prompt::Note | Prompt::Edit | Prompt::Confirm(_)
            )
    }

    /// A mouse event: the wheel scrolls the transcript (or the open help)
    /// by [`WHEEL_ROWS`]; nothing else is captured.
    pub fn on_mouse(&mut self, m: MouseEvent) {
        match (m.kind, self.help) {
            (MouseEventKind::ScrollUp, false) => {
                self.scroll = self.scroll.saturating_add(WHEEL_ROWS);
            }
            (MouseEventKind::ScrollDown, false) => {
                self.scroll = self.scroll.saturating_sub(WHEEL_ROWS);
            }
            (MouseEventKind::ScrollUp, true) => {
                self.help_scroll = self.help_scroll.saturating_sub(WHEEL_ROWS as u16);
            }
            (MouseEventKind::ScrollDown, true) => {
                self.help_scroll = self.help_scroll.saturating_add(WHEEL_ROWS as u16);
            }
            _ => {}
        }
    }

    /// A session event arrived.
    pub fn on_event(&mut self, e: &Event) {
        if let EventKind::ApprovalRequested(a) = &e.kind
            && let Some(i) = self.approvals.iter().position(|q| q.call_id == a.call_id)
        {
            // Asked again (aiosd restarted and toolsd kept the call
            // waiting): the new card replaces the old one.
            self.approvals.remove(i);
            self.transcript.decided(&a.call_id, "asked again below");
            if i == 0 {
                self.prompt = Prompt::Choose;
                self.answer.take();
            }
        }
        self.transcript.apply(&e.kind);
        match &e.kind {
            EventKind::ApprovalRequested(a) => self.queue_approval(a),
            EventKind::TurnCompleted {
                status, message, ..
            } => {
                // Whatever the turn asked and was not answered can no
                // longer run (e.g. aiosd restarted under it): its card says
                // so and takes no more keys; a `/undo` waiting for its
                // answer is not the turn's and stays.
                let front = self.approvals.front().map(|a| a.call_id.clone());
                let (keep, ended): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.approvals)
                    .into_iter()
                    .partition(|a| self.own_calls.contains(&a.call_id));
                let why = match status {
                    TurnStatus::Interrupted if !message.is_empty() => {
                        format!("expired, not answered: {message}")
                    }
                    _ => "expired, not answered: the turn ended".to_string(),
                };
                for a in ended {
                    self.transcript.decided(&a.call_id, &why);
                }
                self.approvals = keep;
                if self.approvals.front().map(|a| a.call_id.clone()) != front {
                    self.prompt = Prompt::Choose;
                    self.answer.take();
                }
            }
            // The call ended while its card still waited here: it was
            // answered from another client (or before this one attached).
            EventKind::ToolCallEnd { call_id, .. } => {
                if let Some(i) = self.approvals.iter().position(|a| a.call_id == *call_id) {
                    self.approvals.remove(i);
                    self.transcript.decided(call_id, "answered elsewhere");
                    if i == 0 {
                        self.prompt = Prompt::Choose;
                        self.answer.take();
                    }
                }
            }
            _ => {}
        }
    }

    fn open_help(&mut self) {
        self.help = true;
        self.help_scroll = 0;
    }

    /// Put an approval request at the back of the queue (its card is
    /// already in the transcript).
    fn queue_approval(&mut self, a: &ApprovalNeeded) {
        if self.approvals.is_empty() {
            self.prompt = Prompt::Choose;
        }
        self.approvals.push_back(a.clone());
        self.scroll = 0;
    }

    /// Text pasted (bracketed paste): it goes in as typed, newlines kept.
    pub fn on_paste(&mut self, text: &str) {
        self.quit_armed = false;
        if self.answering() {
            self.answer.insert(text);
        } else if let Some(search) = &mut self.search {
            search.query.push_str(&text.replace(['\n', '\r'], " "));
            self.search_again();
        } else if self.approvals.is_empty() || self.prompt != Prompt::Choose {
            self.editor.insert(text);
        }
    }

    /// A key was pressed.
    pub fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let armed = std::mem::take(&mut self.quit_armed);
        if self.help {
            // The help context's keys scroll it (a page, or a row with the
            // arrows); any other key closes it and does nothing else.
            let step = if matches!(k.code, KeyCode::PageUp | KeyCode::PageDown) {
                u16::try_from(self.page.max(1)).unwrap_or(u16::MAX)
            } else {
                1
            };
            match keymap::lookup(Context::Help, &k) {
                Some(Command::HelpDown) => self.help_scroll = self.help_scroll.saturating_add(step),
                Some(Command::HelpUp) => self.help_scroll = self.help_scroll.saturating_sub(step),
                _ => self.help = false,
            }
            return vec![];
        }
        if let Some(cmd) = keymap::lookup(Context::Global, &k) {
            return self.global(cmd, armed);
        }
        self.hint = None;
        match self.context() {
            Context::Approval => match keymap::lookup(Context::Approval, &k) {
                Some(cmd) => self.choose(cmd),
                None => {
                    self.hint = Some("answer the approval: y, s, a, n or e".into());
                    vec![]
                }
            },
            Context::Search => self.search_key(k),
            _ if self.prompt == Prompt::GrantPending && !self.approvals.is_empty() => {
                self.prompt = Prompt::Choose;
                self.hint = Some("no rule written".into());
                vec![]
            }
            _ if matches!(self.prompt, Prompt::ConfirmAlways { .. })
                && !self.approvals.is_empty() =>
            {
                let saves = self.prompt == Prompt::ConfirmAlways { saves: true };
                if k.code == KeyCode::Char('y')
                    && k.modifiers.difference(KeyModifiers::SHIFT).is_empty()
                {
                    self.finish(if saves {
                        Decision::Always
                    } else {
                        Decision::Approve
                    })
                } else {
                    self.prompt = Prompt::Choose;
                    self.hint = Some("no rule written".into());
                    vec![]
                }
            }
            _ => self.edit_key(k),
        }
    }

    fn global(&mut self, cmd: Command, armed: bool) -> Vec<Effect> {
        match cmd {
            Command::Interrupt => {
                if self.search.take().is_some() {
                    return vec![];
                }
                if self.transcript.running {
                    self.hint = Some("interrupting…".into());
                    return vec![Effect::Op(Op::Interrupt)];
                }
                if self.answering() {
                    self.prompt = Prompt::Choose;
                    self.answer.take();
                    return vec![];
                }
                if !self.editor.is_empty() {
                    self.editor.take();
                    return vec![];
                }
                if armed {
                    return vec![Effect::Quit];
                }
                self.quit_armed = true;
                self.hint = Some("press Ctrl-C again to exit".into());
                vec![]
            }
            Command::Eof if self.editor.is_empty() && !self.answering() => vec![Effect::Quit],
            Command::PageUp => {
                self.scroll = self.scroll.saturating_add(self.page.max(1));
                vec![]
            }
            Command::PageDown => {
                self.scroll = self.scroll.saturating_sub(self.page.max(1));
                vec![]
            }
            Command::Bottom => {
                self.scroll = 0;
                vec![]
            }
            Command::ToggleOutput => {
                self.transcript.toggle_expanded();
                vec![]
            }
            Command::Redraw => vec![Effect::Redraw],
            Command::Copy => self.copy(),
            Command::Help => {
                self.open_help();
                vec![]
            }
            _ => vec![],
        }
    }

    /// y/s/a/n/e on the front approval.
    fn choose(&mut self, cmd: Command) -> Vec<Effect> {
        let Some(a) = self.approvals.front() else {
            return vec![];
        };
        match cmd {
            Command::ApproveOnce => self.finish(Decision::Approve),
            Command::ApproveSession => self.finish(Decision::Session),
            Command::ApproveAlways => {
                // Nothing is saved unseen: toolsd, which would write the
                // rule, says exactly which rule first.
                self.hint = Some("asking toolsd which rule \"always\" would save…".into());
                self.prompt = Prompt::GrantPending;
                vec![Effect::GrantPreview(Box::new(a.clone()))]
            }
            Command::Reject => {
                self.prompt = Prompt::Note;
                self.answer.take();
                vec![]
            }
            Command::Edit => {
                let args = a.args.to_string();
                self.prompt = Prompt::Edit;
                self.answer.set(&args);
                vec![]
            }
            _ => vec![],
        }
    }

    /// A decision is made; a destructive call first needs its name typed.
    /// toolsd's answer to [`Effect::GrantPreview`] for `call_id`: the rule
    /// goes into the transcript and `y` confirms it. Stale answers (the
    /// user went back, or the approval is gone) are dropped.
    pub fn grant_shown(&mut self, call_id: &str, shown: Result<GrantShown, String>) {
        let current = self.approvals.front().is_some_and(|a| a.call_id == call_id);
        if !current || self.prompt != Prompt::GrantPending {
            return;
        }
        match shown {
            Ok(shown) => {
                self.transcript.note(Level::Info, shown.text().trim_end());
                self.prompt = Prompt::ConfirmAlways {
                    saves: shown.takes_effect,
                };
                self.hint = Some(if shown.takes_effect {
                    "y saves this rule and runs the call · any other key goes back".into()
                } else {
                    "no rule would help: y runs the call once · any other key goes back".into()
                });
            }
            Err(e) => {
                self.prompt = Prompt::Choose;
                self.hint = Some(format!(
                    "cannot show the rule \"always\" would save ({e}); nothing is saved unseen: answer y, s, n or e"
                ));
            }
        }
        self.scroll = 0;
    }

    fn finish(&mut self, decision: Decision) -> Vec<Effect> {
        let needs_name = self
            .approvals
            .front()
            .and_then(|a| a.confirm.as_ref())
            .is_some_and(|n| !n.is_empty());
        if needs_name && !matches!(self.prompt, Prompt::Confirm(_)) {
            self.prompt = Prompt::Confirm(decision);
            self.answer.take();
            return vec![];
        }
        let confirm = if needs_name {
            Some(self.answer.take().trim().to_string())
        } else {
            None
        };
        let Some(a) = self.approvals.pop_front() else {
            return vec![];
        };
        let outcome = match &decision {
            Decision::Approve => "approved once".to_string(),
            Decision::Session => "approved for this session".to_string(),
            Decision::Always => "always allowed (rule saved to your policy)".to_string(),
            Decision::Reject { note: None } => "rejected".to_string(),
            Decision::Reject { note: Some(n) } => format!("rejected: {n}"),
            Decision::Edit { args } => format!("approved with edited arguments {args}"),
        };
        self.transcript.decided(&a.call_id, &outcome);
        self.prompt = Prompt::Choose;
        self.answer.take();
        vec![Effect::Decide {
            needed: Box::new(a),
            decision,
            confirm,
        }]
    }

    /// Keys for the request editor or the answer editor.
    fn edit_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let answering = self.answering();
        let cmd = keymap::lookup(Context::Input, &k);
        let ed = if answering {
            &mut self.answer
        } else {
            &mut self.editor
        };
        match cmd {
            Some(Command::Submit) => {
                return if answering {
                    self.submit_answer()
                } else {
                    self.submit()
                };
            }
            Some(Command::Newline) => ed.insert("\n"),
            Some(Command::Cancel) => {
                if answering {
                    self.prompt = Prompt::Choose;
                    self.answer.take();
                }
            }
            Some(Command::Backspace) => ed.backspace(),
            Some(Command::Delete) => ed.delete(),
            Some(Command::Left) => ed.left(),
            Some(Command::Right) => ed.right(),
            Some(Command::Up) if !answering && ed.on_first_line() => self.history_older(),
            Some(Command::Down) if !answering && ed.on_last_line() => self.history_newer(),
            Some(Command::Up) => ed.up(),
            Some(Command::Down) => ed.down(),
            Some(Command::Complete) if !answering => self.complete(),
            Some(Command::HistorySearch) if !answering => {
                self.start_search();
                return vec![];
            }
            Some(Command::Home) => ed.home(),
            Some(Command::End) => ed.end(),
            Some(Command::KillLine) => ed.kill_line(),
            _ => {
                if let KeyCode::Char(c) = k.code
                    && k.modifiers.difference(KeyModifiers::SHIFT).is_empty()
                {
                    if c == '?' && !answering && ed.is_empty() {
                        self.open_help();
                    } else {
                        ed.insert(c.encode_utf8(&mut [0; 4]));
                    }
                }
            }
        }
        if !answering && self.hint.is_none() {
            self.hint = crate::slash::suggest(self.editor.text());
        }
        vec![]
    }

    fn submit(&mut self) -> Vec<Effect> {
        let text = self.editor.text().trim().to_string();
        match text.as_str() {
            "" => return vec![],
            "exit" | "quit" => return vec![Effect::Quit],
            _ if crate::slash::is_command(&text) => return self.command(&text),
            _ => {}
        }
        if self.disconnected {
            self.hint = Some("aiosd is gone; reconnecting to this session (Ctrl-D leaves)".into());
            return vec![];
        }
        if self.transcript.running {
            self.hint = Some("a turn is running: wait, or Ctrl-C to interrupt it".into());
            return vec![];
        }
        if let Err(f) = input::validate(&text) {
            self.hint = Some(f.message);
            return vec![];
        }
        self.remember(&text);
        self.editor.take();
        self.scroll = 0;
        vec![Effect::Op(Op::UserInput { text })]
    }

    fn submit_answer(&mut self) -> Vec<Effect> {
        match self.prompt.clone() {
            Prompt::Note => {
                let note = self.answer.take().trim().to_string();
                let note = (!note.is_empty()).then_some(note);
                self.finish(Decision::Reject { note })
            }
            Prompt::Edit => {
                let text = self.answer.text().trim().to_string();
                match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => self.finish(Decision::Edit { args: v }),
                    Ok(_) => {
                        self.hint = Some(
                            "the arguments must be a JSON object, e.g. {\"path\": \"/tmp/x\"}"
                                .into(),
                        );
                        vec![]
                    }
                    Err(e) => {
                        self.hint = Some(format!("that is not valid JSON: {e}"));
                        vec![]
                    }
                }
            }
            Prompt::Confirm(decision) => {
                let expected = self.approvals.front().and_then(|a| a.confirm.clone());
                if Some(self.answer.text().trim().to_string()) == expected {
                    self.finish(decision)
                } else {
                    self.answer.take();
                    self.prompt = Prompt::Choose;
                    self.hint = Some("the name did not match; nothing was approved".into());
                    vec![]
                }
            }
            Prompt::Choose | Prompt::GrantPending | Prompt::ConfirmAlways { .. } => vec![],
        }
    }

    /// `--approve=all`: approve the request as it arrives, as the user,
    /// through the same path (toolsd records it in the ledger).
    pub fn approve_all(&mut self, a: &ApprovalNeeded) -> Vec<Effect> {
        let Some(i) = self.approvals.iter().position(|p| p.call_id == a.call_id) else {
            return vec![];
        };
        let Some(a) = self.approvals.remove(i) else {
            return vec![];
        };
        self.transcript
            .decided(&a.call_id, "approved by --approve=all");
        self.prompt = Prompt::Choose;
        let confirm = a.confirm.clone();
        vec![Effect::Decide {
            needed: Box::new(a),
            decision: Decision::Approve,
            confirm,
        }]
    }

    /// toolsd answered a decision (or could not be reached).
    pub fn decision_result(&mut self, r: Result<String, String>) {
        match r {
            Ok(msg) if !msg.is_empty() => self.transcript.note(Level::Info, &msg),
            Ok(_) => {}
            Err(e) => self.transcript.note(
                Level::Error,
                &format!("toolsd did not accept the decision: {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod input_tests;

//! The history in the input: Up/Down walk the requests of every session
//! (on the first or last line of the input only, so a multi-line request
//! is still edited with them), and Ctrl-R searches them incrementally.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect};
use crate::history::{Entry, History};
use crate::tui::keymap::{self, Command, Context};

/// Where Up/Down is in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// The entry shown.
    pub id: i64,
    /// What was typed before walking, given back past the newest entry.
    pub draft: String,
}

/// An incremental reverse search (Ctrl-R).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// What was typed.
    pub query: String,
    /// The match shown.
    pub found: Option<Entry>,
}

impl App {
    /// Use `history` from now on, and show its hint (why it is in memory).
    pub fn set_history(&mut self, history: History) {
        self.history = history;
        if let Some(h) = self.history.take_hint() {
            self.hint = Some(h);
        }
    }

    /// Remember a submitted line in the history; the walk starts over.
    pub(super) fn remember(&mut self, text: &str) {
        self.history.add(text, &self.origin);
        self.walk = None;
        if let Some(h) = self.history.take_hint() {
            self.hint = Some(h);
        }
    }

    /// Up on the first line: the previous request.
    pub(super) fn history_older(&mut self) {
        let current = self.editor.text().to_string();
        let before = self.walk.as_ref().map(|w| w.id);
        match self.history.older(before, &current) {
            Some(e) => {
                match &mut self.walk {
                    Some(w) => w.id = e.id,
                    None => {
                        self.walk = Some(Walk {
                            id: e.id,
                            draft: current,
                        })
                    }
                }
                self.editor.set(&e.text);
            }
            None => self.editor.up(),
        }
    }

    /// Down on the last line: the next request, then what was typed.
    pub(super) fn history_newer(&mut self) {
        let Some(w) = &self.walk else {
            self.editor.down();
            return;
        };
        let current = self.editor.text().to_string();
        match self.history.newer(w.id, &current) {
            Some(e) => {
                self.editor.set(&e.text);
                if let Some(w) = &mut self.walk {
                    w.id = e.id;
                }
            }
            None => {
                if let Some(w) = self.walk.take() {
                    self.editor.set(&w.draft);
                }
            }
        }
    }

    /// Ctrl-R: open the search.
    pub(super) fn start_search(&mut self) {
        self.search = Some(Search::default());
    }

    /// Look for the query again from the newest entry.
    pub(super) fn search_again(&mut self) {
        if let Some(s) = &mut self.search {
            s.found = if s.query.is_empty() {
                None
            } else {
                self.history.search(&s.query, None)
            };
        }
    }

    /// A key while searching.
    pub(super) fn search_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(search) = &mut self.search else {
            return vec![];
        };
        match keymap::lookup(Context::Search, &k) {
            Some(Command::SearchOlder) => {
                let older = search
                    .found
                    .as_ref()
                    .and_then(|f| self.history.search(&search.query, Some(f.id)));
                match older {
                    Some(e) => search.found = Some(e),
                    None if search.query.is_empty() => {}
                    None => self.hint = Some("no older match".into()),
                }
            }
            Some(Command::SearchAccept) => {
                if let Some(e) = self.search.take().and_then(|s| s.found) {
                    self.editor.set(&e.text);
                    self.walk = None;
                }
            }
            Some(Command::SearchCancel) => self.search = None,
            _ => match k.code {
                KeyCode::Backspace => {
                    search.query.pop();
                    self.search_again();
                }
                KeyCode::Char(c) if k.modifiers.difference(KeyModifiers::SHIFT).is_empty() => {
                    search.query.push(c);
                    self.search_again();
                }
                _ => {}
            },
        }
        vec![]
    }
}

//! Tab in the line mode: the `/` commands, their subcommand words, tool
//! and theme names, from the one table ([`crate::slash::complete`]), as
//! reedline suggestions.

use std::sync::{Arc, Mutex};

use reedline::{Completer, Span, Suggestion};

use crate::slash;

/// The names completed after a command, learnt after start (the tools
/// come from toolsd).
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// The executor's tool names.
    pub tools: Vec<String>,
    /// The loaded themes' names.
    pub themes: Vec<String>,
}

/// reedline's completer over [`slash::complete`].
pub(super) struct Slash {
    names: Arc<Mutex<Names>>,
}

impl Slash {
    pub(super) fn new(names: Arc<Mutex<Names>>) -> Slash {
        Slash { names }
    }
}

impl Completer for Slash {
    fn complete(&mut self, line: &str, pos: usize) -> Vec<Suggestion> {
        let names = match self.names.lock() {
            Ok(n) => n.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        suggestions(line.get(..pos).unwrap_or(line), &names)
    }
}

/// The suggestions for the text before the cursor, `typed`.
pub(super) fn suggestions(typed: &str, names: &Names) -> Vec<Suggestion> {
    let done = slash::complete(
        typed,
        &slash::Names {
            tools: &names.tools,
            themes: &names.themes,
        },
    );
    let whole = |value: String| Suggestion {
        value,
        span: Span::new(0, typed.len()),
        ..Suggestion::default()
    };
    if done.choices.is_empty() {
        // One way to go on: the whole new line.
        return done.line.map(whole).into_iter().collect();
    }
    // Several: each replaces the word being typed (a command's name keeps
    // its slash); reedline extends to their common prefix and lists them.
    let start = typed.rfind(' ').map_or(0, |i| i + 1);
    let head = if start == 0 { "/" } else { "" };
    done.choices
        .into_iter()
        .map(|c| Suggestion {
            value: format!("{head}{c}"),
            span: Span::new(start, typed.len()),
            ..Suggestion::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(typed: &str, names: &Names) -> Vec<(String, usize)> {
        suggestions(typed, names)
            .into_iter()
            .map(|s| (s.value, s.span.start))
            .collect()
    }

    #[test]
    fn a_command_name_completes_from_the_one_table() {
        let none = Names::default();
        assert_eq!(values("/he", &none), [("/help".to_string(), 0)]);
        // Several: each whole name, for the list.
        let got = values("/a", &none);
        assert_eq!(got, [("/attach".to_string(), 0), ("/audit".to_string(), 0)]);
        assert!(values("hello", &none).is_empty());
    }

    #[test]
    fn tool_names_complete_after_the_subcommand() {
        let names = Names {
            tools: vec!["fs.read".into(), "fs.write".into()],
            themes: vec![],
        };
        assert_eq!(
            values("/tools describe fs.r", &names),
            [("/tools describe fs.read".to_string(), 0)]
        );
        assert_eq!(
            values("/tools describe fs.", &names),
            [("fs.read".to_string(), 16), ("fs.write".to_string(), 16)]
        );
    }
}

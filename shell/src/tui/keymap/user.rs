//! The user's keymap, merged over the default: `keys.toml` in
//! `$XDG_CONFIG_HOME/aios/` gives commands, by their names in the default
//! table, the keys to use instead:
//!
//! ```toml
//! [keys]
//! copy = ["ctrl-t"]
//! help = ["f2", "alt-h"]
//! ```
//!
//! The merged table is what keys are looked up in and what `?` help shows.
//! A file with an unknown command, a key that does not parse or a key
//! bound twice in one context is refused as a whole, with the reason; the
//! default keymap then stays.

use std::path::Path;

use crossterm::event::{KeyCode, KeyModifiers};

use super::{Binding, Context, KEYMAP, Key};

/// A keymap: the default's bindings with the user's keys where given.
#[derive(Debug, Clone)]
pub struct Keymap {
    /// Each binding's keys, and the default binding they stand for (its
    /// context, command, name and doc).
    pub(super) bindings: Vec<(Vec<Key>, &'static Binding)>,
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap {
            bindings: KEYMAP.iter().map(|b| (b.keys.to_vec(), b)).collect(),
        }
    }
}

/// Every context, for the check that no key is bound twice in one.
const CONTEXTS: [Context; 5] = [
    Context::Global,
    Context::Approval,
    Context::Input,
    Context::Search,
    Context::Help,
];

impl Keymap {
    /// The default with the bindings of `text` (a `keys.toml`) merged over
    /// it; `Err` says what is wrong.
    pub fn merged(text: &str) -> Result<Keymap, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            keys: std::collections::BTreeMap<String, Vec<String>>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        let mut map = Keymap::default();
        for (name, keys) in &file.keys {
            let Some(slot) = map.bindings.iter_mut().find(|(_, b)| b.name == name) else {
                let names: Vec<&str> = KEYMAP.iter().map(|b| b.name).collect();
                return Err(format!(
                    "no command {name:?} (the commands are {})",
                    names.join(", ")
                ));
            };
            if keys.is_empty() {
                return Err(format!("{name}: give at least one key"));
            }
            slot.0 = keys
                .iter()
                .map(|k| parse_key(k).map_err(|e| format!("{name}: {e}")))
                .collect::<Result<_, _>>()?;
        }
        for ctx in CONTEXTS {
            let mut seen: Vec<(Key, &str)> = Vec::new();
            for (keys, b) in map.bindings.iter().filter(|(_, b)| b.context == ctx) {
                for k in keys {
                    if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                        return Err(format!(
                            "{} is bound to both {other} and {} ({})",
                            k.label(),
                            b.name,
                            ctx.title()
                        ));
                    }
                    seen.push((*k, b.name));
                }
            }
        }
        Ok(map)
    }

    /// The user's keymap from `dir/keys.toml`: the default when there is
    /// no file; the default and why when the file is refused.
    pub fn load(dir: Option<&Path>) -> (Keymap, Option<String>) {
        let Some(path) = dir.map(|d| d.join("keys.toml")) else {
            return (Keymap::default(), None);
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Keymap::default(), None);
            }
            Err(e) => {
                return (
                    Keymap::default(),
                    Some(format!("cannot read {}: {e}", path.display())),
                );
            }
        };
        match Keymap::merged(&text) {
            Ok(map) => (map, None),
            Err(e) => (
                Keymap::default(),
                Some(format!("{}: {e}; using the default keys", path.display())),
            ),
        }
    }
}

/// `ctrl-y`, `alt-enter`, `f2`, `pgup`, `x`: one key.
pub fn parse_key(text: &str) -> Result<Key, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let mut mods = KeyModifiers::NONE;
    let mut rest = lower.as_str();
    loop {
        if let Some(r) = rest.strip_prefix("ctrl-") {
            mods |= KeyModifiers::CONTROL;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("alt-") {
            mods |= KeyModifiers::ALT;
            rest = r;
        } else {
            break;
        }
    }
    let code = match rest {
        "enter" | "return" => KeyCode::Enter,
        "tab" => KeyCode::Tab,
        "esc" | "escape" => KeyCode::Esc,
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" | "pgup" => KeyCode::PageUp,
        "pagedown" | "pgdn" => KeyCode::PageDown,
        "space" => KeyCode::Char(' '),
        f if f.len() > 1 && f.starts_with('f') && f[1..].bytes().all(|b| b.is_ascii_digit()) => {
            match f[1..].parse::<u8>() {
                Ok(n @ 1..=24) => KeyCode::F(n),
                _ => return Err(format!("{text:?}: function keys go from f1 to f24")),
            }
        }
        c if c.chars().count() == 1 => {
            // A plain letter keeps its case (`A` is Shift-a); with Ctrl or
            // Alt the case does not matter.
            let ch = trimmed.chars().last().unwrap_or(' ');
            KeyCode::Char(if mods.is_empty() {
                ch
            } else {
                ch.to_ascii_lowercase()
            })
        }
        _ => {
            return Err(format!(
                "{text:?} is not a key (e.g. \"ctrl-y\", \"alt-enter\", \"f2\", \"pgup\", \"x\")"
            ));
        }
    };
    Ok(Key { code, mods })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::Command;
    use crossterm::event::KeyEvent;

    #[test]
    fn keys_parse_with_modifiers_and_names() {
        let k = |s| parse_key(s).unwrap();
        assert_eq!(k("ctrl-y").label(), "Ctrl-Y");
        assert_eq!(k("Alt-Enter").label(), "Alt-Enter");
        assert_eq!(k("f2").label(), "F2");
        assert_eq!(k("pgup").label(), "PgUp");
        assert_eq!(k("x").label(), "x");
        assert!(parse_key("f99").unwrap_err().contains("f1 to f24"));
        assert!(parse_key("hyper-q").unwrap_err().contains("not a key"));
    }

    #[test]
    fn a_users_keys_replace_a_commands_and_the_rest_stay() {
        let map =
            Keymap::merged("[keys]\ncopy = [\"ctrl-t\"]\nhelp = [\"f2\", \"alt-h\"]\n").unwrap();
        let t = KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL);
        let y = KeyEvent::new(KeyCode::Char('y'), KeyModifiers::CONTROL);
        let f2 = KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE);
        let c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map.lookup(Context::Global, &t), Some(Command::Copy));
        assert_eq!(map.lookup(Context::Global, &y), None);
        assert_eq!(map.lookup(Context::Global, &f2), Some(Command::Help));
        assert_eq!(map.lookup(Context::Global, &c), Some(Command::Interrupt));
        let help: Vec<String> = map.help_rows().into_iter().map(|r| r.1).collect();
        assert!(help.contains(&"F2, Alt-h".to_string()), "{help:?}");
    }

    #[test]
    fn a_bad_file_is_refused_with_the_reason() {
        let e = Keymap::merged("[keys]\ncopi = [\"ctrl-t\"]\n").unwrap_err();
        assert!(
            e.contains("no command \"copi\"") && e.contains("copy"),
            "{e}"
        );
        let e = Keymap::merged("[keys]\ncopy = [\"ctrl-c\"]\n").unwrap_err();
        assert!(
            e.contains("Ctrl-C is bound to both interrupt and copy"),
            "{e}"
        );
        let e = Keymap::merged("[keys]\ncopy = [\"nope-key\"]\n").unwrap_err();
        assert!(e.starts_with("copy: "), "{e}");
        assert!(Keymap::merged("[kees]\n").is_err());
        let (map, why) = Keymap::load(None);
        assert_eq!(why, None);
        assert_eq!(map.help_rows(), Keymap::default().help_rows());
    }
}

//! The keymap: one table of commands with their keys, names and docs, as
//! helix declares its commands. Key handling looks keys up here, and the
//! `?` help screen and `docs/TUI.md` are generated from the same table (a
//! test keeps the doc in step).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub mod user;
pub use user::Keymap;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Always, before anything else.
    Global,
    /// While an approval card waits for its answer.
    Approval,
    /// Editing the request.
    Input,
    /// Searching the history (Ctrl-R).
    Search,
    /// While help is open (any other key closes it).
    Help,
}

impl Context {
    /// The heading of this context in help.
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Anywhere",
            Context::Approval => "On an approval card",
            Context::Input => "Editing the request",
            Context::Search => "Searching the history (type to filter)",
            Context::Help => "In this help (any other key closes it)",
        }
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Interrupt the running turn; clear the input; twice on an idle empty prompt: exit.
    Interrupt,
    /// Leave when the input is empty.
    Eof,
    /// Scroll the transcript up a page.
    PageUp,
    /// Scroll the transcript down a page.
    PageDown,
    /// Back to the newest rows.
    Bottom,
    /// Expand or fold tool output.
    ToggleOutput,
    /// Redraw the screen.
    Redraw,
    /// Copy the newest answer or card to the clipboard.
    Copy,
    /// Open or close help.
    Help,
    /// Approve this exact call once.
    ApproveOnce,
    /// Approve calls like this for the session.
    ApproveSession,
    /// Always allow: write a policy rule (asks to confirm).
    ApproveAlways,
    /// Reject, with an optional note for the model.
    Reject,
    /// Edit the arguments, then approve the edited call.
    Edit,
    /// Send the request (or finish a note, edit or confirmation).
    Submit,
    /// Insert a line break.
    Newline,
    /// Cancel a note, an edit or a confirmation.
    Cancel,
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor.
    Delete,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Cursor up a line.
    Up,
    /// Cursor down a line.
    Down,
    /// Start of the line.
    Home,
    /// End of the line.
    End,
    /// Delete to the start of the line.
    KillLine,
    /// Complete a `/` command, its subcommand or a tool name.
    Complete,
    /// Search the history of all sessions.
    HistorySearch,
    /// The next older match.
    SearchOlder,
    /// Put the match in the input.
    SearchAccept,
    /// Leave the search, the input as it was.
    SearchCancel,
    /// Scroll help up.
    HelpUp,
    /// Scroll help down.
    HelpDown,
}

/// A key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt, Shift.
    pub mods: KeyModifiers,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn alt(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::ALT,
    }
}

impl Key {
    /// How help and docs write the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Delete => "Delete".into(),
            KeyCode::Left => "Left".into(),
            KeyCode::Right => "Right".into(),
            KeyCode::Up => "Up".into(),
            KeyCode::Down => "Down".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("Ctrl-");
            return s + &base.to_uppercase();
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("Alt-");
        }
        s + &base
    }

    /// Whether `ev` is this key (Shift is ignored for characters, whose
    /// case already says it).
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let mut mods = ev.modifiers;
        if matches!(ev.code, KeyCode::Char(_)) {
            mods.remove(KeyModifiers::SHIFT);
        }
        let code = match (ev.code, self.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) if mods.contains(KeyModifiers::CONTROL) => {
                a.eq_ignore_ascii_case(&b)
            }
            (a, b) => a == b,
        };
        code && mods == self.mods
    }
}

/// One binding: keys, the command, its name and its doc.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Where it applies.
    pub context: Context,
    /// The keys (any of them).
    pub keys: &'static [Key],
    /// What it does.
    pub command: Command,
    /// The command's name.
    pub name: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
}

macro_rules! keymap {
    ($( $ctx:ident [$($k:expr),+] $cmd:ident $name:literal $doc:literal ;)*) => {
        /// The default keymap.
        pub const KEYMAP: &[Binding] = &[
            $( Binding {
                context: Context::$ctx,
                keys: &[$($k),+],
                command: Command::$cmd,
                name: $name,
                doc: $doc,
            }, )*
        ];
    };
}

keymap! {
    Global [ctrl('c')] Interrupt "interrupt"
        "interrupt the running turn; on an idle prompt clear it, and press twice to exit";
    Global [ctrl('d')] Eof "exit" "leave aios when the input is empty";
    Global [key(KeyCode::PageUp)] PageUp "page_up" "scroll the transcript up a page (also the mouse wheel)";
    Global [key(KeyCode::PageDown)] PageDown "page_down" "scroll the transcript down a page (also the mouse wheel)";
    Global [ctrl('g')] Bottom "bottom" "jump back to the newest output";
    Global [ctrl('o')] ToggleOutput "toggle_output" "expand or fold the output of tool cards";
    Global [ctrl('l')] Redraw "redraw" "redraw the screen";
    Global [ctrl('y')] Copy "copy"
        "copy the newest answer or card to your clipboard (OSC 52: reaches your own desktop over ssh; also /copy)";
    Global [key(KeyCode::F(1))] Help "help" "open or close this help (also ? on an empty prompt)";
    Approval [key(KeyCode::Char('y'))] ApproveOnce "approve_once" "run this exact call once";
    Approval [key(KeyCode::Char('s'))] ApproveSession "approve_session" "allow calls like this for the rest of the session";
    Approval [key(KeyCode::Char('a'))] ApproveAlways "approve_always"
        "always allow: shows the rule it will write to your policy file, then asks to confirm";
    Approval [key(KeyCode::Char('n'))] Reject "reject" "reject; type an optional note for the model, then Enter";
    Approval [key(KeyCode::Char('e'))] Edit "edit" "edit the arguments (JSON), then Enter to approve the edited call";
    Input [key(KeyCode::Enter)] Submit "submit" "send the request (or finish a note, edit or confirmation)";
    Input [alt(KeyCode::Enter), ctrl('j')] Newline "newline" "insert a line break";
    Input [key(KeyCode::Esc)] Cancel "cancel" "cancel a note, edit or confirmation; close help";
    Input [key(KeyCode::Backspace)] Backspace "delete_backward" "delete the character before the cursor";
    Input [key(KeyCode::Delete)] Delete "delete_forward" "delete the character under the cursor";
    Input [key(KeyCode::Left), ctrl('b')] Left "move_left" "cursor left";
    Input [key(KeyCode::Right), ctrl('f')] Right "move_right" "cursor right";
    Input [key(KeyCode::Up)] Up "move_up" "cursor up a line; on the first line, the previous request from the history";
    Input [key(KeyCode::Down)] Down "move_down" "cursor down a line; on the last line, the next request from the history";
    Input [key(KeyCode::Home), ctrl('a')] Home "line_start" "start of the line";
    Input [key(KeyCode::End), ctrl('e')] End "line_end" "end of the line";
    Input [ctrl('u')] KillLine "kill_line" "delete to the start of the line";
    Input [key(KeyCode::Tab)] Complete "complete" "complete a / command, its subcommand or a tool name";
    Input [ctrl('r')] HistorySearch "history_search" "search the requests of all sessions, newest first";
    Search [ctrl('r')] SearchOlder "search_older" "the next older match";
    Search [key(KeyCode::Enter)] SearchAccept "search_accept" "put the match in the input";
    Search [key(KeyCode::Esc)] SearchCancel "search_cancel" "leave the search; the input is as it was";
    Help [key(KeyCode::PageUp), key(KeyCode::Up)] HelpUp "help_up" "scroll this help up";
    Help [key(KeyCode::PageDown), key(KeyCode::Down)] HelpDown "help_down" "scroll this help down";
}

/// The keymap in use: the user's merged over the default once the TUI
/// has [`install`]ed it; the default until then (and in tests).
static ACTIVE: std::sync::OnceLock<Keymap> = std::sync::OnceLock::new();

/// Use `map` from now on (the TUI does, once, at start).
pub fn install(map: Keymap) {
    let _ = ACTIVE.set(map);
}

fn active() -> &'static Keymap {
    static DEFAULT: std::sync::OnceLock<Keymap> = std::sync::OnceLock::new();
    ACTIVE
        .get()
        .unwrap_or_else(|| DEFAULT.get_or_init(Keymap::default))
}

/// The command bound to `ev` in `context`, in the keymap in use.
pub fn lookup(context: Context, ev: &KeyEvent) -> Option<Command> {
    active().lookup(context, ev)
}

/// Help rows of the keymap in use: (context, keys, name, doc), in table
/// order.
pub fn help_rows() -> Vec<(Context, String, &'static str, &'static str)> {
    active().help_rows()
}

impl Keymap {
    /// The command bound to `ev` in `context`.
    pub fn lookup(&self, context: Context, ev: &KeyEvent) -> Option<Command> {
        self.bindings
            .iter()
            .filter(|(_, b)| b.context == context)
            .find(|(keys, _)| keys.iter().any(|k| k.matches(ev)))
            .map(|(_, b)| b.command)
    }

    /// Help rows: (context, keys, name, doc), in table order.
    pub fn help_rows(&self) -> Vec<(Context, String, &'static str, &'static str)> {
        self.bindings
            .iter()
            .map(|(keys, b)| {
                let keys: Vec<String> = keys.iter().map(Key::label).collect();
                (b.context, keys.join(", "), b.name, b.doc)
            })
            .collect()
    }
}

/// The keys section of `docs/TUI.md`, generated from [`KEYMAP`].
pub fn markdown() -> String {
    let mut out = String::new();
    let mut last: Option<Context> = None;
    for (ctx, keys, name, doc) in Keymap::default().help_rows() {
        if last != Some(ctx) {
            if last.is_some() {
                out.push('\n');
            }
            out.push_str(&format!(
                "### {}\n\n| keys | command | what it does |\n|---|---|---|\n",
                ctx.title()
            ));
            last = Some(ctx);
        }
        out.push_str(&format!("| {keys} | `{name}` | {doc} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_resolve_by_context() {
        let c = ev(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Context::Global, &c), Some(Command::Interrupt));
        let y = ev(KeyCode::Char('y'), KeyModifiers::NONE);
        assert_eq!(lookup(Context::Approval, &y), Some(Command::ApproveOnce));
        assert_eq!(lookup(Context::Input, &y), None);
        let nl = ev(KeyCode::Enter, KeyModifiers::ALT);
        assert_eq!(lookup(Context::Input, &nl), Some(Command::Newline));
        let enter = ev(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(lookup(Context::Input, &enter), Some(Command::Submit));
    }

    #[test]
    fn names_are_unique_and_every_binding_is_documented() {
        let mut names: Vec<&str> = KEYMAP.iter().map(|b| b.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate command names");
        assert!(
            KEYMAP
                .iter()
                .all(|b| !b.doc.is_empty() && !b.keys.is_empty())
        );
    }

    /// docs/TUI.md carries the generated table between markers.
    #[test]
    fn docs_tui_md_lists_the_keymap() {
        crate::generated_docs::ensure_section(
            "TUI.md",
            "<!-- keymap:begin (generated from shell/src/tui/keymap.rs) -->\n",
            "<!-- keymap:end -->",
            &markdown(),
            "the keymap",
        );
    }
}

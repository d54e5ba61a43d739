//! The `/` commands typed at the prompt of the TUI and of the line mode,
//! declared once in [`COMMANDS`]: name, arguments, one line of doc and
//! how its arguments parse. `/help`, Tab completion and the table in
//! `docs/TUI.md` are derived from it (a test keeps the doc in step).
//!
//! Pure: parsing and completion only. Carrying a command out is the front
//! end's job; the commands that ask a daemon share [`run::text`], which
//! calls the same code as the CLI subcommands.

pub mod run;

use crate::tools::edit_distance;

/// A parsed command, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Show the commands and keys.
    Help,
    /// Clear the transcript.
    Clear,
    /// The local models (`None`), or one model's details.
    Model(Option<String>),
    /// How a call would be decided.
    Policy {
        /// Dotted tool name.
        tool: String,
        /// Arguments as a JSON object (text).
        args: String,
    },
    /// The saved grants, or revoke one.
    Grants {
        /// The grant to revoke.
        revoke: Option<String>,
    },
    /// The newest ledger entries.
    Audit {
        /// How many.
        limit: u32,
    },
    /// The chain behind one ledger entry.
    Why(u64),
    /// Reverse a change by its ledger entry id.
    Undo(u64),
    /// The tools (`None`), or one tool described.
    Tools {
        /// The tool to describe.
        describe: Option<String>,
    },
    /// The themes, or switch to one.
    Theme(Option<String>),
    /// The user's sessions.
    Sessions,
    /// Switch to another of the user's sessions.
    Attach(String),
    /// Leave the session running in aiosd and exit.
    Detach,
    /// Copy the newest answer or card to the clipboard.
    Copy,
    /// Leave aios.
    Quit,
}

/// What a command's argument names, so Tab can complete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// Nothing completable.
    Nothing,
    /// A tool of the executor.
    Tool,
    /// A loaded theme.
    Theme,
}

/// One `/` command.
#[derive(Debug, Clone, Copy)]
pub struct Slash {
    /// The name, without the slash.
    pub name: &'static str,
    /// The arguments, as help writes them.
    pub args: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// Words completed after the name (a subcommand).
    pub words: &'static [&'static str],
    /// What the first argument (after any of `words`) names, for Tab.
    pub takes: Takes,
    /// Turn the words after the name into a request, or say what is wrong.
    parse: fn(&Args<'_>) -> Result<Request, String>,
}

/// The text after a command's name.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    /// Everything after the name, trimmed.
    pub rest: &'a str,
}

impl<'a> Args<'a> {
    fn words(&self) -> Vec<&'a str> {
        self.rest.split_whitespace().collect()
    }

    fn none(&self, r: Request) -> Result<Request, String> {
        if self.rest.is_empty() {
            Ok(r)
        } else {
            Err(format!("it takes no arguments (got {:?})", self.rest))
        }
    }

    /// The first word and the text after it.
    fn split_first(&self) -> (Option<&'a str>, &'a str) {
        match self.rest.split_once(char::is_whitespace) {
            Some((a, b)) => (Some(a), b.trim()),
            None if self.rest.is_empty() => (None, ""),
            None => (Some(self.rest), ""),
        }
    }
}

fn id_arg(a: &Args<'_>) -> Result<u64, String> {
    match a.words().as_slice() {
        [id] => id
            .trim_start_matches('#')
            .parse()
            .map_err(|_| format!("{id:?} is not a ledger entry id (a number, from /audit)")),
        [] => Err("give a ledger entry id (a number, from /audit)".into()),
        _ => Err("give one ledger entry id".into()),
    }
}

/// Every `/` command, in the order help lists them.
pub const COMMANDS: &[Slash] = &[
    Slash {
        name: "help",
        args: "",
        doc: "the commands and keys",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| a.none(Request::Help),
    },
    Slash {
        name: "clear",
        args: "",
        doc: "clear the transcript (the session goes on)",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| a.none(Request::Clear),
    },
    Slash {
        name: "model",
        args: "[NAME]",
        doc: "the session's model and the local models, or one's details",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| match a.words().as_slice() {
            [] => Ok(Request::Model(None)),
            [name] => Ok(Request::Model(Some((*name).to_string()))),
            _ => Err("give at most one model name".into()),
        },
    },
    Slash {
        name: "policy",
        args: "TOOL [ARGS]",
        doc: "how policy would decide a call (ARGS: a JSON object)",
        words: &[],
        takes: Takes::Tool,
        parse: |a| match a.split_first() {
            (Some(tool), args) => Ok(Request::Policy {
                tool: tool.to_string(),
                args: if args.is_empty() { "{}" } else { args }.to_string(),
            }),
            (None, _) => {
                Err("give a tool name, e.g. /policy fs.write {\"path\": \"/tmp/x\"}".into())
            }
        },
    },
    Slash {
        name: "grants",
        args: "[revoke ID]",
        doc: "your saved \"always\" grants, or revoke one",
        words: &["revoke"],
        takes: Takes::Nothing,
        parse: |a| match a.words().as_slice() {
            [] => Ok(Request::Grants { revoke: None }),
            ["revoke", id] => Ok(Request::Grants {
                revoke: Some((*id).to_string()),
            }),
            _ => Err("use /grants, or /grants revoke ID".into()),
        },
    },
    Slash {
        name: "audit",
        args: "[N]",
        doc: "the newest N audit ledger entries (default 20)",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| match a.words().as_slice() {
            [] => Ok(Request::Audit { limit: 20 }),
            [n] => n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .map(|limit| Request::Audit { limit })
                .ok_or_else(|| format!("{n:?} is not a count; e.g. /audit 50")),
            _ => Err("give at most one count".into()),
        },
    },
    Slash {
        name: "why",
        args: "ID",
        doc: "the chain behind a ledger entry, request to result",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| id_arg(a).map(Request::Why),
    },
    Slash {
        name: "undo",
        args: "ID",
        doc: "reverse a change by its ledger id (asks like any change)",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| id_arg(a).map(Request::Undo),
    },
    Slash {
        name: "tools",
        args: "[describe NAME]",
        doc: "the executor's tools, or one tool's arguments",
        words: &["describe"],
        takes: Takes::Tool,
        parse: |a| match a.words().as_slice() {
            [] => Ok(Request::Tools { describe: None }),
            ["describe", name] => Ok(Request::Tools {
                describe: Some((*name).to_string()),
            }),
            _ => Err("use /tools, or /tools describe NAME".into()),
        },
    },
    Slash {
        name: "theme",
        args: "[NAME]",
        doc: "the themes, or switch to one",
        words: &[],
        takes: Takes::Theme,
        parse: |a| match a.words().as_slice() {
            [] => Ok(Request::Theme(None)),
            [name] => Ok(Request::Theme(Some((*name).to_string()))),
            _ => Err("give at most one theme name".into()),
        },
    },
    Slash {
        name: "sessions",
        args: "",
        doc: "your sessions",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| a.none(Request::Sessions),
    },
    Slash {
        name: "attach",
        args: "ID",
        doc: "switch to another of your sessions",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| match a.words().as_slice() {
            [id] => Ok(Request::Attach((*id).to_string())),
            [] => Err("give a session id (from /sessions)".into()),
            _ => Err("give one session id".into()),
        },
    },
    Slash {
        name: "detach",
        args: "",
        doc: "leave; the session and its turn go on",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| a.none(Request::Detach),
    },
    Slash {
        name: "copy",
        args: "",
        doc: "copy the last answer or card to your clipboard",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| a.none(Request::Copy),
    },
    Slash {
        name: "quit",
        args: "",
        doc: "leave aios (also /exit, exit, quit, Ctrl-D)",
        words: &[],
        takes: Takes::Nothing,
        parse: |a| a.none(Request::Quit),
    },
];

/// Names that work but are not listed.
const ALIASES: &[(&str, &str)] = &[("exit", "quit"), ("?", "help")];

/// Whether `line` is meant as a `/` command: a slash, then a word of
/// letters, then a space or the end. `/etc/motd is what?` is a request
/// about a path, not a command.
pub fn is_command(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('/') else {
        return false;
    };
    let word = rest.split(char::is_whitespace).next().unwrap_or("");
    word == "?" || (!word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()))
}

/// The command named `name` (without the slash).
pub fn find(name: &str) -> Option<&'static Slash> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, n)| n);
    COMMANDS.iter().find(|c| c.name == name)
}

/// Parse a `/` command line (see [`is_command`]). The error is one line
/// for the user: for an unknown name it suggests the nearest one.
pub fn parse(line: &str) -> Result<Request, String> {
    let line = line.trim();
    let body = line.strip_prefix('/').unwrap_or(line);
    let (name, rest) = match body.split_once(char::is_whitespace) {
        Some((n, r)) => (n, r.trim()),
        None => (body, ""),
    };
    let Some(cmd) = find(name) else {
        let hint = match nearest(name) {
            Some(n) => format!("did you mean /{n}? "),
            None => String::new(),
        };
        return Err(format!(
            "unknown command /{name}: {hint}/help lists the commands"
        ));
    };
    (cmd.parse)(&Args { rest }).map_err(|e| format!("/{}: {e} (usage: {})", cmd.name, usage(cmd)))
}

/// `/name ARGS`.
pub fn usage(cmd: &Slash) -> String {
    if cmd.args.is_empty() {
        format!("/{}", cmd.name)
    } else {
        format!("/{} {}", cmd.name, cmd.args)
    }
}

/// The command name closest to `wanted`: one it starts, else the nearest
/// by edit distance when at most half of it differs.
pub fn nearest(wanted: &str) -> Option<&'static str> {
    if wanted.is_empty() {
        return None;
    }
    if let Some(c) = COMMANDS.iter().find(|c| c.name.starts_with(wanted)) {
        return Some(c.name);
    }
    COMMANDS
        .iter()
        .map(|c| (edit_distance(wanted, c.name), c.name))
        .filter(|(d, _)| *d <= wanted.chars().count().max(2) / 2)
        .min()
        .map(|(_, n)| n)
}

/// A line for the user while a command is typed: the usage and doc of
/// the one command the text names or starts, or the names it could
/// still become. `None` when the line is not a command.
pub fn suggest(line: &str) -> Option<String> {
    let body = line.strip_prefix('/')?;
    if line.contains('\n') || (!body.is_empty() && !is_command(line)) {
        return None;
    }
    let (name, typing_args) = match body.split_once(char::is_whitespace) {
        Some((n, _)) => (n, true),
        None => (body, false),
    };
    if typing_args {
        return find(name).map(|c| format!("{} — {}", usage(c), c.doc));
    }
    let matches: Vec<&Slash> = COMMANDS
        .iter()
        .filter(|c| c.name.starts_with(name))
        .collect();
    match matches.as_slice() {
        [] => None,
        [one] => Some(format!("{} — {}", usage(one), one.doc)),
        many => Some(
            many.iter()
                .map(|c| format!("/{}", c.name))
                .collect::<Vec<_>>()
                .join("  "),
        ),
    }
}

/// What Tab does to the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// The new input, when Tab changes it.
    pub line: Option<String>,
    /// The choices, when there is more than one.
    pub choices: Vec<String>,
}

/// The names completion offers after a command's name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    /// The executor's tool names.
    pub tools: &'a [String],
    /// The loaded themes' names.
    pub themes: &'a [String],
}

/// Complete the `/` command being typed: its name, a subcommand word, a
/// tool name or a theme name.
pub fn complete(line: &str, names: &Names<'_>) -> Completion {
    let tools = names.tools;
    if !line.starts_with('/') || line.contains('\n') {
        return Completion::default();
    }
    let body = &line[1..];
    let Some((name, rest)) = body.split_once(' ') else {
        let names: Vec<&str> = COMMANDS
            .iter()
            .map(|c| c.name)
            .filter(|n| n.starts_with(body))
            .collect();
        return pick("/", body, &names, |n| {
            find(n).is_some_and(|c| !c.args.is_empty())
        });
    };
    let Some(cmd) = find(name) else {
        return Completion::default();
    };
    let head = format!("/{name} ");
    let rest = rest.trim_start();
    // Still on the first word: a subcommand or a tool.
    if !rest.contains(' ') {
        let mut options: Vec<&str> = cmd
            .words
            .iter()
            .copied()
            .filter(|w| w.starts_with(rest))
            .collect();
        let first: &[String] = match cmd.takes {
            Takes::Tool if cmd.words.is_empty() => tools,
            Takes::Theme => names.themes,
            _ => &[],
        };
        options.extend(
            first
                .iter()
                .map(String::as_str)
                .filter(|t| t.starts_with(rest)),
        );
        // A theme is the last word; a subcommand or a tool has more after it.
        return pick(&head, rest, &options, |_| cmd.takes != Takes::Theme);
    }
    // `/tools describe fs.` : a tool after the subcommand.
    let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    if cmd.takes == Takes::Tool && cmd.words.contains(&word) && !tail.contains(' ') {
        let options: Vec<&str> = tools
            .iter()
            .map(String::as_str)
            .filter(|t| t.starts_with(tail))
            .collect();
        return pick(&format!("{head}{word} "), tail, &options, |_| false);
    }
    Completion::default()
}

/// Complete `typed` (after `head`) among `options`: one match is taken
/// whole (with a space when `more` says arguments follow), several are
/// extended to their common prefix and listed.
fn pick(head: &str, typed: &str, options: &[&str], more: impl Fn(&str) -> bool) -> Completion {
    match options {
        [] => Completion::default(),
        [one] => Completion {
            line: Some(format!("{head}{one}{}", if more(one) { " " } else { "" })),
            choices: vec![],
        },
        many => {
            let prefix = common_prefix(many);
            let mut choices: Vec<String> = many.iter().map(|s| s.to_string()).collect();
            choices.sort();
            choices.dedup();
            Completion {
                line: (prefix.len() > typed.len()).then(|| format!("{head}{prefix}")),
                choices,
            }
        }
    }
}

fn common_prefix(words: &[&str]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut end = first.len();
    for w in &words[1..] {
        end = first
            .char_indices()
            .zip(w.chars())
            .find(|((_, a), b)| a != b)
            .map_or(end.min(w.len()), |((i, _), _)| i.min(end));
    }
    first[..end].to_string()
}

/// Help rows: (usage, doc), in table order.
pub fn help_rows() -> Vec<(String, &'static str)> {
    COMMANDS.iter().map(|c| (usage(c), c.doc)).collect()
}

/// The commands section of `docs/TUI.md`, generated from [`COMMANDS`].
pub fn markdown() -> String {
    let mut out = String::from("| command | what it does |\n|---|---|\n");
    for (usage, doc) in help_rows() {
        out.push_str(&format!("| `{usage}` | {} |\n", doc.replace('|', "\\|")));
    }
    out
}

/// The commands as plain text, for `/help` in the line mode.
pub fn help_text() -> String {
    let rows = help_rows();
    let w = rows.iter().map(|(u, _)| u.len()).max().unwrap_or(0);
    let mut out = String::from("Commands (Tab completes them):\n");
    for (usage, doc) in rows {
        out.push_str(&format!("  {usage:<w$}  {doc}\n"));
    }
    out
}

#[cfg(test)]
mod tests;

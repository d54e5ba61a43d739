//! Theme files: TOML in `themes/` (compiled in) and in
//! `~/.config/aios/themes/` (the user's, overriding or adding by name).
//! A file has a `[palette]` of named colours and `[styles]` per role, and
//! may `inherits` another theme: palette and styles merge over the
//! parent's, and the parent's styles see the child's palette, so a variant
//! can be a palette alone. Every problem names the file, the line and the
//! key; a theme with a problem is left out and the default stands in, so a
//! bad file never stops the shell. `cargo xtask themecheck` runs
//! [`check_dir`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ratatui::style::{Color, Modifier, Style};
use toml::de::{DeTable, DeValue};

use super::color;
use super::theme::{GLYPH_SETS, Glyphs, ROLE_COUNT, ROLES, Role, Styles};

/// The theme used when none is chosen (and when the chosen one is broken).
pub const DEFAULT: &str = "default-dark";
/// The theme `TERM=linux` gets unless the user chose one.
pub const CONSOLE: &str = "console-16";
/// `syntect = "none"`: code blocks in the code role's style only.
pub const NO_SYNTECT: &str = "none";

/// The themes compiled into the binary: (name, file text).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "default-dark",
        include_str!("../../../themes/default-dark.toml"),
    ),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
    (
        "console-16",
        include_str!("../../../themes/console-16.toml"),
    ),
];

/// The modifiers a style may switch on, by key.
const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underline", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
];

/// What is wrong with a theme file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThemeProblem {
    /// The file could not be read.
    Read(String),
    /// Not valid TOML.
    Syntax(String),
    /// A key this format does not have.
    UnknownKey,
    /// A value of the wrong type.
    Expected(&'static str),
    /// A colour that is neither in the palette, an ANSI name nor `#rrggbb`.
    UnknownColour(String),
    /// `inherits` names no theme.
    UnknownParent(String),
    /// `inherits` comes back to the theme itself.
    Cycle(Vec<String>),
    /// Roles no file of the chain styles.
    MissingRoles(Vec<&'static str>),
    /// `syntect` names no theme syntect has.
    UnknownSyntect(String),
    /// `glyphs` names no glyph set.
    UnknownGlyphs(String),
}

/// A problem in one theme file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}{}{}", if key.is_empty() { "" } else { ": " }, describe(problem))]
pub struct ThemeError {
    /// The file (a path, or `themes/NAME.toml` for a compiled-in one).
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// The dotted key, e.g. `styles.user.fg`; empty for the whole file.
    pub key: String,
    problem: ThemeProblem,
}

impl ThemeError {
    /// What is wrong.
    pub fn problem(&self) -> &ThemeProblem {
        &self.problem
    }
}

fn describe(p: &ThemeProblem) -> String {
    match p {
        ThemeProblem::Read(e) => format!("cannot read: {e}"),
        ThemeProblem::Syntax(e) => format!("not valid TOML: {e}"),
        ThemeProblem::UnknownKey => "unknown key".into(),
        ThemeProblem::Expected(what) => format!("expected {what}"),
        ThemeProblem::UnknownColour(w) => format!(
            "unknown colour {w:?} (a [palette] name, #rrggbb, or one of {})",
            color::NAMES.join(", ")
        ),
        ThemeProblem::UnknownParent(n) => format!("no theme called {n:?} to inherit from"),
        ThemeProblem::Cycle(chain) => format!("inherits in a circle: {}", chain.join(" -> ")),
        ThemeProblem::MissingRoles(r) => format!("no style for {}", r.join(", ")),
        ThemeProblem::UnknownSyntect(n) => {
            format!("syntect has no theme {n:?} (see `cargo xtask themecheck --list`)")
        }
        ThemeProblem::UnknownGlyphs(n) => {
            format!("no glyph set {n:?} (one of {})", GLYPH_SETS.join(", "))
        }
    }
}

/// A colour word and where it was written.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    line: usize,
    key: String,
}

#[derive(Debug, Clone, Default)]
struct RawStyle {
    fg: Option<Word>,
    bg: Option<Word>,
    modifiers: Modifier,
}

/// One theme file, parsed but not yet merged with its parents.
#[derive(Debug, Clone)]
struct Parsed {
    file: String,
    description: Option<String>,
    inherits: Option<Word>,
    syntect: Option<Word>,
    glyphs: Option<Glyphs>,
    palette: BTreeMap<String, Word>,
    styles: BTreeMap<usize, (RawStyle, String)>,
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parse one file: what could be read, and every problem found (a file
/// with any is not used, but what it says is still checked further, so one
/// run reports as much as it can). Invalid TOML is only an error.
fn parse(file: &str, text: &str) -> Result<(Parsed, Vec<ThemeError>), Vec<ThemeError>> {
    let err = |line: usize, key: &str, problem| ThemeError {
        file: file.to_string(),
        line,
        key: key.to_string(),
        problem,
    };
    let table = match DeTable::parse(text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            let msg = e.message().lines().next().unwrap_or("").to_string();
            return Err(vec![err(line, "", ThemeProblem::Syntax(msg))]);
        }
    };
    let mut errors = Vec::new();
    let mut p = Parsed {
        file: file.to_string(),
        description: None,
        inherits: None,
        syntect: None,
        glyphs: None,
        palette: BTreeMap::new(),
        styles: BTreeMap::new(),
    };
    let string = |v: &DeValue<'_>| match v {
        DeValue::String(s) => Some(s.to_string()),
        _ => None,
    };
    for (k, v) in &table {
        let key = k.get_ref().as_ref();
        let line = line_of(text, k.span().start);
        let word = |errors: &mut Vec<ThemeError>| match string(v.get_ref()) {
            Some(s) => Some(Word {
                text: s,
                line,
                key: key.to_string(),
            }),
            None => {
                errors.push(err(line, key, ThemeProblem::Expected("a string")));
                None
            }
        };
        match key {
            "description" => p.description = word(&mut errors).map(|w| w.text),
            "inherits" => p.inherits = word(&mut errors),
            "syntect" => p.syntect = word(&mut errors),
            "glyphs" => {
                if let Some(w) = word(&mut errors) {
                    match Glyphs::named(&w.text) {
                        Some(g) => p.glyphs = Some(g),
                        None => errors.push(err(line, key, ThemeProblem::UnknownGlyphs(w.text))),
                    }
                }
            }
            "palette" => {
                let DeValue::Table(t) = v.get_ref() else {
                    errors.push(err(line, key, ThemeProblem::Expected("a table")));
                    continue;
                };
                for (name, c) in t {
                    let line = line_of(text, name.span().start);
                    let key = format!("palette.{}", name.get_ref());
                    match string(c.get_ref()) {
                        Some(w) if color::parse(&w).is_some() => {
                            p.palette
                                .insert(name.get_ref().to_string(), Word { text: w, line, key });
                        }
                        Some(w) => errors.push(err(line, &key, ThemeProblem::UnknownColour(w))),
                        None => errors.push(err(line, &key, ThemeProblem::Expected("a string"))),
                    }
                }
            }
            "styles" => {
                let DeValue::Table(t) = v.get_ref() else {
                    errors.push(err(line, key, ThemeProblem::Expected("a table")));
                    continue;
                };
                for (role, s) in t {
                    let line = line_of(text, role.span().start);
                    let key = format!("styles.{}", role.get_ref());
                    let Some(r) = Role::from_key(role.get_ref()) else {
                        errors.push(err(line, &key, ThemeProblem::UnknownKey));
                        continue;
                    };
                    let (st, es) = parse_style(text, &key, line, s.get_ref());
                    errors.extend(es.into_iter().map(|(l, k, pr)| err(l, &k, pr)));
                    p.styles.insert(r as usize, (st, key));
                }
            }
            _ => errors.push(err(line, key, ThemeProblem::UnknownKey)),
        }
    }
    Ok((p, errors))
}

type Found = (usize, String, ThemeProblem);

/// `{ fg = "...", bg = "...", bold = true, ... }`: what could be read,
/// and the problems.
fn parse_style(text: &str, key: &str, line: usize, v: &DeValue<'_>) -> (RawStyle, Vec<Found>) {
    let DeValue::Table(t) = v else {
        let problem = ThemeProblem::Expected("a table like { fg = \"cyan\", bold = true }");
        return (RawStyle::default(), vec![(line, key.to_string(), problem)]);
    };
    let mut s = RawStyle::default();
    let mut errors = Vec::new();
    for (k, v) in t {
        let line = line_of(text, k.span().start);
        let name = k.get_ref().as_ref();
        let full = format!("{key}.{name}");
        match (name, v.get_ref()) {
            ("fg" | "bg", DeValue::String(w)) => {
                let w = Some(Word {
                    text: w.to_string(),
                    line,
                    key: full,
                });
                if name == "fg" {
                    s.fg = w;
                } else {
                    s.bg = w;
                }
            }
            ("fg" | "bg", _) => errors.push((line, full, ThemeProblem::Expected("a string"))),
            (m, value) => match MODIFIERS.iter().find(|(n, _)| *n == m) {
                Some((_, flag)) => match value {
                    DeValue::Boolean(true) => s.modifiers |= *flag,
                    DeValue::Boolean(false) => {}
                    _ => errors.push((line, full, ThemeProblem::Expected("true or false"))),
                },
                None => errors.push((line, full, ThemeProblem::UnknownKey)),
            },
        }
    }
    (s, errors)
}

/// Every theme that loaded, and the problems of those that did not.
#[derive(Debug, Clone, Default)]
pub struct ThemeSet {
    themes: BTreeMap<String, Arc<Styles>>,
    syntect: BTreeMap<String, Word>,
    /// What was wrong with the files left out.
    pub problems: Vec<ThemeError>,
}

impl ThemeSet {
    /// Load `sources` (name, file label, text); later sources override
    /// earlier ones of the same name.
    pub fn from_sources(sources: &[(String, String, String)]) -> ThemeSet {
        let mut set = ThemeSet::default();
        let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
        let mut broken: Vec<(String, Parsed)> = Vec::new();
        for (name, file, text) in sources {
            match parse(file, text) {
                Ok((p, es)) if es.is_empty() => {
                    parsed.insert(name.clone(), p);
                }
                Ok((p, es)) => {
                    set.problems.extend(es);
                    broken.push((name.clone(), p));
                }
                Err(es) => set.problems.extend(es),
            }
        }
        for name in parsed.keys() {
            match resolve(name, &parsed) {
                Ok(styles) => {
                    set.themes.insert(name.clone(), Arc::new(styles));
                    if let Some(w) = chain_syntect(name, &parsed) {
                        set.syntect.insert(name.clone(), w);
                    }
                }
                Err(e) => set.problems.push(e),
            }
        }
        // A broken file is left out, but the rest of it is checked too.
        for (name, p) in broken {
            let mut with = parsed.clone();
            with.insert(name.clone(), p);
            if let Err(e) = resolve(&name, &with) {
                set.problems.push(e);
            }
            if let Some(w) = chain_syntect(&name, &with) {
                set.syntect.insert(format!("{name} (broken)"), w);
            }
        }
        set
    }

    /// The compiled-in themes.
    pub fn embedded() -> ThemeSet {
        ThemeSet::from_sources(&embedded_sources())
    }

    /// The compiled-in themes plus `dir/*.toml` (the user's), which
    /// override a compiled-in theme of the same name and add new ones.
    pub fn load(dir: Option<&Path>) -> ThemeSet {
        let mut sources = embedded_sources();
        let mut unread = Vec::new();
        if let Some(dir) = dir {
            read_dir(dir, &mut sources, &mut unread);
        }
        let mut set = ThemeSet::from_sources(&sources);
        // A user's file that breaks a compiled-in theme: the compiled-in
        // one stays.
        for (name, file, text) in embedded_sources() {
            if let std::collections::btree_map::Entry::Vacant(slot) = set.themes.entry(name) {
                let alone = ThemeSet::from_sources(&[(slot.key().clone(), file, text)]);
                if let Some(s) = alone.themes.get(slot.key()).cloned() {
                    slot.insert(s);
                }
            }
        }
        set.problems.extend(unread);
        set
    }

    /// The names of the themes that loaded, sorted.
    pub fn names(&self) -> Vec<String> {
        self.themes.keys().cloned().collect()
    }

    /// The styles of the theme `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Styles>> {
        self.themes.get(name).cloned()
    }

    /// Problems of syntect theme names against `known` (syntect's own);
    /// kept apart from loading so the shell never pays for syntect's
    /// theme set at start.
    pub fn check_syntect(&self, known: &[String]) -> Vec<ThemeError> {
        self.syntect
            .values()
            .filter(|w| w.text != NO_SYNTECT && !known.contains(&w.text))
            .map(|w| ThemeError {
                file: w.key.clone(),
                line: w.line,
                key: "syntect".into(),
                problem: ThemeProblem::UnknownSyntect(w.text.clone()),
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

impl PartialOrd for ThemeError {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ThemeError {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.file, self.line, &self.key).cmp(&(&other.file, other.line, &other.key))
    }
}

fn embedded_sources() -> Vec<(String, String, String)> {
    EMBEDDED
        .iter()
        .map(|(n, t)| (n.to_string(), format!("themes/{n}.toml"), t.to_string()))
        .collect()
}

/// Append `dir/*.toml` (sorted, so the result does not depend on the
/// directory's order); a missing directory is no problem.
fn read_dir(dir: &Path, sources: &mut Vec<(String, String, String)>, errs: &mut Vec<ThemeError>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((name.to_string(), path.display().to_string(), text)),
            Err(e) => errs.push(ThemeError {
                file: path.display().to_string(),
                line: 1,
                key: String::new(),
                problem: ThemeProblem::Read(e.to_string()),
            }),
        }
    }
}

/// The chain from `name` up through its parents, or where it breaks.
fn chain<'a>(
    name: &str,
    parsed: &'a BTreeMap<String, Parsed>,
) -> Result<Vec<&'a Parsed>, ThemeError> {
    let mut seen = vec![name.to_string()];
    let mut out = Vec::new();
    let mut cur = name.to_string();
    while let Some(p) = parsed.get(&cur) {
        out.push(p);
        let Some(parent) = &p.inherits else {
            return Ok(out);
        };
        let at = |problem| ThemeError {
            file: p.file.clone(),
            line: parent.line,
            key: "inherits".into(),
            problem,
        };
        if seen.contains(&parent.text) {
            seen.push(parent.text.clone());
            return Err(at(ThemeProblem::Cycle(seen)));
        }
        if !parsed.contains_key(&parent.text) {
            return Err(at(ThemeProblem::UnknownParent(parent.text.clone())));
        }
        seen.push(parent.text.clone());
        cur = parent.text.clone();
    }
    Ok(out)
}

fn chain_syntect(name: &str, parsed: &BTreeMap<String, Parsed>) -> Option<Word> {
    let chain = chain(name, parsed).ok()?;
    chain.iter().find_map(|p| {
        p.syntect.clone().map(|mut w| {
            // Where it was written, for the error: the key carries the file.
            w.key = p.file.clone();
            w
        })
    })
}

/// Merge the chain of `name` (the theme's own words win) and turn every
/// colour word into a colour.
fn resolve(name: &str, parsed: &BTreeMap<String, Parsed>) -> Result<Styles, ThemeError> {
    let chain = chain(name, parsed)?;
    let own = chain[0];
    let mut palette: BTreeMap<&str, &Word> = BTreeMap::new();
    let mut styles: BTreeMap<usize, (&RawStyle, &Parsed)> = BTreeMap::new();
    let (mut syntect, mut glyphs, mut description) = (None, None, None);
    for p in chain.iter().rev() {
        palette.extend(p.palette.iter().map(|(k, v)| (k.as_str(), v)));
        styles.extend(p.styles.iter().map(|(k, (s, _))| (*k, (s, *p))));
        syntect = p.syntect.as_ref().map(|w| w.text.clone()).or(syntect);
        glyphs = p.glyphs.or(glyphs);
        description = p.description.clone().or(description);
    }
    let missing: Vec<&'static str> = ROLES
        .iter()
        .filter(|(r, ..)| !styles.contains_key(&(*r as usize)))
        .map(|(_, k, _)| *k)
        .collect();
    if !missing.is_empty() {
        return Err(ThemeError {
            file: own.file.clone(),
            line: 1,
            key: "styles".into(),
            problem: ThemeProblem::MissingRoles(missing),
        });
    }
    let colour = |w: &Word, file: &str| -> Result<Color, ThemeError> {
        palette
            .get(w.text.as_str())
            .and_then(|p| color::parse(&p.text))
            .or_else(|| color::parse(&w.text))
            .ok_or_else(|| ThemeError {
                file: file.to_string(),
                line: w.line,
                key: w.key.clone(),
                problem: ThemeProblem::UnknownColour(w.text.clone()),
            })
    };
    let mut roles = [Style::default(); ROLE_COUNT];
    for (i, (raw, p)) in styles {
        let mut s = Style::default().add_modifier(raw.modifiers);
        if let Some(w) = &raw.fg {
            s = s.fg(colour(w, &p.file)?);
        }
        if let Some(w) = &raw.bg {
            s = s.bg(colour(w, &p.file)?);
        }
        roles[i] = s;
    }
    Ok(Styles {
        name: name.to_string(),
        description: description.unwrap_or_default(),
        roles,
        syntect: syntect.filter(|s| s != NO_SYNTECT),
        glyphs,
    })
}

/// The default theme's styles, resolved once.
pub fn default_styles() -> Arc<Styles> {
    static DEFAULT_STYLES: OnceLock<Arc<Styles>> = OnceLock::new();
    DEFAULT_STYLES
        .get_or_init(|| {
            let (_, text) = EMBEDDED[0];
            ThemeSet::from_sources(&[(
                DEFAULT.into(),
                "themes/default-dark.toml".into(),
                text.into(),
            )])
            .get(DEFAULT)
            // A test keeps the compiled-in default valid; this is only
            // the last resort so drawing never fails.
            .unwrap_or_else(|| {
                Arc::new(Styles {
                    name: DEFAULT.into(),
                    description: String::new(),
                    roles: [Style::default(); ROLE_COUNT],
                    syntect: None,
                    glyphs: None,
                })
            })
        })
        .clone()
}

/// Every problem of the theme files in `dir` (checked as a set, since
/// they inherit from each other), syntect theme names included against
/// `syntect_themes`. Empty means the directory is good.
pub fn check_dir(dir: &Path, syntect_themes: &[String]) -> Vec<ThemeError> {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    read_dir(dir, &mut sources, &mut problems);
    let set = ThemeSet::from_sources(&sources);
    problems.extend(set.problems.iter().cloned());
    problems.extend(set.check_syntect(syntect_themes));
    problems.sort();
    problems.dedup();
    problems
}

#[cfg(test)]
#[path = "themes_tests.rs"]
mod tests;

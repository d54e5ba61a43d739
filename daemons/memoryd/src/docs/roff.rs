//! Man page source (roff with the `man` or `mdoc` macros) to plain text, in sections.
//!
//! Pure: no I/O, so it runs at thousands of pages a second and is tested on real snippets.
//! It is not a typesetter: it keeps the words a reader (and BM25, and an embedding model)
//! needs and drops layout. Fonts, sizes, motions and registers vanish; special characters
//! become their plain equivalents; requests that only lay out (`.in`, `.ta`, `.ne`, …)
//! are dropped; definitions (`.de`, `.ig`) and branches taken only by a typesetter
//! (`.if t`) are skipped, while nroff's branches (`.if n`) are kept, as `man` on a terminal
//! would show them.

use std::collections::HashMap;

/// A page as plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// `.TH` / `.Dt`: the page's own name and section, as it spells them.
    pub title: Option<(String, String)>,
    /// Sections in order; text before the first heading goes in one with an empty heading.
    pub sections: Vec<Section>,
}

/// One `.SH` / `.Sh` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// The heading, as written (usually upper case: `NAME`, `DESCRIPTION`).
    pub heading: String,
    /// Paragraphs separated by blank lines; lines within a paragraph by `\n`.
    pub text: String,
}

impl Page {
    /// The one-line summary from NAME (`chattr - change file attributes …`), if any.
    pub fn summary(&self) -> Option<String> {
        let name = self
            .sections
            .iter()
            .find(|s| s.heading.eq_ignore_ascii_case("NAME"))?;
        let line = name.text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!line.is_empty()).then_some(line)
    }
}

/// Where a page that is only a `.so` redirect points (`man1/gzip.1`), relative to the
/// manual's root.
pub fn so_target(src: &str) -> Option<&str> {
    let mut target = None;
    for line in src.lines() {
        let t = line.trim();
        if t.is_empty() || is_comment(t) {
            continue;
        }
        match t.strip_prefix(".so") {
            Some(rest) if target.is_none() && rest.starts_with([' ', '\t']) => {
                target = Some(rest.trim());
            }
            _ => return None,
        }
    }
    target
}

fn is_comment(line: &str) -> bool {
    line.starts_with(".\\\"")
        || line.starts_with("'\\\"")
        || line.starts_with("\\\"")
        || line.starts_with(".\\#")
        || line == "."
        || line == "'"
}

/// Macros of mdoc that appear as words inside other mdoc lines (`.Op Fl v Ar file`).
const MDOC_INLINE: &[&str] = &[
    "Ad", "An", "Ao", "Ac", "Aq", "Ar", "At", "Bc", "Bo", "Bq", "Brc", "Bro", "Brq", "Bsx", "Bx",
    "Cd", "Cm", "Dc", "Do", "Dq", "Dv", "Dx", "Ec", "Em", "Eo", "Er", "Es", "Ev", "Fa", "Fc", "Fl",
    "Fn", "Fo", "Ft", "Fx", "Ic", "In", "Li", "Lk", "Ms", "Mt", "Nm", "No", "Ns", "Nx", "Oc", "Oo",
    "Op", "Ot", "Ox", "Pa", "Pc", "Pf", "Po", "Pq", "Qc", "Ql", "Qo", "Qq", "Sc", "So", "Sq", "St",
    "Sx", "Sy", "Tn", "Ux", "Va", "Vt", "Xc", "Xo", "Xr",
];

/// Requests and macros that only lay text out, or define things: dropped with their
/// arguments.
const IGNORED: &[&str] = &[
    "ad",
    "als",
    "bd",
    "bp",
    "cc",
    "ce",
    "ch",
    "char",
    "cs",
    "cu",
    "do",
    "ec",
    "eo",
    "ev",
    "fam",
    "fc",
    "fcolor",
    "fl",
    "fp",
    "ft",
    "gcolor",
    "hc",
    "hla",
    "hlm",
    "hw",
    "hy",
    "hym",
    "in",
    "lf",
    "ll",
    "ls",
    "lt",
    "mc",
    "mk",
    "mso",
    "na",
    "ne",
    "nh",
    "nm",
    "nn",
    "nr",
    "ns",
    "os",
    "pc",
    "pl",
    "pm",
    "pn",
    "po",
    "ps",
    "rchar",
    "rm",
    "rn",
    "rr",
    "rs",
    "rt",
    "so",
    "ss",
    "sv",
    "ta",
    "tc",
    "ti",
    "tm",
    "tr",
    "uf",
    "ul",
    "vs",
    "wh",
    "RS",
    "RE",
    "PD",
    "DT",
    "UC",
    "AT",
    "IX",
    "Dd",
    "Os",
    "Bl",
    "El",
    "Ed",
    "Bk",
    "Ek",
    "Bf",
    "Ef",
    "Rs",
    "Re",
    "%A",
    "%B",
    "%C",
    "%D",
    "%I",
    "%J",
    "%N",
    "%O",
    "%P",
    "%Q",
    "%R",
    "%T",
    "%U",
    "%V",
    "UE",
    "ME",
    "LINKSTYLE",
    "Sm",
];

#[derive(Default)]
struct Writer {
    page: Page,
    heading: String,
    buf: String,
    nofill: bool,
    /// The next text line is a `.TP` tag: a line of its own.
    tag_pending: bool,
    /// `.SH` without arguments: the next text line is the heading.
    heading_pending: bool,
    /// The previous line ended in `\c`: join the next one without a space.
    join: bool,
    /// The name from the first `.Nm`, for bare `.Nm` later.
    mdoc_name: String,
}

impl Writer {
    fn text(&mut self, s: &str) {
        if self.heading_pending {
            self.heading_pending = false;
            self.start_section(s.trim().to_string());
            return;
        }
        let (s, join_next) = match s.strip_suffix("\u{E000}") {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        if self.nofill {
            self.buf.push_str(s.trim_end());
            if !join_next {
                self.buf.push('\n');
            }
        } else {
            let s = if join_next { s.trim_start() } else { s.trim() };
            if s.is_empty() {
                self.join = join_next;
                return;
            }
            if !self.join && !self.buf.is_empty() && !self.buf.ends_with(['\n', ' ']) {
                self.buf.push(' ');
            }
            self.buf.push_str(s);
        }
        self.join = join_next;
        if self.tag_pending && !join_next {
            self.tag_pending = false;
            self.line_break();
        }
    }

    fn line_break(&mut self) {
        trim_end_spaces(&mut self.buf);
        if !self.buf.is_empty() && !self.buf.ends_with('\n') {
            self.buf.push('\n');
        }
    }

    fn paragraph(&mut self) {
        trim_end_spaces(&mut self.buf);
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            if !self.buf.ends_with('\n') {
                self.buf.push('\n');
            }
            self.buf.push('\n');
        }
        self.join = false;
    }

    fn start_section(&mut self, heading: String) {
        self.flush();
        self.heading = heading;
    }

    fn flush(&mut self) {
        let text = std::mem::take(&mut self.buf);
        let text = text.trim().to_string();
        let heading = std::mem::take(&mut self.heading);
        if !text.is_empty() || !heading.is_empty() {
            self.page.sections.push(Section { heading, text });
        }
        self.tag_pending = false;
        self.join = false;
    }
}

fn trim_end_spaces(s: &mut String) {
    while s.ends_with([' ', '\t']) {
        s.pop();
    }
}

/// A request line without its comment (`\"` or `\#` to the end).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' {
            if b[i + 1] == b'"' || b[i + 1] == b'#' {
                return &line[..i];
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    line
}

/// Splits a request's arguments: blanks separate them, double quotes group them (`""` is
/// a quote inside quotes).
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        arg.push('"');
                    } else {
                        break;
                    }
                } else {
                    arg.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' || c == '\t' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        out.push(arg);
    }
    out
}

/// A special character by its groff name (`\(em`, `\[em]`).
fn special(name: &str) -> Option<&'static str> {
    Some(match name {
        "em" => "\u{2014}",
        "en" => "\u{2013}",
        "hy" | "mi" | "-" | "\\-" => "-",
        "bu" => "\u{2022}",
        "aq" | "oq" | "cq" | "fm" => "'",
        "dq" | "lq" | "rq" | "Fo" | "Fc" | "fo" | "fc" => "\"",
        "ga" => "`",
        "ha" | "a^" => "^",
        "ti" | "a~" => "~",
        "rs" => "\\",
        "sl" => "/",
        "ba" | "br" | "or" | "bv" => "|",
        "ul" | "ru" => "_",
        "pl" => "+",
        "eq" => "=",
        "co" => "\u{a9}",
        "rg" => "\u{ae}",
        "tm" => "\u{2122}",
        "de" => "\u{b0}",
        "+-" => "\u{b1}",
        "mu" => "\u{d7}",
        "di" => "\u{f7}",
        "<=" => "<=",
        ">=" => ">=",
        "!=" => "!=",
        "->" | "rA" | "ra" => "->",
        "<-" | "lA" | "la" => "<-",
        "<>" | "hA" => "<->",
        "sc" => "\u{a7}",
        "ps" => "\u{b6}",
        "dg" => "\u{2020}",
        "dd" => "\u{2021}",
        "ss" => "\u{df}",
        "'e" => "\u{e9}",
        "`e" => "\u{e8}",
        "'a" => "\u{e1}",
        ":a" => "\u{e4}",
        ":o" => "\u{f6}",
        ":u" => "\u{fc}",
        "~n" => "\u{f1}",
        ",c" => "\u{e7}",
        "ua" => "\u{2191}",
        "da" => "\u{2193}",
        "sq" => "\u{25a1}",
        "ci" => "\u{25cb}",
        "lB" => "[",
        "rB" => "]",
        "lC" => "{",
        "rC" => "}",
        "la_" => "<",
        "Lq" => "\"",
        "Rq" => "\"",
        "Ba" => "|",
        _ => return None,
    })
}

/// A predefined string (`\*(lq`, `\*[R]`), or one the page defined with `.ds`.
fn string_value(name: &str, defined: &HashMap<String, String>) -> String {
    if let Some(v) = defined.get(name) {
        return v.clone();
    }
    match name {
        "lq" | "rq" | "Lq" | "Rq" => "\"".into(),
        "R" => "\u{ae}".into(),
        "Tm" => "\u{2122}".into(),
        "aq" => "'".into(),
        _ => String::new(),
    }
}

/// Reads an escape's name: `(xx`, `[name]` or one character.
fn escape_name(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    match chars.next() {
        Some('(') => chars.by_ref().take(2).collect(),
        Some('[') => chars.by_ref().take_while(|c| *c != ']').collect(),
        Some(c) => c.to_string(),
        None => String::new(),
    }
}

/// Skips a delimited argument (`\h'1i'`, `\w"x"`).
fn skip_delimited(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    if let Some(delim) = chars.next() {
        for c in chars.by_ref() {
            if c == delim {
                break;
            }
        }
    }
}

/// Escapes to plain text. A trailing `\c` becomes U+E000 (a private-use mark the writer
/// reads as "join the next line").
fn unescape(s: &str, defined: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        match e {
            '"' | '#' => break,
            '\\' | 'e' | 'E' => out.push('\\'),
            '-' => out.push('-'),
            '.' => out.push('.'),
            '\'' => out.push('\''),
            '`' => out.push('`'),
            ' ' | '~' | '0' | '_' => out.push(' '),
            't' => out.push('\t'),
            '&' | '|' | '^' | '%' | ':' | ',' | '/' | ')' | 'a' | 'u' | 'd' | 'r' | 'p' => {}
            'c' => {
                if chars.peek().is_none() {
                    out.push('\u{E000}');
                }
            }
            'f' | 'F' | 'n' | 'g' | 'k' | 'm' | 'M' | 'V' | 'Y' | '$' => {
                if e == 'n' && matches!(chars.peek(), Some('+' | '-')) {
                    chars.next();
                }
                let _ = escape_name(&mut chars);
            }
            '*' => {
                let name = escape_name(&mut chars);
                out.push_str(&string_value(&name, defined));
            }
            '(' => {
                let name: String = chars.by_ref().take(2).collect();
                out.push_str(special(&name).unwrap_or(""));
            }
            '[' => {
                let name: String = chars.by_ref().take_while(|c| *c != ']').collect();
                if let Some(hex) = name.strip_prefix('u')
                    && let Ok(n) = u32::from_str_radix(hex.split('_').next().unwrap_or(""), 16)
                    && let Some(ch) = char::from_u32(n)
                {
                    out.push(ch);
                } else {
                    out.push_str(special(&name).unwrap_or(""));
                }
            }
            's' => {
                // \s+2 \s-1 \s0 \s(12 \s[12] \s'12'
                if let Some('+' | '-') = chars.peek() {
                    chars.next();
                }
                match chars.peek() {
                    Some('(') => {
                        chars.next();
                        chars.next();
                        chars.next();
                    }
                    Some('[') => {
                        chars.next();
                        for c in chars.by_ref() {
                            if c == ']' {
                                break;
                            }
                        }
                    }
                    Some('\'') => skip_delimited(&mut chars),
                    Some(d) if d.is_ascii_digit() => {
                        let first = chars.next();
                        // One digit, or two when the first is 1-3 (\s12).
                        if matches!(first, Some('1'..='3'))
                            && chars.peek().is_some_and(char::is_ascii_digit)
                        {
                            chars.next();
                        }
                    }
                    _ => {}
                }
            }
            'h' | 'v' | 'w' | 'l' | 'L' | 'D' | 'o' | 'X' | 'Z' | 'b' | 'x' | 'S' | 'H' | 'R'
            | 'N' | 'A' | 'B' | 'C' => {
                if e == 'C' {
                    let mut name = String::new();
                    if let Some(delim) = chars.next() {
                        for c in chars.by_ref() {
                            if c == delim {
                                break;
                            }
                            name.push(c);
                        }
                    }
                    out.push_str(special(&name).unwrap_or(""));
                } else {
                    skip_delimited(&mut chars);
                }
            }
            'z' => {}
            '{' | '}' => {}
            other => out.push(other),
        }
    }
    out
}

/// How a conditional's branch is taken: nroff's `n` is true, `t` and the rest are not
/// (we read pages as `man` shows them on a terminal); `!` negates.
fn condition_true(cond: &str) -> bool {
    match cond.strip_prefix('!') {
        Some(rest) => !condition_true(rest),
        None => cond == "n",
    }
}

/// The body of `.if COND BODY` / `.ie COND BODY`: (condition, body).
fn split_condition(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start();
    // Quoted string comparisons ('a'b') and numeric expressions: take up to the blank.
    let end = rest.find([' ', '\t']).unwrap_or(rest.len());
    (&rest[..end], rest[end..].trim_start())
}

/// Converts man page source to sections of plain text.
pub fn to_text(src: &str) -> Page {
    let mut w = Writer::default();
    let mut strings: HashMap<String, String> = HashMap::new();
    let mut lines = src.lines();
    // `.de`/`.ig` bodies: skip until this terminator.
    let mut skip_until: Option<String> = None;
    // Depth of `\{ … \}` blocks being skipped, and of those being kept.
    let mut skip_depth = 0usize;
    let mut last_ie = true;
    // In a table: the format lines (until one ending in '.') are not text.
    let mut table_format = false;
    let mut in_table = false;
    let mut pending: Vec<String> = Vec::new();
    loop {
        let line = match pending.pop() {
            Some(l) => l,
            None => match lines.next() {
                Some(l) => l.to_string(),
                None => break,
            },
        };
        if let Some(end) = &skip_until {
            if line.trim_start().starts_with(end.as_str()) {
                skip_until = None;
            }
            continue;
        }
        if skip_depth > 0 {
            skip_depth += line.matches("\\{").count();
            skip_depth = skip_depth.saturating_sub(line.matches("\\}").count());
            continue;
        }
        if is_comment(line.trim_start()) {
            continue;
        }
        if in_table {
            let t = line.trim();
            if t.starts_with(".TE") {
                in_table = false;
                w.paragraph();
                continue;
            }
            if table_format {
                if t.ends_with('.') {
                    table_format = false;
                }
                continue;
            }
            if t.starts_with('.') || t.starts_with('\'') {
                if t.starts_with(".T&") {
                    table_format = true;
                }
                // Requests inside a table (.sp, .br) do not carry text.
                continue;
            }
            let cells = t
                .replace("T{", "")
                .replace("T}", "")
                .split('\t')
                .map(|c| unescape(c, &strings).trim().to_string())
                .filter(|c| !c.is_empty() && c != "_" && c != "=")
                .collect::<Vec<_>>()
                .join("  ");
            if !cells.is_empty() {
                w.text(&cells);
                w.line_break();
            }
            continue;
        }
        let Some(first) = line.chars().next() else {
            // A blank line is a paragraph break in fill mode, an empty line in no-fill.
            if w.nofill {
                w.buf.push('\n');
            } else {
                w.paragraph();
            }
            continue;
        };
        if first != '.' && first != '\'' {
            let text = unescape(&line, &strings);
            if text.trim().is_empty() && !w.nofill {
                continue;
            }
            w.text(&text);
            continue;
        }
        let body = strip_comment(&line[1..]).trim_start();
        let (name, rest) = match body.find([' ', '\t', '\\']) {
            Some(i) => (&body[..i], body[i..].trim_start()),
            None => (body, ""),
        };
        // `.\}` closes a kept block.
        if name.is_empty() {
            continue;
        }
        match name {
            "TH" | "Dt" => {
                let a = split_args(&unescape(rest, &strings));
                if let (Some(n), Some(s)) = (a.first(), a.get(1)) {
                    w.page.title = Some((n.clone(), s.clone()));
                }
            }
            "SH" | "Sh" => {
                let a = split_args(&unescape(rest, &strings));
                if a.is_empty() {
                    w.heading_pending = true;
                    w.flush();
                } else {
                    w.start_section(a.join(" "));
                }
            }
            "SS" | "Ss" => {
                w.paragraph();
                let a = split_args(&unescape(rest, &strings));
                if !a.is_empty() {
                    w.text(&a.join(" "));
                    w.line_break();
                }
            }
            "PP" | "P" | "LP" | "sp" | "HP" | "Pp" | "Lp" => w.paragraph(),
            "br" => w.line_break(),
            "TP" | "TQ" => {
                w.paragraph();
                w.tag_pending = true;
            }
            "IP" | "It" => {
                w.paragraph();
                let a = if name == "It" {
                    mdoc_words(rest, &strings, &mut w.mdoc_name)
                } else {
                    split_args(&unescape(rest, &strings))
                        .into_iter()
                        .next()
                        .unwrap_or_default()
                };
                if !a.trim().is_empty() {
                    w.text(&a);
                    w.line_break();
                }
            }
            "nf" | "EX" => {
                w.line_break();
                w.nofill = true;
            }
            "fi" | "EE" => {
                w.nofill = false;
                w.paragraph();
            }
            "Bd" => {
                w.paragraph();
                w.nofill = rest.contains("-literal") || rest.contains("-unfilled");
            }
            "Ed" => {
                w.nofill = false;
                w.paragraph();
            }
            "TS" => {
                w.paragraph();
                in_table = true;
                table_format = true;
            }
            "de" | "de1" | "am" | "ig" => {
                let a = split_args(rest);
                let end = if name == "ig" { a.first() } else { a.get(1) };
                skip_until = Some(format!(".{}", end.map_or(".", String::as_str)));
            }
            "ds" | "ds1" => {
                if let Some((n, v)) = rest.split_once([' ', '\t']) {
                    let v = v.strip_prefix('"').unwrap_or(v);
                    let value = unescape(v, &strings);
                    strings.insert(n.to_string(), value);
                }
            }
            "if" | "ie" | "el" => {
                let (take, body) = if name == "el" {
                    (!last_ie, rest)
                } else {
                    let (cond, body) = split_condition(rest);
                    let t = condition_true(cond);
                    if name == "ie" {
                        last_ie = t;
                    }
                    (t, body)
                };
                let opens = body.contains("\\{");
                if take {
                    let body = body.replacen("\\{\\", "", 1).replacen("\\{", "", 1);
                    if !body.trim().is_empty() {
                        pending.push(body.trim_start().to_string());
                    }
                } else if opens {
                    skip_depth = body.matches("\\{").count();
                    skip_depth = skip_depth.saturating_sub(body.matches("\\}").count());
                }
            }
            "B" | "I" | "SM" | "SB" | "Tn" => {
                let text = split_args(&unescape(rest, &strings)).join(" ");
                if !text.is_empty() {
                    w.text(&text);
                }
            }
            "BR" | "RB" | "IR" | "RI" | "BI" | "IB" => {
                let text = split_args(&unescape(rest, &strings)).concat();
                w.text(&text);
            }
            "UR" | "MT" => {}
            "SY" => {
                w.paragraph();
                w.text(&unescape(rest, &strings));
            }
            "OP" => {
                let a = split_args(&unescape(rest, &strings));
                w.text(&format!("[{}]", a.join(" ")));
            }
            "YS" => w.paragraph(),
            "Nd" => {
                let text = mdoc_words(rest, &strings, &mut w.mdoc_name);
                w.text(&format!("- {text}"));
            }
            "Nm" if w.heading.eq_ignore_ascii_case("SYNOPSIS") => {
                w.paragraph();
                let text = mdoc_words(&format!("Nm {rest}"), &strings, &mut w.mdoc_name);
                w.text(&text);
            }
            _ if IGNORED.contains(&name) => {}
            _ if MDOC_INLINE.contains(&name) || name == "D1" || name == "Dl" => {
                let text = mdoc_words(&format!("{name} {rest}"), &strings, &mut w.mdoc_name);
                w.text(&text);
            }
            _ => {}
        }
    }
    w.flush();
    w.page
}

/// The words of an mdoc line, with its inline macros resolved: `Fl v Ar file` →
/// `-v file`, `Xr ls 1` → `ls(1)`, `Op …` → `[…]`.
fn mdoc_words(rest: &str, strings: &HashMap<String, String>, name: &mut String) -> String {
    let args = split_args(&unescape(rest, strings));
    let mut out: Vec<String> = Vec::new();
    let mut closers: Vec<&str> = Vec::new();
    let mut flag = false;
    let mut i = 0;
    let mut no_space = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        match a {
            "Fl" => {
                flag = true;
                // A bare `Fl` (followed by nothing or a macro) is a lone dash.
                if args
                    .get(i)
                    .is_none_or(|n| MDOC_INLINE.contains(&n.as_str()))
                {
                    out.push("-".into());
                    flag = false;
                }
                continue;
            }
            "Op" | "Oo" => {
                out.push("[".into());
                no_space = true;
                if a == "Op" {
                    closers.push("]");
                }
                continue;
            }
            "Oc" => {
                out.push("]".into());
                continue;
            }
            "Xr" => {
                if let Some(n) = args.get(i) {
                    let sec = args.get(i + 1).cloned().unwrap_or_default();
                    out.push(format!("{n}({sec})"));
                    i += 2;
                }
                continue;
            }
            "Nm" => {
                match args.get(i) {
                    Some(n) if !MDOC_INLINE.contains(&n.as_str()) => {
                        if name.is_empty() {
                            name.clone_from(n);
                        }
                        out.push(n.clone());
                        i += 1;
                    }
                    _ => out.push(name.clone()),
                }
                continue;
            }
            "Ns" => {
                no_space = true;
                continue;
            }
            _ if MDOC_INLINE.contains(&a) => continue,
            _ => {}
        }
        let word = if flag { format!("-{a}") } else { a.to_string() };
        flag = false;
        let is_punct = a.len() == 1 && ".,;:)]".contains(a);
        match out.last_mut() {
            Some(last) if no_space || is_punct => last.push_str(&word),
            _ => out.push(word),
        }
        no_space = false;
    }
    for c in closers.iter().rev() {
        match out.last_mut() {
            Some(last) => last.push_str(c),
            None => out.push((*c).to_string()),
        }
    }
    out.join(" ")
}

#[cfg(test)]
#[path = "roff_tests.rs"]
mod tests;

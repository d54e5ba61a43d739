//! Glob patterns over tool names, paths, unit, package and user names, and
//! lexical path normalisation.
//!
//! Syntax: `*` matches any run of characters except `/`; `**` any run
//! including `/`; `?` one character except `/`; `[abc]`, `[a-z]`, `[!x]`
//! one character of a class (never `/`); `\x` the character `x`. A pattern
//! ending in `/**` also matches the directory itself (`/srv/www/**`
//! matches `/srv/www`), because a rule about a tree is about its root too.
//!
//! Matching runs a small NFA over a bit set of positions, so it is linear
//! in the text whatever the pattern: a hostile `*a*a*a*a*b` cannot make
//! the hot path backtrack exponentially.

use std::borrow::Cow;

/// Patterns with wildcards are limited to this many tokens (one state bit
/// each); literal patterns are not limited.
const MAX_TOKENS: usize = 127;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    One,
    Star,
    Deep,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One compiled glob.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// Literal text every match starts with (fast reject).
    prefix: String,
    /// The rest of the pattern after `prefix`; empty for a literal pattern.
    toks: Vec<Tok>,
    /// The pattern ended in `/**`: it also matches `prefix+toks` followed
    /// by nothing or by `/anything`.
    deep_suffix: bool,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub(crate) fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches nothing; remove it or write `*`".into());
        }
        let mut toks = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    let mut deep = false;
                    while chars.peek() == Some(&'*') {
                        chars.next();
                        deep = true;
                    }
                    toks.push(if deep { Tok::Deep } else { Tok::Star });
                }
                '?' => toks.push(Tok::One),
                '\\' => match chars.next() {
                    Some(x) => toks.push(Tok::Lit(x)),
                    None => {
                        return Err(format!(
                            "pattern `{pattern}` ends in a lone `\\`; write `\\\\` for a backslash"
                        ));
                    }
                },
                '[' => {
                    let mut negated = false;
                    if matches!(chars.peek(), Some('!') | Some('^')) {
                        chars.next();
                        negated = true;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    let mut closed = false;
                    while let Some(x) = chars.next() {
                        if x == ']' && !first {
                            closed = true;
                            break;
                        }
                        first = false;
                        if chars.peek() == Some(&'-') {
                            let mut look = chars.clone();
                            look.next();
                            match look.peek() {
                                Some(&hi) if hi != ']' => {
                                    chars.next();
                                    chars.next();
                                    if hi < x {
                                        return Err(format!(
                                            "pattern `{pattern}`: range `{x}-{hi}` is backwards"
                                        ));
                                    }
                                    ranges.push((x, hi));
                                    continue;
                                }
                                _ => {}
                            }
                        }
                        ranges.push((x, x));
                    }
                    if !closed {
                        return Err(format!(
                            "pattern `{pattern}` has an unclosed `[`; close the class with `]` or write `\\[` for a bracket"
                        ));
                    }
                    toks.push(Tok::Class { negated, ranges });
                }
                c => toks.push(Tok::Lit(c)),
            }
        }
        let deep_suffix = toks.len() >= 2
            && toks[toks.len() - 1] == Tok::Deep
            && toks[toks.len() - 2] == Tok::Lit('/');
        if deep_suffix {
            toks.truncate(toks.len() - 2);
        }
        let lit_len = toks.iter().take_while(|t| matches!(t, Tok::Lit(_))).count();
        let prefix: String = toks[..lit_len]
            .iter()
            .filter_map(|t| match t {
                Tok::Lit(c) => Some(*c),
                _ => None,
            })
            .collect();
        toks.drain(..lit_len);
        if toks.len() > MAX_TOKENS {
            return Err(format!(
                "pattern `{pattern}` is too long: at most {MAX_TOKENS} characters after its first wildcard"
            ));
        }
        Ok(Glob {
            prefix,
            toks,
            deep_suffix,
        })
    }

    /// The glob that matches only the empty text (`~` alone: the rest
    /// of a path after the home is empty).
    pub(crate) fn empty() -> Glob {
        Glob {
            prefix: String::new(),
            toks: Vec::new(),
            deep_suffix: false,
        }
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        match self.toks.as_slice() {
            [] => rest.is_empty() || (self.deep_suffix && rest.starts_with('/')),
            // `fs.*`, `nginx*`: the common shapes, without the NFA.
            [Tok::Star] if !self.deep_suffix => !rest.contains('/'),
            [Tok::Deep] if !self.deep_suffix => true,
            _ => self.run(rest),
        }
    }

    fn run(&self, text: &str) -> bool {
        let m = self.toks.len();
        let accept = 1u128 << m;
        let mut states = self.closure(1);
        if self.deep_suffix && states & accept != 0 && text.starts_with('/') {
            return true;
        }
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let mut next = 0u128;
            let mut s = states & !accept;
            while s != 0 {
                let i = s.trailing_zeros() as usize;
                s &= s - 1;
                let (stay, advance) = match &self.toks[i] {
                    Tok::Lit(x) => (false, *x == c),
                    Tok::One => (false, c != '/'),
                    Tok::Star => (c != '/', false),
                    Tok::Deep => (true, false),
                    Tok::Class { negated, ranges } => (
                        false,
                        c != '/' && (ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated),
                    ),
                };
                if stay {
                    next |= 1 << i;
                }
                if advance {
                    next |= 1 << (i + 1);
                }
            }
            states = self.closure(next);
            if states == 0 {
                return false;
            }
            if self.deep_suffix && states & accept != 0 && chars.peek() == Some(&'/') {
                return true;
            }
        }
        states & accept != 0
    }

    /// Adds the positions reachable by letting `*`/`**` match nothing.
    fn closure(&self, mut states: u128) -> u128 {
        for (i, t) in self.toks.iter().enumerate() {
            if states & (1 << i) != 0 && matches!(t, Tok::Star | Tok::Deep) {
                states |= 1 << (i + 1);
            }
        }
        states
    }
}

/// `text` with every glob metacharacter escaped, so it matches only itself.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lexical normalisation of an absolute path: no `.`, `..`, empty or
/// trailing components. Borrowed when already normal (the usual case,
/// since tools canonicalise paths before policy sees them). Relative text
/// comes back unchanged.
pub(crate) fn normalize(path: &str) -> Cow<'_, str> {
    if !path.starts_with('/') || is_normal(path) {
        return Cow::Borrowed(path);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

fn is_normal(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    !path.ends_with('/')
        && path[1..]
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("fs.*", "fs.write", true),
            ("fs.*", "fsx.write", false),
            ("*", "service.restart", true),
            ("fs.write", "fs.write", true),
            ("fs.write", "fs.writes", false),
            ("nginx*", "nginx", true),
            ("nginx*", "nginx-debug.service", true),
            ("nginx*", "apache2", false),
            ("/srv/www/**", "/srv/www", true),
            ("/srv/www/**", "/srv/www/a/b/c", true),
            ("/srv/www/**", "/srv/wwwx", false),
            ("/srv/www/**", "/srv", false),
            ("/srv/*/x", "/srv/a/x", true),
            ("/srv/*/x", "/srv/a/b/x", false),
            ("/srv/**/x", "/srv/a/b/x", true),
            ("/srv/**/x", "/srv/x", false),
            ("/tmp/*.log", "/tmp/a.log", true),
            ("/tmp/*.log", "/tmp/a/b.log", false),
            ("/tmp/?.log", "/tmp/a.log", true),
            ("/tmp/?.log", "/tmp/ab.log", false),
            ("/dev/sd[a-c]1", "/dev/sdb1", true),
            ("/dev/sd[a-c]1", "/dev/sdd1", false),
            ("/dev/sd[!a]1", "/dev/sda1", false),
            ("/dev/sd[!a]1", "/dev/sdz1", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("/**", "/", true),
            ("/**", "/anything/at/all", true),
            ("*a*a*a*a*a*a*a*a*b", &"a".repeat(200), false),
            ("/home/*/**", "/home/alice", true),
            ("/home/*/**", "/home/alice/x/y", true),
            ("/home/*/**", "/home", false),
            ("/a*/**", "/a/x", true),
            ("/a*/**", "/ab/x", true),
            ("/a*/**", "/b/x", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(m(p, t), *want, "pattern {p:?} on {t:?}");
        }
    }

    #[test]
    fn bad_globs_say_why() {
        assert!(Glob::new("").unwrap_err().contains("empty"));
        assert!(Glob::new("/srv/[ab").unwrap_err().contains("unclosed `[`"));
        assert!(Glob::new("a\\").unwrap_err().contains("lone"));
        assert!(Glob::new("[z-a]").unwrap_err().contains("backwards"));
        let long = format!("*{}", "x".repeat(200));
        assert!(Glob::new(&long).unwrap_err().contains("too long"));
        // Literal patterns of any length are fine.
        assert!(Glob::new(&"x".repeat(500)).is_ok());
    }

    #[test]
    fn escaped_text_matches_only_itself() {
        for t in ["/srv/a*b", "/x/[y]", "/q?", "/back\\slash"] {
            let g = Glob::new(&escape(t)).unwrap();
            assert!(g.matches(t), "{t}");
            assert!(!g.matches(&format!("{t}x")), "{t}");
        }
        assert!(!Glob::new(&escape("/srv/a*b")).unwrap().matches("/srv/axxb"));
    }

    #[test]
    fn normalisation() {
        for (i, o) in [
            ("/", "/"),
            ("/etc", "/etc"),
            ("/etc/", "/etc"),
            ("//etc//./x/..", "/etc"),
            ("/..", "/"),
            ("/a/b/../../..", "/"),
            ("/.", "/"),
            ("rel/x", "rel/x"),
        ] {
            assert_eq!(normalize(i), o, "{i}");
        }
        assert!(matches!(normalize("/etc/fstab"), Cow::Borrowed(_)));
    }
}

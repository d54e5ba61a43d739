//! The one error type of the crate: opaque, with a kind to branch on and
//! a message that names the file, the line, the rule and what to do.

use std::fmt;

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// A policy file exists but could not be read or written.
    Io,
    /// The file is not valid TOML, or has an unknown key or a value of the
    /// wrong type.
    Syntax,
    /// A rule is well-formed TOML but wrong: a bad glob, port, CIDR or
    /// principal, a duplicate or missing id.
    Rule,
    /// A rule's inline example does not match (or does match) as it says.
    Example,
    /// The id names a rule that is not a saved grant.
    NotAGrant,
}

/// An error loading, checking or saving policy.
#[derive(Debug, Clone, thiserror::Error)]
pub struct PolicyError {
    kind: PolicyErrorKind,
    file: String,
    line: Option<usize>,
    rule: Option<String>,
    detail: String,
}

impl PolicyError {
    pub(crate) fn new(kind: PolicyErrorKind, file: &str, detail: impl Into<String>) -> Self {
        PolicyError {
            kind,
            file: file.to_string(),
            line: None,
            rule: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub(crate) fn in_rule(mut self, id: &str) -> Self {
        self.rule = Some(id.to_string());
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> PolicyErrorKind {
        self.kind
    }

    /// The policy file it concerns (a path, or a label for in-memory text).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line in that file, where known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The id of the rule it concerns, where known.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(rule) = &self.rule {
            write!(f, "rule \"{rule}\": ")?;
        }
        f.write_str(&self.detail)
    }
}

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// ", did you mean `x`?" when serde's message names an unknown field or
/// variant close to one it expected; empty otherwise.
pub(crate) fn did_you_mean(message: &str) -> String {
    if !(message.contains("unknown field") || message.contains("unknown variant")) {
        return String::new();
    }
    let mut ticked = message.split('`').skip(1).step_by(2);
    let Some(bad) = ticked.next() else {
        return String::new();
    };
    let best = ticked
        .map(|cand| (edit_distance(bad, cand), cand))
        .filter(|(d, cand)| *d <= 2.max(cand.len() / 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, cand)) => format!("; did you mean `{cand}`?"),
        None => String::new(),
    }
}

/// Levenshtein distance; the words are short keys, so the plain
/// two-row algorithm is plenty.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let m = "unknown field `pathz`, expected one of `id`, `action`, `paths`, `ports`";
        assert_eq!(did_you_mean(m), "; did you mean `paths`?");
        let m = "unknown field `zzzzzzzz`, expected one of `id`, `paths`";
        assert_eq!(did_you_mean(m), "");
        let m = "unknown variant `alow`, expected one of `allow`, `ask`, `deny`";
        assert_eq!(did_you_mean(m), "; did you mean `allow`?");
        assert_eq!(did_you_mean("invalid type: integer"), "");
    }

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}

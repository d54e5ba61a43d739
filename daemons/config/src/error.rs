//! Configuration errors that name the file, line and key.

use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file exists but could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not UTF-8.
    #[error("{}: not valid UTF-8; configuration files must be UTF-8 TOML", file.display())]
    NotUtf8 {
        /// The file.
        file: PathBuf,
    },
    /// A file is not valid TOML or has a wrong key or value.
    #[error("{}:{line}:{column}: {message}{}", file.display(), key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The offending key, when one can be named.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A key file (secrets) is malformed. Only the place and the kind of
    /// error are reported: the text of a secrets file is never quoted, not
    /// even the malformed line, since it may hold a key.
    #[error("{}:{line}:{column}: {problem}; fix that line (its text is not shown because the file holds secrets)", file.display())]
    KeyFile {
        /// The key file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What kind of error it is.
        problem: KeyFileProblem,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The merged configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// Merging layers failed (should not happen after per-file validation).
    #[error("invalid configuration after merging layers: {0}")]
    Merge(String),
}

/// What is wrong in a key file, by kind only (see [`ConfigError::KeyFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileProblem {
    /// Not valid TOML.
    #[error("not valid TOML; each line must be `provider = \"key\"`")]
    Syntax,
    /// The same provider is named twice.
    #[error("a provider is given a key twice")]
    DuplicateKey,
    /// A value is not a quoted string (a number, a table…).
    #[error("the value is not a quoted string; write `provider = \"key\"`")]
    NotAString,
    /// The file is not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
}

/// 1-based line and column of byte `pos` in `text`.
pub(crate) fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

impl ConfigError {
    pub(crate) fn parse(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
        let (line, column, key) = match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                (line, column, key_at(text, span.start))
            }
            None => (1, 1, None),
        };
        // toml's message repeats the snippet; keep its first line only.
        let message = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        ConfigError::Parse {
            file: file.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    }
}

impl ConfigError {
    /// An error about the dotted `key` of `file`, at the line that sets it
    /// (or the header of its table, or line 1 when neither is found).
    pub(crate) fn at_key(file: &Path, text: &str, key: &str, message: String) -> ConfigError {
        let (line, column) = locate(text, key);
        ConfigError::Parse {
            file: file.to_path_buf(),
            line,
            column,
            key: Some(key.to_string()),
            message,
        }
    }
}

/// A header or key spelling without quotes and blanks: `providers."a b"` →
/// `providers.a b` (good enough to find the line of a key).
fn plain(s: &str) -> String {
    s.split('.')
        .map(|p| p.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

/// 1-based line and column of the line setting dotted `key` in `text`.
fn locate(text: &str, key: &str) -> (usize, usize) {
    let mut header = String::new();
    let mut table_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            header = plain(line.trim_matches(|c| c == '[' || c == ']'));
            if header == key {
                return (i + 1, 1);
            }
            if key.starts_with(&format!("{header}.")) && table_line.is_none() {
                table_line = Some(i + 1);
            }
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let full = if header.is_empty() {
            plain(k)
        } else {
            format!("{header}.{}", plain(k))
        };
        if full == key || key.starts_with(&format!("{full}.")) {
            let column = raw.len() - raw.trim_start().len() + 1;
            return (i + 1, column);
        }
    }
    (table_line.unwrap_or(1), 1)
}

/// The dotted key whose value or name sits at byte `pos`: the nearest
/// `[table]` header above plus the key on that line.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let line_start = text[..pos.min(text.len())]
        .rfind('\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("");
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return Some(
            trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let key = trimmed.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return header;
    }
    Some(match header {
        Some(h) => format!("{h}.{key}"),
        None => key.to_string(),
    })
}

//! Reading an sshd configuration as sshd does, for `sec.sshd_audit`:
//! keywords case-insensitive, `keyword value` or `keyword=value`, the
//! first value wins, `Include` followed (wildcards in the last component),
//! `Match` blocks counted and skipped; and the `sshd -T` dump format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::sshd_audit::Setting;
use crate::ToolError;

/// Parsed configuration: keyword → (value, source), first wins.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub values: BTreeMap<String, Setting>,
    pub notes: Vec<String>,
    pub match_blocks: usize,
}

/// `*` and `?` wildcard match of one path component.
pub(super) fn wildcard(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&pat[1..], s) || (!s.is_empty() && wildcard(pat, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&pat[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// Expand an `Include` argument (relative to /etc/ssh, `*`/`?` in the last
/// component only, like the common `sshd_config.d/*.conf`).
fn expand_include(arg: &str, base: &Path, notes: &mut Vec<String>) -> Vec<PathBuf> {
    let p = if arg.starts_with('/') {
        PathBuf::from(arg)
    } else {
        base.join(arg)
    };
    let (Some(dir), Some(pat)) = (p.parent(), p.file_name().and_then(|f| f.to_str())) else {
        return Vec::new();
    };
    if dir.to_string_lossy().contains(['*', '?']) {
        notes.push(format!(
            "Include {arg}: wildcards above the last component are not followed"
        ));
        return Vec::new();
    }
    if !pat.contains(['*', '?']) {
        return vec![p];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| wildcard(pat.as_bytes(), e.file_name().as_encoded_bytes()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn parse_file(
    path: &Path,
    base: &Path,
    depth: usize,
    parsed: &mut Parsed,
) -> Result<(), ToolError> {
    if depth > 8 {
        parsed.notes.push(format!(
            "{}: includes nested too deeply; not followed",
            path.display()
        ));
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| ToolError::io(path, "read", &e))?;
    parse_text(&text, &path.display().to_string(), base, depth, parsed)
}

pub(super) fn parse_text(
    text: &str,
    name: &str,
    base: &Path,
    depth: usize,
    parsed: &mut Parsed,
) -> Result<(), ToolError> {
    let mut in_match = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (
                k.to_ascii_lowercase(),
                v.trim_start_matches(|c: char| c.is_whitespace() || c == '=')
                    .trim(),
            ),
            None => (line.to_ascii_lowercase(), ""),
        };
        let value = value.trim_matches('"');
        if key == "match" {
            in_match = true;
            parsed.match_blocks += 1;
            continue;
        }
        if key == "include" {
            for f in value.split_whitespace() {
                for p in expand_include(f, base, &mut parsed.notes) {
                    if let Err(e) = parse_file(&p, base, depth + 1, parsed) {
                        parsed.notes.push(format!(
                            "Include {} ({name}:{}): {e}",
                            p.display(),
                            i + 1
                        ));
                    }
                }
            }
            continue;
        }
        if in_match {
            continue;
        }
        parsed.values.entry(key).or_insert_with(|| Setting {
            value: value.to_string(),
            source: format!("{name}:{}", i + 1),
        });
    }
    Ok(())
}

/// Parse `sshd -T` output: `keyword value` lines, already lower-case.
pub(super) fn parse_dump(text: &str) -> BTreeMap<String, Setting> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                Setting {
                    value: v.trim().to_string(),
                    source: "sshd -T".into(),
                },
            )
        })
        .collect()
}

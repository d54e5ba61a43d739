//! Tool names on the wire: our dotted `namespace.verb` names mapped to the
//! `^[a-zA-Z0-9_-]{1,64}$` form both cloud APIs require, and back.
//!
//! The mapping is a bijection between valid dotted names and canonical wire
//! names, so a name the model sends back always decodes to exactly the tool
//! we offered:
//!
//! | dotted | wire | when |
//! |---|---|---|
//! | letters, digits | themselves | always |
//! | `.` | `__` | always |
//! | `_` | `_` | when neither neighbour is `_` or `.` (the common `list_dir`) |
//! | `_` | `-u` | when a neighbour is `_` or `.` (so runs of `_` stay unambiguous) |
//! | `-` | `--` | always (`-` is the escape character) |
//!
//! On the wire a run of one `_` is therefore a literal underscore and a run
//! of `2k` underscores is `k` dots; decoding rejects every other run, any
//! other `-` sequence, and any non-canonical spelling (decode, re-encode,
//! compare), which is what makes the mapping reversible both ways.

use std::collections::HashMap;

use aios_proto::ModelTool;

use crate::error::ProviderError;

/// A `&'static str` for a configured name (provider instances, key
/// variables), which errors and events carry. Each distinct name is
/// leaked once per process and reused after, so building gateways again
/// (tests) does not grow memory: the set is bounded by the configuration.
pub fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

/// Longest wire name both APIs accept.
pub const MAX_WIRE_LEN: usize = 64;

fn is_sep(c: Option<char>) -> bool {
    matches!(c, Some('_') | Some('.'))
}

/// Map a dotted tool name to its wire form.
pub fn to_wire(name: &str) -> Result<String, ProviderError> {
    if name.is_empty() {
        return Err(ProviderError::InvalidRequest(
            "a tool has an empty name; tool names look like `namespace.verb`".into(),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(ProviderError::InvalidRequest(format!(
            "tool name {name:?} contains {bad:?}; model APIs accept only ASCII letters, digits, `.`, `_` and `-` in tool names"
        )));
    }
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        match c {
            '.' => out.push_str("__"),
            '-' => out.push_str("--"),
            '_' if is_sep(prev) || is_sep(next) => out.push_str("-u"),
            c => out.push(c),
        }
    }
    if out.len() > MAX_WIRE_LEN {
        return Err(ProviderError::InvalidRequest(format!(
            "tool name {name:?} is too long for model APIs: its wire form {out:?} has {} characters, at most {MAX_WIRE_LEN} are allowed",
            out.len()
        )));
    }
    Ok(out)
}

/// Map a wire name back to the dotted name; `None` when `wire` is not the
/// canonical wire form of any valid name.
pub fn from_wire(wire: &str) -> Option<String> {
    if wire.is_empty() || wire.len() > MAX_WIRE_LEN {
        return None;
    }
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'-' => {
                match bytes.get(i + 1) {
                    Some(b'-') => out.push('-'),
                    Some(b'u') => out.push('_'),
                    _ => return None,
                }
                i += 2;
            }
            b'_' => {
                let run = bytes[i..].iter().take_while(|&&c| c == b'_').count();
                match run {
                    1 => out.push('_'),
                    n if n % 2 == 0 => out.extend(std::iter::repeat_n('.', n / 2)),
                    _ => return None,
                }
                i += run;
            }
            b if b.is_ascii_alphanumeric() => {
                out.push(char::from(b));
                i += 1;
            }
            _ => return None,
        }
    }
    // Only canonical spellings decode, so the mapping is a bijection.
    match to_wire(&out) {
        Ok(again) if again == wire => Some(out),
        _ => None,
    }
}

/// The wire ↔ dotted table of one request's tools.
#[derive(Debug, Clone, Default)]
pub struct ToolNames {
    dotted_by_wire: HashMap<String, String>,
}

impl ToolNames {
    /// Build the table, failing on any name that cannot be mapped.
    pub fn for_tools(tools: &[ModelTool]) -> Result<ToolNames, ProviderError> {
        let mut dotted_by_wire = HashMap::new();
        for t in tools {
            dotted_by_wire.insert(to_wire(&t.name)?, t.name.clone());
        }
        Ok(ToolNames { dotted_by_wire })
    }

    /// The dotted name for a name the model sent. A name we did not offer
    /// is decoded when possible, else passed through unchanged, so the
    /// orchestrator can report "unknown tool" with what the model said.
    pub fn dotted(&self, wire: &str) -> String {
        if let Some(d) = self.dotted_by_wire.get(wire) {
            return d.clone();
        }
        from_wire(wire).unwrap_or_else(|| wire.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_wire(w: &str) -> bool {
        !w.is_empty()
            && w.len() <= 64
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn common_names_are_readable() {
        assert_eq!(to_wire("fs.usage").unwrap(), "fs__usage");
        assert_eq!(to_wire("fs.list_dir").unwrap(), "fs__list_dir");
        assert_eq!(to_wire("journal.vacuum").unwrap(), "journal__vacuum");
        assert_eq!(to_wire("net.ip-route").unwrap(), "net__ip--route");
    }

    #[test]
    fn edge_cases_round_trip() {
        for name in [
            "a",
            "a.b",
            "a_b",
            "a-b",
            "a__b",
            "a_.b",
            "a._b",
            "a..b",
            ".a",
            "a.",
            "_",
            "-",
            ".",
            "..",
            "__",
            "a-u",
            "a_u",
            "x.-u",
            "fs.list_dir.x",
            "a___b",
            "_a_",
            "-u",
            "--",
        ] {
            let wire = to_wire(name).unwrap();
            assert!(valid_wire(&wire), "{name} -> {wire}");
            assert_eq!(from_wire(&wire).as_deref(), Some(name), "{name} -> {wire}");
        }
    }

    #[test]
    fn ambiguous_pairs_get_distinct_wire_names() {
        assert_ne!(to_wire("a_.b").unwrap(), to_wire("a._b").unwrap());
        assert_ne!(to_wire("a__b").unwrap(), to_wire("a.b").unwrap());
        assert_ne!(to_wire("a-u").unwrap(), to_wire("a_").unwrap());
    }

    /// Exhaustive over a small alphabet containing every special case:
    /// encoding is injective, decodes back, and every decodable wire string
    /// re-encodes to itself.
    #[test]
    fn bijection_exhaustive_small_alphabet() {
        let alphabet = ['a', 'u', '.', '_', '-'];
        let mut seen = std::collections::HashMap::new();
        let mut names = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for n in &names {
                for c in alphabet {
                    let mut s = n.clone();
                    s.push(c);
                    next.push(s);
                }
            }
            for name in &next {
                let wire = to_wire(name).unwrap();
                assert!(valid_wire(&wire), "{name} -> {wire}");
                assert_eq!(from_wire(&wire).as_deref(), Some(name.as_str()));
                if let Some(other) = seen.insert(wire.clone(), name.clone()) {
                    panic!("{other:?} and {name:?} both map to {wire:?}");
                }
            }
            names = next;
        }
        // Every wire string over the wire alphabet either fails to decode
        // or is the encoding of what it decodes to.
        let wire_alphabet = ['a', 'u', '_', '-'];
        let mut wires = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for w in &wires {
                for c in wire_alphabet {
                    let mut s = w.clone();
                    s.push(c);
                    if let Some(d) = from_wire(&s) {
                        assert_eq!(to_wire(&d).unwrap(), s);
                    }
                    next.push(s);
                }
            }
            wires = next;
        }
    }

    #[test]
    fn non_canonical_and_garbage_wire_names_do_not_decode() {
        for w in [
            "",
            "a___b",
            "-x",
            "a-",
            "-u_",
            "a b",
            "a.b",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(from_wire(w), None, "{w:?}");
        }
    }

    #[test]
    fn unmappable_names_are_rejected_clearly() {
        let e = to_wire("fs.list dir").unwrap_err().to_string();
        assert!(e.contains("' '") && e.contains("fs.list dir"), "{e}");
        let e = to_wire("").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = to_wire(&format!("a.{}", "b".repeat(62)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("too long"), "{e}");
        assert!(to_wire("naïve.x").is_err());
    }

    #[test]
    fn table_prefers_offered_names_and_passes_unknown_through() {
        let tools = vec![ModelTool {
            name: "fs.usage".into(),
            description: String::new(),
            schema: serde_json::json!({}),
            examples: vec![],
        }];
        let t = ToolNames::for_tools(&tools).unwrap();
        assert_eq!(t.dotted("fs__usage"), "fs.usage");
        assert_eq!(t.dotted("sys__overview"), "sys.overview");
        assert_eq!(t.dotted("weird___name"), "weird___name");
    }
}

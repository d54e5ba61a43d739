//! The evaluation file: one JSON object per line (`tests/eval/tools.jsonl`).
//!
//! ```json
//! {"request": "dsik full?", "tool": "fs.usage", "args": {}}
//! {"request": "what's taking room in /var", "tool": "fs.largest", "also": ["fs.du"], "args": {"path": "/var"}}
//! {"request": "hi there", "tool": null}
//! {"request": "format the main disk", "refuse": true}
//! ```
//!
//! `also` lists other tools that answer the request just as well (both
//! count as right). `args` holds only the keys that matter. Blank lines
//! and lines starting with `#` are skipped. Every tool named must exist.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{RouterError, RouterErrorKind};

/// One line of the file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    request: String,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    also: Vec<String>,
    #[serde(default)]
    args: Map<String, Value>,
    #[serde(default)]
    refuse: bool,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A call of `tool` (or of one of `also`) with at least `args`.
    Tool {
        /// The expected tool.
        tool: String,
        /// Other tools that answer it just as well.
        also: Vec<String>,
        /// The keys that matter and their values.
        args: Map<String, Value>,
    },
    /// An answer without a tool.
    NoTool,
    /// A refusal.
    Refuse,
}

impl Expected {
    /// Whether `name` is an acceptable tool for this case.
    pub fn accepts(&self, name: &str) -> bool {
        match self {
            Expected::Tool { tool, also, .. } => tool == name || also.iter().any(|a| a == name),
            Expected::NoTool | Expected::Refuse => false,
        }
    }
}

/// One evaluation case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// 1-based line in the file, for reports.
    pub line: usize,
    /// What the user typed.
    pub request: String,
    /// What should happen.
    pub expected: Expected,
}

/// Parse the evaluation file. `tools` is the set of known tool names; a
/// case naming another tool is an error (a renamed tool must not silently
/// turn into a miss).
pub fn parse_cases(text: &str, tools: &HashSet<&str>) -> Result<Vec<Case>, RouterError> {
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let bad = |msg: String| {
            RouterError::new(RouterErrorKind::InvalidEval, format!("line {line}: {msg}"))
        };
        let l: Line = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        if l.request.trim().is_empty() {
            return Err(bad("empty request".into()));
        }
        let expected = match (l.tool, l.refuse) {
            (Some(_), true) => {
                return Err(bad("a case cannot both name a tool and be refused".into()));
            }
            (None, true) => Expected::Refuse,
            (None, false) => Expected::NoTool,
            (Some(tool), false) => {
                for name in std::iter::once(&tool).chain(&l.also) {
                    if !tools.contains(name.as_str()) {
                        return Err(bad(format!("unknown tool {name:?}")));
                    }
                }
                Expected::Tool {
                    tool,
                    also: l.also,
                    args: l.args,
                }
            }
        };
        cases.push(Case {
            line,
            request: l.request,
            expected,
        });
    }
    Ok(cases)
}

/// At most `n` cases spread evenly over the file (every ⌈len/n⌉-th), so a subset
/// still covers the whole catalogue and is the same on every run.
pub fn subset(cases: &[Case], n: usize) -> Vec<Case> {
    if n == 0 || n >= cases.len() {
        return cases.to_vec();
    }
    let step = cases.len().div_ceil(n);
    cases.iter().step_by(step).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> HashSet<&'static str> {
        ["fs.usage", "fs.du"].into_iter().collect()
    }

    #[test]
    fn parses_all_three_kinds() {
        let text = r#"
# comment
{"request": "disk full?", "tool": "fs.usage", "also": ["fs.du"], "args": {"path": "/"}}
{"request": "hi", "tool": null}
{"request": "rm -rf /", "refuse": true}
"#;
        let cases = parse_cases(text, &known()).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].line, 3);
        assert!(cases[0].expected.accepts("fs.du"));
        assert_eq!(cases[1].expected, Expected::NoTool);
        assert_eq!(cases[2].expected, Expected::Refuse);
    }

    #[test]
    fn errors_name_the_line() {
        let err =
            parse_cases("\n{\"request\": \"x\", \"tool\": \"fs.nope\"}", &known()).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
        assert!(err.to_string().contains("fs.nope"));
        assert!(parse_cases("{\"request\": \"x\", \"tol\": 1}", &known()).is_err());
        assert!(
            parse_cases(
                "{\"request\": \"x\", \"tool\": \"fs.du\", \"refuse\": true}",
                &known()
            )
            .is_err()
        );
    }

    #[test]
    fn subset_spreads_and_is_stable() {
        let text: String = (0..10)
            .map(|i| format!("{{\"request\": \"r{i}\", \"tool\": \"fs.du\"}}\n"))
            .collect();
        let cases = parse_cases(&text, &known()).unwrap();
        let s = subset(&cases, 5);
        assert_eq!(s.len(), 5);
        assert_eq!(s[1].request, "r2");
        assert_eq!(subset(&cases, 0).len(), 10);
    }
}

//! Policy files: parsing one file's text into checked rules, with errors
//! that name the file, the line and the rule.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{PolicyError, PolicyErrorKind, did_you_mean, line_of};
use crate::rule::{Rule, RuleSpec};

/// The rules of one file, in file order, and what to call the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleSet {
    pub(crate) label: String,
    pub(crate) rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// Parses and checks a policy file's text; `label` names it in errors and
/// reasons (its path, usually).
pub(crate) fn parse(text: &str, label: &str) -> Result<RuleSet, PolicyError> {
    let file: FileSpec = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim_end();
        PolicyError::new(
            PolicyErrorKind::Syntax,
            label,
            format!("{msg}{}", did_you_mean(msg)),
        )
        .at_line(e.span().map(|s| line_of(text, s.start)))
    })?;
    let lines = rule_lines(text);
    let mut seen: HashMap<String, Option<usize>> = HashMap::new();
    let mut rules = Vec::with_capacity(file.rule.len());
    for (i, spec) in file.rule.into_iter().enumerate() {
        let line = lines.get(i).copied().flatten();
        if let Some(first) = seen.get(&spec.id) {
            let at = first.map(|l| format!(" on line {l}")).unwrap_or_default();
            return Err(PolicyError::new(
                PolicyErrorKind::Rule,
                label,
                format!("duplicate id; it is already used by the rule{at}, and ids must be unique within a file"),
            )
            .at_line(line)
            .in_rule(&spec.id));
        }
        seen.insert(spec.id.clone(), line);
        rules.push(Rule::compile(spec, label, line)?);
    }
    Ok(RuleSet {
        label: label.to_string(),
        rules,
    })
}

/// Reads and parses the file at `path`; a missing file has no rules.
pub(crate) fn load(path: &Path) -> Result<RuleSet, PolicyError> {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &label),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RuleSet {
            label,
            rules: Vec::new(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(PolicyError::new(
            PolicyErrorKind::Io,
            &label,
            "is not UTF-8 text; a policy file is TOML",
        )),
        Err(e) => Err(PolicyError::new(
            PolicyErrorKind::Io,
            &label,
            format!("cannot be read: {e}; check that it is a file and its permissions"),
        )),
    }
}

/// The line of each `[[rule]]`'s `id` (or header), in order: serde drops
/// positions, so read them from the format-preserving parse.
fn rule_lines(text: &str) -> Vec<Option<usize>> {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Vec::new();
    };
    let Some(tables) = doc.get("rule").and_then(|i| i.as_array_of_tables()) else {
        return Vec::new();
    };
    tables
        .iter()
        .map(|t| {
            t.get("id")
                .and_then(|i| i.span())
                .or_else(|| t.span())
                .map(|s| line_of(text, s.start))
        })
        .collect()
}

//! Documentation generated from, or checked against, the one definition it
//! describes: the error codes of `docs/EVENTS.md` are exactly
//! `ErrorCode::ALL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use aios_proto::ErrorCode;

fn events_md() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join("docs/EVENTS.md")).unwrap()
}

/// The codes in the first column of the "Error codes" table.
fn documented_codes(md: &str) -> BTreeSet<String> {
    let section = md
        .split("\n## ")
        .find(|s| s.starts_with("Error codes"))
        .expect("docs/EVENTS.md has an \"## Error codes\" section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            l.split('|')
                .nth(1)
                .unwrap_or("")
                .split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_error_code_is_documented_and_every_documented_code_exists() {
    let documented = documented_codes(&events_md());
    let defined: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    let undocumented: Vec<_> = defined.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&defined).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/EVENTS.md and aios_domain::ErrorCode disagree:\n  defined but not documented: {undocumented:?}\n  documented but not defined: {unknown:?}"
    );
}

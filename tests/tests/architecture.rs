//! The architecture invariants of `docs/ARCHITECTURE.md`, checked against
//! the real dependency graph (`cargo metadata`).
//!
//! The forbidden arrows are data in the code map itself (its
//! "Architecture invariants" table), so the map and this check cannot drift
//! apart: add a row there and this test enforces it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const MAP: &str = "docs/ARCHITECTURE.md";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf()
}

/// One row of the invariants table: `krate` must not reach any of `banned`.
#[derive(Debug)]
struct Rule {
    krate: String,
    banned: Vec<String>,
}

/// Parse the invariants table: rows `| `crate` | `a`, `b` | why |` under the
/// heading "## Architecture invariants".
fn rules(map: &str) -> Vec<Rule> {
    let section = map
        .split("\n## ")
        .find(|s| s.starts_with("Architecture invariants"))
        .unwrap_or_else(|| panic!("{MAP} has no \"## Architecture invariants\" section"));
    let mut out = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let names = |cell: &str| -> Vec<String> {
            cell.split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty())
                .collect()
        };
        let krate = names(cells[1]);
        assert_eq!(krate.len(), 1, "{MAP}: one crate per row: {line}");
        out.push(Rule {
            krate: krate[0].clone(),
            banned: names(cells[2]),
        });
    }
    assert!(!out.is_empty(), "{MAP}: the invariants table has no rows");
    out
}

/// The dependency graph: package name → names it depends on (normal and
/// build dependencies; dev-dependencies do not ship).
struct Graph {
    deps: BTreeMap<String, BTreeSet<String>>,
    workspace: BTreeSet<String>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut name_of = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        name_of.insert(
            p["id"].as_str().expect("id").to_string(),
            p["name"].as_str().expect("name").to_string(),
        );
    }
    let workspace = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|id| name_of[id.as_str().expect("member id")].clone())
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve") {
        let from = name_of[node["id"].as_str().expect("node id")].clone();
        let entry = deps.entry(from).or_default();
        for d in node["deps"].as_array().expect("deps") {
            let shipped = d["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            if shipped {
                entry.insert(name_of[d["pkg"].as_str().expect("pkg")].clone());
            }
        }
    }
    Graph { deps, workspace }
}

impl Graph {
    /// A shortest dependency path from `from` to `to`, if any.
    fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = BTreeSet::from([from]);
        while let Some(cur) = queue.pop_front() {
            if cur == to {
                let mut path = vec![to.to_string()];
                let mut at = to;
                while let Some(p) = prev.get(at) {
                    path.push(p.to_string());
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            for next in self.deps.get(cur).into_iter().flatten() {
                if seen.insert(next) {
                    prev.insert(next, cur);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

#[test]
fn no_forbidden_dependency_in_the_code_map_appears() {
    let map = std::fs::read_to_string(workspace_root().join(MAP)).expect("read the code map");
    let g = graph();
    let mut broken = Vec::new();
    for rule in rules(&map) {
        assert!(
            g.workspace.contains(&rule.krate),
            "{MAP} states an invariant for `{}`, which is not a workspace crate",
            rule.krate
        );
        for banned in &rule.banned {
            if let Some(path) = g.path(&rule.krate, banned) {
                broken.push(format!(
                    "`{}` must not depend on `{banned}`, but: {}",
                    rule.krate,
                    path.join(" → ")
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "architecture invariants of {MAP} are broken:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn every_workspace_crate_is_on_the_code_map() {
    let map = std::fs::read_to_string(workspace_root().join(MAP)).expect("read the code map");
    let g = graph();
    let missing: Vec<&String> = g
        .workspace
        .iter()
        .filter(|name| !map.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "crates missing from the crate table of {MAP}: {missing:?}"
    );
}

#[test]
fn the_invariants_table_is_parsed() {
    let rules = rules(
        "# x\n\n## Architecture invariants\n\n| crate | must not depend on | why |\n|---|---|---|\n| `a` | `b`, `c` | because |\n\n## Next\n| `z` | `y` | no |\n",
    );
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].krate, "a");
    assert_eq!(rules[0].banned, ["b", "c"]);
}

#[test]
fn the_graph_sees_real_arrows_so_the_check_can_fail() {
    // Known, allowed arrows must be found; otherwise an empty graph would
    // make every invariant pass vacuously.
    let g = graph();
    let p = g
        .path("aios-shell", "tonic")
        .expect("the shell reaches tonic through aios-proto");
    assert_eq!(p.first().map(String::as_str), Some("aios-shell"));
    assert!(p.iter().any(|n| n == "aios-proto"), "{p:?}");
    assert!(g.path("aios-domain", "tokio").is_none());
}

//! Checks across a set of manifests: duplicate names, dependencies on
//! unknown or rejected services, and cycles; and the start order.
//!
//! A bad manifest never takes the others down: it is rejected with an
//! error, services that depend on it are rejected too (with an error saying
//! why), and the rest load. Strict callers (`initd --user`, `initd check`)
//! refuse the whole set when any error was reported.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::Path;

use super::trust::{self, TrustPolicy};
use super::{ManifestError, Parsed, parse_bytes};
use crate::spec::ServiceSpec;

/// The outcome of loading a directory: the services that are usable and
/// everything that was wrong.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Valid services, in start order.
    pub specs: Vec<ServiceSpec>,
    /// Errors, in file order.
    pub errors: Vec<ManifestError>,
    /// Problems that did not stop loading: untrusted owners or modes under
    /// [`TrustPolicy::Report`].
    pub warnings: Vec<ManifestError>,
}

impl LoadReport {
    /// All services, or every error when there was any.
    pub fn strict(self) -> Result<Vec<ServiceSpec>, Vec<ManifestError>> {
        if self.errors.is_empty() {
            Ok(self.specs)
        } else {
            Err(self.errors)
        }
    }
}

/// Load every `*.toml` file in `dir` (sorted, hidden files skipped),
/// refusing a directory or files that others could have written
/// ([`TrustPolicy::Require`]).
pub fn load_dir(dir: &Path) -> LoadReport {
    load_dir_with(dir, TrustPolicy::Require)
}

/// [`load_dir`] with a choice of what untrusted manifests get.
pub fn load_dir_with(dir: &Path, policy: TrustPolicy) -> LoadReport {
    let mut warnings = Vec::new();
    let fail = |e: ManifestError| LoadReport {
        specs: Vec::new(),
        errors: vec![e],
        warnings: Vec::new(),
    };
    let dir_fd = match trust::open_dir(dir, policy) {
        Ok((fd, problem)) => {
            warnings.extend(problem);
            fd
        }
        Err(e) => return fail(e),
    };
    // List through a duplicate of the checked descriptor: the names and
    // the files opened below come from that directory, whatever its path
    // points to by now.
    let listing = dir_fd
        .try_clone()
        .and_then(|fd| nix::dir::Dir::from_fd(fd).map_err(std::io::Error::from));
    let mut listing = match listing {
        Ok(d) => d,
        Err(e) => {
            return fail(ManifestError::Read {
                path: dir.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let mut names: Vec<OsString> = listing
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsString::from_vec(e.file_name().to_bytes().to_vec()))
        .filter(|n| {
            let p = Path::new(n);
            p.extension().is_some_and(|x| x == "toml") && !n.as_bytes().starts_with(b".")
        })
        .collect();
    names.sort();
    let mut parsed = Vec::new();
    let mut errors = Vec::new();
    let mut rejected = BTreeSet::new();
    for name in names {
        let f = dir.join(&name);
        let outcome = trust::read_file(&dir_fd, &name, &f, policy).and_then(|(bytes, problem)| {
            warnings.extend(problem);
            parse_bytes(&f, bytes)
        });
        match outcome {
            Ok(p) => parsed.push(p),
            Err(e) => {
                if let Some(stem) = f.file_stem().and_then(|s| s.to_str()) {
                    rejected.insert(stem.to_string());
                }
                errors.push(e);
            }
        }
    }
    let mut report = validate_set_with(parsed, rejected);
    errors.append(&mut report.errors);
    report.errors = errors;
    report.warnings = warnings;
    report
}

/// Check a set of parsed manifests against each other.
pub fn validate_set(parsed: Vec<Parsed>) -> LoadReport {
    validate_set_with(parsed, BTreeSet::new())
}

fn validate_set_with(parsed: Vec<Parsed>, mut rejected: BTreeSet<String>) -> LoadReport {
    let mut errors = Vec::new();
    let mut set: BTreeMap<String, Parsed> = BTreeMap::new();
    for p in parsed {
        if let Some(first) = set.get(&p.spec.name) {
            errors.push(ManifestError::Duplicate {
                file: p.spec.source.clone(),
                name: p.spec.name.clone(),
                other: first.spec.source.clone(),
            });
            continue;
        }
        set.insert(p.spec.name.clone(), p);
    }
    // Drop services with missing dependencies until nothing changes: a
    // service whose dependency was rejected cannot start either.
    loop {
        let mut drop = Vec::new();
        for (name, p) in &set {
            for dep in p.spec.ordering_deps() {
                if set.contains_key(dep) {
                    continue;
                }
                let (key, line) = p.deps.lines.get(dep).copied().unwrap_or(("requires", 1));
                let known = set.keys().cloned().collect::<Vec<_>>().join(", ");
                let known = if rejected.contains(dep) {
                    format!("{dep} exists but was rejected (see its error); valid: {known}")
                } else {
                    known
                };
                errors.push(ManifestError::UnknownDependency {
                    file: p.spec.source.clone(),
                    line,
                    service: name.clone(),
                    key,
                    dep: dep.to_string(),
                    known,
                });
                drop.push(name.clone());
                break;
            }
        }
        if drop.is_empty() {
            match find_cycle(&set) {
                Some(cycle) => {
                    let chain = cycle
                        .windows(2)
                        .map(|w| {
                            let p = &set[&w[0]];
                            let line = p.deps.lines.get(&w[1]).map(|(_, l)| *l).unwrap_or(1);
                            format!("{} ({}:{line})", w[0], p.spec.source.display())
                        })
                        .chain(cycle.last().cloned())
                        .collect::<Vec<_>>()
                        .join(" -> ");
                    let mut services = cycle.clone();
                    services.pop();
                    for s in &services {
                        set.remove(s);
                        rejected.insert(s.clone());
                    }
                    errors.push(ManifestError::Cycle { chain, services });
                    continue;
                }
                None => break,
            }
        }
        for d in drop {
            set.remove(&d);
            rejected.insert(d);
        }
    }
    let specs: Vec<ServiceSpec> = set.into_values().map(|p| p.spec).collect();
    let order = start_order(&specs);
    let mut by_name: BTreeMap<String, ServiceSpec> =
        specs.into_iter().map(|s| (s.name.clone(), s)).collect();
    let specs = order.iter().filter_map(|n| by_name.remove(n)).collect();
    LoadReport {
        specs,
        errors,
        warnings: Vec::new(),
    }
}

/// A cycle as a closed path `[a, b, ..., a]`, if there is one.
fn find_cycle(set: &BTreeMap<String, Parsed>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&str, Mark> = set.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for start in set.keys() {
        if mark[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, index of next dependency to visit).
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        mark.insert(start.as_str(), Mark::Open);
        while let Some((node, i)) = stack.last().copied() {
            let deps: Vec<&str> = set[node]
                .spec
                .ordering_deps()
                .filter(|d| set.contains_key(*d))
                .collect();
            if i >= deps.len() {
                mark.insert(node, Mark::Done);
                stack.pop();
                continue;
            }
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            let next = deps[i];
            match mark.get(next).copied() {
                Some(Mark::New) => {
                    mark.insert(next, Mark::Open);
                    stack.push((next, 0));
                }
                Some(Mark::Open) => {
                    let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                    cycle.push(next.to_string());
                    return Some(cycle);
                }
                _ => {}
            }
        }
    }
    None
}

/// Dependencies first; ties broken by name so the order is stable.
/// Services in a cycle (which validation rejects) come last, by name.
pub fn start_order(specs: &[ServiceSpec]) -> Vec<String> {
    let names: BTreeSet<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = specs
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.ordering_deps().filter(|d| names.contains(d)).collect(),
            )
        })
        .collect();
    let mut order = Vec::with_capacity(specs.len());
    loop {
        let ready: Vec<&str> = pending
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            break;
        }
        for n in ready {
            pending.remove(n);
            for deps in pending.values_mut() {
                deps.remove(n);
            }
            order.push(n.to_string());
        }
    }
    order.extend(pending.keys().map(|n| n.to_string()));
    order
}

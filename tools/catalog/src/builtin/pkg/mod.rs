//! The `pkg.*` tools over apt and dpkg: `search`, `info`, `installed`,
//! `updates` (reads) and `install`, `remove`, `upgrade` (changes).
//!
//! Every change is previewed by a real simulation (`apt-get -s`), parsed
//! into the packages that would be installed, upgraded and removed, with
//! the download size from the candidates' `Size:` fields. The undo of an
//! install removes exactly the packages it newly installed (dpkg's
//! installed set before and after, not the request), and the undo of a
//! removal installs the packages that went. Package names are checked
//! against Debian policy and always follow `--`.

mod change;
mod query;
#[cfg(test)]
mod tests;

pub use change::PkgChange;
pub use query::{PkgInfo, PkgInstalled, PkgSearch, PkgUpdates};

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::host::{Host, check_package_name};
use crate::{ToolCtx, ToolError};

/// A package name that is safe to pass to apt and dpkg (Debian policy
/// charset, optional `:arch`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl TryFrom<String> for PackageName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        check_package_name(&s)?;
        Ok(PackageName(s))
    }
}

impl From<PackageName> for String {
    fn from(n: PackageName) -> String {
        n.0
    }
}

impl PackageName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One package a simulation would touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageMove {
    /// Name.
    pub name: String,
    /// Installed version, when there is one.
    pub from: Option<String>,
    /// Version it would get, when it gets one.
    pub to: Option<String>,
}

/// What `apt-get -s` says an action would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Simulation {
    /// Newly installed.
    pub install: Vec<PackageMove>,
    /// Upgraded (or downgraded) in place.
    pub upgrade: Vec<PackageMove>,
    /// Removed.
    pub remove: Vec<PackageMove>,
    /// Bytes to download, from the candidates' sizes (when apt knows them).
    pub download_bytes: Option<u64>,
}

impl Simulation {
    /// `2 to install, 1 to upgrade, 0 to remove, 1.2 MiB to download`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} to install, {} to upgrade, {} to remove",
            self.install.len(),
            self.upgrade.len(),
            self.remove.len()
        );
        if let Some(b) = self.download_bytes {
            s.push_str(&format!(", {} to download", crate::util::human_bytes(b)));
        }
        s
    }

    /// One line per package, for a preview.
    pub fn items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.install {
            out.push(format!(
                "install {} {}",
                p.name,
                p.to.as_deref().unwrap_or("")
            ));
        }
        for p in &self.upgrade {
            out.push(format!(
                "upgrade {} {} → {}",
                p.name,
                p.from.as_deref().unwrap_or("?"),
                p.to.as_deref().unwrap_or("?")
            ));
        }
        for p in &self.remove {
            out.push(format!(
                "remove {} {}",
                p.name,
                p.from.as_deref().unwrap_or("")
            ));
        }
        out.iter().map(|l| l.trim_end().to_string()).collect()
    }
}

/// Parse the `Inst`/`Remv`/`Purg` lines of `apt-get -s`:
/// `Inst NAME [OLD] (NEW REPO [ARCH])`, `Remv NAME [OLD]`.
pub(crate) fn parse_simulation(text: &str) -> Simulation {
    let mut sim = Simulation::default();
    for line in text.lines() {
        let Some((verb, rest)) = line.split_once(' ') else {
            continue;
        };
        if !matches!(verb, "Inst" | "Remv" | "Purg") {
            continue;
        }
        let name = rest.split_whitespace().next().unwrap_or("").to_string();
        let rest = &rest[name.len()..];
        let from = rest
            .trim_start()
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|(v, _)| v.to_string());
        let to = rest
            .split_once('(')
            .and_then(|(_, r)| r.split_whitespace().next())
            .map(|v| v.trim_end_matches(')').to_string());
        let m = PackageMove { name, from, to };
        match verb {
            "Inst" if m.from.is_some() => sim.upgrade.push(m),
            "Inst" => sim.install.push(m),
            _ => sim.remove.push(m),
        }
    }
    sim
}

/// Run `apt-get -s ARGS -- PACKAGES` (no root needed) and parse it; sizes
/// from `apt-cache show`. Returns the command shown, its output (capped)
/// and the parse.
pub(crate) async fn simulate(
    ctx: &ToolCtx,
    host: &Host,
    args: &[&str],
    packages: &[PackageName],
) -> Result<(String, String, Simulation), ToolError> {
    let mut full: Vec<&str> = vec!["-s", "-q"];
    full.extend_from_slice(args);
    if !packages.is_empty() {
        full.push("--");
        full.extend(packages.iter().map(PackageName::as_str));
    }
    let out = host
        .run(
            ctx,
            "apt-get",
            &full,
            Duration::from_secs(120),
            4 * 1024 * 1024,
        )
        .await?;
    let shown = format!("apt-get {}", full.join(" "));
    if out.code != Some(0) {
        return Err(ToolError::failed(format!(
            "the simulation `{shown}` failed: {}",
            crate::util::truncate(
                if out.stderr.trim().is_empty() {
                    out.stdout.trim()
                } else {
                    out.stderr.trim()
                },
                800
            )
        )));
    }
    let mut sim = parse_simulation(&out.stdout);
    let fetch: Vec<&str> = sim
        .install
        .iter()
        .chain(&sim.upgrade)
        .map(|p| p.name.as_str())
        .filter(|n| check_package_name(n).is_ok())
        .take(2000)
        .collect();
    sim.download_bytes = if fetch.is_empty() {
        Some(0)
    } else {
        sizes(ctx, host, &fetch).await
    };
    let output = crate::util::truncate(&out.stdout, 16 * 1024);
    Ok((shown, output, sim))
}

/// Sum of the candidates' `Size:` (bytes to download), `None` when apt
/// cannot say.
async fn sizes(ctx: &ToolCtx, host: &Host, names: &[&str]) -> Option<u64> {
    let mut args = vec!["show", "--no-all-versions", "--"];
    args.extend_from_slice(names);
    let out = host
        .run(
            ctx,
            "apt-cache",
            &args,
            Duration::from_secs(60),
            16 * 1024 * 1024,
        )
        .await
        .ok()?;
    if out.code != Some(0) || out.truncated {
        return None;
    }
    Some(
        out.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("Size: "))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .sum(),
    )
}

/// The installed packages and their versions (`dpkg-query -W`), by name.
pub(crate) async fn installed_set(
    ctx: &ToolCtx,
    host: &Host,
) -> Result<BTreeMap<String, String>, ToolError> {
    let out = host
        .run_ok(
            ctx,
            "dpkg-query",
            &[
                "-W",
                "-f",
                "${binary:Package}\t${Version}\t${db:Status-Abbrev}\n",
            ],
            Duration::from_secs(60),
            32 * 1024 * 1024,
        )
        .await?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, version, status) = (f.next()?, f.next()?, f.next()?);
            status
                .starts_with("ii")
                .then(|| (name.to_string(), version.to_string()))
        })
        .collect())
}

/// Names in `after` that are not in `before`, with `:arch` qualifiers that
/// dpkg adds for multi-arch packages kept as dpkg prints them.
pub(crate) fn newly(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect()
}

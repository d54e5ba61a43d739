//! The read tools of `pkg`: `search` (`apt-cache search`), `info`
//! (`apt-cache show` plus dpkg's installed version), `installed`
//! (`dpkg-query -W`, filtered by a name pattern) and `updates` (`apt-get -s
//! upgrade`, parsed). None needs root.

use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PackageMove, PackageName, installed_set, simulate};
use crate::builtin::host::Host;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

fn default_limit() -> usize {
    50
}

fn check_limit(limit: usize, max: usize) -> Result<(), ToolError> {
    if limit == 0 || limit > max {
        return Err(ToolError::invalid(format!(
            "field `limit` must be 1..={max}, got {limit}"
        )));
    }
    Ok(())
}

macro_rules! with_host {
    ($($t:ident),*) => {$(
        impl $t {
            /// With a test host (fake helpers).
            #[cfg(test)]
            #[allow(dead_code)]
            pub(crate) fn with_host(host: Host) -> Self {
                $t { host }
            }
        }
    )*};
}

/// `pkg.search`.
#[derive(Debug, Clone, Default)]
pub struct PkgSearch {
    host: Host,
}
/// `pkg.info`.
#[derive(Debug, Clone, Default)]
pub struct PkgInfo {
    host: Host,
}
/// `pkg.installed`.
#[derive(Debug, Clone, Default)]
pub struct PkgInstalled {
    host: Host,
}
/// `pkg.updates`.
#[derive(Debug, Clone, Default)]
pub struct PkgUpdates {
    host: Host,
}
with_host!(PkgSearch, PkgInfo, PkgInstalled, PkgUpdates);

/// Arguments of `pkg.search`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkgSearchArgs {
    /// Words to look for in package names and descriptions (a regular
    /// expression for apt-cache, matched case-insensitively).
    pub query: String,
    /// Match names only, not descriptions (default false).
    #[serde(default)]
    pub names_only: bool,
    /// At most this many results (default 50, at most 500).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One search hit.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Package name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Installed version, when installed.
    pub installed: Option<String>,
}

/// Search results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// One line for the human.
    pub summary: String,
    /// Hits, by name.
    pub packages: Vec<Hit>,
    /// Hits before the cap.
    pub total: usize,
    /// Whether cut at `limit`.
    pub truncated: bool,
}

impl Tool for PkgSearch {
    type Args = PkgSearchArgs;

    fn name(&self) -> &'static str {
        "pkg.search"
    }

    fn description(&self) -> &'static str {
        "Search the available software packages (apt) by name and description; says which are installed."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Package]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "is there a package for htop?",
                args: r#"{"query": "htop", "names_only": true}"#,
            },
            Example {
                request: "find a pdf viewer",
                args: r#"{"query": "pdf viewer"}"#,
            },
            Example {
                request: "search packages about nginx",
                args: r#"{"query": "nginx", "limit": 20}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut PkgSearchArgs,
        _: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.query = args.query.trim().to_string();
        if args.query.is_empty()
            || args.query.len() > 200
            || args.query.chars().any(char::is_control)
        {
            return Err(ToolError::invalid(
                "field `query` must be 1 to 200 printable characters",
            ));
        }
        Ok(())
    }

    fn resources(&self, args: &PkgSearchArgs) -> Vec<Resource> {
        vec![Resource::Package(format!("*{}*", args.query))]
    }

    fn preview(&self, args: &PkgSearchArgs) -> String {
        format!("search packages for {:?}", args.query)
    }

    async fn run(&self, ctx: ToolCtx, args: PkgSearchArgs) -> Result<Value, ToolError> {
        check_limit(args.limit, 500)?;
        // apt-cache ANDs several patterns: one per word.
        let words: Vec<&str> = args.query.split_whitespace().collect();
        let mut a = vec!["search"];
        if args.names_only {
            a.push("--names-only");
        }
        a.push("--");
        a.extend(&words);
        let out = self
            .host
            .run_ok(
                &ctx,
                "apt-cache",
                &a,
                Duration::from_secs(60),
                8 * 1024 * 1024,
            )
            .await?;
        let installed = installed_set(&ctx, &self.host).await?;
        let mut hits: Vec<Hit> = out
            .stdout
            .lines()
            .filter_map(|l| l.split_once(" - "))
            .map(|(n, d)| Hit {
                installed: installed.get(n).cloned(),
                name: n.to_string(),
                description: truncate(d, 200),
            })
            .collect();
        hits.sort_by(|a, b| a.name.cmp(&b.name));
        let total = hits.len();
        hits.truncate(args.limit);
        crate::builtin::to_value(&SearchResult {
            summary: format!(
                "{total} package{} match {:?}{}",
                if total == 1 { "" } else { "s" },
                args.query,
                if total > hits.len() {
                    format!("; showing {}", hits.len())
                } else {
                    String::new()
                }
            ),
            truncated: total > hits.len(),
            total,
            packages: hits,
        })
    }
}

/// Arguments of `pkg.info`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkgInfoArgs {
    /// Package name, e.g. nginx or libc6.
    #[schemars(with = "String")]
    pub name: PackageName,
}

/// What apt and dpkg know about one package.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// One line for the human.
    pub summary: String,
    /// Name.
    pub name: String,
    /// Installed version, when installed.
    pub installed: Option<String>,
    /// Version apt would install.
    pub candidate: Option<String>,
    /// Selected fields of the package record (Description, Depends,
    /// Section, Installed-Size, Homepage, Maintainer…), as text.
    pub fields: std::collections::BTreeMap<String, String>,
}

const INFO_FIELDS: &[&str] = &[
    "Section",
    "Installed-Size",
    "Maintainer",
    "Architecture",
    "Depends",
    "Recommends",
    "Homepage",
    "Description",
    "Size",
];

impl Tool for PkgInfo {
    type Args = PkgInfoArgs;

    fn name(&self) -> &'static str {
        "pkg.info"
    }

    fn description(&self) -> &'static str {
        "Details of one package: installed and candidate versions, description, dependencies, size, homepage."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Package]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what version of openssl is installed?",
                args: r#"{"name": "openssl"}"#,
            },
            Example {
                request: "tell me about the nginx package",
                args: r#"{"name": "nginx"}"#,
            },
            Example {
                request: "what does curl depend on",
                args: r#"{"name": "curl"}"#,
            },
        ]
    }

    fn resources(&self, args: &PkgInfoArgs) -> Vec<Resource> {
        vec![Resource::Package(args.name.as_str().to_string())]
    }

    fn preview(&self, args: &PkgInfoArgs) -> String {
        format!("show package {}", args.name.as_str())
    }

    async fn run(&self, ctx: ToolCtx, args: PkgInfoArgs) -> Result<Value, ToolError> {
        let name = args.name.as_str();
        let out = self
            .host
            .run(
                &ctx,
                "apt-cache",
                &["show", "--no-all-versions", "--", name],
                Duration::from_secs(30),
                1024 * 1024,
            )
            .await?;
        let dpkg = self
            .host
            .run(
                &ctx,
                "dpkg-query",
                &["-W", "-f", "${db:Status-Abbrev}\t${Version}", "--", name],
                Duration::from_secs(30),
                64 * 1024,
            )
            .await?;
        let installed = (dpkg.code == Some(0))
            .then(|| dpkg.stdout.split_once('\t'))
            .flatten()
            .filter(|(s, _)| s.starts_with("ii"))
            .map(|(_, v)| v.to_string());
        let mut fields = std::collections::BTreeMap::new();
        let mut candidate = None;
        if out.code == Some(0) {
            // The first record only; continuation lines of Description are
            // cut to the synopsis.
            for l in out.stdout.lines().take_while(|l| !l.is_empty()) {
                let Some((k, v)) = l.split_once(": ") else {
                    continue;
                };
                if k == "Version" {
                    candidate = Some(v.to_string());
                } else if INFO_FIELDS.contains(&k) || k == "Description-en" {
                    let k = if k == "Description-en" {
                        "Description"
                    } else {
                        k
                    };
                    fields.insert(k.to_string(), truncate(v, 1000));
                }
            }
        }
        if candidate.is_none() && installed.is_none() {
            return Err(ToolError::not_found(format!(
                "no package named {name} is installed or available; try pkg.search"
            )));
        }
        let summary = match (&installed, &candidate) {
            (Some(i), Some(c)) if i == c => format!("{name} {i} is installed (up to date)"),
            (Some(i), Some(c)) => format!("{name} {i} is installed; {c} is available"),
            (Some(i), None) => format!("{name} {i} is installed (not in the package lists)"),
            (None, c) => format!(
                "{name} is not installed; {} is available",
                c.as_deref().unwrap_or("a version")
            ),
        };
        crate::builtin::to_value(&Info {
            summary,
            name: name.to_string(),
            installed,
            candidate,
            fields,
        })
    }
}

/// Arguments of `pkg.installed`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkgInstalledArgs {
    /// Only names matching this shell-style pattern, e.g. `python3*` or
    /// `*ssl*`. Null: every installed package.
    #[serde(default)]
    pub pattern: Option<String>,
    /// At most this many packages (default 200, at most 10000).
    #[serde(default = "default_installed_limit")]
    pub limit: usize,
}

fn default_installed_limit() -> usize {
    200
}

/// One installed package.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// Name (with `:arch` for multi-arch packages).
    pub name: String,
    /// Version.
    pub version: String,
}

/// Installed packages.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledList {
    /// One line for the human.
    pub summary: String,
    /// The packages, by name.
    pub packages: Vec<Installed>,
    /// Matches before the cap.
    pub total: usize,
    /// Whether cut at `limit`.
    pub truncated: bool,
}

/// Shell-style match of `name` against `pat` (`*` and `?`).
fn glob(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pat[1..], name) || (!name.is_empty() && glob(pat, &name[1..])),
        (Some(b'?'), Some(_)) => glob(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pat[1..], &name[1..]),
        _ => false,
    }
}

impl Tool for PkgInstalled {
    type Args = PkgInstalledArgs;

    fn name(&self) -> &'static str {
        "pkg.installed"
    }

    fn description(&self) -> &'static str {
        "List installed packages with their versions (dpkg), optionally only names matching a pattern like \
         python3* or *ssl*."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Package]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "which python packages are installed?",
                args: r#"{"pattern": "python3*"}"#,
            },
            Example {
                request: "list installed packages",
                args: r#"{}"#,
            },
            Example {
                request: "is anything ssl-related installed",
                args: r#"{"pattern": "*ssl*", "limit": 50}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut PkgInstalledArgs,
        _: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        if let Some(p) = &args.pattern {
            let ok = !p.is_empty()
                && p.len() <= 128
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.:*?".contains(c));
            if !ok {
                return Err(ToolError::invalid(format!(
                    "field `pattern`: {p:?} may only hold lower-case letters, digits, + - . : and the wildcards * ?"
                )));
            }
        }
        Ok(())
    }

    fn resources(&self, args: &PkgInstalledArgs) -> Vec<Resource> {
        vec![Resource::Package(
            args.pattern.clone().unwrap_or_else(|| "*".into()),
        )]
    }

    fn preview(&self, args: &PkgInstalledArgs) -> String {
        match &args.pattern {
            Some(p) => format!("list installed packages matching {p}"),
            None => "list installed packages".into(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: PkgInstalledArgs) -> Result<Value, ToolError> {
        check_limit(args.limit, 10_000)?;
        let all = installed_set(&ctx, &self.host).await?;
        let pat = args.pattern.as_deref().unwrap_or("*");
        let mut packages: Vec<Installed> = all
            .into_iter()
            .filter(|(n, _)| {
                glob(pat.as_bytes(), n.as_bytes())
                    || n.split_once(':')
                        .is_some_and(|(b, _)| glob(pat.as_bytes(), b.as_bytes()))
            })
            .map(|(name, version)| Installed { name, version })
            .collect();
        let total = packages.len();
        packages.truncate(args.limit);
        crate::builtin::to_value(&InstalledList {
            summary: format!(
                "{total} installed package{}{}{}",
                if total == 1 { "" } else { "s" },
                args.pattern
                    .as_ref()
                    .map_or_else(String::new, |p| format!(" match {p}")),
                if total > packages.len() {
                    format!("; showing {}", packages.len())
                } else {
                    String::new()
                }
            ),
            truncated: total > packages.len(),
            total,
            packages,
        })
    }
}

/// Arguments of `pkg.updates`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkgUpdatesArgs {
    /// At most this many packages (default 200, at most 10000).
    #[serde(default = "default_installed_limit")]
    pub limit: usize,
}

/// Pending upgrades.
#[derive(Debug, Clone, Serialize)]
pub struct Updates {
    /// One line for the human.
    pub summary: String,
    /// Packages with a newer version, by name.
    pub upgrades: Vec<PackageMove>,
    /// Upgrades before the cap.
    pub total: usize,
    /// Whether cut at `limit`.
    pub truncated: bool,
    /// Bytes to download for all of them, when apt knows.
    pub download_bytes: Option<u64>,
}

impl Tool for PkgUpdates {
    type Args = PkgUpdatesArgs;

    fn name(&self) -> &'static str {
        "pkg.updates"
    }

    fn description(&self) -> &'static str {
        "List the packages that have upgrades available (simulated `apt-get upgrade`, from the package lists \
         as last refreshed), with old and new versions and the download size."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Package]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "are there updates?",
                args: r#"{}"#,
            },
            Example {
                request: "what packages can be upgraded",
                args: r#"{}"#,
            },
            Example {
                request: "show me the first 20 pending upgrades",
                args: r#"{"limit": 20}"#,
            },
        ]
    }

    fn resources(&self, _: &PkgUpdatesArgs) -> Vec<Resource> {
        vec![Resource::Package("*".into())]
    }

    fn preview(&self, _: &PkgUpdatesArgs) -> String {
        "list available package upgrades".into()
    }

    async fn run(&self, ctx: ToolCtx, args: PkgUpdatesArgs) -> Result<Value, ToolError> {
        check_limit(args.limit, 10_000)?;
        let (_, _, sim) = simulate(&ctx, &self.host, &["upgrade"], &[]).await?;
        let mut upgrades = sim.upgrade;
        upgrades.sort_by(|a, b| a.name.cmp(&b.name));
        let total = upgrades.len();
        upgrades.truncate(args.limit);
        let size = sim.download_bytes.map_or_else(String::new, |b| {
            format!(" ({} to download)", crate::util::human_bytes(b))
        });
        crate::builtin::to_value(&Updates {
            summary: match total {
                0 => "no upgrades available (as of the last package list refresh)".to_string(),
                n => format!(
                    "{n} upgrade{} available{size}",
                    if n == 1 { "" } else { "s" }
                ),
            },
            truncated: total > upgrades.len(),
            total,
            upgrades,
            download_bytes: sim.download_bytes,
        })
    }
}

#[cfg(test)]
#[test]
fn globs_match_like_the_shell() {
    assert!(glob(b"python3*", b"python3.11"));
    assert!(glob(b"*ssl*", b"libssl3"));
    assert!(glob(b"lib?", b"libc"));
    assert!(!glob(b"lib?", b"libc6"));
    assert!(glob(b"*", b""));
    assert!(!glob(b"a*", b"b"));
}

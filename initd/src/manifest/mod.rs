//! Service manifests: TOML files, one service each, in a directory
//! (`/etc/aios/services/*.toml` as PID 1). This module owns the file
//! format, its validation, and the checks across a set of services
//! (duplicates, unknown dependencies, cycles). Every error names the file,
//! and where it can, the line, column and key.
//!
//! The format, with defaults:
//!
//! ```toml
//! name = "memoryd"                 # must equal the file stem
//! description = "aiOS memory"      # optional
//! command = ["/usr/bin/memoryd"]   # argv, required
//! user = "aios"                    # optional: name or uid
//! group = "aios"                   # optional: name or gid
//! supplementary_groups = []        # optional
//! working_directory = "/var/lib/aios"
//! enabled = true                   # start at boot
//! requires = []                    # started with this one, ready first
//! after = []                       # ordering only
//! readiness = "notify"             # "notify" | "none" | "exit" | { socket = "/path" }
//! restart = "on-failure"           # "no" | "on-failure" | "always"
//! start_timeout = "90s"
//! stop_timeout = "10s"
//! watchdog = "30s"                 # optional: require WATCHDOG=1 this often
//!
//! unset_environment = ["OPENAI_API_KEY"]   # removed from the inherited environment
//!
//! [environment]
//! AIOS_LOG = "info"
//!
//! [backoff]
//! initial = "100ms"
//! max = "30s"
//!
//! [start_limit]
//! burst = 5                        # 0: no limit, retry forever (with backoff)
//! interval = "10s"                 # also: a run this long resets the backoff
//!
//! [limits]
//! nofile = 4096
//! nproc = 512
//! memory = "512M"                  # cgroup memory.max
//! ```
//!
//! Readiness:
//! - `"none"`: ready as soon as it is spawned (the default).
//! - `"notify"`: ready on `READY=1` over `$NOTIFY_SOCKET`.
//! - `{ socket = "/path" }`: ready once the Unix socket accepts connections.
//! - `"exit"`: a oneshot (a setup script). Ready when the main process
//!   exits with status 0; it then shows as `exited`, stays done, and counts
//!   as ready for the services that require it. Exiting non-zero or by a
//!   signal first is a failed start (restart policy, backoff and start
//!   limit apply; dependents are not started while it has not succeeded),
//!   and `start_timeout` bounds the whole run. It cannot be combined with
//!   `restart = "always"` (a oneshot that succeeded is not run again;
//!   `"on-failure"` retries failures, `"no"` gives up at once) nor with
//!   `watchdog` (it never reaches `running`).
//!
//! Start limit: more than `burst` starts within `interval` puts the service
//! in `failed` until it is started by hand. `burst = 0` disables the limit
//! for a service that must never give up (the console gettys); its restarts
//! are still spaced by the backoff.

mod set;
pub mod trust;
pub mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::spec::{
    Backoff, DEFAULT_BACKOFF, DEFAULT_START_LIMIT, DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT,
    Limits, Readiness, RestartPolicy, ServiceSpec, StartLimit,
};

pub use set::{LoadReport, load_dir, load_dir_with, start_order, validate_set};
pub use trust::TrustPolicy;

/// Why a manifest or a set of manifests is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file or directory could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// A manifest, or its directory, could be changed by someone other
    /// than root or initd's own user ([`trust`]).
    #[error("refusing {}: {problem}; {fix}", path.display())]
    Untrusted {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong (owner, mode or type).
        problem: String,
        /// The command that fixes it.
        fix: String,
    },
    /// A value, key or the TOML itself is wrong.
    #[error("{}:{line}:{column}: {message}{}", file.display(), key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default())]
    Invalid {
        /// The manifest.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The offending key, when one can be named.
        key: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Two manifests declare the same service.
    #[error("{}: service {name:?} is also defined in {}; service names must be unique", file.display(), other.display())]
    Duplicate {
        /// The later manifest.
        file: PathBuf,
        /// The service name.
        name: String,
        /// The earlier manifest.
        other: PathBuf,
    },
    /// A dependency names no known service.
    #[error("{}:{line}: service {service:?} lists unknown service {dep:?} in `{key}`; known services: {known}", file.display())]
    UnknownDependency {
        /// The manifest.
        file: PathBuf,
        /// Line of the entry.
        line: usize,
        /// The service.
        service: String,
        /// `requires` or `after`.
        key: &'static str,
        /// The missing name.
        dep: String,
        /// Comma-separated known names.
        known: String,
    },
    /// Services depend on each other in a circle.
    #[error("dependency cycle: {chain}; remove one of these `requires`/`after` entries")]
    Cycle {
        /// The cycle, e.g. `a (a.toml:4) -> b (b.toml:5) -> a`.
        chain: String,
        /// The services in the cycle.
        services: Vec<String>,
    },
}

/// Where dependency entries sit in their file, for set-level errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepLines {
    /// `dep name -> (key, line)`.
    pub lines: BTreeMap<String, (&'static str, usize)>,
}

/// A parsed manifest and where its dependency entries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The validated service.
    pub spec: ServiceSpec,
    /// Lines of its `requires`/`after` entries.
    pub deps: DepLines,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<Spanned<String>>,
    #[serde(default)]
    description: String,
    command: Spanned<Vec<String>>,
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    #[serde(default)]
    supplementary_groups: Vec<Spanned<String>>,
    environment: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    unset_environment: Vec<Spanned<String>>,
    working_directory: Option<Spanned<PathBuf>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    readiness: Option<Spanned<RawReadiness>>,
    restart: Option<Spanned<RawRestart>>,
    backoff: Option<Spanned<RawBackoff>>,
    start_limit: Option<Spanned<RawStartLimit>>,
    limits: Option<RawLimits>,
    start_timeout: Option<Dur>,
    stop_timeout: Option<Dur>,
    watchdog: Option<Spanned<Dur>>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawReadiness {
    Notify,
    None,
    Exit,
    Socket(PathBuf),
}

#[derive(Deserialize)]
enum RawRestart {
    #[serde(rename = "no")]
    No,
    #[serde(rename = "on-failure")]
    OnFailure,
    #[serde(rename = "always")]
    Always,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial: Option<Dur>,
    max: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStartLimit {
    burst: Option<u32>,
    interval: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    nofile: Option<u64>,
    nproc: Option<u64>,
    memory: Option<Size>,
}

/// A duration with units, checked while deserializing so the error carries
/// the value's position.
struct Dur(std::time::Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        units::parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// A byte size: an integer of bytes or a string with a suffix.
struct Size(u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size in bytes or a string like \"512M\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                units::parse_size(v).map(Size).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Is `name` acceptable as a service name (it becomes a file and cgroup name)?
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Parse and validate one manifest's text. `file` names it in errors and
/// gives the expected service name (its stem).
pub fn parse(file: &Path, text: &str) -> Result<Parsed, ManifestError> {
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let message = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        invalid_at(file, text, e.span().map(|s| s.start).unwrap_or(0), message)
    })?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let bad = |at: usize, msg: String| invalid_at(file, text, at, msg);

    let name = match &raw.name {
        Some(n) => {
            if !valid_name(n.get_ref()) {
                return Err(bad(
                    n.span().start,
                    format!(
                        "invalid service name {:?}: use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit (at most 64)",
                        n.get_ref()
                    ),
                ));
            }
            if *n.get_ref() != stem {
                return Err(bad(
                    n.span().start,
                    format!(
                        "service name {:?} does not match the file name {stem}.toml; rename the file or the service",
                        n.get_ref()
                    ),
                ));
            }
            n.get_ref().clone()
        }
        None => {
            if !valid_name(&stem) {
                return Err(bad(
                    0,
                    format!(
                        "file name {stem:?} is not a valid service name; use lowercase letters, digits, '-', '_' or '.'"
                    ),
                ));
            }
            stem.clone()
        }
    };

    let command = raw.command.get_ref();
    if command.is_empty() || command[0].is_empty() {
        return Err(bad(
            raw.command.span().start,
            "command must name a program: command = [\"/usr/bin/prog\", \"--flag\"]".into(),
        ));
    }
    if command.iter().any(|a| a.contains('\0')) {
        return Err(bad(
            raw.command.span().start,
            "command arguments cannot contain NUL".into(),
        ));
    }

    for field in [&raw.user, &raw.group].into_iter().flatten() {
        if field.get_ref().is_empty() || field.get_ref().contains(['\0', ':', '\n']) {
            return Err(bad(
                field.span().start,
                format!("invalid user or group {:?}", field.get_ref()),
            ));
        }
    }

    let environment = match &raw.environment {
        Some(env) => {
            for (k, v) in env.get_ref() {
                let key_ok = !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !key_ok {
                    return Err(bad(
                        env.span().start,
                        format!(
                            "invalid environment variable name {k:?}: use letters, digits and '_'"
                        ),
                    ));
                }
                if v.contains('\0') {
                    return Err(bad(
                        env.span().start,
                        format!("environment variable {k} contains NUL"),
                    ));
                }
                if k == "NOTIFY_SOCKET" {
                    return Err(bad(
                        env.span().start,
                        "NOTIFY_SOCKET is set by initd and cannot be overridden".into(),
                    ));
                }
            }
            env.get_ref().clone()
        }
        None => BTreeMap::new(),
    };

    let working_directory = match &raw.working_directory {
        Some(w) if !w.get_ref().is_absolute() => {
            return Err(bad(
                w.span().start,
                format!(
                    "working_directory {:?} must be an absolute path",
                    w.get_ref()
                ),
            ));
        }
        Some(w) => Some(w.get_ref().clone()),
        None => None,
    };

    let mut deps = DepLines::default();
    let mut seen = BTreeSet::new();
    for (key, list) in [("requires", &raw.requires), ("after", &raw.after)] {
        for d in list {
            let line = line_of(text, d.span().start);
            if *d.get_ref() == name {
                return Err(bad(
                    d.span().start,
                    format!("service {name:?} cannot depend on itself"),
                ));
            }
            if !seen.insert(d.get_ref().clone()) {
                return Err(bad(
                    d.span().start,
                    format!(
                        "{:?} is listed twice in requires/after; list it once",
                        d.get_ref()
                    ),
                ));
            }
            deps.lines.insert(d.get_ref().clone(), (key, line));
        }
    }

    let restart_at = raw.restart.as_ref().map(|r| r.span().start);
    let readiness = match raw.readiness.map(Spanned::into_inner) {
        None | Some(RawReadiness::None) => Readiness::None,
        Some(RawReadiness::Notify) => Readiness::Notify,
        Some(RawReadiness::Exit) => Readiness::Exit,
        Some(RawReadiness::Socket(p)) => Readiness::Socket(p),
    };
    let restart = match raw.restart.map(Spanned::into_inner) {
        None | Some(RawRestart::OnFailure) => RestartPolicy::OnFailure,
        Some(RawRestart::No) => RestartPolicy::No,
        Some(RawRestart::Always) => RestartPolicy::Always,
    };
    if readiness == Readiness::Exit {
        // A oneshot that succeeded is done; "always" would run it again
        // and again, and a watchdog would never be checked.
        if restart == RestartPolicy::Always {
            return Err(bad(
                restart_at.unwrap_or(0),
                "restart = \"always\" cannot be combined with readiness = \"exit\" (a oneshot is done once it exits 0); use restart = \"on-failure\" to retry failed runs, or \"no\"".into(),
            ));
        }
        if let Some(w) = &raw.watchdog {
            return Err(bad(
                w.span().start,
                "watchdog cannot be combined with readiness = \"exit\" (a oneshot is never running as ready); remove it".into(),
            ));
        }
    }

    let backoff = match &raw.backoff {
        Some(b) => {
            let v = b.get_ref();
            let backoff = Backoff {
                initial: v
                    .initial
                    .as_ref()
                    .map(|d| d.0)
                    .unwrap_or(DEFAULT_BACKOFF.initial),
                max: v.max.as_ref().map(|d| d.0).unwrap_or(DEFAULT_BACKOFF.max),
            };
            if backoff.initial > backoff.max {
                return Err(bad(
                    b.span().start,
                    format!(
                        "backoff.initial ({}) is larger than backoff.max ({})",
                        units::format_duration(backoff.initial),
                        units::format_duration(backoff.max)
                    ),
                ));
            }
            backoff
        }
        None => DEFAULT_BACKOFF,
    };

    let start_limit = match &raw.start_limit {
        Some(s) => {
            let v = s.get_ref();
            let limit = StartLimit {
                burst: v.burst.unwrap_or(DEFAULT_START_LIMIT.burst),
                interval: v
                    .interval
                    .as_ref()
                    .map(|d| d.0)
                    .unwrap_or(DEFAULT_START_LIMIT.interval),
            };
            if limit.interval.is_zero() {
                return Err(bad(
                    s.span().start,
                    "start_limit.interval must be longer than 0 (it also sets how long a run must last to reset the backoff); to never give up, set burst = 0".into(),
                ));
            }
            limit
        }
        None => DEFAULT_START_LIMIT,
    };

    let limits = match &raw.limits {
        Some(l) => Limits {
            nofile: l.nofile,
            nproc: l.nproc,
            memory: l.memory.as_ref().map(|s| s.0),
        },
        None => Limits::default(),
    };

    let watchdog = match &raw.watchdog {
        Some(w) if w.get_ref().0.is_zero() => {
            return Err(bad(
                w.span().start,
                "watchdog must be longer than 0; remove it to disable".into(),
            ));
        }
        Some(w) => Some(w.get_ref().0),
        None => None,
    };

    let spec = ServiceSpec {
        name,
        description: raw.description,
        command: command.clone(),
        user: raw.user.map(|u| u.into_inner()),
        group: raw.group.map(|g| g.into_inner()),
        supplementary_groups: raw
            .supplementary_groups
            .into_iter()
            .map(|g| g.into_inner())
            .collect(),
        environment,
        unset_environment: raw
            .unset_environment
            .into_iter()
            .map(|v| v.into_inner())
            .collect(),
        working_directory,
        requires: raw.requires.into_iter().map(|d| d.into_inner()).collect(),
        after: raw.after.into_iter().map(|d| d.into_inner()).collect(),
        readiness,
        restart,
        backoff,
        start_limit,
        limits,
        start_timeout: raw
            .start_timeout
            .map(|d| d.0)
            .unwrap_or(DEFAULT_START_TIMEOUT),
        stop_timeout: raw
            .stop_timeout
            .map(|d| d.0)
            .unwrap_or(DEFAULT_STOP_TIMEOUT),
        watchdog,
        enabled: raw.enabled.unwrap_or(true),
        source: file.to_path_buf(),
    };
    Ok(Parsed { spec, deps })
}

/// Parse the bytes of one manifest file.
pub fn parse_bytes(file: &Path, bytes: Vec<u8>) -> Result<Parsed, ManifestError> {
    let text = String::from_utf8(bytes).map_err(|_| ManifestError::Invalid {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
        key: None,
        message: "not valid UTF-8; manifests must be UTF-8 TOML".into(),
    })?;
    parse(file, &text)
}

/// 1-based line of byte offset `pos`.
fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].matches('\n').count() + 1
}

fn invalid_at(file: &Path, text: &str, pos: usize, message: String) -> ManifestError {
    let pos = pos.min(text.len());
    let before = &text[..pos];
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    ManifestError::Invalid {
        file: file.to_path_buf(),
        line: line_of(text, pos),
        column,
        key: key_at(text, pos),
        message,
    }
}

/// The dotted key whose value or name sits at byte `pos`: the nearest
/// `[table]` header above, plus the key on that line.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    if line.starts_with('[') {
        return Some(
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"'),
        None => "",
    };
    // A continuation line of a multi-line array has no key of its own.
    if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '"' || c == ',') {
        return header;
    }
    Some(match header {
        Some(h) => format!("{h}.{key}"),
        None => key.to_string(),
    })
}

#[cfg(test)]
mod tests;

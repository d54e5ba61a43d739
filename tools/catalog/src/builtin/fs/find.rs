//! `fs.find`: files under a directory by name glob, type, minimum size and
//! age. The walk goes through descriptors (never following a link), stays
//! on one filesystem, polls cancellation, and stops at an entry budget.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use aios_domain::Risk;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::at::Kind;
use super::tree;
use crate::util::{human_bytes, rfc3339};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.find`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsFind;

/// Which kinds of entries `fs.find` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindType {
    /// Anything.
    #[default]
    Any,
    /// Regular files.
    File,
    /// Directories.
    Dir,
    /// Symbolic links.
    Symlink,
}

fn default_limit() -> usize {
    100
}

/// Arguments of `fs.find`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsFindArgs {
    /// Directory to search under (absolute, or starting with ~). Stays on its filesystem.
    pub path: String,
    /// Glob on the entry's name (not its path): `*` any text, `?` one character, `[abc]`/`[a-z]`/`[!x]` sets. Default: every name.
    #[serde(default)]
    pub name: Option<String>,
    /// Kind of entry: any (default), file, dir or symlink.
    #[serde(default, rename = "type")]
    pub kind: FindType,
    /// Only files at least this big: bytes, or with a unit such as "100M", "2G", "500k".
    #[serde(default)]
    pub min_size: Option<String>,
    /// Only entries modified within this long: "30m", "24h", "7d", "2w".
    #[serde(default)]
    pub modified_within: Option<String>,
    /// Most matches to return (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

const MAX_LIMIT: usize = 1000;
const BUDGET: u64 = 1_000_000;

/// One match.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// Its path.
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, RFC 3339 UTC.
    pub modified: String,
}

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct FindResult {
    /// One line: `12 matches under /var/log (scanned 3400 entries)`.
    pub summary: String,
    /// Root of the search, canonical.
    pub path: String,
    /// Matches, in walk order.
    pub matches: Vec<Found>,
    /// Matches found (more than returned when truncated).
    pub total: usize,
    /// Whether `matches` was cut to `limit`.
    pub truncated: bool,
    /// Entries looked at.
    pub scanned: u64,
    /// Set when the walk did not cover everything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

/// Whether `name` matches the glob `pat` (`*`, `?`, `[...]` with ranges
/// and `!`/`^` negation), byte-wise with backtracking over the last `*`.
pub(crate) fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&pat[p..], name[n]) {
                        if ok {
                            p += next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Match `c` against the class at the start of `pat` (`[...]`): whether it
/// matched and the class's length, or `None` when the class is unclosed.
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < pat.len() {
        if pat[i] == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            hit |= (pat[i]..=pat[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= pat[i] == c;
            i += 1;
        }
    }
    None
}

/// Bytes from `100`, `100k`, `2M`, `1.5G` (binary units).
pub(crate) fn parse_size(s: &str) -> Result<u64, ToolError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => 0,
    };
    match num.parse::<f64>() {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        Ok(v) if mult > 0 && v >= 0.0 && v.is_finite() => Ok((v * mult as f64) as u64),
        _ => Err(ToolError::invalid(format!(
            "field `min_size`: {s:?} is not a size; give bytes or a number with k, M, G or T, such as \"100M\""
        ))),
    }
}

/// Seconds from `30s`, `30m`, `24h`, `7d`, `2w`.
pub(crate) fn parse_age(s: &str) -> Result<i64, ToolError> {
    let t = s.trim();
    let bad = || {
        ToolError::invalid(format!(
            "field `modified_within`: {s:?} is not a duration; give a number with s, m, h, d or w, such as \"24h\" or \"7d\""
        ))
    };
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

struct Filter {
    name: Option<Vec<u8>>,
    kind: FindType,
    min_size: Option<u64>,
    since: Option<i64>,
}

struct Walk<'a> {
    ctx: &'a ToolCtx,
    f: Filter,
    dev: u64,
    limit: usize,
    out: Vec<Found>,
    total: usize,
    scanned: u64,
    unreadable: u64,
    cut: bool,
}

impl Walk<'_> {
    fn dir(&mut self, fd: &OwnedFd, path: &Path, depth: usize) -> Result<(), ToolError> {
        if depth >= tree::MAX_DEPTH {
            self.unreadable += 1;
            return Ok(());
        }
        let Ok(names) = tree::names(fd) else {
            self.unreadable += 1;
            return Ok(());
        };
        for n in names {
            self.ctx.check_cancelled()?;
            self.scanned += 1;
            if self.scanned > BUDGET {
                self.cut = true;
                return Ok(());
            }
            let name = OsStr::from_bytes(n.to_bytes());
            let Ok(st) = fstatat(fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
                self.unreadable += 1;
                continue;
            };
            let kind = Kind::of(&st);
            let p = path.join(name);
            let size = u64::try_from(st.st_size).unwrap_or(0);
            let wanted = match self.f.kind {
                FindType::Any => true,
                FindType::File => kind == Kind::File,
                FindType::Dir => kind == Kind::Dir,
                FindType::Symlink => kind == Kind::Symlink,
            } && self
                .f
                .name
                .as_deref()
                .is_none_or(|g| glob_match(g, n.to_bytes()))
                && self
                    .f
                    .min_size
                    .is_none_or(|m| kind == Kind::File && size >= m)
                && self.f.since.is_none_or(|s| st.st_mtime >= s);
            if wanted {
                self.total += 1;
                if self.out.len() < self.limit {
                    self.out.push(Found {
                        path: p.to_string_lossy().into_owned(),
                        kind: match kind {
                            Kind::File => "file",
                            Kind::Dir => "dir",
                            Kind::Symlink => "symlink",
                            _ => "other",
                        },
                        size,
                        modified: rfc3339(st.st_mtime),
                    });
                }
            }
            if kind == Kind::Dir && st.st_dev == self.dev {
                match tree::open_sub(fd, name) {
                    Ok(sub) => {
                        self.dir(&sub, &p, depth + 1)?;
                        if self.cut {
                            return Ok(());
                        }
                    }
                    Err(_) => self.unreadable += 1,
                }
            }
        }
        Ok(())
    }
}

fn find(ctx: &ToolCtx, args: &FsFindArgs) -> Result<FindResult, ToolError> {
    if args.limit == 0 || args.limit > MAX_LIMIT {
        return Err(ToolError::invalid(format!(
            "fs.find: field `limit` must be 1..={MAX_LIMIT}, got {}",
            args.limit
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let f = Filter {
        name: args.name.as_ref().map(|n| n.as_bytes().to_vec()),
        kind: args.kind,
        min_size: args.min_size.as_deref().map(parse_size).transpose()?,
        since: args
            .modified_within
            .as_deref()
            .map(parse_age)
            .transpose()?
            .map(|a| now.saturating_sub(a)),
    };
    let access = ctx.access();
    let pinned = crate::builtin::paths::pin(ctx, &args.path, "search")?;
    let fd = pinned.open_dir(access, "fs.find", "fs.stat describes one file")?;
    let root = pinned.path;
    let mut w = Walk {
        ctx,
        f,
        dev: pinned.meta.dev(),
        limit: args.limit,
        out: Vec::new(),
        total: 0,
        scanned: 0,
        unreadable: 0,
        cut: false,
    };
    w.dir(&fd, &root, 0)?;
    let mut why = Vec::new();
    if w.cut {
        why.push(format!("stopped after {BUDGET} entries"));
    }
    if w.unreadable > 0 {
        why.push(format!("{} entries could not be read", w.unreadable));
    }
    let p = root.to_string_lossy().into_owned();
    let bytes: u64 = w
        .out
        .iter()
        .filter(|f| f.kind == "file")
        .map(|f| f.size)
        .sum();
    Ok(FindResult {
        summary: format!(
            "{} match{} under {p} (scanned {} entries; files shown total {})",
            w.total,
            if w.total == 1 { "" } else { "es" },
            w.scanned,
            human_bytes(bytes)
        ),
        path: p,
        truncated: w.total > w.out.len(),
        total: w.total,
        matches: w.out,
        scanned: w.scanned,
        incomplete: (!why.is_empty()).then(|| why.join(", ")),
    })
}

impl Tool for FsFind {
    type Args = FsFindArgs;

    fn name(&self) -> &'static str {
        "fs.find"
    }

    fn description(&self) -> &'static str {
        "Find files and directories under a directory by name glob (*.log), type, minimum size (100M) and \
         modification age (7d). Follows no links and stays on one filesystem; results are capped by limit."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "find log files in /var/log bigger than 100 MB",
                args: r#"{"path": "/var/log", "name": "*.log", "type": "file", "min_size": "100M"}"#,
            },
            Example {
                request: "what files in my home changed in the last day",
                args: r#"{"path": "~", "type": "file", "modified_within": "24h"}"#,
            },
            Example {
                request: "where is nginx.conf under /etc",
                args: r#"{"path": "/etc", "name": "nginx.conf"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsFindArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        if let Some(s) = &args.min_size {
            parse_size(s)?;
        }
        if let Some(s) = &args.modified_within {
            parse_age(s)?;
        }
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsFindArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsFindArgs) -> String {
        format!("search under {}", args.path)
    }

    async fn run(&self, ctx: ToolCtx, args: FsFindArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| crate::builtin::to_value(&find(&ctx, &args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use serde_json::json;

    use super::super::tests::call;
    use super::*;

    #[test]
    fn globs_sizes_and_ages_parse() {
        for (p, n, want) in [
            ("*.log", "syslog.log", true),
            ("*.log", "syslog.log.1", false),
            ("a?c", "abc", true),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("*a*b*", "xxaxxbxx", true),
            ("", "", true),
            ("*", "", true),
            ("[", "[", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), n.as_bytes()), want, "{p} vs {n}");
        }
        assert_eq!(parse_size("100M").unwrap(), 100 << 20);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_age("7d").unwrap(), 7 * 86_400);
        assert!(parse_age("soon").is_err());
        assert!(parse_age("5y").is_err());
    }

    #[tokio::test]
    async fn finds_by_name_type_size_and_never_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("logs/old")).unwrap();
        std::fs::write(d.join("logs/a.log"), vec![0u8; 2048]).unwrap();
        std::fs::write(d.join("logs/old/b.log"), b"small").unwrap();
        std::fs::write(d.join("logs/c.txt"), b"x").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("z.log"), b"outside").unwrap();
        symlink(outside.path(), d.join("logs/link")).unwrap();
        let ctx = ToolCtx::local();
        let v = call(&ctx, "fs.find", json!({"path": d, "name": "*.log"}))
            .await
            .unwrap();
        let mut got: Vec<&str> = v["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["path"].as_str().unwrap())
            .collect();
        got.sort_unstable();
        let want = [d.join("logs/a.log"), d.join("logs/old/b.log")];
        assert_eq!(
            got,
            want.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>(),
            "{v}"
        );
        let v = call(&ctx, "fs.find", json!({"path": d, "min_size": "1k"}))
            .await
            .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        let v = call(&ctx, "fs.find", json!({"path": d, "type": "dir"}))
            .await
            .unwrap();
        assert_eq!(v["total"], 2, "{v}");
        let v = call(&ctx, "fs.find", json!({"path": d, "type": "symlink"}))
            .await
            .unwrap();
        assert_eq!(v["total"], 1, "{v}");
        let v = call(
            &ctx,
            "fs.find",
            json!({"path": d, "modified_within": "1h", "type": "file"}),
        )
        .await
        .unwrap();
        assert_eq!(v["total"], 3, "{v}");
        let v = call(&ctx, "fs.find", json!({"path": d, "limit": 1}))
            .await
            .unwrap();
        assert_eq!(v["matches"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncated"], true);
        let e = call(&ctx, "fs.find", json!({"path": d, "min_size": "big"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`min_size`"), "{e}");
    }

    #[tokio::test]
    async fn a_cancelled_walk_stops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let ctx = ToolCtx::local();
        ctx.cancel_token().cancel();
        let e = call(&ctx, "fs.find", json!({"path": dir.path()}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Cancelled, "{e}");
    }
}

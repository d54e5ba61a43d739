//! `fs.du`: the disk usage of each entry of a directory (a subdirectory
//! counts everything under it), largest first, capped. The walk stays on
//! the directory's filesystem, follows no link, and stops at an entry
//! budget or on cancellation.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use aios_domain::Risk;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::at::Kind;
use super::tree;
use crate::util::human_bytes;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.du`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsDu;

fn default_limit() -> usize {
    20
}

/// Arguments of `fs.du`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsDuArgs {
    /// Directory whose entries to size (absolute, or starting with ~).
    pub path: String,
    /// Most entries to return, largest first (default 20, at most 500).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

const MAX_LIMIT: usize = 500;
/// Entries looked at in all before the sizes become lower bounds.
const BUDGET: u64 = 1_000_000;

/// One entry and its usage.
#[derive(Debug, Clone, Serialize)]
pub struct DuEntry {
    /// Its name in the directory.
    pub name: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Disk usage in bytes (allocated blocks, everything under a directory).
    pub bytes: u64,
    /// Human size.
    pub human: String,
    /// Entries under a directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
}

/// The sized entries of one directory.
#[derive(Debug, Clone, Serialize)]
pub struct DuResult {
    /// One line: `/var: 1.2 GiB in 14 entries; largest: log (800 MiB)`.
    pub summary: String,
    /// The directory, canonical.
    pub path: String,
    /// Disk usage of all its entries.
    pub total_bytes: u64,
    /// The largest entries, largest first.
    pub entries: Vec<DuEntry>,
    /// Entries in the directory.
    pub total: usize,
    /// Whether `entries` was cut to `limit`.
    pub truncated: bool,
    /// Set when sizes are lower bounds: the entry budget ran out, or parts
    /// could not be read, or mount points were not entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

fn du(ctx: &ToolCtx, args: &FsDuArgs) -> Result<DuResult, ToolError> {
    if args.limit == 0 || args.limit > MAX_LIMIT {
        return Err(ToolError::invalid(format!(
            "fs.du: field `limit` must be 1..={MAX_LIMIT}, got {}",
            args.limit
        )));
    }
    let access = ctx.access();
    let pinned = crate::builtin::paths::pin(ctx, &args.path, "size")?;
    let fd = pinned.open_dir(access, "fs.du", "fs.stat shows one file's size")?;
    let dev = pinned.meta.dev();
    let root = pinned.path;
    let names =
        tree::names(&fd).map_err(|e| access.io_error(&root, "list", &std::io::Error::from(e)))?;
    let (mut out, mut budget) = (Vec::with_capacity(names.len()), BUDGET);
    let (mut unreadable, mut mounts, mut cut) = (0u64, 0usize, false);
    for n in &names {
        ctx.check_cancelled()?;
        let name = OsStr::from_bytes(n.to_bytes());
        let Ok(st) = fstatat(fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            unreadable += 1;
            continue;
        };
        let own = u64::try_from(st.st_blocks).unwrap_or(0) * 512;
        let kind = Kind::of(&st);
        let (bytes, entries) = if kind == Kind::Dir && st.st_dev == dev {
            match tree::open_sub(&fd, name) {
                Ok(sub) => {
                    let t = tree::scan(ctx, &sub, &root.join(name), dev, budget)?;
                    budget = budget.saturating_sub(t.entries());
                    unreadable += t.unreadable;
                    mounts += t.mounts.len();
                    cut |= t.truncated;
                    (own + t.usage, Some(t.entries()))
                }
                Err(_) => {
                    unreadable += 1;
                    (own, None)
                }
            }
        } else {
            if kind == Kind::Dir {
                mounts += 1;
            }
            (own, None)
        };
        out.push(DuEntry {
            name: String::from_utf8_lossy(n.to_bytes()).into_owned(),
            kind: match kind {
                Kind::File => "file",
                Kind::Dir => "dir",
                Kind::Symlink => "symlink",
                _ => "other",
            },
            bytes,
            human: human_bytes(bytes),
            entries,
        });
    }
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    let total_bytes = out.iter().map(|e| e.bytes).sum();
    let total = out.len();
    let truncated = total > args.limit;
    out.truncate(args.limit);
    let mut why = Vec::new();
    if cut {
        why.push(format!("stopped after {BUDGET} entries"));
    }
    if unreadable > 0 {
        why.push(format!("{unreadable} entries could not be read"));
    }
    if mounts > 0 {
        why.push(format!("{mounts} mount points not entered"));
    }
    let p = root.to_string_lossy().into_owned();
    let largest = out
        .first()
        .map(|e| format!("; largest: {} ({})", e.name, e.human))
        .unwrap_or_default();
    Ok(DuResult {
        summary: format!(
            "{p}: {} in {total} entries{largest}",
            human_bytes(total_bytes)
        ),
        path: p,
        total_bytes,
        entries: out,
        total,
        truncated,
        incomplete: (!why.is_empty())
            .then(|| format!("sizes are lower bounds: {}", why.join(", "))),
    })
}

impl Tool for FsDu {
    type Args = FsDuArgs;

    fn name(&self) -> &'static str {
        "fs.du"
    }

    fn description(&self) -> &'static str {
        "Disk usage of each entry of one directory (a subdirectory counts everything under it), largest first. \
         Stays on one filesystem and follows no links. Use fs.largest to find the biggest files anywhere below."
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
                request: "what is taking space in /var",
                args: r#"{"path": "/var"}"#,
            },
            Example {
                request: "how big are the folders in my home",
                args: r#"{"path": "~"}"#,
            },
            Example {
                request: "show the 5 biggest things in /var/log",
                args: r#"{"path": "/var/log", "limit": 5}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsDuArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsDuArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsDuArgs) -> String {
        format!("size the entries of {}", args.path)
    }

    async fn run(&self, ctx: ToolCtx, args: FsDuArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| crate::builtin::to_value(&du(&ctx, &args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::call;
    use crate::ToolCtx;

    #[tokio::test]
    async fn sizes_entries_largest_first_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("big/sub")).unwrap();
        std::fs::write(dir.path().join("big/sub/a"), vec![1u8; 256 * 1024]).unwrap();
        std::fs::write(dir.path().join("mid"), vec![1u8; 64 * 1024]).unwrap();
        std::fs::write(dir.path().join("small"), b"x").unwrap();
        let ctx = ToolCtx::local();
        let v = call(&ctx, "fs.du", json!({"path": dir.path()}))
            .await
            .unwrap();
        let names: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["big", "mid", "small"], "{v}");
        assert_eq!(v["entries"][0]["entries"], 2);
        assert!(
            v["entries"][0]["bytes"].as_u64().unwrap() >= 256 * 1024,
            "{v}"
        );
        assert_eq!(v["total"], 3);
        assert_eq!(v["truncated"], false);
        assert!(
            v["summary"].as_str().unwrap().contains("largest: big"),
            "{v}"
        );
        let v = call(&ctx, "fs.du", json!({"path": dir.path(), "limit": 1}))
            .await
            .unwrap();
        assert_eq!(v["entries"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncated"], true);
        let e = call(&ctx, "fs.du", json!({"path": dir.path(), "limit": 0}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`limit`"), "{e}");
        let e = call(&ctx, "fs.du", json!({"path": dir.path().join("small")}))
            .await
            .unwrap_err();
        assert!(e.message().contains("not a directory"), "{e}");
    }
}

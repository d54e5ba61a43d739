//! `fs.largest`: the largest files and directories under a path, by disk
//! usage, with a bounded walk (entry cap, time limit, one filesystem, no
//! symlinks followed, every directory verified to be the one its parent
//! listed). It runs as the caller: directories they cannot read are
//! counted in `skipped_unreadable`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aios_domain::Risk;
use nix::dir::Dir;
use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::util::human_bytes;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.largest`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLargest;

/// Arguments of `fs.largest`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsLargestArgs {
    /// Directory to scan (absolute, or starting with ~). Stays on its filesystem.
    pub path: String,
    /// How many files and how many directories to report (default 20, at most 200).
    pub top: Option<usize>,
    /// Deepest directory level reported, counted from path (default 3). Files are found at any depth.
    pub max_depth: Option<usize>,
}

/// Limits of one walk; tests shrink them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkLimits {
    pub max_entries: u64,
    pub max_time: Duration,
    pub progress_every: u64,
}

const LIMITS: WalkLimits = WalkLimits {
    max_entries: 500_000,
    max_time: Duration::from_secs(20),
    progress_every: 20_000,
};

/// One reported file or directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sized {
    /// Disk usage in bytes (allocated blocks, as `du` counts).
    pub bytes: u64,
    /// Path.
    pub path: PathBuf,
    /// Human size.
    pub human: String,
}

/// The scan result.
#[derive(Debug, Clone, Serialize)]
pub struct Largest {
    /// One line: `/var: 3.2 GiB; largest file /var/log/syslog (1.1 GiB)`.
    pub summary: String,
    /// Root of the scan, canonical.
    pub path: PathBuf,
    /// Disk usage of everything scanned.
    pub total_bytes: u64,
    /// Human total.
    pub total: String,
    /// Files, largest first.
    pub largest_files: Vec<Sized>,
    /// Directories (including their contents), largest first.
    pub largest_dirs: Vec<Sized>,
    /// Regular files and other non-directories seen.
    pub files_scanned: u64,
    /// Directories entered.
    pub dirs_scanned: u64,
    /// Directories skipped because they are on another filesystem.
    pub skipped_other_fs: u64,
    /// Entries skipped because they could not be read (permissions).
    pub skipped_unreadable: u64,
    /// Whether the walk stopped early; totals are then lower bounds.
    pub truncated: bool,
    /// Why it stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_reason: Option<String>,
}

struct DirRec {
    path: PathBuf,
    parent: Option<usize>,
    depth: usize,
    bytes: u64,
    /// Inode seen from the parent; the directory must still be it when opened.
    ino: u64,
}

pub(crate) fn walk(
    ctx: &ToolCtx,
    args: FsLargestArgs,
    limits: WalkLimits,
) -> Result<Largest, ToolError> {
    let top = args.top.unwrap_or(20);
    if top == 0 || top > 200 {
        return Err(ToolError::invalid(format!(
            "fs.largest: field `top` must be 1..=200, got {top}"
        )));
    }
    let max_depth = args.max_depth.unwrap_or(3);
    let access = ctx.access();
    let pinned = super::paths::pin(ctx, &args.path, "scan")?;
    let root_fd = pinned.open_dir(
        access,
        "fs.largest",
        "fs.largest scans directories (fs.list shows one file's size)",
    )?;
    let (root, root_meta) = (pinned.path, pinned.meta);
    let dev = root_meta.dev();
    let started = Instant::now();
    let mut dirs = vec![DirRec {
        path: root.clone(),
        parent: None,
        depth: 0,
        bytes: 0,
        ino: root_meta.ino(),
    }];
    let mut stack = vec![0usize];
    let mut root_fd = Some(root_fd);
    // Min-heap of the `top` largest files seen so far.
    let mut files: BinaryHeap<Reverse<(u64, PathBuf)>> = BinaryHeap::new();
    let (mut files_scanned, mut other_fs, mut unreadable, mut seen) = (0u64, 0u64, 0u64, 0u64);
    let mut stop: Option<String> = None;
    'walk: while let Some(di) = stack.pop() {
        let dir_path = dirs[di].path.clone();
        let depth = dirs[di].depth;
        // Each directory is opened as the one its parent listed (same
        // device and inode, final component not a link), so a directory
        // swapped for a symlink mid-walk is skipped, never followed.
        let fd = match root_fd.take() {
            Some(fd) => Some(fd),
            None => super::paths::open_subdir(&dir_path, dev, dirs[di].ino),
        };
        let Some(fd) = fd else {
            unreadable += 1;
            continue;
        };
        let Ok(at) = fd.try_clone() else {
            unreadable += 1;
            continue;
        };
        let Ok(mut stream) = Dir::from_fd(fd) else {
            unreadable += 1;
            continue;
        };
        for ent in stream.iter() {
            let Ok(ent) = ent else {
                unreadable += 1;
                continue;
            };
            let name = ent.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            seen += 1;
            if seen % 1024 == 0 {
                ctx.check_cancelled()?;
                if started.elapsed() > limits.max_time {
                    stop = Some(format!(
                        "time limit of {} s reached",
                        limits.max_time.as_secs()
                    ));
                    break 'walk;
                }
            }
            if seen % limits.progress_every == 0 {
                ctx.emit(format!(
                    "scanned {seen} entries, now in {}\n",
                    dir_path.display()
                ));
            }
            if seen > limits.max_entries {
                stop = Some(format!("entry limit of {} reached", limits.max_entries));
                break 'walk;
            }
            let Ok(st) = fstatat(&at, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
                unreadable += 1;
                continue;
            };
            let path = dir_path.join(OsStr::from_bytes(name.to_bytes()));
            let usage = u64::try_from(st.st_blocks).unwrap_or(0) * 512;
            let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if fmt == SFlag::S_IFDIR {
                if st.st_dev != dev {
                    other_fs += 1;
                    continue;
                }
                dirs[di].bytes += usage;
                dirs.push(DirRec {
                    path,
                    parent: Some(di),
                    depth: depth + 1,
                    bytes: 0,
                    ino: st.st_ino,
                });
                stack.push(dirs.len() - 1);
            } else {
                files_scanned += 1;
                dirs[di].bytes += usage;
                if fmt == SFlag::S_IFREG {
                    files.push(Reverse((usage, path)));
                    if files.len() > top {
                        files.pop();
                    }
                }
            }
        }
    }
    // Children were pushed after their parents, so a reverse pass folds
    // every directory's total into its parent exactly once.
    for i in (1..dirs.len()).rev() {
        if let Some(p) = dirs[i].parent {
            dirs[p].bytes += dirs[i].bytes;
        }
    }
    let total = dirs[0].bytes + root_meta.blocks() * 512;
    let sized = |bytes: u64, path: PathBuf| Sized {
        bytes,
        path,
        human: human_bytes(bytes),
    };
    let mut largest_files: Vec<Sized> = files
        .into_iter()
        .map(|Reverse((b, p))| sized(b, p))
        .collect();
    largest_files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    let dirs_scanned = dirs.len() as u64;
    let mut largest_dirs: Vec<Sized> = dirs
        .into_iter()
        .filter(|d| d.depth >= 1 && d.depth <= max_depth)
        .map(|d| sized(d.bytes, d.path))
        .collect();
    largest_dirs.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    largest_dirs.truncate(top);
    let biggest = largest_files
        .first()
        .map(|f| format!("; largest file {} ({})", f.path.display(), f.human))
        .unwrap_or_default();
    let partial = if stop.is_some() {
        " (stopped early: lower bound)"
    } else {
        ""
    };
    Ok(Largest {
        summary: format!(
            "{}: {}{partial}{biggest}",
            root.display(),
            human_bytes(total)
        ),
        path: root,
        total_bytes: total,
        total: human_bytes(total),
        largest_files,
        largest_dirs,
        files_scanned,
        dirs_scanned,
        skipped_other_fs: other_fs,
        skipped_unreadable: unreadable,
        truncated: stop.is_some(),
        truncated_reason: stop,
    })
}

impl Tool for FsLargest {
    type Args = FsLargestArgs;

    fn name(&self) -> &'static str {
        "fs.largest"
    }

    fn description(&self) -> &'static str {
        "Find what takes the most disk space under a directory: the largest files and the largest directories \
         (with their contents), by disk usage like du. Stays on one filesystem, does not follow symlinks, and stops \
         after a bounded number of entries or seconds (then says so)."
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
                request: "what are the biggest files in /var?",
                args: r#"{"path": "/var"}"#,
            },
            Example {
                request: "find the 5 largest files in my home",
                args: r#"{"path": "~", "top": 5}"#,
            },
            Example {
                request: "what is eating space under /var/log",
                args: r#"{"path": "/var/log"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsLargestArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsLargestArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsLargestArgs) -> String {
        format!("scan {} for the largest files and directories", args.path)
    }

    async fn run(&self, ctx: ToolCtx, args: FsLargestArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| super::to_value(&walk(&ctx, args, LIMITS)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    fn args(path: &std::path::Path, top: Option<usize>, max_depth: Option<usize>) -> FsLargestArgs {
        FsLargestArgs {
            path: path.display().to_string(),
            top,
            max_depth,
        }
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("big/deeper/deepest")).unwrap();
        std::fs::create_dir_all(d.join("small")).unwrap();
        std::fs::write(d.join("big/deeper/deepest/huge.bin"), vec![1u8; 400_000]).unwrap();
        std::fs::write(d.join("big/medium.bin"), vec![1u8; 100_000]).unwrap();
        std::fs::write(d.join("small/tiny.txt"), b"x").unwrap();
        // A symlink to the huge file must not be counted twice.
        std::os::unix::fs::symlink(d.join("big"), d.join("link_to_big")).unwrap();
        dir
    }

    #[test]
    fn finds_largest_files_and_dirs() {
        let dir = fixture();
        let r = walk(&ToolCtx::local(), args(dir.path(), Some(2), None), LIMITS).unwrap();
        assert_eq!(r.largest_files.len(), 2);
        assert!(r.largest_files[0].path.ends_with("huge.bin"), "{r:?}");
        assert!(r.largest_files[1].path.ends_with("medium.bin"), "{r:?}");
        assert!(r.largest_files[0].bytes >= 400_000);
        assert!(r.largest_dirs[0].path.ends_with("big"), "{r:?}");
        assert!(r.largest_dirs[0].bytes >= 500_000, "{r:?}");
        assert!(!r.truncated);
        // Symlink not followed: the total is about the data once, not twice.
        assert!(r.total_bytes < 900_000, "{r:?}");
        assert_eq!(r.files_scanned, 4, "{r:?}"); // 3 files + 1 symlink
    }

    #[test]
    fn max_depth_limits_reported_dirs() {
        let dir = fixture();
        let r = walk(&ToolCtx::local(), args(dir.path(), None, Some(1)), LIMITS).unwrap();
        assert!(
            r.largest_dirs.iter().all(|d| !d.path.ends_with("deeper")),
            "{r:?}"
        );
        // Files below the depth still count.
        assert!(r.largest_files.iter().any(|f| f.path.ends_with("huge.bin")));
    }

    #[test]
    fn entry_cap_truncates_with_reason() {
        let dir = fixture();
        let limits = WalkLimits {
            max_entries: 2,
            ..LIMITS
        };
        let r = walk(&ToolCtx::local(), args(dir.path(), None, None), limits).unwrap();
        assert!(r.truncated);
        assert!(r.truncated_reason.unwrap().contains("entry limit"));
    }

    #[test]
    fn progress_is_streamed() {
        let dir = fixture();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ctx = ToolCtx::new(
            Default::default(),
            crate::OutputSink::channel(tx, 10_000),
            crate::Access::process(),
        );
        let limits = WalkLimits {
            progress_every: 2,
            ..LIMITS
        };
        walk(&ctx, args(dir.path(), None, None), limits).unwrap();
        let line = rx.try_recv().unwrap();
        assert!(line.starts_with("scanned 2 entries"), "{line}");
    }

    #[test]
    fn cancelled_walk_stops() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..1100 {
            std::fs::write(dir.path().join(format!("f{i}")), b"").unwrap();
        }
        let ctx = ToolCtx::local();
        ctx.cancel_token().cancel();
        let e = walk(&ctx, args(dir.path(), None, None), LIMITS).unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Cancelled);
    }

    #[tokio::test]
    async fn through_registry_and_bad_args() {
        let dir = fixture();
        let r = Registry::builtin();
        let v = r
            .prepare(
                "fs.largest",
                serde_json::json!({"path": dir.path(), "top": 1}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["largest_files"].as_array().unwrap().len(), 1);
        let e = r
            .prepare(
                "fs.largest",
                serde_json::json!({"path": dir.path(), "top": 0}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("`top`"), "{e}");
        let e = r
            .prepare(
                "fs.largest",
                serde_json::json!({"path": dir.path(), "top": "x"}),
            )
            .unwrap_err();
        assert!(e.message().contains("`top`"), "{e}");
    }
}

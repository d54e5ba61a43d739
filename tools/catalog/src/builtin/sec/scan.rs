//! The bounded filesystem walk behind `sec.world_writable` and `sec.suid`:
//! several roots, excluded subtrees, no link ever followed, each
//! directory opened as the one its parent listed (device and inode),
//! an entry cap and a time limit, cancellation polled, progress emitted.
//! It runs as the caller: what they cannot read is counted, not seen.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::dir::Dir;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, fstatat};
use serde::Serialize;

use crate::{ToolCtx, ToolError};

/// Limits of one walk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanLimits {
    /// Entries looked at before stopping.
    pub max_entries: u64,
    /// Wall time before stopping.
    pub max_time: Duration,
}

pub(crate) const LIMITS: ScanLimits = ScanLimits {
    max_entries: 2_000_000,
    max_time: Duration::from_secs(60),
};

/// What a walk covered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanStats {
    /// Roots walked, canonical (a root inside another is walked once).
    pub roots: Vec<String>,
    /// Entries looked at.
    pub entries: u64,
    /// Directories entered.
    pub dirs: u64,
    /// Directories that could not be opened (permissions, or replaced mid-walk).
    pub unreadable: u64,
    /// Roots that do not exist or cannot be opened, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_roots: Vec<String>,
    /// Why the walk stopped early, when it did; findings are then partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Canonical roots, without those inside another root or an excluded tree.
fn plan_roots(roots: &[String], exclude: &[PathBuf], stats: &mut ScanStats) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for r in roots {
        match Path::new(r).canonicalize() {
            Ok(p) => {
                if !exclude.iter().any(|x| p.starts_with(x)) {
                    out.push(p);
                }
            }
            Err(e) => stats.skipped_roots.push(format!("{r}: {e}")),
        }
    }
    out.sort();
    out.dedup();
    let all = out.clone();
    out.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q)));
    out
}

/// Walk `roots`, calling `visit` with each entry's path and `lstat` (the
/// roots themselves included). Symbolic links are reported to `visit` as
/// links and never followed.
pub(crate) fn walk(
    ctx: &ToolCtx,
    roots: &[String],
    exclude: &[String],
    limits: ScanLimits,
    mut visit: impl FnMut(&Path, &FileStat),
) -> Result<ScanStats, ToolError> {
    let exclude: Vec<PathBuf> = exclude.iter().map(PathBuf::from).collect();
    let mut stats = ScanStats::default();
    let roots = plan_roots(roots, &exclude, &mut stats);
    stats.roots = roots.iter().map(|p| p.display().to_string()).collect();
    let started = Instant::now();
    // (path, device, inode) of directories still to list.
    let mut stack: Vec<(PathBuf, u64, u64)> = Vec::new();
    for root in roots.iter().rev() {
        match nix::sys::stat::lstat(root) {
            Ok(st) => {
                visit(root, &st);
                if is_dir(&st) {
                    stack.push((root.clone(), st.st_dev, st.st_ino));
                }
            }
            Err(e) => stats.skipped_roots.push(format!("{}: {e}", root.display())),
        }
    }
    'walk: while let Some((dir, dev, ino)) = stack.pop() {
        let Some(fd) = crate::builtin::paths::open_subdir(&dir, dev, ino) else {
            stats.unreadable += 1;
            continue;
        };
        let Ok(at) = fd.try_clone() else {
            stats.unreadable += 1;
            continue;
        };
        let Ok(mut listing) = Dir::from_fd(fd) else {
            stats.unreadable += 1;
            continue;
        };
        stats.dirs += 1;
        for ent in listing.iter() {
            let Ok(ent) = ent else {
                stats.unreadable += 1;
                continue;
            };
            let name = ent.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            stats.entries += 1;
            if stats.entries % 1024 == 0 {
                ctx.check_cancelled()?;
                if started.elapsed() > limits.max_time {
                    stats.stopped = Some(format!(
                        "time limit of {} s reached",
                        limits.max_time.as_secs()
                    ));
                    break 'walk;
                }
            }
            if stats.entries % 100_000 == 0 {
                ctx.emit(format!(
                    "scanned {} entries, now in {}\n",
                    stats.entries,
                    dir.display()
                ));
            }
            if stats.entries > limits.max_entries {
                stats.stopped = Some(format!("entry limit of {} reached", limits.max_entries));
                break 'walk;
            }
            let Ok(st) = fstatat(&at, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
                continue;
            };
            let path = dir.join(OsStr::from_bytes(name.to_bytes()));
            if exclude.iter().any(|x| path.starts_with(x)) {
                continue;
            }
            visit(&path, &st);
            if is_dir(&st) {
                stack.push((path, st.st_dev, st.st_ino));
            }
        }
    }
    Ok(stats)
}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether `st` is a regular file.
pub(crate) fn is_file(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// Whether `st` is a directory.
pub(crate) fn is_directory(st: &FileStat) -> bool {
    is_dir(st)
}

/// Check and normalise root and exclude paths (absolute, lexically clean).
pub(crate) fn normalize_all(paths: &mut [String], field: &str) -> Result<(), ToolError> {
    for p in paths.iter_mut() {
        crate::access::normalize_in_place(p, None)
            .map_err(|e| ToolError::invalid(format!("field `{field}`: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_deduplicated_and_excludes_apply() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::create_dir_all(a.join("b")).unwrap();
        std::fs::create_dir_all(a.join("skip/deep")).unwrap();
        std::fs::write(a.join("b/f"), b"x").unwrap();
        std::fs::write(a.join("skip/deep/g"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", a.join("link")).unwrap();
        let roots = vec![
            a.display().to_string(),
            a.join("b").display().to_string(),
            "/no/such".into(),
        ];
        let mut seen = Vec::new();
        let stats = walk(
            &ToolCtx::local(),
            &roots,
            &[a.join("skip").display().to_string()],
            LIMITS,
            |p, _| seen.push(p.to_path_buf()),
        )
        .unwrap();
        assert_eq!(
            stats.roots,
            [a.canonicalize().unwrap().display().to_string()]
        );
        assert_eq!(stats.skipped_roots.len(), 1);
        let a = a.canonicalize().unwrap();
        assert!(seen.contains(&a.join("b/f")));
        assert!(seen.contains(&a.join("link")));
        // The link was reported, never followed; the excluded tree never entered.
        assert!(
            !seen
                .iter()
                .any(|p| p.starts_with(a.join("link/")) && p != &a.join("link"))
        );
        assert!(!seen.iter().any(|p| p.starts_with(a.join("skip"))));
        assert_eq!(seen.iter().filter(|p| **p == a.join("b/f")).count(), 1);
    }

    #[test]
    fn limits_stop_the_walk_and_say_so() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(t.path().join(i.to_string()), b"").unwrap();
        }
        let stats = walk(
            &ToolCtx::local(),
            &[t.path().display().to_string()],
            &[],
            ScanLimits {
                max_entries: 5,
                max_time: Duration::from_secs(60),
            },
            |_, _| {},
        )
        .unwrap();
        assert!(stats.stopped.unwrap().contains("entry limit"));
    }

    #[test]
    fn cancellation_stops_the_walk() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..2000 {
            std::fs::write(t.path().join(i.to_string()), b"").unwrap();
        }
        let ctx = ToolCtx::local();
        ctx.cancel_token().cancel();
        let e = walk(
            &ctx,
            &[t.path().display().to_string()],
            &[],
            LIMITS,
            |_, _| {},
        )
        .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Cancelled);
    }
}

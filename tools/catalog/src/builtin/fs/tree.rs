//! Walking a directory tree through descriptors: every subdirectory is
//! opened relative to its parent with `O_NOFOLLOW | O_DIRECTORY`, so a walk
//! never follows a link and never leaves its tree, and it stays on one
//! filesystem. Used to count what a recursive delete removes, to remove
//! it, and to size the entries of a directory (`fs.du`).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::at::Kind;
use crate::{Access, ToolCtx, ToolError};

/// Deepest nesting walked; each level holds one descriptor.
pub(crate) const MAX_DEPTH: usize = 256;
/// Paths listed by a scan.
pub(crate) const LISTED: usize = 50;

/// What a scan found under a directory (not counting the directory itself).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Non-directories.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Apparent size of the files, in bytes.
    pub bytes: u64,
    /// Disk usage (allocated blocks) of everything, in bytes.
    pub usage: u64,
    /// The first [`LISTED`] paths met.
    pub first: Vec<String>,
    /// Directories on another filesystem (mount points), not entered.
    pub mounts: Vec<String>,
    /// Entries that could not be read.
    pub unreadable: u64,
    /// Set when the scan stopped at `max_entries`.
    pub truncated: bool,
}

impl Tally {
    /// Entries in all.
    pub fn entries(&self) -> u64 {
        self.files + self.dirs
    }
}

/// The names in directory `fd` (without `.` and `..`).
pub(crate) fn names(fd: &OwnedFd) -> nix::Result<Vec<CString>> {
    let mut d = Dir::from_fd(fd.try_clone().map_err(|_| Errno::EMFILE)?)?;
    let mut out = Vec::new();
    for ent in d.iter() {
        let ent = ent?;
        let n = ent.file_name();
        if !matches!(n.to_bytes(), b"." | b"..") {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

/// Open the subdirectory `name` of `dir`, never through a link.
pub(crate) fn open_sub(dir: &OwnedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn blocks(st: &FileStat) -> u64 {
    u64::try_from(st.st_blocks).unwrap_or(0) * 512
}

/// Count what is under the open directory `fd` at `path` on device `dev`,
/// stopping after `max_entries`.
pub(crate) fn scan(
    ctx: &ToolCtx,
    fd: &OwnedFd,
    path: &Path,
    dev: u64,
    max_entries: u64,
) -> Result<Tally, ToolError> {
    let mut t = Tally::default();
    scan_in(ctx, fd, path, dev, 0, max_entries, &mut t)?;
    Ok(t)
}

fn scan_in(
    ctx: &ToolCtx,
    fd: &OwnedFd,
    path: &Path,
    dev: u64,
    depth: usize,
    max: u64,
    t: &mut Tally,
) -> Result<(), ToolError> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(path));
    }
    let Ok(names) = names(fd) else {
        t.unreadable += 1;
        return Ok(());
    };
    for n in names {
        ctx.check_cancelled()?;
        if t.entries() >= max {
            t.truncated = true;
            return Ok(());
        }
        let name = OsStr::from_bytes(n.to_bytes());
        let Ok(st) = fstatat(fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            t.unreadable += 1;
            continue;
        };
        let p = path.join(name);
        if t.first.len() < LISTED {
            t.first.push(p.to_string_lossy().into_owned());
        }
        t.usage += blocks(&st);
        if Kind::of(&st) == Kind::Dir {
            t.dirs += 1;
            if st.st_dev != dev {
                t.mounts.push(p.to_string_lossy().into_owned());
                continue;
            }
            match open_sub(fd, name) {
                Ok(sub) => scan_in(ctx, &sub, &p, dev, depth + 1, max, t)?,
                Err(_) => t.unreadable += 1,
            }
        } else {
            t.files += 1;
            t.bytes += u64::try_from(st.st_size).unwrap_or(0);
        }
    }
    Ok(())
}

fn too_deep(path: &Path) -> ToolError {
    ToolError::invalid(format!(
        "{} is nested more than {MAX_DEPTH} levels deep; the file tools stop there",
        path.display()
    ))
}

/// Remove everything under the open directory `fd` at `path` (on device
/// `dev`; a mount point below is an error, never entered). The directory
/// itself stays. Returns the entries removed.
pub(crate) fn remove_contents(
    ctx: &ToolCtx,
    access: &Access,
    fd: &OwnedFd,
    path: &Path,
    dev: u64,
    depth: usize,
) -> Result<u64, ToolError> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(path));
    }
    let io = |p: &Path, e: Errno| access.io_error(p, "delete", &std::io::Error::from(e));
    let names = names(fd).map_err(|e| io(path, e))?;
    let mut removed = 0;
    for n in names {
        ctx.check_cancelled()?;
        let name = OsStr::from_bytes(n.to_bytes());
        let p: PathBuf = path.join(name);
        let st = match fstatat(fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(io(&p, e)),
        };
        if Kind::of(&st) == Kind::Dir {
            if st.st_dev != dev {
                return Err(ToolError::invalid(format!(
                    "{} is a mount point; unmount it first (nothing under it was deleted)",
                    p.display()
                )));
            }
            let sub = open_sub(fd, name).map_err(|e| io(&p, e))?;
            removed += remove_contents(ctx, access, &sub, &p, dev, depth + 1)?;
            drop(sub);
            unlinkat(fd.as_fd(), name, UnlinkatFlags::RemoveDir).map_err(|e| io(&p, e))?;
        } else {
            // Links, FIFOs and devices are unlinked, never opened.
            unlinkat(fd.as_fd(), name, UnlinkatFlags::NoRemoveDir).map_err(|e| io(&p, e))?;
        }
        removed += 1;
    }
    Ok(removed)
}

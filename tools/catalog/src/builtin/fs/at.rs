//! Paths the changing file tools act on, held as *parent directory
//! descriptor + final name*.
//!
//! Every change goes through the parent's descriptor (`openat`,
//! `renameat`, `unlinkat`, `mkdirat`, `fchownat`), never a reopen by name,
//! so what was inspected is what is changed. The parent is opened with
//! `openat2(RESOLVE_NO_SYMLINKS)` where the kernel has it (5.6+), else one
//! component at a time with `O_NOFOLLOW`: a link anywhere in the path is
//! refused, not followed. The final component is looked at with
//! `fstatat(AT_SYMLINK_NOFOLLOW)`; links, FIFOs, sockets and devices are
//! refused before anything opens them.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use crate::{Access, ToolError};

/// What sits at a path, from `fstatat` without following a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Nothing: the name is free.
    Missing,
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO, socket or device (never opened).
    Special(&'static str),
}

impl Kind {
    /// The kind of a stat result.
    pub fn of(st: &FileStat) -> Kind {
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFREG => Kind::File,
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFLNK => Kind::Symlink,
            _ => Kind::Special(special_of(st.st_mode)),
        }
    }

    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symbolic link",
            Kind::Special(k) => k,
        }
    }
}

fn special_of(mode: u32) -> &'static str {
    match SFlag::from_bits_truncate(mode) & SFlag::S_IFMT {
        SFlag::S_IFIFO => "a FIFO (named pipe)",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "a special file",
    }
}

/// One path to act on: its parent directory, open, and its final name.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The path as the caller named it (normalised, absolute).
    pub path: PathBuf,
    /// The parent directory, opened without following links.
    pub dir: Arc<OwnedFd>,
    /// The final component.
    pub name: OsString,
}

impl Target {
    /// Open the parent of `raw` (already normalised by `canonicalize`, but
    /// resolved again so a direct call cannot pass a relative path).
    /// `what` is the verb of error messages.
    pub fn open(access: &Access, raw: &str, what: &str) -> Result<Target, ToolError> {
        let path = access.resolve(raw)?;
        let path = PathBuf::from(crate::access::normalize_path(
            &path.to_string_lossy(),
            None,
        )?);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(ToolError::invalid(format!(
                "cannot {what} `/` itself: name a file or directory under it"
            )));
        };
        let dir = open_dir_nofollow(access, parent, what)?;
        Ok(Target {
            dir: Arc::new(dir),
            name: name.to_os_string(),
            path,
        })
    }

    /// The final component's metadata, `None` when nothing is there.
    pub fn lstat(&self, access: &Access) -> Result<Option<FileStat>, ToolError> {
        match fstatat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.err(access, "inspect", e)),
        }
    }

    /// What is at the path now.
    pub fn kind(&self, access: &Access) -> Result<(Kind, Option<FileStat>), ToolError> {
        Ok(match self.lstat(access)? {
            None => (Kind::Missing, None),
            Some(st) => (Kind::of(&st), Some(st)),
        })
    }

    /// An errno on this path as the caller should read it.
    pub fn err(&self, access: &Access, what: &str, e: Errno) -> ToolError {
        access.io_error(&self.path, what, &std::io::Error::from(e))
    }

    /// Open the final component for reading: a regular file only, never
    /// through a link, non-blocking (so a FIFO swapped in cannot hang us).
    pub fn open_read(&self, access: &Access, tool: &str) -> Result<(File, FileStat), ToolError> {
        let fd = openat(
            self.dir.as_fd(),
            self.name.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP => self.refuse(tool, Kind::Symlink),
            e => self.err(access, "read", e),
        })?;
        let st = fstat(&fd).map_err(|e| self.err(access, "read", e))?;
        let kind = Kind::of(&st);
        if kind != Kind::File {
            return Err(self.refuse(tool, kind));
        }
        Ok((File::from(fd), st))
    }

    /// Read the whole regular file, refusing one over `cap` bytes.
    pub fn read_all(
        &self,
        access: &Access,
        tool: &str,
        cap: u64,
    ) -> Result<(Vec<u8>, FileStat), ToolError> {
        let (f, st) = self.open_read(access, tool)?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        if size > cap {
            return Err(ToolError::invalid(format!(
                "{} is {} ({size} bytes); {tool} handles files up to {}",
                self.path.display(),
                crate::util::human_bytes(size),
                crate::util::human_bytes(cap)
            )));
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        f.take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| access.io_error(&self.path, "read", &e))?;
        Ok((buf, st))
    }

    /// The refusal for a final component of the wrong kind.
    pub fn refuse(&self, tool: &str, kind: Kind) -> ToolError {
        let p = self.path.display();
        match kind {
            Kind::Symlink => ToolError::invalid(format!(
                "{p} is a symbolic link; {tool} never follows links: name its target instead (fs.stat shows it)"
            )),
            Kind::Dir => {
                ToolError::invalid(format!("{p} is a directory; {tool} works on regular files"))
            }
            Kind::Missing => ToolError::not_found(format!("{p} does not exist")),
            other => ToolError::invalid(format!(
                "{p} is {}; {tool} works only on regular files and directories",
                other.describe()
            )),
        }
    }
}

/// Open the directory `path` for `*at` calls, refusing a symbolic link
/// anywhere in it.
pub(crate) fn open_dir_nofollow(
    access: &Access,
    path: &Path,
    what: &str,
) -> Result<OwnedFd, ToolError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    let r = match openat2(AT_FDCWD, path, how) {
        // Older kernels (before 5.6) or a seccomp filter without openat2.
        Err(Errno::ENOSYS | Errno::EPERM) => walk_nofollow(path),
        r => r,
    };
    r.map_err(|e| match e {
        Errno::ELOOP | Errno::ENOTDIR => link_in_path(path, what)
            .unwrap_or_else(|| access.io_error(path, what, &std::io::Error::from(e))),
        e => access.io_error(path, what, &std::io::Error::from(e)),
    })
}

/// Open `path` one component at a time, each with `O_NOFOLLOW`.
fn walk_nofollow(path: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut fd = nix::fcntl::open("/", flags, Mode::empty())?;
    for c in path.components() {
        if let std::path::Component::Normal(n) = c {
            fd = openat(&fd, n, flags, Mode::empty())?;
        }
    }
    Ok(fd)
}

/// The first symbolic link (or non-directory) in `path`, as an error that
/// says what to do.
fn link_in_path(path: &Path, what: &str) -> Option<ToolError> {
    let mut cur = PathBuf::from("/");
    for c in path.components() {
        if let std::path::Component::Normal(n) = c {
            cur.push(n);
            let m = std::fs::symlink_metadata(&cur).ok()?;
            if m.file_type().is_symlink() {
                let target = std::fs::read_link(&cur)
                    .map(|t| format!(" (it points to {})", t.display()))
                    .unwrap_or_default();
                return Some(ToolError::invalid(format!(
                    "cannot {what} {}: {} is a symbolic link{target}; the file tools never follow links, \
                     give the path without it",
                    path.display(),
                    cur.display()
                )));
            }
            if !m.is_dir() {
                return Some(ToolError::invalid(format!(
                    "cannot {what} {}: {} is not a directory",
                    path.display(),
                    cur.display()
                )));
            }
        }
    }
    None
}

/// A name for a temporary file beside `name` in the same directory.
pub(crate) fn temp_name(name: &OsStr) -> OsString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut s = OsString::from(".");
    // Keep the temporary name short enough for NAME_MAX.
    let base = name.as_bytes();
    s.push(OsStr::from_bytes(&base[..base.len().min(200)]));
    s.push(format!(".aios-{}-{n}.tmp", std::process::id()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_of_opening_refuse_a_link_in_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("via")).unwrap();
        let via = dir.path().join("via");
        // The per-component fallback (kernels without openat2).
        // O_NOFOLLOW | O_DIRECTORY on a link: ENOTDIR (ELOOP on some kernels).
        let e = walk_nofollow(&via).unwrap_err();
        assert!(matches!(e, Errno::ELOOP | Errno::ENOTDIR), "{e}");
        assert!(walk_nofollow(&real).is_ok());
        let access = Access::process();
        let e = open_dir_nofollow(&access, &via, "write into").unwrap_err();
        assert!(e.message().contains("is a symbolic link"), "{e}");
        assert!(e.message().contains(&real.display().to_string()), "{e}");
        assert!(open_dir_nofollow(&access, &real, "write into").is_ok());
        let e = Target::open(&access, "/", "delete").unwrap_err();
        assert!(e.message().contains("`/` itself"), "{e}");
    }
}

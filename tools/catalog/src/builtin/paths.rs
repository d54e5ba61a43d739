//! Opening what a caller names, for the file tools.
//!
//! The kernel checks permissions (the tools run under the caller's
//! credentials, see [`crate::creds`]); this module makes sure that what is
//! checked is what is read, and that naming a special file cannot hang or
//! trigger anything:
//! - [`pin`] canonicalizes the path and opens its final component with
//!   `O_PATH | O_NOFOLLOW`, which never follows a link and never calls a
//!   device's or FIFO's open; the descriptor's `fstat` decides the type.
//! - [`Pinned::open_file`] reopens a pinned *regular file* for reading
//!   through `/proc/self/fd`, so the inode read is the inode inspected
//!   (`O_NONBLOCK` besides). FIFOs, sockets and devices are refused
//!   before anything opens them.
//! - [`Pinned::open_dir`] opens a pinned directory relative to its own
//!   descriptor; [`open_subdir`] opens a directory met during a walk by
//!   path with `O_NOFOLLOW | O_DIRECTORY` and checks it is the one seen
//!   from its parent (device and inode), so a walk never leaves its tree
//!   through a directory swapped for a link.

use std::fs::{File, Metadata, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::{Access, ToolCtx, ToolError};

/// A caller's path, resolved and held by an `O_PATH` descriptor.
#[derive(Debug)]
pub(crate) struct Pinned {
    /// The canonical path (symlinks resolved as the caller).
    pub path: PathBuf,
    /// `O_PATH` descriptor of the final component; never read through.
    fd: File,
    /// Its metadata, from the descriptor.
    pub meta: Metadata,
}

/// Resolve `raw` as the caller and pin its final component. `what` is the
/// verb of error messages ("read", "list", "scan").
pub(crate) fn pin(ctx: &ToolCtx, raw: &str, what: &str) -> Result<Pinned, ToolError> {
    let access = ctx.access();
    let p = access.resolve(raw)?;
    let path = p
        .canonicalize()
        .map_err(|e| access.io_error(&p, what, &e))?;
    let fd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| access.io_error(&path, what, &e))?;
    let meta = fd
        .metadata()
        .map_err(|e| access.io_error(&path, what, &e))?;
    Ok(Pinned { path, fd, meta })
}

/// What a non-regular, non-directory file is, for messages.
pub(crate) fn special_kind(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_socket() {
        Some("a socket")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

/// The file changed between resolving and opening it (only a race does that).
fn changed(path: &Path) -> ToolError {
    ToolError::failed(format!(
        "{} changed while it was being opened (it was replaced, for example by a symbolic link); try again",
        path.display()
    ))
}

impl Pinned {
    /// Refuse a symlink (the final component changed after it was
    /// resolved) and special files, naming the tool and what it `reads`.
    fn refuse_special(&self, tool: &str, reads: &str) -> Result<(), ToolError> {
        let ft = self.meta.file_type();
        if ft.is_symlink() {
            return Err(changed(&self.path));
        }
        if let Some(kind) = special_kind(ft) {
            return Err(ToolError::invalid(format!(
                "{} is {kind}, not a regular file; {tool} reads only {reads}",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Open the pinned regular file for reading. A directory is refused
    /// with `dir_hint`, anything else that is not a regular file with a
    /// message naming its kind.
    pub fn open_file(
        &self,
        access: &Access,
        tool: &str,
        dir_hint: &str,
    ) -> Result<File, ToolError> {
        self.refuse_special(tool, "regular files")?;
        if self.meta.is_dir() {
            return Err(ToolError::invalid(format!(
                "{} is a directory; {dir_hint}",
                self.path.display()
            )));
        }
        let via_proc = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&via_proc);
        let file = match opened {
            Ok(f) => f,
            // Without /proc, open by name, never following a link, and
            // check below that it is the same inode.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
                .open(&self.path)
                .map_err(|e| access.io_error(&self.path, "read", &e))?,
            Err(e) => return Err(access.io_error(&self.path, "read", &e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| access.io_error(&self.path, "read", &e))?;
        if !meta.is_file() || (meta.dev(), meta.ino()) != (self.meta.dev(), self.meta.ino()) {
            return Err(changed(&self.path));
        }
        Ok(file)
    }

    /// Open the pinned directory for listing (the kernel wants read and
    /// search permission). A regular file is refused with `file_hint`.
    pub fn open_dir(
        &self,
        access: &Access,
        tool: &str,
        file_hint: &str,
    ) -> Result<OwnedFd, ToolError> {
        self.refuse_special(tool, "directories")?;
        if !self.meta.is_dir() {
            return Err(ToolError::invalid(format!(
                "{} is not a directory; {file_hint}",
                self.path.display()
            )));
        }
        openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| access.io_error(&self.path, "list", &std::io::Error::from(e)))
    }
}

/// Open a directory met during a walk: by `path`, never following a link
/// in the final component, and only if it is still the directory with
/// device `dev` and inode `ino` that its parent listed. `None` when it
/// cannot be read or was replaced: the walk skips it.
pub(crate) fn open_subdir(path: &Path, dev: u64, ino: u64) -> Option<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    (st.st_dev == dev && st.st_ino == ino).then_some(fd)
}

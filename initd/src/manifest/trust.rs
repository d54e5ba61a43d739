//! Who may have written a manifest. initd runs what its manifests say (as
//! root on the image), so it reads them only from a directory that nobody
//! but its owner can change, and only files likewise: owned by root or by
//! initd's own (effective) user, and writable by neither their group nor
//! others. Anything else is refused with the path and the command that
//! fixes it.
//!
//! The checks are made on open descriptors (`fstat`), and the files are
//! read through the same descriptors (opened relative to the checked
//! directory), so swapping a path between the check and the read gains
//! nothing. The directory's ancestors are not checked: whoever can rename
//! them can only put in its place a directory that passes these same
//! checks, whose contents they still cannot write.

use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode, SFlag};

use super::ManifestError;

/// Whether untrusted manifests are refused (loading them to run) or only
/// reported (`initd check`, which validates the text of a directory that
/// may be a staging copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustPolicy {
    /// Refuse them: an error, and the file (or the whole directory) is not
    /// loaded.
    Require,
    /// Load them, and report each problem as a warning.
    Report,
}

/// What is being checked, for the message.
#[derive(Clone, Copy)]
enum What {
    Dir,
    File,
}

/// The uids whose files initd accepts: root and its own.
fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

/// Check the owner, type and mode of an open manifest directory or file.
fn check(st: &FileStat, path: &Path, what: What) -> Result<(), ManifestError> {
    let me = nix::unistd::geteuid().as_raw();
    let untrusted = |problem: String, fix: String| ManifestError::Untrusted {
        path: path.to_path_buf(),
        problem,
        fix,
    };
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let (noun, want) = match what {
        What::Dir => ("the directory", SFlag::S_IFDIR),
        What::File => ("the manifest", SFlag::S_IFREG),
    };
    if kind != want {
        return Err(untrusted(
            format!(
                "{noun} is not a {}",
                if want == SFlag::S_IFDIR {
                    "directory"
                } else {
                    "regular file"
                }
            ),
            "replace it with one".into(),
        ));
    }
    if !trusted_owner(st.st_uid) {
        let owners = if me == 0 {
            "root".to_string()
        } else {
            format!("root or initd's own uid {me}")
        };
        return Err(untrusted(
            format!(
                "{noun} belongs to uid {}, and initd accepts only {owners} as owner (others could change what runs)",
                st.st_uid
            ),
            format!(
                "run `chown {me} {}`{}",
                path.display(),
                match what {
                    What::Dir => ", or use a directory of your own",
                    What::File => ", or remove it",
                }
            ),
        ));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and everyone",
            (true, false) => "its group",
            _ => "everyone",
        };
        let consequence = match what {
            What::Dir => "so others could add or replace services",
            What::File => "so others could change what runs",
        };
        return Err(untrusted(
            format!("{noun} is writable by {who} (mode {mode:04o}), {consequence}"),
            format!("run `chmod go-w {}`", path.display()),
        ));
    }
    Ok(())
}

/// Open a manifest directory and check it. `Ok` carries the descriptor
/// and, under [`TrustPolicy::Report`], the problem found.
pub(super) fn open_dir(
    dir: &Path,
    policy: TrustPolicy,
) -> Result<(OwnedFd, Option<ManifestError>), ManifestError> {
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ManifestError::Read {
        path: dir.to_path_buf(),
        message: std::io::Error::from(e).to_string(),
    })?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| ManifestError::Read {
        path: dir.to_path_buf(),
        message: std::io::Error::from(e).to_string(),
    })?;
    match (check(&st, dir, What::Dir), policy) {
        (Ok(()), _) => Ok((fd, None)),
        (Err(e), TrustPolicy::Report) => Ok((fd, Some(e))),
        (Err(e), TrustPolicy::Require) => Err(e),
    }
}

/// Open `name` in the checked directory `dir`, check it, and read it.
/// `path` names it in messages. A problem under [`TrustPolicy::Report`]
/// comes back with the bytes.
pub(super) fn read_file(
    dir: impl AsFd,
    name: &std::ffi::OsStr,
    path: &Path,
    policy: TrustPolicy,
) -> Result<(Vec<u8>, Option<ManifestError>), ManifestError> {
    let read_err = |e: std::io::Error| ManifestError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // Non-blocking: a FIFO put in place of a manifest must not hang PID 1
    // (the type check below then refuses it).
    let fd = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| read_err(e.into()))?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| read_err(e.into()))?;
    let problem = match (check(&st, path, What::File), policy) {
        (Ok(()), _) => None,
        (Err(e), TrustPolicy::Report)
            if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits() =>
        {
            Some(e)
        }
        (Err(e), _) => return Err(e),
    };
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok((bytes, problem))
}

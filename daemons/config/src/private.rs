//! Private directories and the files made in them: the one place that
//! decides whether a runtime or state directory may be trusted.
//!
//! A directory that holds sockets, manifests, lock files or conversations
//! must belong to the user who runs the code that uses it, and nobody else
//! may write to it: otherwise another local user who created it first (say
//! `/tmp/aios-1000`) could plant manifests or replace sockets and get code
//! run as us. Directories are checked through an opened descriptor
//! (`O_NOFOLLOW`, then `fstat`), so a symbolic link is refused rather than
//! followed, whether the directory is new or was already there.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What is wrong with a directory or file that should be private.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathErrorKind {
    /// It belongs to another user.
    NotOwned,
    /// Its group or others have some access to it.
    TooOpen,
    /// It is a symbolic link, which is never followed.
    Symlink,
    /// It exists but is not a directory (or, for a file, not a regular file).
    WrongType,
    /// The system refused an operation on it.
    Io,
}

/// A runtime or state directory (or a file in one) that cannot be trusted:
/// the message names the path, what was found, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", path.display())]
pub struct PathError {
    path: PathBuf,
    kind: PathErrorKind,
    /// What was found and the fix; for `Io`, the system's error (not kept
    /// as a `source`, so a chain printed with `{:#}` says it once).
    detail: String,
}

impl PathError {
    /// The path at fault.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is wrong with it.
    pub fn kind(&self) -> PathErrorKind {
        self.kind
    }

    fn new(path: &Path, kind: PathErrorKind, detail: String) -> PathError {
        PathError {
            path: path.to_path_buf(),
            kind,
            detail,
        }
    }

    fn io(path: &Path, what: &str, e: std::io::Error) -> PathError {
        PathError {
            path: path.to_path_buf(),
            kind: PathErrorKind::Io,
            detail: format!("cannot {what}: {e}"),
        }
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Why a symbolic link at `path` is refused, naming where it points.
fn symlink_error(path: &Path, what: &str) -> PathError {
    let target = std::fs::read_link(path)
        .map(|t| format!(" (to {})", t.display()))
        .unwrap_or_default();
    PathError::new(
        path,
        PathErrorKind::Symlink,
        format!(
            "is a symbolic link{target}; aiOS does not follow links for its {what}: remove the link, or choose another directory (XDG_RUNTIME_DIR, AIOS_RUNTIME_DIR or AIOS_STATE_DIR)"
        ),
    )
}

/// Create `dir` (and missing parents) with mode 0700, then check it,
/// whether it was new or already there: it must be a real directory (not a
/// symbolic link) owned by this process's effective uid, with no access
/// for group or others. Anything else is refused with an error that says
/// what was found and what to do; nothing is changed on a refusal.
pub fn private_dir(dir: &Path) -> Result<(), PathError> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        // `create_dir_all` reports an existing non-directory as "exists";
        // the checks below say precisely what is there.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            // A symbolic link to a missing place, or a file in the way.
            if std::fs::symlink_metadata(dir).is_ok() {
                return check_private_dir(dir);
            }
            return Err(PathError::io(dir, "create the directory", e));
        }
    }
    check_private_dir(dir)
}

/// Check, without creating or changing anything, that `dir` is a private
/// directory of this user (see [`private_dir`]).
pub fn check_private_dir(dir: &Path) -> Result<(), PathError> {
    let meta = open_dir_nofollow(dir)?;
    let me = euid();
    if meta.uid() != me {
        return Err(PathError::new(
            dir,
            PathErrorKind::NotOwned,
            format!(
                "belongs to uid {} (mode {:04o}), not to you (uid {me}); another user may have created it to get code run as you. Remove it if it is stale, or use a directory of your own (set XDG_RUNTIME_DIR, or AIOS_RUNTIME_DIR / AIOS_STATE_DIR)",
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(PathError::new(
            dir,
            PathErrorKind::TooOpen,
            format!(
                "has mode {:04o}: group or others may use it, and it must be private to you; run `chmod 700 {}`",
                meta.mode() & 0o7777,
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Check a directory that holds daemon sockets and may be shared (the
/// image's `/run/aios`): a real directory owned by this user or by root,
/// where, if group or others may write, the sticky bit stops anyone but a
/// socket's owner from replacing it.
pub fn check_socket_dir(dir: &Path) -> Result<(), PathError> {
    let meta = open_dir_nofollow(dir)?;
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(PathError::new(
            dir,
            PathErrorKind::NotOwned,
            format!(
                "belongs to uid {} (mode {:04o}), neither to you (uid {me}) nor to root; its owner could replace the sockets in it. Remove it if it is stale, or use a directory of your own (set XDG_RUNTIME_DIR or AIOS_RUNTIME_DIR)",
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
        return Err(PathError::new(
            dir,
            PathErrorKind::TooOpen,
            format!(
                "has mode {:04o}: others may write to it without the sticky bit, so they could replace a daemon's socket; run `chmod 700 {}` (or `chmod +t` for a shared directory)",
                meta.mode() & 0o7777,
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Open `dir` without following a final symbolic link and `fstat` it.
fn open_dir_nofollow(dir: &Path) -> Result<std::fs::Metadata, PathError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir);
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            return Err(match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => symlink_error(dir, "directories"),
                Ok(m) if !m.is_dir() => PathError::new(
                    dir,
                    PathErrorKind::WrongType,
                    format!(
                        "is {}, not a directory; remove it or choose another directory (XDG_RUNTIME_DIR, AIOS_RUNTIME_DIR or AIOS_STATE_DIR)",
                        describe(&m)
                    ),
                ),
                _ => PathError::io(dir, "open the directory", e),
            });
        }
    };
    file.metadata()
        .map_err(|e| PathError::io(dir, "inspect the directory", e))
}

fn describe(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a directory"
    }
}

/// Open (creating it with mode 0600 when missing) a regular file for
/// writing without following a symbolic link at `path`; with `truncate`,
/// its old contents are dropped. Meant for files in a [`private_dir`]:
/// lock files, generated manifests. A link, a directory or another
/// user's file at `path` is refused.
pub fn open_private_file(path: &Path, truncate: bool) -> Result<File, PathError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        // Truncated below, only once the file proved to be ours.
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                symlink_error(path, "files")
            } else {
                PathError::io(path, "open the file", e)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| PathError::io(path, "inspect the file", e))?;
    if !meta.is_file() {
        return Err(PathError::new(
            path,
            PathErrorKind::WrongType,
            format!("is {}, not a regular file; remove it", describe(&meta)),
        ));
    }
    if meta.uid() != euid() {
        return Err(PathError::new(
            path,
            PathErrorKind::NotOwned,
            format!(
                "belongs to uid {}, not to you (uid {}); remove it",
                meta.uid(),
                euid()
            ),
        ));
    }
    if truncate {
        file.set_len(0)
            .map_err(|e| PathError::io(path, "truncate the file", e))?;
    }
    Ok(file)
}

/// Write `contents` to `path` through [`open_private_file`] (truncating).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), PathError> {
    use std::io::Write;
    let mut f = open_private_file(path, true)?;
    f.write_all(contents)
        .map_err(|e| PathError::io(path, "write the file", e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_directory_and_its_parents_are_created_0700() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b/aios");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&t.path().join("a")), 0o700);
        // An existing private directory is fine, and left as it is.
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_directory_of_another_user_is_refused_naming_owner_and_fix() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("aios-1000");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // We run as root in tests and CI; 65534 is `nobody`.
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let e = private_dir(&dir).unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::NotOwned);
        let msg = e.to_string();
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(msg.contains("uid 65534") && msg.contains("0700"), "{msg}");
        assert!(msg.contains("XDG_RUNTIME_DIR"), "{msg}");
        // The socket-directory rule refuses it too (neither ours nor root's).
        assert_eq!(
            check_socket_dir(&dir).unwrap_err().kind(),
            PathErrorKind::NotOwned
        );
    }

    #[test]
    fn a_directory_others_may_use_is_refused_and_left_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = private_dir(&dir).unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::TooOpen);
        assert!(e.to_string().contains("0755"), "{e}");
        assert!(e.to_string().contains("chmod 700"), "{e}");
        assert_eq!(mode(&dir), 0o755, "a refusal changes nothing");
        // Readable but not writable by others: fine for sockets.
        check_socket_dir(&dir).unwrap();
    }

    #[test]
    fn a_symlink_to_a_directory_is_refused_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = t.path().join("aios");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = private_dir(&link).unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::Symlink);
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(e.to_string().contains(&real.display().to_string()), "{e}");
        assert_eq!(
            check_socket_dir(&link).unwrap_err().kind(),
            PathErrorKind::Symlink
        );
        // A dangling link is refused the same way (not created through).
        let dangling = t.path().join("dangling");
        std::os::unix::fs::symlink(t.path().join("nowhere"), &dangling).unwrap();
        assert_eq!(
            private_dir(&dangling).unwrap_err().kind(),
            PathErrorKind::Symlink
        );
        assert!(!t.path().join("nowhere").exists());
    }

    #[test]
    fn a_regular_file_is_refused_as_a_directory() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("aios");
        std::fs::write(&file, "x").unwrap();
        let e = private_dir(&file).unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::WrongType);
        assert!(e.to_string().contains("a regular file"), "{e}");
    }

    #[test]
    fn a_shared_socket_directory_needs_the_sticky_bit() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = check_socket_dir(&dir).unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::TooOpen);
        assert!(e.to_string().contains("sticky"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1771)).unwrap();
        check_socket_dir(&dir).unwrap();
    }

    #[test]
    fn a_symlink_planted_at_a_file_path_is_refused_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let lock = t.path().join("launch.lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        let e = open_private_file(&lock, false).unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::Symlink);
        let e = write_private_file(&lock, b"overwritten").unwrap_err();
        assert_eq!(e.kind(), PathErrorKind::Symlink);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A dangling link is not created through either.
        let dangling = t.path().join("m.toml");
        std::os::unix::fs::symlink(t.path().join("created"), &dangling).unwrap();
        assert!(write_private_file(&dangling, b"x").is_err());
        assert!(!t.path().join("created").exists());
    }

    #[test]
    fn private_files_are_created_0600_and_rewritten() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("aiosd.toml");
        write_private_file(&f, b"first, longer").unwrap();
        assert_eq!(mode(&f), 0o600);
        write_private_file(&f, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "second");
        // Another user's file at the path is refused.
        nix::unistd::chown(&f, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert_eq!(
            open_private_file(&f, false).unwrap_err().kind(),
            PathErrorKind::NotOwned
        );
    }
}

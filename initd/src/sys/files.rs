//! Creating files in directories others may write to (`/run/aios` is
//! group-writable for the daemons' sockets; logs and state live in
//! directories services can reach): never through a symbolic link, never
//! into something that was not ours a moment ago.
//!
//! - [`replace_file`]: a new file (`O_CREAT|O_EXCL|O_NOFOLLOW`) with an
//!   explicit mode, renamed over the old one.
//! - [`open_append`]: a log file opened without following a link at its
//!   name, and refused unless it is a regular file.
//! - [`bind_unix`]: a Unix socket bound at its path (binding never follows
//!   a link), then given its mode and group through a descriptor of the
//!   node that is checked to be our socket, so a link or file swapped in
//!   between is never the one changed.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::Gid;

/// Create the missing directories of `dir` with `mode` (existing ones are
/// left as they are).
pub fn create_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Replace `path` with a new file holding `bytes` with exactly `mode`:
/// written to a fresh temporary file beside it (created exclusively, never
/// through a link) and renamed over it, so readers see the old or the new
/// text, never a mix, and nothing outside the directory is written.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
    };
    let mut file = match create() {
        Ok(f) => f,
        // Left over from a crash (or planted): unlinking removes the entry
        // itself, never what a link points to.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp)?;
            create()?
        }
        Err(e) => return Err(e),
    };
    let written = (|| {
        // The umask narrowed the mode at creation; this sets it exactly.
        nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Open `path` for appending, creating it with `mode` when missing, without
/// following a link at its name; anything but a regular file is refused
/// (a FIFO put there fails at once instead of blocking the writer).
pub fn open_append(path: &Path, mode: u32) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// A Unix socket of `kind` bound at `path` (a stale entry there is
/// removed), with `mode` and, when given, `group`.
pub fn bind_unix(
    path: &Path,
    kind: SockType,
    mode: u32,
    group: Option<Gid>,
) -> std::io::Result<OwnedFd> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let fd = nix::sys::socket::socket(AddressFamily::Unix, kind, SockFlag::SOCK_CLOEXEC, None)?;
    let addr = UnixAddr::new(path)?;
    nix::sys::socket::bind(fd.as_raw_fd(), &addr)?;
    if let Err(e) = set_socket_mode(path, mode, group) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(fd)
}

/// Give the socket node at `path` `mode` and `group`, through a descriptor
/// of the node itself, after checking it is a socket of ours.
fn set_socket_mode(path: &Path, mode: u32, group: Option<Gid>) -> std::io::Result<()> {
    let node = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let st = nix::sys::stat::fstat(&node)?;
    let is_socket = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFSOCK.bits();
    if !is_socket || st.st_uid != nix::unistd::geteuid().as_raw() {
        return Err(std::io::Error::other(format!(
            "{} was replaced after binding (not our socket any more)",
            path.display()
        )));
    }
    if let Some(g) = group {
        nix::unistd::fchownat(&node, "", None, Some(g), AtFlags::AT_EMPTY_PATH)?;
    }
    chmod_node(&node, mode)
}

/// `chmod` of the node an `O_PATH` descriptor holds (`fchmod` refuses
/// those), through its `/proc/self/fd` entry, which resolves to exactly
/// that node.
fn chmod_node(node: &impl AsFd, mode: u32) -> std::io::Result<()> {
    let via = format!("/proc/self/fd/{}", node.as_fd().as_raw_fd());
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        via.as_str(),
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| {
        std::io::Error::other(format!(
            "cannot set the mode of the socket: {e} (is /proc mounted?)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    use super::*;

    #[test]
    fn replace_file_never_writes_through_a_link_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("state.toml");
        // Links planted at the name and at the temporary name.
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let tmp = dir
            .path()
            .join(format!(".state.toml.tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        replace_file(&path, b"new", 0o640).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!tmp.exists());
    }

    #[test]
    fn open_append_refuses_links_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("x.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(open_append(&link, 0o644).is_err());
        let fifo = dir.path().join("y.log");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
        let e = open_append(&fifo, 0o644).unwrap_err();
        assert!(e.raw_os_error() == Some(libc::ENXIO), "{e}");
        let mut f = open_append(&dir.path().join("z.log"), 0o644).unwrap();
        f.write_all(b"ok\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn bind_unix_sets_mode_and_group_on_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        // A stale link at the name is removed, not followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let root = nix::unistd::geteuid().is_root();
        let gid = root.then(|| Gid::from_raw(65534));
        let _fd = bind_unix(&path, SockType::Stream, 0o660, gid).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
        if root {
            assert_eq!(meta.gid(), 65534);
        }
        let v = std::fs::metadata(&victim).unwrap();
        assert_eq!(v.permissions().mode() & 0o7777, 0o600);
    }

    /// The step after `bind` (mode and group) meets whatever is at the
    /// name by then: a link swapped in must be refused, not followed.
    #[test]
    fn a_link_swapped_in_after_binding_is_never_changed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join("s.sock");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(set_socket_mode(&path, 0o666, None).is_err());
        // A regular file of ours there instead of the socket: refused too.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(set_socket_mode(&path, 0o666, None).is_err());
        for p in [&victim, &path] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
}

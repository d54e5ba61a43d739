//! The `sd_notify` protocol: the supervisor's datagram socket (with
//! `SO_PASSCRED`, so the kernel vouches for each sender's pid and uid) and
//! a sender compatible with `systemd-notify`, including `BARRIER=1`
//! (a pipe passed with `SCM_RIGHTS` that the receiver closes once it has
//! handled everything sent before it).
//!
//! The barrier matters for helpers such as `initd notify READY=1` run from
//! a shell script: the helper exits right after sending, and the supervisor
//! can only check that the sender belongs to the service while the sender
//! still exists. Waiting on the barrier keeps it alive until then.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr, sockopt,
};

/// Largest datagram accepted (systemd's limit is similar).
const MAX_DATAGRAM: usize = 4096;

/// One message, with the kernel-checked sender.
#[derive(Debug)]
pub struct Datagram {
    /// Sender pid, as seen in the supervisor's PID namespace.
    pub pid: u32,
    /// Sender uid.
    pub uid: u32,
    /// The `KEY=VALUE` lines.
    pub text: String,
    /// File descriptors passed along (a barrier pipe); closing them
    /// releases the sender.
    pub fds: Vec<OwnedFd>,
}

/// The receiving socket.
pub struct NotifySocket {
    fd: OwnedFd,
    path: PathBuf,
}

impl NotifySocket {
    /// Bind at `path` (a stale file is replaced), accepting credentials.
    /// `world_writable` lets services running as other users send (their
    /// credentials, not the file mode, decide what is accepted).
    pub fn bind(path: &Path, world_writable: bool) -> std::io::Result<NotifySocket> {
        if let Some(dir) = path.parent() {
            super::files::create_dirs(dir, if world_writable { 0o755 } else { 0o700 })?;
        }
        let mode = if world_writable { 0o666 } else { 0o600 };
        let fd = super::files::bind_unix(path, SockType::Datagram, mode, None)?;
        socket::setsockopt(&fd, sockopt::PassCred, &true)?;
        Ok(NotifySocket {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The socket's path (the value of `$NOTIFY_SOCKET`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Block until a datagram with credentials arrives. Datagrams without
    /// credentials (impossible with `SO_PASSCRED`) are skipped.
    pub fn recv(&self) -> std::io::Result<Datagram> {
        loop {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let mut cmsg = nix::cmsg_space!(libc::ucred, [RawFd; 8]);
            let (n, creds, fds) = {
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = match socket::recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                ) {
                    Ok(m) => m,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                };
                let mut creds = None;
                let mut fds = Vec::new();
                for c in msg.cmsgs()? {
                    match c {
                        ControlMessageOwned::ScmCredentials(uc) => {
                            creds = Some((uc.pid(), uc.uid()))
                        }
                        ControlMessageOwned::ScmRights(raw) => {
                            // SAFETY: the kernel just installed these
                            // descriptors in our table; we are their only owner.
                            fds.extend(raw.into_iter().map(|r| unsafe { OwnedFd::from_raw_fd(r) }));
                        }
                        _ => {}
                    }
                }
                (msg.bytes, creds, fds)
            };
            let Some((pid, uid)) = creds else { continue };
            let Ok(pid) = u32::try_from(pid) else {
                continue;
            };
            buf.truncate(n);
            return Ok(Datagram {
                pid,
                uid,
                text: String::from_utf8_lossy(&buf).into_owned(),
                fds,
            });
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why a notification could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `$NOTIFY_SOCKET` is not set.
    #[error("$NOTIFY_SOCKET is not set: not running under a supervisor that accepts notifications")]
    NoSocket,
    /// The socket could not be written.
    #[error("cannot send to {socket}: {source}")]
    Io {
        /// The socket.
        socket: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The supervisor did not acknowledge the barrier in time.
    #[error("the supervisor did not acknowledge within {0:?}")]
    Timeout(Duration),
}

/// Send `state` to `socket` (`@name` for an abstract socket); with
/// `barrier`, then wait up to `timeout` until the receiver has handled it.
pub fn send(socket: &str, state: &str, barrier: bool, timeout: Duration) -> Result<(), SendError> {
    if socket.is_empty() {
        return Err(SendError::NoSocket);
    }
    let io = |source: std::io::Error| SendError::Io {
        socket: socket.to_string(),
        source,
    };
    let addr = match socket.strip_prefix('@') {
        Some(name) => UnixAddr::new_abstract(name.as_bytes()),
        None => UnixAddr::new(socket),
    }
    .map_err(|e| io(e.into()))?;
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| io(e.into()))?;
    socket::sendmsg(
        fd.as_raw_fd(),
        &[IoSlice::new(state.as_bytes())],
        &[],
        MsgFlags::empty(),
        Some(&addr),
    )
    .map_err(|e| io(e.into()))?;
    if !barrier {
        return Ok(());
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io(e.into()))?;
    let raw = [w.as_raw_fd()];
    socket::sendmsg(
        fd.as_raw_fd(),
        &[IoSlice::new(b"BARRIER=1")],
        &[ControlMessage::ScmRights(&raw)],
        MsgFlags::empty(),
        Some(&addr),
    )
    .map_err(|e| io(e.into()))?;
    drop(w);
    // The read end sees POLLHUP once the receiver closed its copy.
    // A timeout beyond the clock's range waits as long as it takes.
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return Err(SendError::Timeout(timeout));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&r),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) => {}
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn datagrams_carry_the_senders_pid_and_barriers_release_the_sender() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = NotifySocket::bind(&path, false).unwrap();
        let p = path.to_str().unwrap().to_string();
        let sender = std::thread::spawn(move || {
            send(&p, "READY=1\nSTATUS=hi", true, Duration::from_secs(10))
        });
        let first = sock.recv().unwrap();
        assert_eq!(first.pid, std::process::id());
        assert_eq!(first.uid, nix::unistd::getuid().as_raw());
        assert_eq!(first.text, "READY=1\nSTATUS=hi");
        assert!(first.fds.is_empty());
        let barrier = sock.recv().unwrap();
        assert_eq!(barrier.text, "BARRIER=1");
        assert_eq!(barrier.fds.len(), 1);
        assert!(
            !sender.is_finished(),
            "the sender waits until the barrier is closed"
        );
        drop(barrier);
        sender.join().unwrap().unwrap();
    }

    #[test]
    fn barrier_times_out_when_nobody_handles_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _sock = NotifySocket::bind(&path, false).unwrap();
        let e = send(
            path.to_str().unwrap(),
            "READY=1",
            true,
            Duration::from_millis(50),
        )
        .unwrap_err();
        assert!(matches!(e, SendError::Timeout(_)), "{e}");
    }

    #[test]
    fn the_daemons_sender_format_is_accepted() {
        // aios_daemon::notify sends one unconnected datagram from the
        // daemon's own pid, exactly like this.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = NotifySocket::bind(&path, true).unwrap();
        let tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
        tx.send_to(b"READY=1", &path).unwrap();
        let d = sock.recv().unwrap();
        assert_eq!((d.pid, d.text.as_str()), (std::process::id(), "READY=1"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        assert!(matches!(
            send("", "READY=1", false, Duration::ZERO),
            Err(SendError::NoSocket)
        ));
    }
}

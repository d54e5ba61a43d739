//! Acting on exactly the process that was assessed, with the caller's
//! kernel credentials.
//!
//! **Pinning.** A pid can be reused once its process exits. [`Pinned::open`]
//! takes a pidfd (`pidfd_open`), which refers to one process for good, then
//! reads `/proc/<pid>/stat` and checks the start time against the one the
//! call carries, then checks through the pidfd that the process is still
//! alive. If it is, the pid still names the pidfd's process, so the start
//! time read in between was its own. Signals then go through the pidfd
//! (`pidfd_send_signal`), never by number.
//!
//! **Whose rights.** [`crate::ToolCtx::blocking`] switches only the
//! filesystem uid, but `kill(2)` and `setpriority(2)` check the real and
//! effective uids and `CAP_KILL`/`CAP_SYS_NICE`. So when a call acts for
//! another user, [`as_caller`] forks a child that takes the caller's uid,
//! gid and groups (dropping every capability with root) and makes the one
//! system call there: the kernel decides, as for that user.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{Credentials, ToolError};

use super::{Proc, read_stat};

/// A process held by a pidfd, checked to be the one the call was about.
#[derive(Debug)]
pub struct Pinned {
    fd: OwnedFd,
    /// What `/proc` said about it once pinned.
    pub proc: Proc,
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

impl Pinned {
    /// Pin `pid`, requiring start time `expect_start` (clock ticks after
    /// boot) when given.
    pub fn open(pid: u32, expect_start: Option<u64>) -> Result<Pinned, ToolError> {
        let gone = || {
            ToolError::not_found(format!(
                "no process with pid {pid} (it may have exited); process.find shows what runs"
            ))
        };
        let raw_pid = libc::pid_t::try_from(pid).map_err(|_| gone())?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor or -1; no memory is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
        if fd < 0 {
            return match errno() {
                libc::ESRCH => Err(gone()),
                libc::ENOSYS => Err(ToolError::unsupported(
                    "this kernel has no pidfd_open (Linux 5.3 or later is needed to signal safely)",
                )),
                e => Err(ToolError::failed(format!(
                    "pidfd_open({pid}): {}",
                    std::io::Error::from_raw_os_error(e)
                ))),
            };
        }
        let fd = i32::try_from(fd)
            .map_err(|_| ToolError::failed("pidfd_open returned a bad descriptor"))?;
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let proc = read_stat(pid).ok_or_else(gone)?;
        if let Some(want) = expect_start
            && proc.start_ticks != want
        {
            return Err(ToolError::not_found(format!(
                "pid {pid} is now a different process ({}, started at tick {}, not {want}): the process the call \
                 was about has exited and its pid was reused; nothing was done",
                proc.comm, proc.start_ticks
            )));
        }
        let pinned = Pinned { fd, proc };
        // Still alive through the pidfd: the stat we read was its own.
        if pinned.raw_signal(0) == Err(libc::ESRCH) {
            return Err(gone());
        }
        Ok(pinned)
    }

    /// `pidfd_send_signal(fd, sig)` in this process: `Err(errno)` on failure.
    fn raw_signal(&self, sig: i32) -> Result<(), i32> {
        // SAFETY: a pidfd we own, a signal number, a null siginfo and no
        // flags; no memory is shared with the kernel.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 { Ok(()) } else { Err(errno()) }
    }

    /// Send `sig` with the caller's rights ([`as_caller`]).
    pub fn signal(&self, creds: Option<&Credentials>, sig: i32) -> Result<(), i32> {
        as_caller(creds, || match self.raw_signal(sig) {
            Ok(()) => 0,
            Err(e) => e,
        })
    }

    /// Whether the pinned process is still alive (zombies count as gone
    /// for our purposes only once reaped).
    pub fn alive(&self) -> bool {
        self.raw_signal(0) != Err(libc::ESRCH)
    }
}

/// Run `op` (a few raw system calls returning 0 or an errno) with the
/// caller's uid, gid and groups: in this process when the call runs with
/// the process's own credentials, else in a forked child that switches to
/// them first. Must be called on a thread whose credentials are the
/// process's own (not inside [`crate::ToolCtx::blocking`] for another
/// user), since the child needs `CAP_SETUID` to switch.
pub fn as_caller(creds: Option<&Credentials>, op: impl Fn() -> i32) -> Result<(), i32> {
    let Some(c) = creds else {
        return match op() {
            0 => Ok(()),
            e => Err(e),
        };
    };
    let (uid, gid, groups) = (c.uid, c.gid, c.groups.clone());
    // SAFETY: fork in a multi-threaded process; the child only makes raw
    // system calls on memory prepared before the fork (the groups vector,
    // the closure's captures) and leaves with _exit, never returning into
    // Rust code that could take a lock another thread held.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(errno());
    }
    if child == 0 {
        // SAFETY: as above; these are the same three calls `run_command`
        // makes before exec, then `op`, then _exit.
        unsafe {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                libc::_exit(255);
            }
            let e = op();
            libc::_exit(e.clamp(0, 254));
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r == child {
            break;
        }
        if errno() != libc::EINTR {
            return Err(errno());
        }
    }
    if !libc::WIFEXITED(status) {
        return Err(libc::EIO);
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(()),
        255 => Err(libc::EPERM),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testchild::Sleeper;
    use super::*;

    #[test]
    fn pin_checks_the_start_time() {
        let s = Sleeper::start(0);
        let p = Pinned::open(s.pid(), None).unwrap();
        assert!(p.alive());
        let start = p.proc.start_ticks;
        Pinned::open(s.pid(), Some(start)).unwrap();
        let e = Pinned::open(s.pid(), Some(start + 1)).unwrap_err();
        assert!(e.message().contains("reused"), "{e}");
        assert!(Pinned::open(u32::MAX / 2, None).is_err());
    }

    #[test]
    fn an_ordinary_user_cannot_signal_roots_process() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: acting for another user needs root");
            return;
        }
        let s = Sleeper::start(0);
        let p = Pinned::open(s.pid(), None).unwrap();
        let nobody = Credentials::of(&crate::Identity {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
            name: None,
            home: None,
        });
        assert_eq!(p.signal(Some(&nobody), libc::SIGTERM), Err(libc::EPERM));
        assert!(p.alive(), "the kernel refused: still running");
        p.signal(None, 0).unwrap();
    }
}

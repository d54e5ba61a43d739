//! The forked side: two processes that only make system calls (no
//! allocation, no locks: the parent is multi-threaded, so after `fork` only
//! async-signal-safe work is allowed).
//!
//! - **outer** ([`outer`]): drops to the requested identity, enters a new
//!   user namespace (mapping the identity to itself) and unshares mount,
//!   PID and network namespaces, forks the namespace's init, waits for it
//!   (killing it first when the parent asks through the kill pipe) and
//!   reports its wait status.
//! - **init** ([`init`]): pid 1 of the new PID namespace. Sets up the
//!   mounts (private tree, fresh /proc, read-only root, private /tmp,
//!   writable binds), enters the working directory, sets rlimits, applies
//!   Landlock, `PR_SET_NO_NEW_PRIVS` and seccomp, and executes the command.
//!
//! Every step writes one record to the report pipe ([`crate::report`]).

use std::os::fd::{AsRawFd, RawFd};

use crate::prepare::Prepared;
use crate::report::{RECORD, Stage, encode};

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_int = 0x8000;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_path_beneath_attr` (packed in the kernel ABI).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The NULL-terminated pointer arrays `execve` takes, built (allocated)
/// before the fork from [`Prepared`]'s C strings, which they borrow.
pub(crate) struct ExecPtrs {
    argv: Vec<*const libc::c_char>,
    env: Vec<*const libc::c_char>,
}

impl ExecPtrs {
    /// Point at `p`'s argv and environment.
    pub(crate) fn new(p: &Prepared) -> ExecPtrs {
        let ptrs = |v: &[std::ffi::CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        ExecPtrs {
            argv: ptrs(&p.argv),
            env: ptrs(&p.env),
        }
    }
}

fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

/// 0 on success, else the errno.
fn check(rc: libc::c_long) -> i32 {
    if rc < 0 { errno().max(1) } else { 0 }
}

fn report(fd: RawFd, stage: Stage, index: u32, value: i32) {
    let rec = encode(stage, index, value);
    // SAFETY: writing a stack buffer of RECORD bytes to a pipe fd; a failed
    // report only loses detail, the parent treats a missing stage as not
    // enforced.
    unsafe {
        libc::write(fd, rec.as_ptr().cast(), RECORD);
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and skips atexit handlers that
    // belong to the parent.
    unsafe { libc::_exit(code) }
}

/// Write `data` to the file `path` (for the id maps).
fn write_file(path: &std::ffi::CStr, data: &[u8]) -> i32 {
    // SAFETY: open/write/close on a NUL-terminated path and a live buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return errno();
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = if n < 0 || n as usize != data.len() {
            errno().max(1)
        } else {
            0
        };
        libc::close(fd);
        e
    }
}

/// The outer child, right after `fork`. Never returns.
///
/// # Safety
/// Must only run in a freshly forked child of the process that built `p`.
pub(crate) unsafe fn outer(p: &Prepared, ptrs: &ExecPtrs) -> ! {
    let rep = p.child.report.as_raw_fd();
    // SAFETY (whole block): plain system calls on values prepared before
    // the fork; each result is checked and reported.
    unsafe {
        // Die with the forking thread, and notice if it is already gone.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            report(rep, Stage::DeathSig, 0, errno());
            exit(126);
        }
        if libc::getppid() != p.parent_pid {
            exit(126);
        }
        // Our own process group: the parent kills it as a whole.
        libc::setpgid(0, 0);
        // The command's stdio.
        if libc::dup2(p.child.stdin.as_raw_fd(), 0) < 0
            || libc::dup2(p.child.stdout.as_raw_fd(), 1) < 0
            || libc::dup2(p.child.stderr.as_raw_fd(), 2) < 0
        {
            report(rep, Stage::Fork, 0, errno());
            exit(126);
        }
        for fd in p.parent_raw {
            libc::close(fd);
        }

        if p.change_ids {
            let e = if libc::setgroups(p.groups.len(), p.groups.as_ptr()) != 0
                || libc::setresgid(p.gid, p.gid, p.gid) != 0
                || libc::setresuid(p.uid, p.uid, p.uid) != 0
            {
                errno().max(1)
            } else {
                0
            };
            report(rep, Stage::Ids, 0, e);
            if e != 0 {
                exit(126);
            }
            // The credential change reset PDEATHSIG and made the process
            // non-dumpable, which leaves /proc/self owned by root and the
            // id maps unwritable; execve makes it dumpable again anyway.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
            if libc::getppid() != p.parent_pid {
                exit(126);
            }
        }

        let user_ns = libc::unshare(libc::CLONE_NEWUSER) == 0;
        report(rep, Stage::UserNs, 0, if user_ns { 0 } else { errno() });
        if user_ns {
            let mut e = write_file(c"/proc/self/setgroups", b"deny");
            if e == 0 {
                e = write_file(c"/proc/self/uid_map", &p.uid_map);
            }
            if e == 0 {
                e = write_file(c"/proc/self/gid_map", &p.gid_map);
            }
            report(rep, Stage::UserMap, 0, e);
            if e != 0 {
                exit(126);
            }
        }
        // Without a user namespace only a privileged caller may unshare.
        let may_unshare = user_ns || libc::geteuid() == 0;
        let mut mount_ns = false;
        let mut pid_ns = false;
        if may_unshare {
            mount_ns = libc::unshare(libc::CLONE_NEWNS) == 0;
            report(rep, Stage::MountNs, 0, if mount_ns { 0 } else { errno() });
            pid_ns = libc::unshare(libc::CLONE_NEWPID) == 0;
            report(rep, Stage::PidNs, 0, if pid_ns { 0 } else { errno() });
            if !p.network {
                let net = libc::unshare(libc::CLONE_NEWNET) == 0;
                report(rep, Stage::NetNs, 0, if net { 0 } else { errno() });
            }
        }

        let pid = libc::fork();
        if pid < 0 {
            report(rep, Stage::Fork, 0, errno());
            exit(126);
        }
        if pid == 0 {
            init(p, ptrs, mount_ns, pid_ns);
        }
        // The init reports on its own; this process keeps the report pipe
        // open until it has sent the init's status, so the parent's end of
        // file means "everything is said".
        libc::close(0);
        libc::close(1);
        libc::close(2);
        // Wait for the init, or for the parent to ask for the end. The
        // parent never kills this process directly: the init would then
        // die only through its PDEATHSIG, asynchronously, and the parent
        // could return while the namespace is still being torn down. Here
        // the init is killed and reaped first, and reaping the init of a
        // PID namespace completes only once every process in it is gone.
        // The init is our unreaped child, so its pid cannot be reused.
        let kill_fd = p.child.kill.as_raw_fd();
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0u32) as libc::c_int;
        let mut killed = false;
        let mut status: libc::c_int = 0;
        loop {
            if !killed {
                let mut fds = [
                    libc::pollfd {
                        fd: kill_fd,
                        events: libc::POLLIN,
                        revents: 0,
                    },
                    libc::pollfd {
                        fd: pidfd,
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                // Without pidfds (before Linux 5.3) look for the init's
                // end every few milliseconds instead.
                let (n, timeout) = if pidfd >= 0 { (2, -1) } else { (1, 20) };
                let r = libc::poll(fds.as_mut_ptr(), n, timeout);
                // A byte, or every write end closed (the parent is gone).
                if r > 0 && fds[0].revents != 0 {
                    libc::kill(pid, libc::SIGKILL);
                    killed = true;
                }
            }
            let flags = if killed { 0 } else { libc::WNOHANG };
            let r = libc::waitpid(pid, &mut status, flags);
            if r == pid {
                break;
            }
            if r < 0 && errno() != libc::EINTR {
                status = 127 << 8;
                break;
            }
        }
        report(rep, Stage::Status, 0, status);
        exit(0)
    }
}

/// The namespace's init: set up, confine, execute. Never returns.
///
/// # Safety
/// Only in the forked child of [`outer`].
unsafe fn init(p: &Prepared, ptrs: &ExecPtrs, mount_ns: bool, pid_ns: bool) -> ! {
    let rep = p.child.report.as_raw_fd();
    // SAFETY (whole block): system calls on NUL-terminated strings and
    // buffers prepared before the fork.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        let null = std::ptr::null::<libc::c_char>();
        let mut tmp_ok = false;
        if mount_ns {
            let e = check(libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) as libc::c_long);
            report(rep, Stage::Private, 0, e);
            if pid_ns {
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                let e = check(libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    flags,
                    std::ptr::null(),
                ) as libc::c_long);
                report(rep, Stage::Proc, 0, e);
            }
            let ro = MountAttr {
                attr_set: MOUNT_ATTR_RDONLY,
                attr_clr: 0,
                propagation: 0,
                userns_fd: 0,
            };
            let e = check(libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                AT_RECURSIVE as libc::c_uint,
                &ro as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            ));
            report(rep, Stage::ReadOnly, 0, e);
            let flags = libc::MS_NOSUID | libc::MS_NODEV;
            let e = check(libc::mount(
                c"tmpfs".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                c"size=256m,mode=1777".as_ptr().cast(),
            ) as libc::c_long);
            report(rep, Stage::Tmp, 0, e);
            tmp_ok = e == 0;
            // Cover the directories holding sockets the command must not
            // reach (toolsd's, the session bus): AF_UNIX stays allowed.
            let hide = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY;
            for (i, h) in p.hidden.iter().enumerate() {
                let e = check(libc::mount(
                    c"tmpfs".as_ptr(),
                    h.as_ptr(),
                    c"tmpfs".as_ptr(),
                    hide,
                    c"size=4k,mode=0555".as_ptr().cast(),
                ) as libc::c_long);
                // Not there inside (under the private /tmp, say): hidden already.
                let e = if e == libc::ENOENT { 0 } else { e };
                report(rep, Stage::Hidden, i as u32, e);
            }
            let rw = MountAttr {
                attr_set: 0,
                attr_clr: MOUNT_ATTR_RDONLY,
                propagation: 0,
                userns_fd: 0,
            };
            for (i, w) in p.writable.iter().enumerate() {
                let mut e = check(libc::mount(
                    w.as_ptr(),
                    w.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) as libc::c_long);
                if e == 0 {
                    e = check(libc::syscall(
                        libc::SYS_mount_setattr,
                        libc::AT_FDCWD,
                        w.as_ptr(),
                        AT_RECURSIVE as libc::c_uint,
                        &rw as *const MountAttr,
                        std::mem::size_of::<MountAttr>(),
                    ));
                }
                report(rep, Stage::Writable, i as u32, e);
                if e != 0 {
                    exit(126);
                }
            }
        }

        let e = check(libc::chdir(p.cwd.as_ptr()) as libc::c_long);
        report(rep, Stage::Cwd, 0, e);
        if e != 0 {
            exit(126);
        }

        let mut rl_err = 0;
        for &(res, v) in &p.rlimits {
            let lim = libc::rlimit {
                rlim_cur: v,
                rlim_max: v,
            };
            if libc::setrlimit(res, &lim) != 0 && rl_err == 0 {
                rl_err = errno().max(1);
            }
        }
        report(rep, Stage::Rlimits, 0, rl_err);

        let nnp = check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as libc::c_long);
        report(rep, Stage::NoNewPrivs, 0, nnp);

        if let Some(ll) = &p.landlock {
            let fd = ll.fd.as_raw_fd();
            if tmp_ok {
                let tmp = libc::open(
                    c"/tmp".as_ptr(),
                    libc::O_PATH | libc::O_CLOEXEC | libc::O_DIRECTORY,
                );
                if tmp >= 0 {
                    let attr = PathBeneathAttr {
                        allowed_access: ll.handled,
                        parent_fd: tmp,
                    };
                    libc::syscall(
                        libc::SYS_landlock_add_rule,
                        fd,
                        LANDLOCK_RULE_PATH_BENEATH,
                        &attr as *const PathBeneathAttr,
                        0u32,
                    );
                    libc::close(tmp);
                }
            }
            let rc = libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32);
            let v = if rc == 0 {
                ll.abi as i32
            } else {
                -errno().max(1)
            };
            report(rep, Stage::Landlock, 0, v);
            libc::close(fd);
        } else {
            report(rep, Stage::Landlock, 0, 0);
        }

        if let Some(f) = &p.seccomp {
            let e = match seccompiler::apply_filter(&f.clone3)
                .and_then(|()| seccompiler::apply_filter(&f.main))
            {
                Ok(()) => 0,
                Err(_) => errno().max(1),
            };
            report(rep, Stage::Seccomp, 0, e);
        }

        // Everything but stdio closes on exec (the report pipe included,
        // which is how the parent learns the exec happened).
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );

        if p.probe_only {
            exit(0);
        }

        let mut best = libc::ENOENT;
        for c in &p.candidates {
            libc::execve(c.as_ptr(), ptrs.argv.as_ptr(), ptrs.env.as_ptr());
            let e = errno();
            // A directory on PATH that holds the name but is not
            // executable says more than the later "not found".
            if e != libc::ENOENT && e != libc::ENOTDIR {
                best = e;
            }
        }
        report(rep, Stage::Exec, 0, best);
        exit(127)
    }
}

//! Kernel-enforced credentials for one call: the blocking work of a call
//! runs on a thread whose filesystem uid, filesystem gid and supplementary
//! groups are the principal's and whose effective capability set is empty,
//! so every path walk, open and listing is checked by the kernel as that
//! user. Nothing here emulates a permission check.
//!
//! Kernel semantics this relies on (each is checked by a test below, as
//! root against uid 65534):
//! - Credentials belong to a task, i.e. a thread. The raw `setfsuid`,
//!   `setfsgid`, `setgroups` and `capset` system calls change the calling
//!   thread only. glibc's `setgroups` (like its `setuid` family) signals
//!   every thread to apply the change process-wide, so its wrappers are
//!   never used here.
//! - `setfsuid` from 0 to another uid clears only the filesystem
//!   capabilities (`CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, `CAP_FOWNER`…)
//!   from the effective set. The others stay, and some still bypass checks
//!   (`CAP_SYS_PTRACE` opens `/proc/<pid>/maps` of any process), so the
//!   whole effective set is cleared with `capset`; the permitted set is
//!   kept, which is what allows switching back.
//! - `setfsuid`/`setfsgid` report failure only by returning the previous
//!   value, so each switch is verified by a second call with `-1`, which
//!   changes nothing and returns the current value.
//!
//! [`Credentials::run`] switches, runs the closure, switches back and
//! verifies that the thread has exactly its former credentials again; if
//! it cannot (which the kernel never refuses to a thread that kept its
//! permitted set), the process aborts rather than let a thread with the
//! wrong credentials run anything else. A panic in the closure restores
//! the credentials while unwinding.

use std::io;

use crate::{Identity, ToolError};

/// The group of a user unknown to the user database: `nogroup`, the
/// kernel's overflow gid. Never the process's own group (root's).
const OVERFLOW_GID: u32 = 65534;

/// The filesystem identity a call runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Filesystem uid.
    pub uid: u32,
    /// Filesystem gid.
    pub gid: u32,
    /// Supplementary groups, sorted and without duplicates.
    pub groups: Vec<u32>,
    /// Who, for messages: `user alice (uid 1000)`.
    who: String,
}

impl Credentials {
    /// The credentials of `identity`. An unknown primary group becomes the
    /// overflow gid (65534), and invalid ids are dropped from the groups,
    /// so no call ever keeps the process's own group by accident.
    pub fn of(identity: &Identity) -> Credentials {
        let gid = if identity.gid == u32::MAX {
            OVERFLOW_GID
        } else {
            identity.gid
        };
        let mut groups: Vec<u32> = identity
            .groups
            .iter()
            .copied()
            .filter(|g| *g != u32::MAX)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        Credentials {
            uid: identity.uid,
            gid,
            groups,
            who: describe(identity),
        }
    }

    /// `user alice (uid 1000)` or `uid 1000`.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// Run `f` on the calling thread with these credentials and no
    /// effective capabilities, then restore the thread's own.
    ///
    /// Fails with `PermissionDenied`, without running `f`, when this
    /// process may not take them (it is not root and lacks `CAP_SETUID`
    /// and `CAP_SETGID`). Call it from a thread meant for blocking work;
    /// `f` must not start threads (they would inherit these credentials).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, ToolError> {
        let guard = self.enter()?;
        let out = f();
        drop(guard);
        Ok(out)
    }

    fn enter(&self) -> Result<Restore, ToolError> {
        let saved = Saved::current().map_err(|e| {
            ToolError::failed(format!("cannot read this thread's credentials: {e}"))
        })?;
        // From here on, dropping the guard puts everything back.
        let guard = Restore { saved };
        let refused = |what: &str| {
            ToolError::denied(format!(
                "permission denied: toolsd (uid {}) cannot take the credentials of {} ({what}); \
                 the call did not run. Only a toolsd running as root can act for other users",
                guard.saved.euid, self.who
            ))
        };
        sys::set_groups(&self.groups).map_err(|e| refused(&format!("setgroups: {e}")))?;
        sys::setfsgid(self.gid);
        if sys::setfsgid(u32::MAX) != self.gid {
            return Err(refused("setfsgid was refused"));
        }
        sys::setfsuid(self.uid);
        if sys::setfsuid(u32::MAX) != self.uid {
            return Err(refused("setfsuid was refused"));
        }
        let mut caps = guard.saved.caps;
        for c in &mut caps {
            c.effective = 0;
        }
        sys::capset(&caps).map_err(|e| refused(&format!("capset: {e}")))?;
        Ok(guard)
    }
}

fn describe(identity: &Identity) -> String {
    match &identity.name {
        Some(n) => format!("user {n} (uid {})", identity.uid),
        None => format!("uid {}", identity.uid),
    }
}

/// A thread's credentials as this module changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Saved {
    euid: u32,
    fsuid: u32,
    fsgid: u32,
    groups: Vec<u32>,
    caps: [sys::CapData; 2],
}

impl Saved {
    fn current() -> io::Result<Saved> {
        Ok(Saved {
            euid: nix::unistd::geteuid().as_raw(),
            fsuid: sys::setfsuid(u32::MAX),
            fsgid: sys::setfsgid(u32::MAX),
            groups: sys::get_groups()?,
            caps: sys::capget()?,
        })
    }
}

/// Puts the saved credentials back when dropped, or aborts the process.
struct Restore {
    saved: Saved,
}

impl Restore {
    fn restore(&self) -> Result<(), String> {
        let s = &self.saved;
        // Capabilities first: setfsuid and setgroups need CAP_SETUID and
        // CAP_SETGID in the effective set.
        sys::capset(&s.caps).map_err(|e| format!("capset: {e}"))?;
        // Only what the switch changed: after a refused switch the thread
        // may lack the right to set the rest, and needs nothing set.
        if sys::setfsuid(u32::MAX) != s.fsuid {
            sys::setfsuid(s.fsuid);
        }
        if sys::setfsgid(u32::MAX) != s.fsgid {
            sys::setfsgid(s.fsgid);
        }
        if sys::get_groups().map_err(|e| format!("getgroups: {e}"))? != s.groups {
            sys::set_groups(&s.groups).map_err(|e| format!("setgroups: {e}"))?;
        }
        // setfsuid back to 0 raises the filesystem capabilities from the
        // permitted set; put the effective set exactly as it was.
        if sys::capget().map_err(|e| format!("capget: {e}"))? != s.caps {
            sys::capset(&s.caps).map_err(|e| format!("capset: {e}"))?;
        }
        let now = Saved::current().map_err(|e| format!("cannot read credentials: {e}"))?;
        if &now != s {
            return Err(format!(
                "credentials after restore {now:?} differ from {s:?}"
            ));
        }
        Ok(())
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            // A thread left with a user's credentials (or none of its
            // capabilities) would run the next call wrongly; stop instead.
            // The supervisor restarts toolsd.
            tracing::error!("cannot restore a thread's credentials after a call: {e}; aborting");
            eprintln!("toolsd: cannot restore a thread's credentials after a call: {e}; aborting");
            std::process::abort();
        }
    }
}

/// The raw, per-thread system calls.
mod sys {
    use std::io;

    /// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two 32-bit halves.
    const CAP_V3: u32 = 0x2008_0522;

    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }

    /// One 32-bit half of the capability sets (`struct __user_cap_data_struct`).
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(super) struct CapData {
        pub effective: u32,
        pub permitted: u32,
        pub inheritable: u32,
    }

    fn ret(r: libc::c_long) -> io::Result<libc::c_long> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// Set the thread's filesystem uid; returns the previous one. `u32::MAX`
    /// (-1) changes nothing and returns the current one.
    pub(super) fn setfsuid(uid: u32) -> u32 {
        // SAFETY: setfsuid takes one integer and touches no memory of ours.
        let r = unsafe { libc::syscall(libc::SYS_setfsuid, libc::c_long::from(uid)) };
        // The kernel returns a uid_t, which fits u32.
        u32::try_from(r).unwrap_or(u32::MAX)
    }

    /// Set the thread's filesystem gid; like [`setfsuid`].
    pub(super) fn setfsgid(gid: u32) -> u32 {
        // SAFETY: as for setfsuid.
        let r = unsafe { libc::syscall(libc::SYS_setfsgid, libc::c_long::from(gid)) };
        u32::try_from(r).unwrap_or(u32::MAX)
    }

    /// Set the thread's supplementary groups (the raw call: this thread only).
    pub(super) fn set_groups(groups: &[u32]) -> io::Result<()> {
        let n = libc::c_long::try_from(groups.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the pointer and length describe a live slice of gid_t
        // (u32), which the kernel only reads.
        ret(unsafe { libc::syscall(libc::SYS_setgroups, n, groups.as_ptr()) }).map(drop)
    }

    /// The thread's supplementary groups.
    pub(super) fn get_groups() -> io::Result<Vec<u32>> {
        let mut buf = vec![0u32; 32];
        loop {
            let n = libc::c_long::try_from(buf.len())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: the kernel writes at most `n` gid_t into `buf`.
            match ret(unsafe { libc::syscall(libc::SYS_getgroups, n, buf.as_mut_ptr()) }) {
                Ok(got) => {
                    buf.truncate(usize::try_from(got).unwrap_or(0));
                    return Ok(buf);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // SAFETY: with size 0 the kernel only returns the count.
                    let need = ret(unsafe {
                        libc::syscall(libc::SYS_getgroups, 0, std::ptr::null_mut::<u32>())
                    })?;
                    buf = vec![0u32; usize::try_from(need).unwrap_or(0).max(1)];
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The thread's capability sets.
    pub(super) fn capget() -> io::Result<[CapData; 2]> {
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: version 3 reads one header and writes two data structs,
        // both live and correctly laid out (repr(C)).
        ret(unsafe { libc::syscall(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()) })?;
        Ok(data)
    }

    /// Set the thread's capability sets (pid 0: this thread only).
    pub(super) fn capset(data: &[CapData; 2]) -> io::Result<()> {
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        // SAFETY: version 3 reads one header and two data structs.
        ret(unsafe { libc::syscall(libc::SYS_capset, &raw mut hdr, data.as_ptr()) }).map(drop)
    }
}

#[cfg(test)]
mod tests {
    //! As root against uid 65534 (`nobody`): what a switched thread can and
    //! cannot do, and that no other thread is affected.
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn require_root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests check kernel credential switching and must run as root (as CI does)"
        );
    }

    fn nobody(groups: &[u32]) -> Credentials {
        Credentials::of(&Identity {
            uid: 65534,
            gid: 65534,
            groups: groups.to_vec(),
            name: Some("nobody".into()),
            home: None,
        })
    }

    /// `Uid:`, `Gid:`, `Groups:` and `CapEff:` lines of one thread.
    fn thread_status(tid: libc::pid_t) -> Vec<String> {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))
            .unwrap()
            .lines()
            .filter(|l| {
                ["Uid:", "Gid:", "Groups:", "CapEff:"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(str::to_string)
            .collect()
    }

    fn gettid() -> libc::pid_t {
        nix::unistd::gettid().as_raw()
    }

    fn fixture() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        (dir, secret, locked)
    }

    #[test]
    fn switched_thread_has_the_users_rights_and_no_capabilities() {
        require_root();
        let (_dir, secret, locked) = fixture();
        let before = thread_status(gettid());
        let seen = nobody(&[65534])
            .run(|| {
                let status = thread_status(gettid());
                (
                    std::fs::read(&secret).map_err(|e| e.kind()),
                    std::fs::read_dir(&locked).map(drop).map_err(|e| e.kind()),
                    // CAP_SYS_PTRACE would open another user's maps.
                    std::fs::read("/proc/1/maps")
                        .map(drop)
                        .map_err(|e| e.kind()),
                    status,
                )
            })
            .unwrap();
        let denied = std::io::ErrorKind::PermissionDenied;
        assert_eq!(seen.0, Err(denied), "CAP_DAC_OVERRIDE must be gone");
        assert_eq!(seen.1, Err(denied), "CAP_DAC_READ_SEARCH must be gone");
        assert_eq!(seen.2, Err(denied), "CAP_SYS_PTRACE must be gone");
        let status = seen.3.join("\n");
        assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
        // Uid: real effective saved fs — only the fs column changes.
        assert!(status.contains("Uid:\t0\t0\t0\t65534"), "{status}");
        assert!(status.contains("Gid:\t0\t0\t0\t65534"), "{status}");
        assert!(status.contains("Groups:\t65534"), "{status}");
        // Everything is back afterwards, and root can read again.
        assert_eq!(thread_status(gettid()), before);
        assert_eq!(std::fs::read(&secret).unwrap(), b"s");
    }

    #[test]
    fn other_threads_keep_their_credentials_during_a_switch() {
        require_root();
        let (_dir, secret, _locked) = fixture();
        let main_tid = gettid();
        let before = thread_status(main_tid);
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            nobody(&[65534])
                .run(|| {
                    entered_tx.send(gettid()).unwrap();
                    done_rx.recv().unwrap();
                })
                .unwrap();
        });
        let worker_tid = entered_rx.recv().unwrap();
        // While the worker is switched: this thread is still root, with
        // root's groups (glibc's setgroups would have changed them).
        assert_eq!(thread_status(main_tid), before);
        assert_eq!(std::fs::read(&secret).unwrap(), b"s");
        assert!(
            thread_status(worker_tid)
                .join("\n")
                .contains("Uid:\t0\t0\t0\t65534")
        );
        done_tx.send(()).unwrap();
        worker.join().unwrap();
    }

    #[test]
    fn supplementary_groups_are_the_users() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = dir.path().join("group-readable");
        std::fs::write(&f, "g").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        nix::unistd::chown(&f, None, Some(nix::unistd::Gid::from_raw(4242))).unwrap();
        let read = |c: Credentials| c.run(|| std::fs::read(&f).map_err(|e| e.kind())).unwrap();
        assert_eq!(read(nobody(&[65534, 4242])), Ok(b"g".to_vec()));
        assert_eq!(
            read(nobody(&[65534])),
            Err(std::io::ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn a_panic_restores_the_credentials() {
        require_root();
        let before = thread_status(gettid());
        let r = std::panic::catch_unwind(|| {
            nobody(&[]).run(|| panic!("deliberate")).unwrap();
        });
        assert!(r.is_err());
        assert_eq!(thread_status(gettid()), before);
    }

    #[test]
    fn without_setuid_and_setgid_capabilities_the_call_is_refused_not_run() {
        require_root();
        // A thread that gives up CAP_SETUID and CAP_SETGID for good is what
        // a toolsd not running as root is: it may not take another user's
        // credentials. The thread (and its credentials) ends with the test.
        let outcome = std::thread::spawn(|| {
            let mut caps = sys::capget().unwrap();
            // capability(7): CAP_SETGID is 6, CAP_SETUID is 7.
            let keep = !((1u32 << 6) | (1u32 << 7));
            caps[0].effective &= keep;
            caps[0].permitted &= keep;
            sys::capset(&caps).unwrap();
            let before = thread_status(gettid());
            let mut ran = false;
            let r = nobody(&[65534]).run(|| ran = true);
            (r, ran, before == thread_status(gettid()))
        })
        .join()
        .unwrap();
        let (r, ran, unchanged) = outcome;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("user nobody (uid 65534)"), "{e}");
        assert!(e.message().contains("did not run"), "{e}");
        assert!(!ran, "the closure ran without the user's credentials");
        assert!(
            unchanged,
            "a refused switch must leave the thread as it was"
        );
    }

    #[test]
    fn unknown_group_and_invalid_ids_never_keep_roots() {
        let c = Credentials::of(&Identity {
            uid: 4321,
            gid: u32::MAX,
            groups: vec![7, u32::MAX, 7, 3],
            name: None,
            home: None,
        });
        assert_eq!(c.gid, OVERFLOW_GID);
        assert_eq!(c.groups, [3, 7]);
        assert_eq!(c.who(), "uid 4321");
        if nix::unistd::geteuid().is_root() {
            // uid -1 cannot be taken: refused, not run as root.
            let bad = Credentials {
                uid: u32::MAX,
                ..nobody(&[])
            };
            let e = bad.run(|| ()).unwrap_err();
            assert_eq!(e.kind(), crate::ToolErrorKind::PermissionDenied, "{e}");
        }
    }
}

//! The real [`Os`]: spawning service processes and signalling their trees.
//!
//! Children are started with `std::process::Command`, whose child side is
//! async-signal-safe, plus one `pre_exec` hook that makes only raw system
//! calls: `setsid`, joining the service cgroup (writing `0` to a
//! `cgroup.procs` descriptor opened by the parent), resetting every signal
//! disposition and the signal mask, `setrlimit`, and dropping to the
//! service's user and groups. Everything that allocates (argv, environment,
//! user lookup) happens before the fork.
//!
//! Processes are reaped by the event loop on the same thread that spawns,
//! so `Command::spawn`'s own wait on a failed `exec` never races the
//! reaper.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Group, Uid, User};

use super::cgroup::Cgroups;
use super::logs::LogStore;
use crate::spec::ServiceSpec;
use crate::supervisor::{Os, Pid, Sig};

/// PATH given to services in system mode.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which supervisor this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 on the aiOS image.
    System,
    /// `initd --user`: unprivileged, inherits its environment.
    User,
}

/// The real operating system behind the supervisor.
pub struct RealOs {
    start: Instant,
    mode: Mode,
    notify_socket: PathBuf,
    cgroups: Option<Cgroups>,
    logs: Arc<LogStore>,
}

/// Uid, gid and groups to switch to.
struct Ids {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    home: Option<PathBuf>,
    name: Option<String>,
    shell: Option<PathBuf>,
}

impl RealOs {
    /// A spawner in `mode`, telling services to notify `notify_socket`,
    /// placing them in `cgroups` when available, logging into `logs`.
    pub fn new(
        mode: Mode,
        notify_socket: PathBuf,
        cgroups: Option<Cgroups>,
        logs: Arc<LogStore>,
    ) -> RealOs {
        RealOs {
            start: Instant::now(),
            mode,
            notify_socket,
            cgroups,
            logs,
        }
    }

    /// The cgroup subtree, if services get cgroups.
    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    /// The log store.
    pub fn logs(&self) -> &Arc<LogStore> {
        &self.logs
    }

    fn environment(&self, spec: &ServiceSpec, ids: Option<&Ids>) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = match self.mode {
            Mode::User => std::env::vars()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "NOTIFY_SOCKET"
                            | "WATCHDOG_USEC"
                            | "WATCHDOG_PID"
                            | "LISTEN_FDS"
                            | "LISTEN_PID"
                            | "LISTEN_FDNAMES"
                            | super::fault::ENV
                    )
                })
                .collect(),
            Mode::System => {
                let mut e = vec![("PATH".to_string(), SYSTEM_PATH.to_string())];
                let (home, name, shell) = match ids {
                    Some(i) => (i.home.clone(), i.name.clone(), i.shell.clone()),
                    None => (
                        Some(PathBuf::from("/root")),
                        Some("root".to_string()),
                        Some(PathBuf::from("/bin/sh")),
                    ),
                };
                if let Some(h) = home {
                    e.push(("HOME".into(), h.to_string_lossy().into_owned()));
                }
                if let Some(n) = name {
                    e.push(("USER".into(), n.clone()));
                    e.push(("LOGNAME".into(), n));
                }
                if let Some(s) = shell {
                    e.push(("SHELL".into(), s.to_string_lossy().into_owned()));
                }
                e
            }
        };
        env.retain(|(k, _)| !spec.unset_environment.contains(k));
        for (k, v) in &spec.environment {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        env.push((
            "NOTIFY_SOCKET".into(),
            self.notify_socket.to_string_lossy().into_owned(),
        ));
        if let Some(wd) = spec.watchdog {
            env.push(("WATCHDOG_USEC".into(), wd.as_micros().to_string()));
        }
        env
    }
}

fn lookup_user(spec: &ServiceSpec) -> Result<Option<Ids>, String> {
    if spec.user.is_none() && spec.group.is_none() && spec.supplementary_groups.is_empty() {
        return Ok(None);
    }
    let user = match &spec.user {
        Some(u) => {
            let found = match u.parse::<u32>() {
                Ok(n) => User::from_uid(Uid::from_raw(n))
                    .map_err(|e| format!("cannot look up uid {n}: {e}"))?,
                Err(_) => {
                    User::from_name(u).map_err(|e| format!("cannot look up user {u:?}: {e}"))?
                }
            };
            match (found, u.parse::<u32>()) {
                (Some(user), _) => Some(user),
                (None, Ok(_)) => None,
                (None, Err(_)) => {
                    return Err(format!(
                        "unknown user {u:?}; create it or fix `user` in {}",
                        spec.source.display()
                    ));
                }
            }
        }
        None => None,
    };
    let uid = match (&user, &spec.user) {
        (Some(u), _) => u.uid.as_raw(),
        (None, Some(n)) => n
            .parse::<u32>()
            .map_err(|_| format!("unknown user {n:?}"))?,
        (None, None) => nix::unistd::geteuid().as_raw(),
    };
    let resolve_group = |g: &str| -> Result<libc::gid_t, String> {
        if let Ok(n) = g.parse::<u32>() {
            return Ok(n);
        }
        Group::from_name(g)
            .map_err(|e| format!("cannot look up group {g:?}: {e}"))?
            .map(|grp| grp.gid.as_raw())
            .ok_or_else(|| {
                format!(
                    "unknown group {g:?}; create it or fix {}",
                    spec.source.display()
                )
            })
    };
    let gid = match (&spec.group, &user) {
        (Some(g), _) => resolve_group(g)?,
        (None, Some(u)) => u.gid.as_raw(),
        (None, None) => nix::unistd::getegid().as_raw(),
    };
    let mut groups: Vec<libc::gid_t> = Vec::new();
    if let Some(u) = &user
        && let Ok(name) = std::ffi::CString::new(u.name.clone())
        && let Ok(list) = nix::unistd::getgrouplist(&name, Gid::from_raw(gid))
    {
        groups.extend(list.into_iter().map(|g| g.as_raw()));
    }
    for g in &spec.supplementary_groups {
        groups.push(resolve_group(g)?);
    }
    groups.sort_unstable();
    groups.dedup();
    let me = nix::unistd::geteuid().as_raw();
    if me != 0
        && (uid != me
            || gid != nix::unistd::getegid().as_raw()
            || !spec.supplementary_groups.is_empty())
    {
        return Err(format!(
            "cannot run as uid {uid} gid {gid}: initd runs unprivileged as uid {me}; remove `user`/`group` from {} for user mode",
            spec.source.display()
        ));
    }
    Ok(Some(Ids {
        uid,
        gid,
        groups,
        home: user.as_ref().map(|u| u.dir.clone()),
        name: user.as_ref().map(|u| u.name.clone()),
        shell: user.as_ref().map(|u| u.shell.clone()),
    }))
}

/// Fields of `/proc/PID/stat` after the command name: (ppid, pgrp, session).
fn proc_stat(pid: u32) -> Option<(u32, u32, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(1);
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    let session = f.next()?.parse().ok()?;
    Some((ppid, pgrp, session))
}

fn to_signal(sig: Sig) -> Signal {
    match sig {
        Sig::Term => Signal::SIGTERM,
        Sig::Kill => Signal::SIGKILL,
    }
}

impl Os for RealOs {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wall_ms(&self) -> i64 {
        aios_proto::now_unix_ms()
    }

    fn spawn(&mut self, spec: &ServiceSpec) -> Result<Pid, String> {
        let ids = lookup_user(spec)?;
        let env = self.environment(spec, ids.as_ref());
        let cgroup_procs: Option<OwnedFd> = match &self.cgroups {
            Some(cg) => {
                let dir = cg.prepare(&spec.name, spec.limits.memory)?;
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))
                    .map_err(|e| {
                        format!("cannot open {}: {e}", dir.join("cgroup.procs").display())
                    })?;
                Some(OwnedFd::from(f))
            }
            None => {
                if spec.limits.memory.is_some() {
                    tracing::warn!(service = %spec.name, "limits.memory is not enforced: services get no cgroups here");
                }
                None
            }
        };
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| format!("cannot create a log pipe: {e}"))?;
        let stderr_end = write_end
            .try_clone()
            .map_err(|e| format!("cannot duplicate the log pipe: {e}"))?;

        let mut cmd = Command::new(&spec.command[0]);
        cmd.args(&spec.command[1..])
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::from(stderr_end));
        match (&spec.working_directory, self.mode) {
            (Some(dir), _) => {
                cmd.current_dir(dir);
            }
            (None, Mode::System) => {
                cmd.current_dir("/");
            }
            (None, Mode::User) => {}
        }

        // Everything the child needs, as plain values captured by copy.
        let cg_fd = cgroup_procs.as_ref().map(|f| f.as_raw_fd());
        let nofile = spec.limits.nofile;
        let nproc = spec.limits.nproc;
        let switch = ids.map(|i| (i.uid, i.gid, i.groups));
        // In user mode, services die with the supervisor: a killed
        // `initd --user` must not leave a daemon set that the next one
        // would collide with. PID 1 never dies.
        let parent = (self.mode == Mode::User).then(|| std::process::id() as libc::pid_t);
        // SAFETY: the hook runs in the forked child before exec and makes
        // only async-signal-safe system calls on memory prepared before
        // the fork (no allocation, no locks).
        unsafe {
            cmd.pre_exec(move || child_setup(cg_fd, nofile, nproc, switch.as_ref(), parent));
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {:?}: {e}", spec.command[0]))?;
        // Close our copies of the pipe's write end, or the reader never
        // sees end-of-file.
        drop(cmd);
        drop(cgroup_procs);
        let pid = child.id();
        // The event loop reaps by pid; the Child handle is not needed.
        drop(child);
        self.logs.append(
            &spec.name,
            &format!("--- initd: started pid {pid}: {}", spec.command.join(" ")),
        );
        self.logs.capture(&spec.name, read_end);
        Ok(pid)
    }

    fn signal(&mut self, service: &str, main_pid: Pid, sig: Sig) {
        // Each process gets the signal once: a second SIGTERM while a
        // handler runs means "hurry" to many programs.
        let signal = to_signal(sig);
        if let Some(cg) = &self.cgroups {
            cg.signal(service, signal);
            return;
        }
        if let Ok(p) = i32::try_from(main_pid) {
            // The service runs in its own session and process group; the
            // main process may have left it.
            let p = nix::unistd::Pid::from_raw(p);
            if nix::sys::signal::killpg(p, signal).is_err()
                || nix::unistd::getpgid(Some(p)) != Ok(p)
            {
                let _ = nix::sys::signal::kill(p, signal);
            }
        }
    }

    fn clean_up(&mut self, service: &str, main_pid: Pid) {
        if let Some(cg) = &self.cgroups {
            cg.signal(service, Signal::SIGKILL);
        } else if let Ok(p) = i32::try_from(main_pid) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
        }
    }

    fn in_tree(&self, service: &str, main_pid: Pid, pid: Pid) -> bool {
        if pid == main_pid {
            return true;
        }
        if let Some(cg) = &self.cgroups {
            return cg.contains(service, pid);
        }
        let mut cur = pid;
        for _ in 0..64 {
            let Some((ppid, pgrp, session)) = proc_stat(cur) else {
                return false;
            };
            if pgrp == main_pid || session == main_pid || ppid == main_pid {
                return true;
            }
            if ppid <= 1 {
                return false;
            }
            cur = ppid;
        }
        false
    }

    fn socket_ready(&mut self, path: &Path) -> bool {
        std::os::unix::net::UnixStream::connect(path).is_ok()
    }
}

/// The child side between fork and exec. Only raw system calls.
fn child_setup(
    cgroup_procs: Option<i32>,
    nofile: Option<u64>,
    nproc: Option<u64>,
    switch: Option<&(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    die_with: Option<libc::pid_t>,
) -> std::io::Result<()> {
    let fail = || Err(std::io::Error::last_os_error());
    // SAFETY: all calls below are async-signal-safe system calls on
    // values prepared before fork; pointers refer to live memory.
    unsafe {
        if libc::setsid() < 0 {
            return fail();
        }
        if let Some(parent) = die_with {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) < 0 {
                return fail();
            }
            // The parent may have died before the prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
        }
        if let Some(fd) = cgroup_procs
            && libc::write(fd, b"0".as_ptr().cast(), 1) < 0
        {
            return fail();
        }
        for sig in 1..65 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // Errors for reserved signal numbers are expected.
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) < 0 {
            return fail();
        }
        for (resource, value) in [(libc::RLIMIT_NOFILE, nofile), (libc::RLIMIT_NPROC, nproc)] {
            if let Some(v) = value {
                let lim = libc::rlimit {
                    rlim_cur: v as libc::rlim_t,
                    rlim_max: v as libc::rlim_t,
                };
                if libc::setrlimit(resource, &lim) < 0 {
                    return fail();
                }
            }
        }
        if let Some((uid, gid, groups)) = switch {
            if libc::geteuid() == 0 && libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
                return fail();
            }
            if libc::setgid(*gid) < 0 || libc::setuid(*uid) < 0 {
                return fail();
            }
        }
    }
    Ok(())
}

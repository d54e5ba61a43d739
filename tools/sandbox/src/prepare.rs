//! Everything the forked child needs, allocated before the fork: C strings
//! for argv, environment, exec candidates and mount targets, the uid/gid
//! map text, the seccomp programs, the Landlock ruleset fd and the pipes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::{SandboxError, SandboxErrorKind, SandboxSpec, landlock_rules, seccomp};

/// The child's side of the pipes (moved to 0, 1, 2 and the report fd).
#[derive(Debug)]
pub(crate) struct ChildFds {
    pub(crate) stdin: OwnedFd,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) report: OwnedFd,
    /// The read end of the kill pipe: a byte (or end of file) here tells
    /// the outer child to kill the namespace's init and wait for it.
    pub(crate) kill: OwnedFd,
}

/// The parent's side of the pipes.
#[derive(Debug)]
pub(crate) struct ParentFds {
    pub(crate) stdin: OwnedFd,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) report: OwnedFd,
    /// The write end of the kill pipe (see [`ChildFds::kill`]).
    pub(crate) kill: OwnedFd,
}

/// One run, ready to fork.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) argv: Vec<CString>,
    pub(crate) env: Vec<CString>,
    /// Paths to try for `execve`, in `PATH` order.
    pub(crate) candidates: Vec<CString>,
    pub(crate) cwd: CString,
    pub(crate) writable: Vec<CString>,
    /// Directories to cover with an empty read-only tmpfs.
    pub(crate) hidden: Vec<CString>,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) groups: Vec<libc::gid_t>,
    /// Whether the ids must change (they already are the process's own).
    pub(crate) change_ids: bool,
    pub(crate) uid_map: Vec<u8>,
    pub(crate) gid_map: Vec<u8>,
    pub(crate) network: bool,
    pub(crate) rlimits: [(libc::__rlimit_resource_t, u64); 6],
    pub(crate) seccomp: Option<seccomp::Filters>,
    pub(crate) landlock: Option<landlock_rules::Prepared>,
    pub(crate) child: ChildFds,
    /// The parent's ends, which the child closes (an inherited stdin
    /// writer would keep the command from ever seeing end of input).
    pub(crate) parent_raw: [RawFd; 5],
    /// The pid of the process that forks (the child dies with it).
    pub(crate) parent_pid: libc::pid_t,
    /// Stop right before `execve` (probing).
    pub(crate) probe_only: bool,
}

/// Why a feature could not even be prepared (the child then skips it).
#[derive(Debug, Default, Clone)]
pub(crate) struct PrepareNotes {
    pub(crate) seccomp: Option<String>,
    pub(crate) landlock: Option<String>,
}

fn cstring(what: &str, s: &[u8]) -> Result<CString, SandboxError> {
    CString::new(s)
        .map_err(|_| SandboxError::invalid(format!("sandbox: {what} contains a NUL byte")))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SandboxError::io("pipe", e))
}

/// Check the spec and build everything.
pub(crate) fn prepare(
    spec: &SandboxSpec,
    probe_only: bool,
) -> Result<(Prepared, ParentFds, PrepareNotes), SandboxError> {
    let Some(argv0) = spec.argv.first() else {
        return Err(SandboxError::invalid(
            "sandbox: argv is empty; give at least the command",
        ));
    };
    if argv0.is_empty() {
        return Err(SandboxError::invalid("sandbox: argv[0] is empty"));
    }
    if !spec.cwd.is_absolute() {
        return Err(SandboxError::invalid(format!(
            "sandbox: working directory {} is not absolute",
            spec.cwd.display()
        )));
    }
    for w in &spec.writable {
        if !w.is_absolute() {
            return Err(SandboxError::invalid(format!(
                "sandbox: writable path {} is not absolute",
                w.display()
            )));
        }
        if !w.exists() {
            return Err(SandboxError::invalid(format!(
                "sandbox: writable path {} does not exist; create it first",
                w.display()
            )));
        }
    }
    if spec.timeout.is_zero() {
        return Err(SandboxError::invalid(
            "sandbox: timeout must be more than zero",
        ));
    }
    let argv = spec
        .argv
        .iter()
        .enumerate()
        .map(|(i, a)| cstring(&format!("argv[{i}]"), a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let env = spec
        .env
        .iter()
        .map(|(k, v)| {
            if k.is_empty() || k.contains('=') {
                return Err(SandboxError::invalid(format!(
                    "sandbox: environment name `{k}` is empty or contains `=`"
                )));
            }
            cstring(
                &format!("environment variable {k}"),
                format!("{k}={v}").as_bytes(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let candidates = exec_candidates(argv0, spec)?;
    let cwd = cstring("working directory", spec.cwd.as_os_str().as_bytes())?;
    let writable = spec
        .writable
        .iter()
        .map(|w| cstring("writable path", w.as_os_str().as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let hidden = hidden_dirs(spec)
        .iter()
        .map(|h| cstring("hidden directory", h.as_os_str().as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;

    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    let mut groups: Vec<libc::gid_t> = spec.groups.clone();
    groups.sort_unstable();
    groups.dedup();
    let current_groups: Vec<u32> = nix::unistd::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    let same_groups = {
        let mut c = current_groups.clone();
        c.sort_unstable();
        c.dedup();
        c == groups
    };
    let change_ids = !(spec.uid == euid && spec.gid == egid && same_groups);
    if change_ids && euid != 0 {
        return Err(SandboxError::new(
            SandboxErrorKind::PermissionDenied,
            format!(
                "sandbox: running as uid {} gid {} needs root; this process is uid {euid}",
                spec.uid, spec.gid
            ),
        ));
    }

    let mut notes = PrepareNotes::default();
    let seccomp = match seccomp::build(spec.network) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.seccomp = Some(e);
            None
        }
    };
    let landlock = match landlock_rules::prepare(&spec.writable) {
        Ok(l) => Some(l),
        Err(e) => {
            notes.landlock = Some(e);
            None
        }
    };

    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let (kill_r, kill_w) = pipe()?;
    let parent = ParentFds {
        stdin: stdin_w,
        stdout: stdout_r,
        stderr: stderr_r,
        report: report_r,
        kill: kill_w,
    };
    let parent_raw = [
        parent.stdin.as_raw_fd(),
        parent.stdout.as_raw_fd(),
        parent.stderr.as_raw_fd(),
        parent.report.as_raw_fd(),
        parent.kill.as_raw_fd(),
    ];
    let limit = |v: u64| if v == 0 { libc::RLIM_INFINITY } else { v };
    let prepared = Prepared {
        argv,
        env,
        candidates,
        cwd,
        writable,
        hidden,
        uid: spec.uid,
        gid: spec.gid,
        groups,
        change_ids,
        uid_map: format!("{0} {0} 1\n", spec.uid).into_bytes(),
        gid_map: format!("{0} {0} 1\n", spec.gid).into_bytes(),
        network: spec.network,
        rlimits: [
            (libc::RLIMIT_NPROC, limit(spec.max_processes)),
            (libc::RLIMIT_AS, limit(spec.max_memory_bytes)),
            (libc::RLIMIT_CPU, limit(spec.max_cpu_secs)),
            (libc::RLIMIT_FSIZE, crate::MAX_FILE_BYTES),
            (libc::RLIMIT_NOFILE, crate::MAX_OPEN_FILES),
            (libc::RLIMIT_CORE, 0),
        ],
        seccomp,
        landlock,
        child: ChildFds {
            stdin: stdin_r,
            stdout: stdout_w,
            stderr: stderr_w,
            report: report_w,
            kill: kill_r,
        },
        parent_raw,
        parent_pid: nix::unistd::getpid().as_raw(),
        probe_only,
    };
    Ok((prepared, parent, notes))
}

/// Where `argv[0]` may be: itself when it has a `/`, else each directory
/// of the command's `PATH` joined with it.
fn exec_candidates(argv0: &str, spec: &SandboxSpec) -> Result<Vec<CString>, SandboxError> {
    if argv0.contains('/') {
        let p = if Path::new(argv0).is_absolute() {
            PathBuf::from(argv0)
        } else {
            spec.cwd.join(argv0)
        };
        return Ok(vec![cstring("argv[0]", p.as_os_str().as_bytes())?]);
    }
    let path = spec
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| {
            cstring(
                "PATH entry",
                Path::new(d).join(argv0).as_os_str().as_bytes(),
            )
        })
        .collect()
}

/// The directories of `spec.hidden` that exist, in order: the indexes of
/// the child's reports refer to this list.
pub(crate) fn hidden_dirs(spec: &SandboxSpec) -> Vec<std::path::PathBuf> {
    spec.hidden
        .iter()
        .filter(|h| h.is_absolute() && h.is_dir())
        .cloned()
        .collect()
}

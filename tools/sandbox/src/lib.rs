//! # aios-sandbox: run one command confined, and say exactly how
//!
//! [`run`] executes a [`SandboxSpec`] (argv, environment, working
//! directory, the user to run as, writable paths, network, limits) inside:
//!
//! 1. the target identity (`setgroups`/`setresgid`/`setresuid` while still
//!    privileged, so nothing after this point runs as root unless root was
//!    asked for);
//! 2. a new user namespace mapping that identity to itself;
//! 3. new mount, PID and (unless `network`) network namespaces;
//! 4. a read-only root (`mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY)` on
//!    the private copy of the mount tree), a fresh `/proc` for the new PID
//!    namespace, a private tmpfs on `/tmp`, and each writable path
//!    bind-mounted read-write;
//! 5. Landlock (read and execute everywhere, write only under the writable
//!    paths, `/tmp` and `/dev/null|zero|urandom`), reporting the ABI the
//!    kernel enforced;
//! 6. rlimits (`NPROC`, `AS`, `CPU`, `FSIZE`, `NOFILE`, `CORE=0`);
//! 7. seccomp (built with `seccompiler` before the fork, applied last):
//!    `EPERM` for ptrace, io_uring, bpf, keyrings, perf, modules, kexec,
//!    mounts, namespaces and, unless `network`, every socket but `AF_UNIX`;
//! 8. `PR_SET_NO_NEW_PRIVS`, no capabilities, `execve`.
//!
//! A wall-clock timeout and cancellation kill the whole tree (the PID
//! namespace's init, the process group, and `PR_SET_PDEATHSIG`), and
//! stdout+stderr are captured up to a cap, read and discarded past it so
//! the command never blocks on a full pipe.
//!
//! **Visible degradation.** Each step reports back to the parent through a
//! pipe. A step the host forbids (no user namespaces in a container, no
//! Landlock in the kernel) is skipped and named in
//! [`Enforcement::missing`]; steps that protect identity (dropping to the
//! requested uid), the working directory and the requested writable paths
//! are fatal instead. [`probe`] runs the same setup once without a command
//! and caches what this host enforces (for `aios doctor`).
//!
//! Everything the forked child needs (C strings, the BPF program, the
//! Landlock ruleset fd, uid-map text) is built before `fork`; the child only
//! makes system calls ([`child`]).
//!
//! This crate knows nothing about tools, gRPC or policy: it must never
//! depend on `aios-catalog`, `aios-proto`, `tonic` or `rusqlite`.
#![deny(missing_docs)]

mod child;
mod error;
mod landlock_rules;
mod prepare;
mod report;
mod run;
mod seccomp;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use error::{SandboxError, SandboxErrorKind};
pub use run::{probe, run};

/// One command to run in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The command and its arguments. No shell: `argv[0]` is executed
    /// directly, looked up on the `PATH` of [`SandboxSpec::env`] when it
    /// has no `/`.
    pub argv: Vec<String>,
    /// The whole environment of the command ([`SandboxSpec::minimal_env`]
    /// is a good start).
    pub env: Vec<(String, String)>,
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// User id the command runs as (outside the user namespace).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The only writable places besides a private `/tmp` (absolute,
    /// existing). The kernel's file permissions still apply.
    pub writable: Vec<PathBuf>,
    /// Whether the command may use the network.
    pub network: bool,
    /// Directories covered by an empty read-only tmpfs inside the sandbox
    /// (absolute; missing ones are skipped), so the command cannot reach
    /// the sockets in them: the aiOS runtime directory (toolsd's socket)
    /// and the user's `$XDG_RUNTIME_DIR` (the session bus). One that
    /// cannot be covered is a line in `Enforcement.missing`.
    pub hidden: Vec<PathBuf>,
    /// Wall-clock limit; the whole process tree is killed when it passes.
    pub timeout: Duration,
    /// Most bytes of stdout and stderr together kept; the rest is read
    /// and discarded, and the outcome says it was cut.
    pub max_output_bytes: usize,
    /// `RLIMIT_NPROC` (0: leave as inherited).
    pub max_processes: u64,
    /// `RLIMIT_AS` in bytes (0: leave as inherited).
    pub max_memory_bytes: u64,
    /// `RLIMIT_CPU` in seconds (0: leave as inherited).
    pub max_cpu_secs: u64,
    /// Bytes fed to the command's stdin (`None`: stdin is empty).
    pub stdin: Option<Vec<u8>>,
}

/// Largest file the command may write (`RLIMIT_FSIZE`).
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Most open files (`RLIMIT_NOFILE`).
pub const MAX_OPEN_FILES: u64 = 1024;
/// Size of the private `/tmp`.
pub const TMP_SIZE: &str = "size=256m";

impl SandboxSpec {
    /// A spec for `argv` as `uid`/`gid` with the defaults: the minimal
    /// environment with `HOME=/tmp`, working directory `/tmp`, nothing
    /// writable, no network, 30 s, 1 MiB of output, 256 processes, 2 GiB
    /// of address space, 60 s of CPU.
    pub fn new(argv: Vec<String>, uid: u32, gid: u32) -> SandboxSpec {
        SandboxSpec {
            argv,
            env: SandboxSpec::minimal_env("/tmp"),
            cwd: PathBuf::from("/tmp"),
            uid,
            gid,
            groups: Vec::new(),
            writable: Vec::new(),
            network: false,
            hidden: Vec::new(),
            timeout: Duration::from_secs(30),
            max_output_bytes: 1024 * 1024,
            max_processes: 256,
            max_memory_bytes: 2 << 30,
            max_cpu_secs: 60,
            stdin: None,
        }
    }

    /// `PATH`, `LANG=C.UTF-8`, `HOME` and `TERM=dumb`.
    pub fn minimal_env(home: &str) -> Vec<(String, String)> {
        vec![
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("LANG".into(), "C.UTF-8".into()),
            ("HOME".into(), home.into()),
            ("TERM".into(), "dumb".into()),
        ]
    }
}

/// What confinement was actually in force (for one run, or what
/// [`probe`] found this host can enforce).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    /// A new user namespace.
    pub user_ns: bool,
    /// A new mount namespace.
    pub mount_ns: bool,
    /// A new PID namespace (the tree dies with its init).
    pub pid_ns: bool,
    /// A new network namespace (no interfaces but a down loopback).
    pub net_ns: bool,
    /// The root is read-only apart from the writable paths and `/tmp`.
    pub readonly_root: bool,
    /// The Landlock ABI the kernel enforced, if any.
    pub landlock_abi: Option<u32>,
    /// The seccomp filter is installed.
    pub seccomp: bool,
    /// All rlimits are set.
    pub rlimits: bool,
    /// What is NOT enforced and why, one human line each.
    pub missing: Vec<String>,
}

impl Enforcement {
    /// Whether writes outside the writable paths are stopped by the kernel
    /// (a read-only root or Landlock).
    pub fn stops_writes(&self) -> bool {
        self.readonly_root || self.landlock_abi.is_some()
    }
}

/// How a sandboxed command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxOutcome {
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// Standard output (lossy UTF-8), capped.
    pub stdout: String,
    /// Standard error (lossy UTF-8), capped.
    pub stderr: String,
    /// Whether output past the cap was discarded.
    pub output_truncated: bool,
    /// Whether the wall-clock limit killed it.
    pub timed_out: bool,
    /// Wall-clock time from start to the end of the tree.
    pub duration: Duration,
    /// What confinement was in force.
    pub enforcement: Enforcement,
}

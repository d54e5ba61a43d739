//! The boundary between the pure supervisor and the machine: everything the
//! state machine needs from the OS (time, spawning, signalling, process-tree
//! membership, socket probes). The real implementation is
//! [`crate::sys::RealOs`]; tests use a fake clock and fake processes.

use std::path::Path;
use std::time::Duration;

use crate::spec::ServiceSpec;

/// A process id.
pub type Pid = u32;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// The shell's encoding: the code, or 128 + signal.
    pub fn as_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Signals the supervisor sends to a service's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// Please stop.
    Term,
    /// Stop now.
    Kill,
}

/// What the supervisor needs from the operating system.
pub trait Os {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Wall-clock time in Unix milliseconds (for display only).
    fn wall_ms(&self) -> i64;
    /// Start the service's main process. An error is a failed start.
    fn spawn(&mut self, spec: &ServiceSpec) -> Result<Pid, String>;
    /// Signal every process of the service (its cgroup or process group).
    fn signal(&mut self, service: &str, main_pid: Pid, sig: Sig);
    /// The main process has exited: remove whatever is left of its tree.
    fn clean_up(&mut self, service: &str, main_pid: Pid);
    /// Whether `pid` belongs to the process tree of the service whose main
    /// process is `main_pid` (used to trust `sd_notify` messages).
    fn in_tree(&self, service: &str, main_pid: Pid, pid: Pid) -> bool;
    /// Whether a Unix stream socket at `path` accepts connections.
    fn socket_ready(&mut self, path: &Path) -> bool;
}

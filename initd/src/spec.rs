//! The validated description of one service: what the supervisor and the
//! spawner work from. Built only by [`crate::manifest`], so every value here
//! has already been checked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How a service says it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `READY=1` over `$NOTIFY_SOCKET` (systemd `Type=notify`).
    Notify,
    /// Ready as soon as it is spawned.
    None,
    /// Ready once a Unix stream socket at this path accepts connections.
    Socket(PathBuf),
    /// A oneshot: ready when the main process exits with status 0, and
    /// then done (`exited`); a non-zero exit or a signal first is a failed
    /// start. Never combined with [`RestartPolicy::Always`].
    Exit,
}

/// When an exited service is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never.
    No,
    /// After a non-zero exit, a signal, or a failed start.
    OnFailure,
    /// After any exit.
    Always,
}

/// Exponential restart backoff: `initial`, doubled per consecutive failure,
/// capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

/// More than `burst` starts within `interval` puts the service in `failed`.
/// `interval` is also how long a run must last to reset the backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimit {
    /// Starts allowed within the interval; 0 means no limit (the service
    /// is retried forever, still with backoff).
    pub burst: u32,
    /// The sliding window.
    pub interval: Duration,
}

impl StartLimit {
    /// Whether the limit can put the service in `failed` at all.
    pub fn limited(&self) -> bool {
        self.burst > 0
    }
}

/// Resource limits applied to the service's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// `RLIMIT_NOFILE` (soft and hard).
    pub nofile: Option<u64>,
    /// `RLIMIT_NPROC` (soft and hard).
    pub nproc: Option<u64>,
    /// cgroup `memory.max` in bytes, when the memory controller is available.
    pub memory: Option<u64>,
}

/// One service, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Unique name (also the manifest's file stem).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// argv; `command[0]` is a path or a name looked up in `PATH`.
    pub command: Vec<String>,
    /// Run as this user (name or uid); `None` keeps the supervisor's.
    pub user: Option<String>,
    /// Run with this primary group (name or gid); default: the user's.
    pub group: Option<String>,
    /// Extra groups (names or gids).
    pub supplementary_groups: Vec<String>,
    /// Extra environment, over the base environment.
    pub environment: BTreeMap<String, String>,
    /// Variables removed from the inherited environment (in `--user` mode
    /// the supervisor passes its own environment on; secrets meant for one
    /// service are kept from the others).
    pub unset_environment: Vec<String>,
    /// Working directory; default `/` (system) or the supervisor's (user).
    pub working_directory: Option<PathBuf>,
    /// Services that must be ready first, and are started with this one.
    pub requires: Vec<String>,
    /// Services that, when also being started, must be ready first.
    pub after: Vec<String>,
    /// How readiness is signalled.
    pub readiness: Readiness,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Restart backoff.
    pub backoff: Backoff,
    /// Start limit.
    pub start_limit: StartLimit,
    /// Resource limits.
    pub limits: Limits,
    /// Longest wait for readiness before the start counts as failed.
    pub start_timeout: Duration,
    /// Grace period between SIGTERM and SIGKILL on stop.
    pub stop_timeout: Duration,
    /// When set, a running service must send `WATCHDOG=1` at least this often.
    pub watchdog: Option<Duration>,
    /// Started at boot (and when the supervisor starts in `--user` mode).
    pub enabled: bool,
    /// The manifest file it came from.
    pub source: PathBuf,
}

impl ServiceSpec {
    /// Every service this one orders itself after (`requires` and `after`).
    pub fn ordering_deps(&self) -> impl Iterator<Item = &str> {
        self.requires
            .iter()
            .chain(self.after.iter())
            .map(String::as_str)
    }

    /// A minimal spec for tests and tools: defaults for everything but the
    /// name and command.
    pub fn new(name: &str, command: &[&str]) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            description: String::new(),
            command: command.iter().map(|s| s.to_string()).collect(),
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            environment: BTreeMap::new(),
            unset_environment: Vec::new(),
            working_directory: None,
            requires: Vec::new(),
            after: Vec::new(),
            readiness: Readiness::None,
            restart: RestartPolicy::OnFailure,
            backoff: DEFAULT_BACKOFF,
            start_limit: DEFAULT_START_LIMIT,
            limits: Limits::default(),
            start_timeout: DEFAULT_START_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            watchdog: None,
            enabled: true,
            source: PathBuf::from(format!("{name}.toml")),
        }
    }
}

/// Default backoff: 100 ms doubling to 30 s.
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(30),
};
/// Default start limit: 5 starts within 10 s (systemd's default).
pub const DEFAULT_START_LIMIT: StartLimit = StartLimit {
    burst: 5,
    interval: Duration::from_secs(10),
};
/// Default readiness timeout.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);
/// Default stop grace period.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

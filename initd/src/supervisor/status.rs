//! The supervisor's public vocabulary: phases, snapshots, control goals
//! and errors, and the pure helpers built on them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::os::{ExitStatus, Pid};
use crate::manifest::start_order;
use crate::spec::ServiceSpec;

/// The externally visible phase of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not running and not wanted.
    Stopped,
    /// Wanted; waiting for its dependencies.
    Waiting,
    /// Spawned; waiting for readiness.
    Starting,
    /// Ready.
    Running,
    /// Asked to stop; waiting for it to exit.
    Stopping,
    /// Waiting out the restart backoff.
    BackingOff,
    /// Ran to completion (exit code 0) and is not restarted.
    Exited,
    /// Failed and is not restarted (policy, start limit, or a dependency).
    Failed,
}

impl Phase {
    /// The name the control API uses: `stopped`, `starting`, `running`,
    /// `stopping`, `failed` or `exited` (waiting and backing off are
    /// `starting`).
    pub fn api_name(self) -> &'static str {
        match self {
            Phase::Stopped => "stopped",
            Phase::Waiting | Phase::Starting | Phase::BackingOff => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Exited => "exited",
            Phase::Failed => "failed",
        }
    }
}

/// A snapshot of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Phase.
    pub phase: Phase,
    /// Main process, while there is one.
    pub pid: Option<Pid>,
    /// Started at boot.
    pub enabled: bool,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// Spawns so far (every start attempt).
    pub runs: u64,
    /// Last `STATUS=` text, or why it failed or is waiting.
    pub status_text: String,
    /// How the last run ended.
    pub last_exit: Option<ExitStatus>,
    /// When the phase was entered, Unix milliseconds.
    pub since_unix_ms: i64,
}

/// What a control request waits for before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Up: running (or settled as exited/failed), after more than `runs_before` spawns.
    Up {
        /// `runs` when the request arrived.
        runs_before: u64,
        /// Require a new run (restart) rather than any.
        fresh: bool,
    },
    /// Down: stopped, exited or failed.
    Down,
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No such service.
    #[error("no service named {name:?}; known services: {known}")]
    UnknownService {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// Nothing starts once shutdown has begun.
    #[error("the supervisor is shutting down; nothing can be started")]
    ShuttingDown,
}

/// What [`Supervisor::list`](super::Supervisor::list) shows for `specs` before anything ran: every
/// service stopped, in start order. Lets a control API answer before the
/// supervisor exists.
pub fn initial_statuses(specs: &[ServiceSpec], now_ms: i64) -> Vec<ServiceStatus> {
    let by_name: BTreeMap<&str, &ServiceSpec> =
        specs.iter().map(|s| (s.name.as_str(), s)).collect();
    start_order(specs)
        .iter()
        .filter_map(|n| by_name.get(n.as_str()))
        .map(|s| ServiceStatus {
            name: s.name.clone(),
            phase: Phase::Stopped,
            pid: None,
            enabled: s.enabled,
            restarts: 0,
            runs: 0,
            status_text: String::new(),
            last_exit: None,
            since_unix_ms: now_ms,
        })
        .collect()
}

/// `initial * 2^(n-1)`, capped at `max`.
pub fn backoff_delay(initial: Duration, max: Duration, n: u32) -> Duration {
    let factor = 1u32
        .checked_shl(n.saturating_sub(1).min(31))
        .unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

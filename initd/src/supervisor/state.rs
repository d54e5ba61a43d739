//! The private per-service state the supervisor keeps.

use std::collections::VecDeque;
use std::time::Duration;

use super::os::{ExitStatus, Pid};
use super::status::Phase;
use crate::spec::ServiceSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterStop {
    /// Stay stopped.
    Rest,
    /// Start again at once (a restart request).
    Restart,
    /// The run failed for this reason (readiness timeout, watchdog).
    Failure(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    Inactive,
    Waiting,
    Starting {
        pid: Pid,
        deadline: Duration,
    },
    Running {
        pid: Pid,
    },
    Stopping {
        pid: Pid,
        kill_at: Option<Duration>,
        next: AfterStop,
    },
    BackingOff {
        until: Duration,
    },
    Exited,
    Failed,
}

impl State {
    pub(super) fn pid(&self) -> Option<Pid> {
        match self {
            State::Starting { pid, .. } | State::Running { pid } | State::Stopping { pid, .. } => {
                Some(*pid)
            }
            _ => None,
        }
    }

    pub(super) fn active(&self) -> bool {
        self.pid().is_some()
    }
}

#[derive(Debug)]
pub(super) struct Svc {
    pub(super) spec: ServiceSpec,
    pub(super) enabled: bool,
    pub(super) want: bool,
    pub(super) removed: bool,
    pub(super) state: State,
    pub(super) since_ms: i64,
    pub(super) restarts: u32,
    pub(super) runs: u64,
    pub(super) consecutive_failures: u32,
    pub(super) starts: VecDeque<Duration>,
    pub(super) status_text: String,
    pub(super) last_exit: Option<ExitStatus>,
    pub(super) run_started: Duration,
    pub(super) last_watchdog: Duration,
    /// The next launch is an automatic restart (counted when it happens).
    pub(super) restart_pending: bool,
}

impl Svc {
    pub(super) fn new(spec: ServiceSpec) -> Svc {
        Svc {
            enabled: spec.enabled,
            spec,
            want: false,
            removed: false,
            state: State::Inactive,
            since_ms: 0,
            restarts: 0,
            runs: 0,
            consecutive_failures: 0,
            starts: VecDeque::new(),
            status_text: String::new(),
            last_exit: None,
            run_started: Duration::ZERO,
            last_watchdog: Duration::ZERO,
            restart_pending: false,
        }
    }

    pub(super) fn phase(&self) -> Phase {
        match self.state {
            State::Inactive => Phase::Stopped,
            State::Waiting => Phase::Waiting,
            State::Starting { .. } => Phase::Starting,
            State::Running { .. } => Phase::Running,
            State::Stopping { .. } => Phase::Stopping,
            State::BackingOff { .. } => Phase::BackingOff,
            State::Exited => Phase::Exited,
            State::Failed => Phase::Failed,
        }
    }

    /// Ready, as a `requires` dependency sees it.
    pub(super) fn satisfies(&self) -> bool {
        matches!(self.state, State::Running { .. }) || (self.state == State::Exited)
    }
}

pub(super) enum Deps {
    Ready,
    Blocked,
    Failed(String),
}

//! The supervisor: a pure state machine per service, dependency ordering,
//! readiness gating, restart with exponential backoff, start limits, and
//! ordered shutdown. It owns no file descriptor and never sleeps; the OS is
//! behind the [`Os`] trait and time comes from [`Os::now`], so every rule
//! here is unit-tested with a fake clock and fake processes.
//!
//! The driver calls one method per event ([`Supervisor::on_exit`],
//! [`Supervisor::on_notify`], the control verbs) and [`Supervisor::tick`]
//! when [`Supervisor::next_deadline`] passes. Each call runs the machine to
//! a fixpoint before returning.
//!
//! Rules, in short:
//! - A wanted service starts when every `requires` dependency is ready
//!   (running, or exited successfully) and no `after` dependency that is
//!   itself coming up is still on its way. A failed `requires` dependency
//!   fails its dependents.
//! - A `readiness = "exit"` service (a oneshot) is ready when its main
//!   process exits 0, and is then `exited` for good, whatever its restart
//!   policy; exiting otherwise first is a failed start like any other.
//! - Starting a service wants its `requires` too; stopping one stops the
//!   services that require it, and a service stops only after every active
//!   service ordered after it has stopped (reverse dependency order).
//! - A run that ends is restarted per policy after `initial * 2^(n-1)`
//!   (capped at `max`) for the n-th consecutive failure; a run that lasted
//!   a whole start-limit interval resets the count. More than `burst`
//!   starts within `interval` puts the service in `failed` (`burst = 0`:
//!   never).

mod os;
mod state;
mod status;
#[cfg(test)]
mod tests;
mod transitions;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub use os::{ExitStatus, Os, Pid, Sig};
pub use status::{ControlError, Goal, Phase, ServiceStatus, backoff_delay, initial_statuses};

use state::{AfterStop, State, Svc};

use crate::manifest::start_order;
use crate::manifest::units::format_duration;
use crate::spec::{Readiness, ServiceSpec};

/// How often a `readiness = { socket = ... }` service is probed.
pub const SOCKET_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The time `d` after `now` on the supervisor's clock. Durations come from
/// manifests; one that would overflow the clock is a deadline that is never
/// reached, not a panic inside PID 1.
pub fn after(now: Duration, d: Duration) -> Duration {
    now.checked_add(d).unwrap_or(Duration::MAX)
}

/// The supervisor over an [`Os`].
pub struct Supervisor<O: Os> {
    os: O,
    svcs: BTreeMap<String, Svc>,
    order: Vec<String>,
    shutting_down: bool,
}

impl<O: Os> Supervisor<O> {
    /// A supervisor for `specs` (already validated as a set); nothing runs
    /// until [`Supervisor::boot`] or a start.
    pub fn new(os: O, specs: Vec<ServiceSpec>) -> Self {
        let order = start_order(&specs);
        let svcs = specs
            .into_iter()
            .map(|s| (s.name.clone(), Svc::new(s)))
            .collect();
        let mut sup = Supervisor {
            os,
            svcs,
            order,
            shutting_down: false,
        };
        let now_ms = sup.os.wall_ms();
        for s in sup.svcs.values_mut() {
            s.since_ms = now_ms;
        }
        sup
    }

    /// The OS boundary (tests inspect their fake through this).
    pub fn os(&self) -> &O {
        &self.os
    }

    /// Mutable access to the OS boundary.
    pub fn os_mut(&mut self) -> &mut O {
        &mut self.os
    }

    /// Start every enabled service (and what they require).
    pub fn boot(&mut self) {
        let enabled: Vec<String> = self
            .order
            .iter()
            .filter(|n| self.svcs.get(*n).is_some_and(|s| s.enabled))
            .cloned()
            .collect();
        for n in enabled {
            self.want_up(&n);
        }
        self.step();
    }

    /// Start a service (and what it requires). A failed service is reset.
    pub fn start(&mut self, name: &str) -> Result<(), ControlError> {
        self.check(name)?;
        if self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        if let Some(s) = self.svcs.get_mut(name) {
            if matches!(
                s.state,
                State::Exited | State::Failed | State::BackingOff { .. }
            ) {
                s.state = State::Inactive;
            }
            s.starts.clear();
            s.consecutive_failures = 0;
            s.restart_pending = false;
        }
        self.want_up(name);
        self.step();
        Ok(())
    }

    /// Stop a service and everything that requires it.
    pub fn stop(&mut self, name: &str) -> Result<(), ControlError> {
        self.check(name)?;
        self.want_down(name);
        if let Some(s) = self.svcs.get_mut(name)
            && (s.state == State::Failed || s.state == State::Exited)
        {
            s.state = State::Inactive;
            s.since_ms = self.os.wall_ms();
        }
        self.step();
        Ok(())
    }

    /// Stop then start one service (its dependents keep running).
    pub fn restart(&mut self, name: &str) -> Result<(), ControlError> {
        self.check(name)?;
        if self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        let now = self.os.now();
        let wall = self.os.wall_ms();
        let Some(s) = self.svcs.get_mut(name) else {
            return Ok(());
        };
        match s.state.clone() {
            State::Starting { pid, .. } | State::Running { pid } => {
                self.os.signal(name, pid, Sig::Term);
                s.want = true;
                s.state = State::Stopping {
                    pid,
                    kill_at: Some(after(now, s.spec.stop_timeout)),
                    next: AfterStop::Restart,
                };
                s.since_ms = wall;
                self.want_up(name);
                self.step();
                Ok(())
            }
            State::Stopping { pid, kill_at, .. } => {
                s.state = State::Stopping {
                    pid,
                    kill_at,
                    next: AfterStop::Restart,
                };
                self.want_up(name);
                self.step();
                Ok(())
            }
            _ => self.start(name),
        }
    }

    /// Mark a service as started at boot or not (running state unchanged).
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), ControlError> {
        self.check(name)?;
        if let Some(s) = self.svcs.get_mut(name) {
            s.enabled = enabled;
        }
        Ok(())
    }

    /// Begin the ordered shutdown: everything stops, dependents first.
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        for s in self.svcs.values_mut() {
            s.want = false;
        }
        self.step();
    }

    /// Whether shutdown has begun.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Shutdown has begun and no service process is left.
    pub fn halted(&self) -> bool {
        self.shutting_down && self.svcs.values().all(|s| !s.state.active())
    }

    /// Replace the service set (manifests reloaded). New enabled services
    /// start; removed ones stop and then disappear; changed ones take
    /// effect at their next start.
    pub fn reload(&mut self, specs: Vec<ServiceSpec>) {
        let names: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
        let mut added = Vec::new();
        for spec in specs {
            match self.svcs.get_mut(&spec.name) {
                Some(s) => {
                    s.enabled = spec.enabled;
                    s.removed = false;
                    s.spec = spec;
                }
                None => {
                    added.push(spec.name.clone());
                    let mut s = Svc::new(spec);
                    s.since_ms = self.os.wall_ms();
                    self.svcs.insert(s.spec.name.clone(), s);
                }
            }
        }
        for (name, s) in self.svcs.iter_mut() {
            if !names.contains(name) {
                s.removed = true;
                s.want = false;
            }
        }
        self.reorder();
        if !self.shutting_down {
            for n in added {
                if self.svcs.get(&n).is_some_and(|s| s.enabled) {
                    self.want_up(&n);
                }
            }
        }
        self.step();
    }

    /// One service's snapshot.
    pub fn status(&self, name: &str) -> Option<ServiceStatus> {
        self.svcs.get(name).map(|s| ServiceStatus {
            name: s.spec.name.clone(),
            phase: s.phase(),
            pid: s.state.pid(),
            enabled: s.enabled,
            restarts: s.restarts,
            runs: s.runs,
            status_text: s.status_text.clone(),
            last_exit: s.last_exit,
            since_unix_ms: s.since_ms,
        })
    }

    /// Every service, in start order.
    pub fn list(&self) -> Vec<ServiceStatus> {
        self.order.iter().filter_map(|n| self.status(n)).collect()
    }

    /// The spec of a service.
    pub fn spec(&self, name: &str) -> Option<&ServiceSpec> {
        self.svcs.get(name).map(|s| &s.spec)
    }

    /// Whether a control request's goal has been reached (or cannot be).
    pub fn reached(&self, name: &str, goal: Goal) -> bool {
        let Some(s) = self.svcs.get(name) else {
            return true;
        };
        let settled_down = matches!(s.state, State::Inactive | State::Exited | State::Failed);
        match goal {
            Goal::Down => settled_down,
            Goal::Up { runs_before, fresh } => {
                if s.state == State::Failed || (s.state == State::Inactive && !s.want) {
                    return true;
                }
                let up = matches!(s.state, State::Running { .. } | State::Exited);
                up && (!fresh || s.runs > runs_before)
            }
        }
    }

    /// A child process exited. Returns whether it was a service's main
    /// process (other children are orphans reaped by PID 1).
    pub fn on_exit(&mut self, pid: Pid, status: ExitStatus) -> bool {
        let Some(name) = self
            .svcs
            .iter()
            .find(|(_, s)| s.state.pid() == Some(pid))
            .map(|(n, _)| n.clone())
        else {
            return false;
        };
        self.os.clean_up(&name, pid);
        let now = self.os.now();
        let wall = self.os.wall_ms();
        let Some(s) = self.svcs.get_mut(&name) else {
            return false;
        };
        s.last_exit = Some(status);
        match s.state.clone() {
            State::Stopping { next, .. } => match next {
                AfterStop::Rest | AfterStop::Restart => {
                    s.state = State::Inactive;
                    s.since_ms = wall;
                }
                AfterStop::Failure(reason) => {
                    s.status_text = reason;
                    self.after_run(&name, true, now);
                }
            },
            State::Starting { .. } if s.spec.readiness == Readiness::Exit && status.success() => {
                // A oneshot's success is its readiness, and it is done:
                // never restarted, whatever the policy says.
                tracing::info!(service = %name, "ready");
                s.consecutive_failures = 0;
                s.restart_pending = false;
                s.want = false;
                s.state = State::Exited;
                s.since_ms = wall;
            }
            State::Starting { .. } => {
                tracing::warn!(service = %name, %status, "exited before it was ready");
                s.status_text = format!("exited before it was ready ({status})");
                self.after_run(&name, true, now);
            }
            _ => {
                let failed = !status.success();
                if failed {
                    tracing::warn!(service = %name, %status, "exited");
                    s.status_text = format!("exited with {status}");
                } else {
                    tracing::info!(service = %name, "exited");
                }
                self.after_run(&name, failed, now);
            }
        }
        self.step();
        true
    }

    /// A datagram arrived on the notify socket from `pid`. Returns whether
    /// it was accepted (from a service's process tree).
    pub fn on_notify(&mut self, pid: Pid, text: &str) -> bool {
        let owner = self
            .svcs
            .iter()
            .find(|(_, s)| s.state.pid() == Some(pid))
            .or_else(|| {
                self.svcs.iter().find(|(n, s)| {
                    s.state
                        .pid()
                        .is_some_and(|main| self.os.in_tree(n, main, pid))
                })
            })
            .map(|(n, _)| n.clone());
        let Some(name) = owner else {
            tracing::debug!(pid, "notify message from a process of no service; ignored");
            return false;
        };
        let now = self.os.now();
        let wall = self.os.wall_ms();
        let Some(s) = self.svcs.get_mut(&name) else {
            return false;
        };
        for line in text.lines() {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            match key {
                "READY" if value == "1" => {
                    if s.spec.readiness == Readiness::Exit {
                        tracing::debug!(service = %name, "READY=1 ignored: a oneshot is ready when it exits 0");
                    } else if let State::Starting { pid, .. } = s.state {
                        tracing::info!(service = %name, "ready");
                        s.state = State::Running { pid };
                        s.since_ms = wall;
                        s.last_watchdog = now;
                    }
                }
                "STATUS" => s.status_text = value.to_string(),
                "WATCHDOG" if value == "1" => s.last_watchdog = now,
                _ => {}
            }
        }
        self.step();
        true
    }

    /// Handle every deadline that has passed (backoff, readiness timeout,
    /// kill after the grace period, watchdog, socket probes).
    pub fn tick(&mut self) {
        let now = self.os.now();
        let wall = self.os.wall_ms();
        let names: Vec<String> = self.svcs.keys().cloned().collect();
        for name in names {
            let Some(s) = self.svcs.get_mut(&name) else {
                continue;
            };
            match s.state.clone() {
                State::BackingOff { until } if until <= now => {
                    s.state = State::Inactive;
                }
                State::Starting { pid, deadline } => {
                    let ready = match &s.spec.readiness {
                        Readiness::Socket(path) => self.os.socket_ready(path),
                        _ => false,
                    };
                    if ready {
                        tracing::info!(service = %name, "ready (socket accepts connections)");
                        s.state = State::Running { pid };
                        s.since_ms = wall;
                        s.last_watchdog = now;
                    } else if deadline <= now {
                        let reason = format!(
                            "did not become ready within {}",
                            format_duration(s.spec.start_timeout)
                        );
                        tracing::warn!(service = %name, "{reason}");
                        self.os.signal(&name, pid, Sig::Term);
                        s.status_text = reason.clone();
                        s.state = State::Stopping {
                            pid,
                            kill_at: Some(after(now, s.spec.stop_timeout)),
                            next: AfterStop::Failure(reason),
                        };
                        s.since_ms = wall;
                    }
                }
                State::Stopping {
                    pid,
                    kill_at: Some(at),
                    next,
                } if at <= now => {
                    tracing::warn!(service = %name, "did not stop within the grace period; killing");
                    self.os.signal(&name, pid, Sig::Kill);
                    s.state = State::Stopping {
                        pid,
                        kill_at: None,
                        next,
                    };
                }
                State::Running { pid } => {
                    if let Some(wd) = s.spec.watchdog
                        && now.saturating_sub(s.last_watchdog) > wd
                    {
                        let reason = format!(
                            "watchdog timeout: no WATCHDOG=1 within {}",
                            format_duration(wd)
                        );
                        tracing::warn!(service = %name, "{reason}");
                        self.os.signal(&name, pid, Sig::Term);
                        s.status_text = reason.clone();
                        s.state = State::Stopping {
                            pid,
                            kill_at: Some(after(now, s.spec.stop_timeout)),
                            next: AfterStop::Failure(reason),
                        };
                        s.since_ms = wall;
                    }
                }
                _ => {}
            }
        }
        self.step();
    }

    /// The earliest time [`Supervisor::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        let now = self.os.now();
        self.svcs
            .values()
            .filter_map(|s| match &s.state {
                State::BackingOff { until } => Some(*until),
                State::Starting { deadline, .. } => match s.spec.readiness {
                    Readiness::Socket(_) => {
                        Some((*deadline).min(after(now, SOCKET_PROBE_INTERVAL)))
                    }
                    _ => Some(*deadline),
                },
                State::Stopping { kill_at, .. } => *kill_at,
                State::Running { .. } => s
                    .spec
                    .watchdog
                    .map(|wd| after(after(s.last_watchdog, wd), Duration::from_millis(1))),
                _ => None,
            })
            .min()
    }

    fn check(&self, name: &str) -> Result<(), ControlError> {
        match self.svcs.get(name) {
            Some(s) if !s.removed => Ok(()),
            _ => Err(ControlError::UnknownService {
                name: name.to_string(),
                known: self
                    .order
                    .iter()
                    .filter(|n| self.svcs.get(*n).is_some_and(|s| !s.removed))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn reorder(&mut self) {
        let specs: Vec<ServiceSpec> = self.svcs.values().map(|s| s.spec.clone()).collect();
        self.order = start_order(&specs);
    }

    /// Want `name` and, transitively, what it requires.
    fn want_up(&mut self, name: &str) {
        let mut todo = vec![name.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            if let Some(s) = self.svcs.get_mut(&n) {
                if s.removed {
                    continue;
                }
                s.want = true;
                if s.state == State::Failed && n != name {
                    // A required dependency that failed gets a fresh chance.
                    s.state = State::Inactive;
                    s.starts.clear();
                    s.consecutive_failures = 0;
                }
                todo.extend(s.spec.requires.iter().cloned());
            }
        }
    }

    /// Unwant `name` and, transitively, what requires it.
    fn want_down(&mut self, name: &str) {
        let mut todo = vec![name.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(n) = todo.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            if let Some(s) = self.svcs.get_mut(&n) {
                s.want = false;
            }
            todo.extend(
                self.svcs
                    .values()
                    .filter(|s| s.spec.requires.contains(&n))
                    .map(|s| s.spec.name.clone()),
            );
        }
    }
}

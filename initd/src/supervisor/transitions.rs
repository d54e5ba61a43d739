//! The transitions [`Supervisor::step`] runs to a fixpoint: starting a
//! wanted service once its dependencies allow, stopping an unwanted one
//! once its dependents are gone, launching, and settling a run that ended
//! (restart with backoff, start limit, or rest).

use std::time::Duration;

use super::state::{AfterStop, Deps, State};
use super::{Os, Sig, Supervisor, after, backoff_delay};
use crate::manifest::units::format_duration;
use crate::spec::{Readiness, RestartPolicy};

impl<O: Os> Supervisor<O> {
    /// Run start and stop transitions until nothing changes.
    pub(super) fn step(&mut self) {
        // Each pass changes at least one service; the bound only guards
        // against a logic error looping forever inside PID 1.
        let bound = self.svcs.len() * 8 + 8;
        for _ in 0..bound {
            let mut changed = false;
            for name in self.order.clone() {
                changed |= self.advance_start(&name);
            }
            for name in self.order.clone().iter().rev() {
                changed |= self.advance_stop(name);
            }
            if !changed {
                break;
            }
        }
        let gone: Vec<String> = self
            .svcs
            .iter()
            .filter(|(_, s)| s.removed && !s.state.active())
            .map(|(n, _)| n.clone())
            .collect();
        if !gone.is_empty() {
            for n in gone {
                self.svcs.remove(&n);
            }
            self.reorder();
        }
    }

    fn deps(&self, name: &str) -> Deps {
        let Some(s) = self.svcs.get(name) else {
            return Deps::Blocked;
        };
        let mut blocked = false;
        for d in &s.spec.requires {
            let Some(ds) = self.svcs.get(d) else {
                return Deps::Failed(format!("required service {d} does not exist"));
            };
            if ds.satisfies() {
                continue;
            }
            match ds.state {
                State::Failed => return Deps::Failed(format!("required service {d} failed")),
                State::Inactive if !ds.want => {
                    return Deps::Failed(format!("required service {d} is stopped"));
                }
                _ => blocked = true,
            }
        }
        for d in &s.spec.after {
            if let Some(ds) = self.svcs.get(d) {
                let coming = match ds.state {
                    State::Waiting
                    | State::Starting { .. }
                    | State::BackingOff { .. }
                    | State::Stopping { .. } => true,
                    State::Inactive => ds.want,
                    _ => false,
                };
                blocked |= coming;
            }
        }
        if blocked { Deps::Blocked } else { Deps::Ready }
    }

    fn advance_start(&mut self, name: &str) -> bool {
        if self.shutting_down {
            return false;
        }
        let Some(s) = self.svcs.get(name) else {
            return false;
        };
        if !s.want || !matches!(s.state, State::Inactive | State::Waiting) {
            return false;
        }
        let was_waiting = s.state == State::Waiting;
        let wall = self.os.wall_ms();
        match self.deps(name) {
            Deps::Ready => {
                self.launch(name);
                true
            }
            Deps::Blocked => {
                if was_waiting {
                    return false;
                }
                if let Some(s) = self.svcs.get_mut(name) {
                    s.state = State::Waiting;
                    s.since_ms = wall;
                }
                true
            }
            Deps::Failed(why) => {
                tracing::warn!(service = %name, "not started: {why}");
                if let Some(s) = self.svcs.get_mut(name) {
                    s.state = State::Failed;
                    s.want = false;
                    s.status_text = why;
                    s.since_ms = wall;
                }
                true
            }
        }
    }

    fn advance_stop(&mut self, name: &str) -> bool {
        let shutting_down = self.shutting_down;
        let Some(s) = self.svcs.get(name) else {
            return false;
        };
        if s.want && !shutting_down {
            return false;
        }
        match s.state {
            State::Waiting | State::BackingOff { .. } => {
                let wall = self.os.wall_ms();
                if let Some(s) = self.svcs.get_mut(name) {
                    s.state = State::Inactive;
                    s.restart_pending = false;
                    s.since_ms = wall;
                }
                true
            }
            State::Starting { pid, .. } | State::Running { pid } => {
                // Dependents that are going down too must be gone first.
                let blocked = self.svcs.values().any(|t| {
                    t.state.active()
                        && (!t.want || shutting_down)
                        && t.spec.ordering_deps().any(|d| d == name)
                });
                if blocked {
                    return false;
                }
                let now = self.os.now();
                let wall = self.os.wall_ms();
                tracing::info!(service = %name, pid, "stopping");
                self.os.signal(name, pid, Sig::Term);
                if let Some(s) = self.svcs.get_mut(name) {
                    s.state = State::Stopping {
                        pid,
                        kill_at: Some(after(now, s.spec.stop_timeout)),
                        next: AfterStop::Rest,
                    };
                    s.since_ms = wall;
                }
                true
            }
            _ => false,
        }
    }

    fn launch(&mut self, name: &str) {
        let now = self.os.now();
        let wall = self.os.wall_ms();
        let Some(s) = self.svcs.get_mut(name) else {
            return;
        };
        let limit = s.spec.start_limit;
        while s
            .starts
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= limit.interval)
        {
            s.starts.pop_front();
        }
        if limit.limited() && s.starts.len() >= limit.burst as usize {
            let why = format!(
                "start limit hit: {} starts within {}; fix the cause, then start it again",
                s.starts.len(),
                format_duration(limit.interval)
            );
            tracing::error!(service = %name, "{why}");
            s.restart_pending = false;
            s.state = State::Failed;
            s.want = false;
            s.status_text = why;
            s.since_ms = wall;
            return;
        }
        s.starts.push_back(now);
        if std::mem::take(&mut s.restart_pending) {
            s.restarts = s.restarts.saturating_add(1);
        }
        s.runs += 1;
        s.run_started = now;
        s.status_text.clear();
        let spec = s.spec.clone();
        match self.os.spawn(&spec) {
            Ok(pid) => {
                tracing::info!(service = %name, pid, "started");
                let Some(s) = self.svcs.get_mut(name) else {
                    return;
                };
                s.last_watchdog = now;
                s.since_ms = wall;
                s.state = match spec.readiness {
                    Readiness::None => State::Running { pid },
                    _ => State::Starting {
                        pid,
                        deadline: after(now, spec.start_timeout),
                    },
                };
            }
            Err(e) => {
                tracing::error!(service = %name, "cannot start: {e}");
                if let Some(s) = self.svcs.get_mut(name) {
                    s.status_text = format!("cannot start: {e}");
                    s.last_exit = None;
                }
                self.after_run(name, true, now);
            }
        }
    }

    /// A run ended (`failed` or not): restart with backoff, or settle.
    pub(super) fn after_run(&mut self, name: &str, failed: bool, now: Duration) {
        let shutting_down = self.shutting_down;
        let wall = self.os.wall_ms();
        let Some(s) = self.svcs.get_mut(name) else {
            return;
        };
        s.since_ms = wall;
        let restart = match s.spec.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::No => false,
        };
        if restart && s.want && !shutting_down {
            if now.saturating_sub(s.run_started) >= s.spec.start_limit.interval {
                s.consecutive_failures = 0;
            }
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            let delay = backoff_delay(
                s.spec.backoff.initial,
                s.spec.backoff.max,
                s.consecutive_failures,
            );
            s.restart_pending = true;
            tracing::info!(service = %name, delay_ms = delay.as_millis() as u64, "restarting after backoff");
            s.state = State::BackingOff {
                until: after(now, delay),
            };
        } else {
            s.want = false;
            s.state = if failed { State::Failed } else { State::Exited };
        }
    }
}

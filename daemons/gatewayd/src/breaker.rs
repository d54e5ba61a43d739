//! The per-instance circuit breaker: after `threshold` consecutive
//! failures an instance is skipped (open) for `cooldown`; then one trial
//! call is let through (half-open), which closes the breaker on success
//! and re-opens it on failure. Pure: the caller passes the clock.

use std::time::{Duration, Instant};

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open {
        /// When a trial call will be let through.
        until: Instant,
    },
    /// One trial call is in flight; others are skipped until it ends.
    HalfOpen,
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    state: BreakerState,
}

impl Breaker {
    /// Opens after `threshold` (≥ 1) consecutive failures, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            state: BreakerState::Closed,
        }
    }

    /// The state at `now` (an open breaker whose cool-down ended reports
    /// itself open until [`Breaker::try_acquire`] moves it to half-open).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go to this instance at `now`; an open breaker
    /// past its cool-down lets exactly this one (trial) call through.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen => false,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } => false,
        }
    }

    /// The call succeeded.
    pub fn success(&mut self) {
        self.failures = 0;
        self.state = BreakerState::Closed;
    }

    /// The call failed at `now`.
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let trial_failed = self.state == BreakerState::HalfOpen;
        if trial_failed || self.failures >= self.threshold {
            self.state = BreakerState::Open {
                until: now + self.cooldown,
            };
        }
    }

    /// A call that was let through ended without a verdict on the
    /// instance's health (e.g. our own request was invalid): a half-open
    /// trial is given back.
    pub fn release(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.state = BreakerState::Open {
                until: Instant::now(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens_after_cooldown() {
        let t0 = Instant::now();
        let cd = Duration::from_secs(30);
        let mut b = Breaker::new(3, cd);
        for _ in 0..2 {
            assert!(b.try_acquire(t0));
            b.failure(t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire(t0));
        b.failure(t0);
        assert_eq!(b.state(), BreakerState::Open { until: t0 + cd });
        assert!(!b.try_acquire(t0 + cd / 2));
        // Cool-down over: one trial, and only one.
        assert!(b.try_acquire(t0 + cd));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.try_acquire(t0 + cd));
        // The trial fails: open again for a full cool-down.
        b.failure(t0 + cd);
        assert_eq!(b.state(), BreakerState::Open { until: t0 + cd * 2 });
        assert!(b.try_acquire(t0 + cd * 2));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        // Successes reset the count.
        b.failure(t0);
        b.failure(t0);
        b.success();
        b.failure(t0);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}

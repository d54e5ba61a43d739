//! Deadlines from configured durations: whatever a spec holds, adding it
//! to the clock never panics.

use std::time::Duration;

use super::*;

#[test]
fn durations_beyond_the_clock_are_deadlines_never_reached_not_panics() {
    // The parser refuses such durations; the supervisor must not panic on
    // them anyway (specs can be built in code too).
    let mut clock_far = notify("far", &[], &[]);
    clock_far.start_timeout = Duration::MAX;
    clock_far.stop_timeout = Duration::MAX;
    clock_far.watchdog = Some(Duration::MAX);
    clock_far.restart = RestartPolicy::Always;
    clock_far.backoff = Backoff {
        initial: Duration::MAX,
        max: Duration::MAX,
    };
    let mut h = H::new(vec![clock_far]);
    h.sup.os_mut().now = Duration::from_secs(5);
    h.sup.boot();
    assert_eq!(h.phase("far"), Phase::Starting);
    assert_eq!(h.sup.next_deadline(), Some(Duration::MAX));
    h.ready("far");
    assert_eq!(h.sup.next_deadline(), Some(Duration::MAX), "watchdog");
    h.advance(1000);
    assert_eq!(h.phase("far"), Phase::Running);
    h.exit("far", 1);
    assert_eq!(h.sup.next_deadline(), Some(Duration::MAX), "backoff");
    h.advance(1000);
    assert!(h.sup.start("far").is_ok());
    assert_eq!(h.phase("far"), Phase::Starting);
    h.sup.stop("far").unwrap();
    assert_eq!(
        h.sup.next_deadline(),
        Some(Duration::MAX),
        "kill after grace"
    );
    h.advance(1000);
    assert_eq!(h.phase("far"), Phase::Stopping);
}

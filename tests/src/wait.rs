//! Waiting on a condition with a timeout, never on a fixed sleep: the one
//! `wait_until` of the workspace's tests (initd's tests include this file).

use std::time::{Duration, Instant};

/// Poll `f` until it yields a value or `timeout` passes; on timeout panic
/// with `what` and the output of `diag`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    diag: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n--- diagnostics ---\n{}",
                diag()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

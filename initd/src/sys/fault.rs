//! Fault injection for tests: `AIOS_INITD_FAULT=name[,name...]` makes
//! initd fail on purpose at a named point, so the recovery paths are
//! tested with real processes (a failure of the signal thread, a panic in
//! the event loop). Unset, nothing changes. Services never see the
//! variable (user mode strips it from the environment they inherit).

use std::sync::OnceLock;

/// The environment variable naming the faults to inject.
pub const ENV: &str = "AIOS_INITD_FAULT";

/// A point where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `signal-thread`: the signal reader thread fails as soon as it starts.
    SignalThread,
    /// `panic-on-reload`: the event loop panics when asked to reload
    /// (SIGHUP).
    PanicOnReload,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::SignalThread => "signal-thread",
            Fault::PanicOnReload => "panic-on-reload",
        }
    }
}

/// Whether `fault` was requested (the variable is read once).
pub fn armed(fault: Fault) -> bool {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            std::env::var(ENV)
                .unwrap_or_default()
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .iter()
        .any(|n| n == fault.name())
}

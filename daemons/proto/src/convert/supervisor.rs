//! Conversions of the supervisor service: service state.

use super::*;

pub(crate) fn service_state_in(s: w::ServiceState) -> d::ServiceState {
    d::ServiceState {
        name: s.name,
        state: s.state,
        pid: s.pid,
        enabled: s.enabled,
        restarts: s.restarts,
        status_text: s.status_text,
        last_exit_code: s.last_exit_code,
        since_unix_ms: s.since_unix_ms,
    }
}

pub(crate) fn service_state_out(s: d::ServiceState) -> w::ServiceState {
    w::ServiceState {
        name: s.name,
        state: s.state,
        pid: s.pid,
        enabled: s.enabled,
        restarts: s.restarts,
        status_text: s.status_text,
        last_exit_code: s.last_exit_code,
        since_unix_ms: s.since_unix_ms,
    }
}

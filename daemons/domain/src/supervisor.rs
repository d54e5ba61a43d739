//! The supervisor's view of services and power, and every daemon's health reply.

use serde::{Deserialize, Serialize};

/// Reply of a daemon's health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingReply {
    /// Daemon name.
    pub daemon: String,
    /// Version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Time since start.
    pub uptime_ms: u64,
    /// The uid the daemon saw for this call.
    pub caller_uid: u32,
    /// Whether that caller counts as an administrator.
    pub caller_admin: bool,
}

/// State of one supervised service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    /// Service name.
    pub name: String,
    /// "stopped", "starting", "running", "stopping", "failed" or "exited".
    pub state: String,
    /// Main process id, 0 when not running.
    pub pid: u32,
    /// Started at boot.
    pub enabled: bool,
    /// Restarts so far.
    pub restarts: u32,
    /// Last `STATUS=` text from the service.
    pub status_text: String,
    /// Exit code of the last run.
    pub last_exit_code: i32,
    /// When the state was entered, Unix milliseconds.
    pub since_unix_ms: i64,
}

/// Power actions of the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    /// Stop everything and power off.
    Poweroff,
    /// Stop everything and reboot.
    Reboot,
}

//! The `sec.*` tools: who is logged in and who failed to, who may use
//! sudo, how the SSH server is configured, risky file permissions
//! (world-writable, setuid) and exposed listening sockets. All read-only;
//! each reads with the caller's credentials, so an ordinary user sees
//! what they may see and is told what they could not.

mod failed_logins;
mod logins;
mod ports_audit;
mod scan;
mod sshd_audit;
mod sshd_config;
mod sudoers;
mod suid;
mod world_writable;

pub use failed_logins::SecFailedLogins;
pub use logins::SecLogins;
pub use ports_audit::SecPortsAudit;
pub use sshd_audit::SecSshdAudit;
pub use sudoers::SecSudoers;
pub use suid::SecSuid;
pub use world_writable::SecWorldWritable;

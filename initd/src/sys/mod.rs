//! Everything that touches the operating system: spawning and signalling
//! service trees ([`RealOs`]), cgroups, per-service logs, initd's own log
//! (quiet console and `/run/initd.log` as PID 1), the notify socket,
//! signals, creating files without following links ([`files`]), and PID 1
//! duties. The pure supervisor sees none of it
//! except through [`crate::supervisor::Os`].

pub mod cgroup;
pub mod fault;
pub mod files;
pub mod logs;
pub mod notify;
pub mod own_log;
pub mod pid1;
pub mod signals;
mod spawn;

pub use spawn::{Mode, RealOs, SYSTEM_PATH};

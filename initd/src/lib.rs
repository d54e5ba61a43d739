//! # aios-initd: PID 1 and the service supervisor of aiOS
//!
//! One binary, two modes: PID 1 on the aiOS image, and `initd --user`, the
//! unprivileged supervisor that runs the daemon set in development mode.
//!
//! | module | owns |
//! |---|---|
//! | [`manifest`] | the TOML manifest format, validation with file/line/key errors, dependency checks and start order |
//! | [`spec`] | [`spec::ServiceSpec`], the validated service description |
//! | [`supervisor`] | the pure state machine: ordering, readiness, backoff, start limits, shutdown order; the [`supervisor::Os`] trait |
//! | [`sys`] | the real OS: spawning, cgroups, logs, the notify socket, signals, PID 1 duties |
//! | [`runtime`] | the event loop over one closed enum of events |
//! | [`control`] | the control API ([`aios_proto::SupervisorApi`]) |
//! | [`daemon_set`] | the manifests of memoryd, toolsd, runtimed, gatewayd and aiosd, rendered from [`aios_config::Daemon`] |
//!
//! Design decisions:
//! - **The supervisor is pure.** It never touches a file descriptor or the
//!   clock directly, so its rules are unit-tested with a fake clock and fake
//!   processes; [`sys::RealOs`] is the only real implementation.
//! - **One thread owns children.** Spawning and reaping (`waitpid(-1)`)
//!   happen on the event-loop thread; signals, notify datagrams and control
//!   requests arrive as [`runtime::Event`]s on one channel.
//! - **PID 1 never exits.** Fatal errors and panics end in
//!   [`sys::pid1::recovery_console`]; as PID 1 initd ignores subcommands.
//!   `initd --user` catches panics too, stops its services and exits 2.
//! - **Only trusted manifests run** ([`manifest::trust`]): owned by root or
//!   initd's own user, writable by nobody else.
//! - **Architecture invariant:** initd depends on nothing in `daemons/`
//!   except the protocol crate (`aios-proto`) and `aios-config` for paths
//!   and the daemon table.
#![deny(missing_docs)]

pub mod control;
pub mod daemon_set;
pub mod manifest;
pub mod runtime;
pub mod spec;
pub mod supervisor;
pub mod sys;

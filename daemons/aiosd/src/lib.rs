//! # aiosd: the orchestrator
//!
//! `aiosd` holds sessions and runs the turn loop. It talks to the model
//! gateway, the tool executor and the memory store through [`Backends`],
//! and serves clients through [`aios_proto::SessionApi`].
//!
//! Invariants:
//! - `aiosd` never executes a tool: every call goes to `toolsd`, which
//!   decides whether it may run.
//! - Sessions outlive client connections and aiosd itself: each event is
//!   stored in memoryd before it is shown ([`journal`]), and attaching to a
//!   session that is not live brings it back from there ([`rehydrate`]).
//! - Each step is persisted before the event that reports it.
//! - Every input is bounded ([`limits`]), and every turn ends with
//!   `TurnCompleted`, even when its task panics or is aborted.
#![deny(missing_docs)]

mod backends;
pub mod context;
mod journal;
pub mod limits;
mod prepare;
mod rehydrate;
mod service;
mod session;
pub mod tokens;
mod turn;
mod working;

use std::sync::Arc;

pub use backends::{Backends, GrpcBackends};
pub use limits::MAX_INPUT_BYTES;
pub use prepare::prepare_model;
pub use service::Orchestrator;
pub use session::{Restored, Session};
pub use turn::{Limits, SYSTEM_PROMPT};

/// The session service for `backends`, ready to add to a
/// [`aios_proto::Services`] set, with its idle-session sweeper running.
/// Call it inside a tokio runtime.
pub fn session_service(
    backends: Arc<dyn Backends>,
    config: &aios_config::Config,
) -> Arc<dyn aios_proto::SessionApi> {
    let orchestrator = Orchestrator::new(backends, config);
    orchestrator.spawn_sweeper();
    Arc::new(orchestrator)
}

//! # aios-proto: the process contracts of aiOS
//!
//! This crate owns every `.proto` file and every generated type, and is the
//! only crate that sees them. Everyone else works with the plain types of
//! `aios-domain` (re-exported here as [`domain`] and at the root) and the
//! per-service traits and clients:
//!
//! | service | trait | client | served by |
//! |---|---|---|---|
//! | session (DESIGN.md §3) | [`SessionApi`] | [`SessionClient`] | `aiosd` |
//! | tools | [`ToolsApi`] | [`ToolsClient`] | `toolsd` |
//! | memory | [`MemoryApi`] | [`MemoryClient`] | `memoryd` |
//! | search | [`SearchApi`] | [`SearchClient`] | `memoryd` |
//! | model | [`ModelApi`] | [`ModelClient`] | `gatewayd` |
//! | runtime | [`RuntimeApi`] | [`RuntimeClient`] | `runtimed` |
//! | supervisor | [`SupervisorApi`] | [`SupervisorClient`] | `initd` |
//! | health | (built in) | [`HealthClient`] | every daemon |
//!
//! A daemon builds a [`Services`] set and serves it on a socket from
//! [`bind`]; clients [`connect`] a channel and wrap it in a client.
//!
//! Design decisions:
//! - **Principals from the kernel.** Every server method receives a
//!   [`Principal`] derived from `SO_PEERCRED` on the Unix socket, never from
//!   a field the caller fills in. Rights are checked with
//!   [`Principal::require`].
//! - **JSON values travel as text.** Tool arguments, results and schemas are
//!   open-ended; they cross the wire as JSON text and are parsed into
//!   `serde_json::Value` at this edge, so a malformed value is an
//!   `InvalidArgument` error here rather than a panic deeper in.
//! - **Sockets are 0660**, created under a restrictive umask so they are
//!   never briefly world-accessible.
#![deny(missing_docs)]

mod convert;
mod error;
mod health;
mod memory;
mod model;
mod principal;
mod runtime;
mod search;
mod server;
mod session;
mod supervisor;
mod tools;
mod transport;

/// Generated prost and tonic types. Private: nothing outside this crate may
/// depend on them.
#[allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
mod wire {
    tonic::include_proto!("aios.v1");
}

use std::pin::Pin;

/// The plain domain types (`aios-domain`), re-exported for the daemons.
pub use aios_domain as domain;
pub use aios_domain::*;
pub use error::{ApiError, ApiErrorKind};
pub use health::HealthClient;
pub use memory::{MemoryApi, MemoryClient};
pub use model::{ModelApi, ModelClient};
pub use principal::{current_principal, principal_from_creds};
pub use runtime::{RuntimeApi, RuntimeClient};
pub use search::{
    CollectionStatus, SearchApi, SearchClient, SearchDocument, SearchHit, SearchQuery, SearchStatus,
};
pub use server::Services;
pub use session::{SessionApi, SessionClient};
pub use supervisor::{ServiceVerb, SupervisorApi, SupervisorClient};
pub use tools::{ToolsApi, ToolsClient};
pub use transport::{MAX_MESSAGE_BYTES, TransportError, bind, connect, connect_lazy, error_chain};

/// A boxed, sendable stream of results, as every streaming API returns.
pub type BoxStream<T, E = ApiError> = Pin<Box<dyn futures::Stream<Item = Result<T, E>> + Send>>;

/// Default deadline of unary calls.
pub const UNARY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

fn unary<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(UNARY_TIMEOUT);
    req
}

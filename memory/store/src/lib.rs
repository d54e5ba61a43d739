//! # aios-store: the episodic store
//!
//! The second memory tier of DESIGN.md §6: sessions, their messages and
//! their tool calls in one SQLite file. It is the source of truth; search
//! indexes are derived from it and can be rebuilt.
//!
//! The principal type is [`Store`], a synchronous, `Sync` handle with typed
//! methods over the plain domain types of `aios_domain`. [`StoreError`] carries an
//! [`ErrorKind`] and a message that names the database file.
//!
//! Design decisions:
//! - **Durable before acknowledged.** WAL journal with `synchronous=FULL`:
//!   every method that returns a row id has committed and synced it, so a
//!   process killed with `-9` (or a power cut) loses no acknowledged row.
//! - **One connection, serialized.** SQLite has a single writer anyway; a
//!   mutex around one connection keeps the ordering of appends the order of
//!   calls. Async callers use `spawn_blocking`.
//! - **Versioned schema.** `PRAGMA user_version` plus an append-only list of
//!   migrations; a database from a newer aiOS is refused rather than
//!   written with assumptions it does not hold ([`ErrorKind::TooNew`]).
//! - **Search documents live here too** ([`documents`](crate::Store::upsert_documents)):
//!   collections, their documents and a durable queue of index updates, so the search
//!   indexes are derived data that a crash or `reindex` can always rebuild.
//! - **Session event logs** ([`Store::append_events`]): what aiosd emitted, keyed by
//!   (session, seq), so a session survives an aiosd restart.
//! - **Row ids are never reused** (`AUTOINCREMENT`), so derived indexes can
//!   key documents by them.
#![deny(missing_docs)]

mod codec;
mod doc_sources;
mod documents;
mod error;
mod events;
mod schema;
mod store;

pub use doc_sources::{DOCS_COLLECTION, DocSource, SourceUpdate, chunk_key};
pub use documents::{
    CollectionInfo, DocRecord, HISTORY_COLLECTION, IndexOp, NewDoc, QueueItem, WriteMode,
};
pub use error::{ErrorKind, Result, StoreError};
pub use events::EventsFrom;
pub use schema::{APPLICATION_ID, LATEST_VERSION};
pub use store::{Options, Store};

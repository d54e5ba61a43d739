//! # aios-memoryd: the memory service over the episodic store
//!
//! [`MemoryService`] implements [`aios_proto::MemoryApi`] on an
//! [`aios_store::Store`]. It owns two things the store does not know about:
//!
//! - **Who may do what.** Writes (`put_session`, `append_message`,
//!   `record_tool_call`) require [`Right::Daemon`]: only `aiosd` (the service
//!   uid) or root writes the episodic store. Reads require
//!   [`Right::Owner`] of the session's uid: a user sees their own sessions,
//!   an administrator sees all. `list_sessions(None)` lists the caller's
//!   own sessions; naming another uid requires owning it (being admin).
//!   Daemons may also read everything: `aiosd` runs as the unprivileged
//!   service user, not an administrator, yet must replay any user's
//!   session when it resumes one.
//! - **Blocking.** The store is synchronous and every write waits for an
//!   fsync, so each call runs on tokio's blocking pool, never on a runtime
//!   worker. The store serializes writes itself.
//!
//! Session event logs (`append_events`, `get_events`) follow the same
//! rights: only a daemon appends (aiosd, before it emits each event); the
//! session's owner, an administrator or a daemon reads. One append is one
//! transaction, however many events it carries.
//!
//! Store errors become [`ApiError`]s with the store's message (which names
//! the database and the remedy): not found → `NotFound`, disk full →
//! `ResourceExhausted`, bad values → `InvalidArgument`, locks and read-only
//! files → `Unavailable`, anything else → `Internal`.
//!
//! [`SearchService`] serves long-term search (the `Search` gRPC service, on the same socket):
//! collections in the same SQLite file, tantivy and vector indexes derived from it by an
//! indexer thread (`search`), and its own rights (`search_service`: daemons write the system
//! collections, users read `docs` and their own memories in `history`). Every message and
//! tool call written through this service is also remembered in `history` by the store,
//! in the same transaction.
//!
//! [`instance`] keeps it to one memoryd per state directory (an exclusive `flock`).
//!
//! [`docs`] fills the `docs` collection with the machine's own documentation (man pages,
//! package READMEs) in the background at start, re-reading only what changed.
#![deny(missing_docs)]

pub mod docs;
pub mod instance;
pub mod search;
mod search_service;

pub use search_service::{IndexerWaker, PUBLIC_COLLECTION, SYSTEM_COLLECTIONS, SearchService};

use std::sync::Arc;

use aios_proto::{
    ApiError, Event, MemoryApi, Principal, Right, SessionInfo, StoredMessage, StoredToolCall,
};
use aios_store::{ErrorKind, EventsFrom, Store, StoreError};

/// The memory service: authorization and async glue over a [`Store`].
#[derive(Debug, Clone)]
pub struct MemoryService {
    store: Arc<Store>,
    /// Woken after each message or tool call, which the store also queued for search.
    indexer: Option<IndexerWaker>,
}

impl MemoryService {
    /// Serve `store`.
    pub fn new(store: Store) -> Self {
        MemoryService::shared(Arc::new(store))
    }

    /// Serve a store that is also used elsewhere in this process.
    pub fn shared(store: Arc<Store>) -> Self {
        MemoryService {
            store,
            indexer: None,
        }
    }

    /// Wake `indexer` after each write that the store queued for search.
    pub fn with_indexer(mut self, indexer: IndexerWaker) -> Self {
        self.indexer = Some(indexer);
        self
    }

    fn wake_indexer(&self) {
        if let Some(w) = &self.indexer {
            w.wake();
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Run `f` on the blocking pool with the store.
    async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::internal(format!("the memory store task failed: {e}")))?
    }
}

/// Reading the sessions of `uid`: its owner, an administrator, or a daemon.
fn require_read(who: &Principal, uid: u32) -> Result<(), ApiError> {
    if who.trusted_peer {
        return Ok(());
    }
    Ok(who.require(Right::Owner(uid))?)
}

/// Translate a store error into what crosses the wire.
pub fn api_error(e: StoreError) -> ApiError {
    let message = e.to_string();
    match e.kind() {
        ErrorKind::NotFound => ApiError::not_found(message),
        ErrorKind::Invalid => ApiError::invalid(message),
        ErrorKind::Full => {
            tracing::error!("{message}");
            ApiError::exhausted(message)
        }
        ErrorKind::Busy | ErrorKind::ReadOnly => {
            tracing::warn!("{message}");
            ApiError::unavailable(message)
        }
        _ => {
            tracing::error!("{message}");
            ApiError::internal(message)
        }
    }
}

#[async_trait::async_trait]
impl MemoryApi for MemoryService {
    async fn put_session(&self, who: Principal, s: SessionInfo) -> Result<(), ApiError> {
        who.require(Right::Daemon)?;
        self.blocking(move |store| store.put_session(&s).map_err(api_error))
            .await
    }

    async fn get_session(&self, who: Principal, id: String) -> Result<SessionInfo, ApiError> {
        self.blocking(move |store| {
            let s = store.get_session(&id).map_err(api_error)?;
            require_read(&who, s.uid)?;
            Ok(s)
        })
        .await
    }

    async fn list_sessions(
        &self,
        who: Principal,
        uid: Option<u32>,
        limit: u32,
    ) -> Result<Vec<SessionInfo>, ApiError> {
        let uid = uid.unwrap_or(who.uid);
        require_read(&who, uid)?;
        self.blocking(move |store| store.list_sessions(uid, limit).map_err(api_error))
            .await
    }

    async fn append_message(&self, who: Principal, m: StoredMessage) -> Result<i64, ApiError> {
        who.require(Right::Daemon)?;
        let id = self
            .blocking(move |store| store.append_message(&m).map_err(api_error))
            .await?;
        self.wake_indexer();
        Ok(id)
    }

    async fn get_messages(
        &self,
        who: Principal,
        session_id: String,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, ApiError> {
        self.blocking(move |store| {
            let s = store.get_session(&session_id).map_err(api_error)?;
            require_read(&who, s.uid)?;
            store.get_messages(&session_id, limit).map_err(api_error)
        })
        .await
    }

    async fn record_tool_call(&self, who: Principal, c: StoredToolCall) -> Result<i64, ApiError> {
        who.require(Right::Daemon)?;
        let id = self
            .blocking(move |store| store.record_tool_call(&c).map_err(api_error))
            .await?;
        self.wake_indexer();
        Ok(id)
    }

    async fn get_tool_call(
        &self,
        who: Principal,
        session_id: String,
        call_id: String,
    ) -> Result<Option<StoredToolCall>, ApiError> {
        self.blocking(move |store| {
            let s = store.get_session(&session_id).map_err(api_error)?;
            require_read(&who, s.uid)?;
            store
                .get_tool_call(&session_id, &call_id)
                .map_err(api_error)
        })
        .await
    }

    async fn append_events(&self, who: Principal, events: Vec<Event>) -> Result<u64, ApiError> {
        who.require(Right::Daemon)?;
        let added = self
            .blocking(move |store| store.append_events(&events).map_err(api_error))
            .await?;
        Ok(u64::try_from(added).unwrap_or(u64::MAX))
    }

    async fn get_events(
        &self,
        who: Principal,
        session_id: String,
        after_seq: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<Event>, ApiError> {
        let from = if newest {
            EventsFrom::Newest
        } else {
            EventsFrom::Oldest
        };
        self.blocking(move |store| {
            let s = store.get_session(&session_id).map_err(api_error)?;
            require_read(&who, s.uid)?;
            store
                .get_events(&session_id, after_seq, limit, from)
                .map_err(api_error)
        })
        .await
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod search_tests;

//! [`SearchService`]: the search API of memoryd, and the indexer thread that applies the
//! durable queue off the request path.
//!
//! Rights (checked here, on the principal the transport took from `SO_PEERCRED`):
//! - **System collections** ([`SYSTEM_COLLECTIONS`]: `history`, the remembered
//!   conversations, and `docs`, the machine's documentation) are written only by daemons
//!   ([`Right::Daemon`]), like the episodic store they mirror. Creating or deleting them
//!   needs the same.
//! - **Other collections** are created, written and deleted by daemons or administrators.
//! - **Reading.** Daemons and administrators read everything. Any local user may read
//!   `docs`. In `history` an ordinary user reads their own memories only: memoryd adds a
//!   `user == <their uid>` filter before ranking, so they never see another user's turns
//!   (not even as a rank). Other collections are closed to ordinary users.
//! - `status` (counts only) is open to every local user; `reindex` needs a daemon or an
//!   administrator.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use aios_proto::{
    ApiError, CollectionStatus, Principal, Right, SearchApi, SearchDocument, SearchHit,
    SearchQuery, SearchStatus,
};
use aios_store::{CollectionInfo, DocRecord, HISTORY_COLLECTION, NewDoc, WriteMode};
use serde_json::{Map, Value};

use crate::api_error;
use crate::docs::DocsProgress;
use crate::search::{APPLY_BATCH, Query, SearchError, SearchHost, now_ms};

/// The collection every local user may read: indexed system documentation.
pub const PUBLIC_COLLECTION: &str = aios_store::DOCS_COLLECTION;
/// Collections only daemons write: what the system itself remembers.
pub const SYSTEM_COLLECTIONS: &[&str] = &[HISTORY_COLLECTION, PUBLIC_COLLECTION];
/// How long the indexer sleeps when it was not woken: a safety net, not the mechanism.
const IDLE_RECHECK: Duration = Duration::from_secs(5);

fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::Store(e) => api_error(e),
        SearchError::Index(e) => match e.kind() {
            aios_search::ErrorKind::InvalidFilter
            | aios_search::ErrorKind::InvalidInput
            | aios_search::ErrorKind::ModelMismatch
            | aios_search::ErrorKind::DimensionMismatch
            | aios_search::ErrorKind::DuplicateId => ApiError::invalid(e.to_string()),
            aios_search::ErrorKind::NotFound => ApiError::not_found(e.to_string()),
            _ => {
                tracing::error!("search index: {e}");
                ApiError::internal(e.to_string())
            }
        },
        SearchError::Invalid(m) => ApiError::invalid(m),
    }
}

/// Changing `collection`: daemons only for the system collections, daemons or
/// administrators for the others.
fn require_writer(who: &Principal, collection: &str) -> Result<(), ApiError> {
    if who.trusted_peer {
        return Ok(());
    }
    if SYSTEM_COLLECTIONS.contains(&collection) {
        return Ok(who.require(Right::Daemon)?);
    }
    if who.admin {
        return Ok(());
    }
    Err(ApiError::denied(format!(
        "uid {} may not change collection {collection:?}: that needs an aiOS daemon or an administrator",
        who.uid
    )))
}

/// What `who` may read of `collection`: everything (`Ok(None)`), only the documents whose
/// `user` is theirs (`Ok(Some(uid))`), or nothing.
fn read_scope(who: &Principal, collection: &str) -> Result<Option<String>, ApiError> {
    if who.trusted_peer || who.admin || collection == PUBLIC_COLLECTION {
        return Ok(None);
    }
    if collection == HISTORY_COLLECTION {
        return Ok(Some(who.uid.to_string()));
    }
    Err(ApiError::denied(format!(
        "uid {} may not read collection {collection:?}: ordinary users read {PUBLIC_COLLECTION:?} and their own \
         memories in {HISTORY_COLLECTION:?}",
        who.uid
    )))
}

fn user_of(d: &DocRecord) -> Option<String> {
    let meta: Map<String, Value> = serde_json::from_str(&d.metadata_json).ok()?;
    meta.get("user").and_then(Value::as_str).map(str::to_string)
}

fn status_of(c: CollectionInfo, (indexed, vectors): (u64, u64)) -> CollectionStatus {
    CollectionStatus {
        pending_sources: 0,
        ingesting: false,
        name: c.name,
        model: c.model,
        dimension: c.dimension,
        count: c.count,
        backlog: c.backlog,
        indexed,
        vectors,
    }
}

fn doc_of(d: DocRecord) -> SearchDocument {
    let metadata: Map<String, Value> = serde_json::from_str(&d.metadata_json).unwrap_or_default();
    SearchDocument {
        id: d.key,
        text: d.text,
        metadata,
        embedding: d.embedding,
        unix_ms: d.unix_ms,
    }
}

/// Wakes the indexer thread. Writes that queue documents outside the search API (the
/// memory service's messages and tool calls) hold one, so their documents are indexed
/// at once rather than at the indexer's next idle check.
#[derive(Debug, Clone)]
pub struct IndexerWaker(SyncSender<()>);

impl IndexerWaker {
    /// Asks the indexer to apply the queue; never blocks.
    pub fn wake(&self) {
        // Full: a wake-up is already pending, which is all we need.
        if let Err(TrySendError::Disconnected(())) = self.0.try_send(()) {
            tracing::error!(
                "the indexer thread has stopped; documents will be indexed at the next start"
            );
        }
    }
}

/// The search API over a [`SearchHost`]; wakes the indexer after every write.
#[derive(Debug, Clone)]
pub struct SearchService {
    host: Arc<SearchHost>,
    wake: IndexerWaker,
    /// The documentation pass feeding [`PUBLIC_COLLECTION`], when it runs.
    docs: Option<Arc<DocsProgress>>,
}

impl SearchService {
    /// Serves `host` and starts its indexer thread.
    pub fn start(host: Arc<SearchHost>) -> std::io::Result<Self> {
        let (wake, rx) = sync_channel(1);
        let h = Arc::clone(&host);
        std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || indexer(&h, &rx))?;
        Ok(Self {
            host,
            wake: IndexerWaker(wake),
            docs: None,
        })
    }

    /// Reports `progress` (the documentation pass) in the status of [`PUBLIC_COLLECTION`].
    pub fn with_docs_progress(mut self, progress: Arc<DocsProgress>) -> Self {
        self.docs = Some(progress);
        self
    }

    /// The host this service serves.
    pub fn host(&self) -> &Arc<SearchHost> {
        &self.host
    }

    /// A handle that wakes this service's indexer.
    pub fn waker(&self) -> IndexerWaker {
        self.wake.clone()
    }

    fn poke(&self) {
        self.wake.wake();
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&SearchHost) -> Result<T, SearchError> + Send + 'static,
    {
        let host = Arc::clone(&self.host);
        tokio::task::spawn_blocking(move || f(&host).map_err(search_error))
            .await
            .map_err(|e| ApiError::internal(format!("the search task failed: {e}")))?
    }
}

/// Applies the queue until it is empty, then waits to be woken.
fn indexer(host: &SearchHost, wake: &Receiver<()>) {
    loop {
        match host.apply_pending(APPLY_BATCH) {
            Ok(n) if n > 0 => continue,
            // Caught up: build any vector graph that is due, off the request path.
            Ok(_) => {
                if let Err(e) = host.prepare_graphs() {
                    tracing::error!("building a vector graph failed, will retry: {e}");
                }
            }
            Err(e) => tracing::error!("indexing failed, will retry: {e}"),
        }
        match wake.recv_timeout(IDLE_RECHECK) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[async_trait::async_trait]
impl SearchApi for SearchService {
    async fn create_collection(
        &self,
        who: Principal,
        name: String,
        model: Option<(String, u32)>,
    ) -> Result<CollectionStatus, ApiError> {
        require_writer(&who, &name)?;
        let (model, dim) = match model {
            Some(m) => m,
            None => {
                let (m, d) = self.host.embedder_model().ok_or_else(|| {
                    ApiError::precondition(
                        "memoryd has no embedding model loaded: give the collection's model and dimension, \
                         or fetch all-MiniLM-L6-v2 (`cargo xtask model fetch all-minilm-l6-v2`) and restart memoryd",
                    )
                })?;
                (m, u32::try_from(d).unwrap_or(u32::MAX))
            }
        };
        self.blocking(move |h| {
            let c = h.store().create_collection(&name, &model, dim, now_ms())?;
            let sizes = h.index_sizes(&c)?;
            Ok(status_of(c, sizes))
        })
        .await
    }

    async fn delete_collection(&self, who: Principal, name: String) -> Result<(), ApiError> {
        require_writer(&who, &name)?;
        self.blocking(move |h| h.delete_collection(&name)).await
    }

    async fn status(&self, _who: Principal) -> Result<SearchStatus, ApiError> {
        let embedder_model = self.host.embedder_model().map(|(m, _)| m);
        let mut collections = self
            .blocking(|h| {
                h.store()
                    .list_collections()?
                    .into_iter()
                    .map(|c| {
                        let sizes = h.index_sizes(&c)?;
                        Ok(status_of(c, sizes))
                    })
                    .collect::<Result<Vec<_>, SearchError>>()
            })
            .await?;
        if let Some(p) = &self.docs {
            let (pending, ingesting) = (p.pending(), p.ingesting());
            match collections.iter_mut().find(|c| c.name == PUBLIC_COLLECTION) {
                Some(c) => {
                    c.pending_sources = pending;
                    c.ingesting = ingesting;
                }
                // Not created yet: the pass has only just started.
                None if ingesting => collections.push(CollectionStatus {
                    name: PUBLIC_COLLECTION.to_string(),
                    model: String::new(),
                    dimension: 0,
                    count: 0,
                    backlog: 0,
                    indexed: 0,
                    vectors: 0,
                    pending_sources: pending,
                    ingesting,
                }),
                None => {}
            }
        }
        Ok(SearchStatus {
            collections,
            embedder_model,
        })
    }

    async fn write(
        &self,
        who: Principal,
        collection: String,
        upsert: bool,
        docs: Vec<SearchDocument>,
    ) -> Result<u32, ApiError> {
        require_writer(&who, &collection)?;
        // Checked now, as the index will check it later: a document the indexer cannot
        // take must be refused here, not found stuck in the queue.
        for d in &docs {
            aios_search::check_metadata(&format!("document {:?}", d.id), &d.metadata)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            if d.embedding
                .as_ref()
                .is_some_and(|v| v.iter().any(|x| !x.is_finite()))
            {
                return Err(ApiError::invalid(format!(
                    "document {:?}: the embedding contains NaN or infinity",
                    d.id
                )));
            }
        }
        let now = now_ms();
        let docs: Vec<NewDoc> = docs
            .into_iter()
            .map(|d| NewDoc {
                key: d.id,
                text: d.text,
                metadata_json: Value::Object(d.metadata).to_string(),
                embedding: d.embedding,
                unix_ms: if d.unix_ms == 0 { now } else { d.unix_ms },
            })
            .collect();
        let mode = if upsert {
            WriteMode::Upsert
        } else {
            WriteMode::Add
        };
        let ids = self
            .blocking(move |h| Ok(h.store().write_documents(&collection, &docs, mode)?))
            .await?;
        self.poke();
        Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
    }

    async fn delete(
        &self,
        who: Principal,
        collection: String,
        ids: Vec<String>,
    ) -> Result<u32, ApiError> {
        require_writer(&who, &collection)?;
        let gone = self
            .blocking(move |h| Ok(h.store().delete_documents(&collection, &ids)?))
            .await?;
        self.poke();
        Ok(u32::try_from(gone.len()).unwrap_or(u32::MAX))
    }

    async fn get(
        &self,
        who: Principal,
        collection: String,
        ids: Vec<String>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let only = read_scope(&who, &collection)?;
        let docs = self
            .blocking(move |h| Ok(h.store().documents_by_key(&collection, &ids)?))
            .await?;
        Ok(docs
            .into_iter()
            .filter(|d| only.is_none() || user_of(d) == only)
            .map(doc_of)
            .collect())
    }

    async fn query(&self, who: Principal, q: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
        let user = read_scope(&who, &q.collection)?;
        let query = Query {
            collection: q.collection,
            text: q.text,
            vector: q.vector,
            k: if q.limit == 0 { 10 } else { q.limit as usize },
            where_: q.where_,
            where_document: q.where_document,
            kind: q.kind,
            since_ms: q.since_unix_ms,
            session: q.session,
            user,
        };
        let hits = self.blocking(move |h| h.query(&query)).await?;
        Ok(hits
            .into_iter()
            .map(|h| SearchHit {
                document: doc_of(h.doc),
                score: h.hit.score,
                bm25_rank: h.hit.bm25_rank.and_then(|r| u32::try_from(r).ok()),
                vector_rank: h.hit.vector_rank.and_then(|r| u32::try_from(r).ok()),
                distance: h.hit.distance,
                snippet: h.hit.snippet.text,
            })
            .collect())
    }

    async fn reindex(&self, who: Principal, collection: Option<String>) -> Result<u64, ApiError> {
        if !who.trusted_peer {
            who.require(Right::Admin)?;
        }
        self.blocking(move |h| {
            let names = match collection {
                Some(c) => vec![c],
                None => h
                    .store()
                    .list_collections()?
                    .into_iter()
                    .map(|c| c.name)
                    .collect(),
            };
            let mut total = 0;
            for n in names {
                total += h.reindex(&n)?;
            }
            Ok(total)
        })
        .await
    }
}

//! [`SearchService`]: the search API of memoryd, and the indexer thread that applies the
//! durable queue off the request path.
//!
//! Rights: writing, creating collections and reindexing need a daemon or an administrator.
//! Reading the `docs` collection (the machine's own documentation) is open to every local
//! user; other collections hold conversations and need a daemon or an administrator, until
//! per-user scoping of memories lands.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aios_proto::{
    ApiError, CollectionStatus, Principal, SearchApi, SearchDocument, SearchHit, SearchQuery,
    SearchStatus,
};
use aios_store::{CollectionInfo, DocRecord, NewDoc, WriteMode};
use serde_json::{Map, Value};

use crate::api_error;
use crate::search::{APPLY_BATCH, Query, SearchError, SearchHost};

/// The collection every local user may read: indexed system documentation.
pub const PUBLIC_COLLECTION: &str = "docs";
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

fn require_writer(who: &Principal) -> Result<(), ApiError> {
    if who.trusted_peer || who.admin {
        Ok(())
    } else {
        Err(ApiError::denied(format!(
            "uid {} may not change search collections: that needs an aiOS daemon or an administrator",
            who.uid
        )))
    }
}

fn require_reader(who: &Principal, collection: &str) -> Result<(), ApiError> {
    if collection == PUBLIC_COLLECTION {
        return Ok(());
    }
    require_writer(who).map_err(|_| {
        ApiError::denied(format!(
            "uid {} may not read collection {collection:?}: only {PUBLIC_COLLECTION:?} is open to every user",
            who.uid
        ))
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn status_of(c: CollectionInfo) -> CollectionStatus {
    CollectionStatus {
        name: c.name,
        model: c.model,
        dimension: c.dimension,
        count: c.count,
        backlog: c.backlog,
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

/// The search API over a [`SearchHost`]; wakes the indexer after every write.
#[derive(Debug, Clone)]
pub struct SearchService {
    host: Arc<SearchHost>,
    wake: SyncSender<()>,
}

impl SearchService {
    /// Serves `host` and starts its indexer thread.
    pub fn start(host: Arc<SearchHost>) -> std::io::Result<Self> {
        let (wake, rx) = sync_channel(1);
        let h = Arc::clone(&host);
        std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || indexer(&h, &rx))?;
        Ok(Self { host, wake })
    }

    fn poke(&self) {
        // Full: a wake-up is already pending, which is all we need.
        if let Err(TrySendError::Disconnected(())) = self.wake.try_send(()) {
            tracing::error!("the indexer thread has stopped; documents will be indexed at the next start");
        }
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
            Ok(_) => {}
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
        require_writer(&who)?;
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
        self.blocking(move |h| Ok(h.store().create_collection(&name, &model, dim, now_ms())?))
            .await
            .map(status_of)
    }

    async fn status(&self, _who: Principal) -> Result<SearchStatus, ApiError> {
        let embedder_model = self.host.embedder_model().map(|(m, _)| m);
        let collections = self.blocking(|h| Ok(h.store().list_collections()?)).await?;
        Ok(SearchStatus {
            collections: collections.into_iter().map(status_of).collect(),
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
        require_writer(&who)?;
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
        let mode = if upsert { WriteMode::Upsert } else { WriteMode::Add };
        let ids = self
            .blocking(move |h| Ok(h.store().write_documents(&collection, &docs, mode)?))
            .await?;
        self.poke();
        Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
    }

    async fn delete(&self, who: Principal, collection: String, ids: Vec<String>) -> Result<u32, ApiError> {
        require_writer(&who)?;
        let gone = self
            .blocking(move |h| Ok(h.store().delete_documents(&collection, &ids)?))
            .await?;
        self.poke();
        Ok(u32::try_from(gone.len()).unwrap_or(u32::MAX))
    }

    async fn get(&self, who: Principal, collection: String, ids: Vec<String>) -> Result<Vec<SearchDocument>, ApiError> {
        require_reader(&who, &collection)?;
        let docs = self
            .blocking(move |h| Ok(h.store().documents_by_key(&collection, &ids)?))
            .await?;
        Ok(docs.into_iter().map(doc_of).collect())
    }

    async fn query(&self, who: Principal, q: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
        require_reader(&who, &q.collection)?;
        let query = Query {
            collection: q.collection,
            text: q.text,
            vector: q.vector,
            k: if q.limit == 0 { 10 } else { q.limit as usize },
            where_: q.where_,
            where_document: q.where_document,
            kind: q.kind,
            since_ms: q.since_unix_ms,
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
        require_writer(&who)?;
        self.blocking(move |h| {
            let names = match collection {
                Some(c) => vec![c],
                None => h.store().list_collections()?.into_iter().map(|c| c.name).collect(),
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

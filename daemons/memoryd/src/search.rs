//! Long-term search served by memoryd: collections in SQLite (the truth), tantivy + vector
//! indexes derived from them, and the indexer that keeps the two in agreement.
//!
//! Writes go to SQLite together with a queue entry ([`aios_store::Store::write_documents`])
//! and return; [`SearchHost::apply_pending`] — run by a background thread, never by a
//! request — embeds the texts that have no vector yet (in batches), stores those vectors
//! back in SQLite, applies the updates to the indexes (put and delete by row id are
//! idempotent) and only then deletes the queue entries. After `kill -9` anywhere the
//! indexer replays what is still queued, and [`SearchHost::open`] rebuilds any index whose
//! document count disagrees with SQLite while nothing is queued for it, so nothing is lost
//! and nothing is indexed twice.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use aios_search::{Document, Embedder, Filter, SearchIndex, SearchRequest, Where, WhereDocument};
use aios_store::{CollectionInfo, DocRecord, HISTORY_COLLECTION, IndexOp, Store};
use serde_json::{Map, Value};

/// Queue entries applied per step: large enough to batch the embedder, small enough that a
/// step (and the lock it holds) stays short.
pub const APPLY_BATCH: u32 = 256;
/// Documents per page when rebuilding an index.
const REINDEX_PAGE: u32 = 2_000;

/// Why a search call failed; memoryd maps it to an API error.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The episodic store failed.
    #[error(transparent)]
    Store(#[from] aios_store::StoreError),
    /// The index failed or refused the request.
    #[error(transparent)]
    Index(#[from] aios_search::Error),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
}

/// One ranked result, with the stored document.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The document.
    pub doc: DocRecord,
    /// Fused score, ranks, distance and snippet.
    pub hit: aios_search::Hit,
}

/// A query over one collection.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Collection name.
    pub collection: String,
    /// Query text (BM25, and embedded for the vector side when the embedder serves the
    /// collection's model).
    pub text: Option<String>,
    /// Query vector, of the collection's model.
    pub vector: Option<Vec<f32>>,
    /// Results wanted.
    pub k: usize,
    /// ChromaDB `where`.
    pub where_: Option<Value>,
    /// ChromaDB `where_document`.
    pub where_document: Option<Value>,
    /// Only documents whose metadata `kind` is this.
    pub kind: Option<String>,
    /// Only documents at or after this time.
    pub since_ms: Option<i64>,
    /// Only documents of this session (metadata `session`).
    pub session: Option<String>,
    /// Only documents of this user (metadata `user`, a uid): set by memoryd for callers
    /// that may read only their own memories.
    pub user: Option<String>,
}

/// The search side of memoryd. `Sync`: share it with an `Arc`.
pub struct SearchHost {
    store: Arc<Store>,
    root: PathBuf,
    embedder: Option<Arc<dyn Embedder>>,
    indexes: RwLock<HashMap<String, Arc<RwLock<SearchIndex>>>>,
    /// Serialises queue application and reindexing, so they never interleave.
    apply: Mutex<()>,
}

impl std::fmt::Debug for SearchHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchHost")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn string_of(meta: &Map<String, Value>, key: &str) -> String {
    meta.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn to_document(d: &DocRecord) -> Result<Document, SearchError> {
    let metadata: Map<String, Value> = serde_json::from_str(&d.metadata_json).map_err(|e| {
        SearchError::Invalid(format!(
            "document {:?}: stored metadata is not a JSON object: {e}",
            d.key
        ))
    })?;
    Ok(Document {
        // Row ids are positive (AUTOINCREMENT).
        id: d.id.unsigned_abs(),
        key: d.key.clone(),
        text: d.text.clone(),
        kind: string_of(&metadata, "kind"),
        host: string_of(&metadata, "host"),
        user: string_of(&metadata, "user"),
        session: string_of(&metadata, "session"),
        unix_ms: d.unix_ms,
        tags: Vec::new(),
        metadata,
        vector: d.embedding.clone(),
    })
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data is `()` or plain maps that every writer leaves consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Upserts `docs`; when the index refuses the batch as invalid (a row written before its
/// checks existed, or edited by hand), applies them one by one and skips, with an error in
/// the log, the ones it refuses, so one bad row cannot stop the queue forever.
fn upsert_skipping_bad(
    index: &mut SearchIndex,
    collection: &str,
    docs: &[Document],
) -> Result<(), SearchError> {
    let refused = |e: &aios_search::Error| {
        matches!(
            e.kind(),
            aios_search::ErrorKind::InvalidInput | aios_search::ErrorKind::DimensionMismatch
        )
    };
    match index.upsert(docs) {
        Err(e) if refused(&e) => {
            for d in docs {
                match index.upsert(std::slice::from_ref(d)) {
                    Err(e) if refused(&e) => {
                        tracing::error!(collection, key = %d.key, "document not indexed: {e}");
                    }
                    other => other?,
                }
            }
            Ok(())
        }
        other => Ok(other?),
    }
}

fn remove_dir(dir: &Path) -> Result<(), SearchError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SearchError::Invalid(format!(
            "cannot remove {}: {e}",
            dir.display()
        ))),
    }
}

impl SearchHost {
    /// Opens (creating) the indexes under `root` for every collection in `store`, applies the
    /// pending queue, and rebuilds any index that disagrees with SQLite.
    pub fn open(
        store: Arc<Store>,
        root: &Path,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Self, SearchError> {
        std::fs::create_dir_all(root).map_err(|e| {
            SearchError::Invalid(format!(
                "cannot create the search directory {}: {e}",
                root.display()
            ))
        })?;
        let host = Self {
            store,
            root: root.to_path_buf(),
            embedder,
            indexes: RwLock::new(HashMap::new()),
            apply: Mutex::new(()),
        };
        host.ensure_history();
        if let Some(e) = &host.embedder {
            // Documents stored while no model was loaded get their vectors now, in the
            // background like any other write.
            let queued = host.store.queue_unembedded(e.model())?;
            if queued > 0 {
                tracing::info!(
                    documents = queued,
                    "queued documents stored without vectors for embedding"
                );
            }
        }
        // The queue describes every difference a crash can leave (the indexes commit before
        // their entries are deleted), and the indexer thread replays it. An index that
        // disagrees with SQLite while nothing is queued was lost or damaged: rebuild it.
        for c in host.store.list_collections()? {
            if SearchIndex::needs_rebuild(&host.dir_of(&c.name)) {
                // Written by a build with another index format (e.g. before stemming):
                // rebuilt from SQLite, which also covers whatever was queued for it.
                tracing::warn!(collection = %c.name, "search index is of an older format; rebuilding it");
                host.reindex(&c.name)?;
                continue;
            }
            if c.backlog > 0 {
                continue;
            }
            let index = host.index(&c)?;
            let indexed = index.read().unwrap_or_else(|p| p.into_inner()).len();
            if indexed != c.count {
                tracing::warn!(
                    collection = %c.name,
                    indexed,
                    stored = c.count,
                    "search index disagrees with SQLite; rebuilding it"
                );
                host.reindex(&c.name)?;
            }
        }
        Ok(host)
    }

    /// Creates the history collection (conversation turns and tool calls, remembered by
    /// the store as they are written).
    fn ensure_history(&self) {
        if let Err(e) = self.ensure_collection(HISTORY_COLLECTION) {
            tracing::warn!(
                "the history collection is not usable, conversations are not remembered for search: {e}"
            );
        }
    }

    /// Creates a system collection (`history`, `docs`) for the embedder's model, or for
    /// all-MiniLM-L6-v2 when none is loaded: its documents are then searchable by BM25 and
    /// get vectors once the model is there.
    pub fn ensure_collection(&self, name: &str) -> Result<CollectionInfo, SearchError> {
        let (model, dim) = self
            .embedder_model()
            .unwrap_or_else(|| (aios_embed::MODEL_NAME.to_string(), aios_embed::DIMENSION));
        let dim = u32::try_from(dim).unwrap_or(u32::MAX);
        Ok(self.store.create_collection(name, &model, dim, now_ms())?)
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The embedding model served in-process, if any.
    pub fn embedder_model(&self) -> Option<(String, usize)> {
        self.embedder
            .as_ref()
            .map(|e| (e.model().to_string(), e.dimension()))
    }

    fn dir_of(&self, name: &str) -> PathBuf {
        // Collection names are arbitrary text; hex keeps them safe as directory names.
        self.root
            .join(name.bytes().map(|b| format!("{b:02x}")).collect::<String>())
    }

    fn index(&self, c: &CollectionInfo) -> Result<Arc<RwLock<SearchIndex>>, SearchError> {
        if let Some(i) = self
            .indexes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&c.name)
        {
            return Ok(Arc::clone(i));
        }
        // Opened under the write lock: two openers of one directory would fight over
        // tantivy's writer lock.
        let mut indexes = self.indexes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = indexes.get(&c.name) {
            return Ok(Arc::clone(i));
        }
        let dir = self.dir_of(&c.name);
        let index = if SearchIndex::exists(&dir) {
            match SearchIndex::open(&dir) {
                Ok(i) if i.model() == c.model && i.dimension() == c.dimension as usize => i,
                other => {
                    if let Err(e) = other {
                        tracing::warn!(collection = %c.name, "cannot open the search index, rebuilding it: {e}");
                    }
                    remove_dir(&dir)?;
                    SearchIndex::create(&dir, &c.model, c.dimension as usize)?
                }
            }
        } else {
            if dir.exists() {
                // A directory left half-made by a crash: derived data, start it again.
                remove_dir(&dir)?;
            }
            SearchIndex::create(&dir, &c.model, c.dimension as usize)?
        };
        let index = Arc::new(RwLock::new(index));
        indexes.insert(c.name.clone(), Arc::clone(&index));
        Ok(index)
    }

    /// Vectors for documents that have none, when the embedder serves `c`'s model; stored
    /// back into SQLite so a reindex never embeds twice.
    fn fill_embeddings(
        &self,
        c: &CollectionInfo,
        docs: &mut [DocRecord],
    ) -> Result<(), SearchError> {
        let Some(e) = &self.embedder else {
            return Ok(());
        };
        if e.model() != c.model {
            return Ok(());
        }
        let missing: Vec<usize> = (0..docs.len())
            .filter(|&i| docs[i].embedding.is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let texts: Vec<String> = missing.iter().map(|&i| docs[i].text.clone()).collect();
        let vectors = e.embed(&texts)?;
        let mut stored = Vec::with_capacity(missing.len());
        for (&i, v) in missing.iter().zip(vectors) {
            stored.push((docs[i].id, v.clone()));
            docs[i].embedding = Some(v);
        }
        self.store.set_embeddings(&stored)?;
        Ok(())
    }

    /// Applies up to `limit` queue entries to the indexes; returns how many it applied.
    pub fn apply_pending(&self, limit: u32) -> Result<usize, SearchError> {
        let _serial = lock(&self.apply);
        let items = self.store.queue_batch(limit)?;
        if items.is_empty() {
            return Ok(0);
        }
        let collections: HashMap<String, CollectionInfo> = self
            .store
            .collection_models()?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        // Per collection, the last op per document wins; order within a batch is preserved.
        let mut by_collection: BTreeMap<&str, Vec<(i64, IndexOp)>> = BTreeMap::new();
        for i in &items {
            by_collection
                .entry(i.collection.as_str())
                .or_default()
                .push((i.doc_id, i.op));
        }
        for (name, ops) in by_collection {
            let Some(c) = collections.get(name) else {
                // The collection was deleted: nothing to index.
                continue;
            };
            let mut last: HashMap<i64, IndexOp> = HashMap::new();
            for (id, op) in ops {
                last.insert(id, op);
            }
            let puts: Vec<i64> = last
                .iter()
                .filter(|(_, op)| **op == IndexOp::Put)
                .map(|(id, _)| *id)
                .collect();
            let mut deletes: Vec<u64> = last
                .iter()
                .filter(|(_, op)| **op == IndexOp::Delete)
                .map(|(id, _)| id.unsigned_abs())
                .collect();
            let mut docs = self.store.documents_by_id(&puts)?;
            // A put whose row is gone was followed by a delete in a later batch; removing it
            // now is what that delete will do anyway.
            let present: std::collections::HashSet<i64> = docs.iter().map(|d| d.id).collect();
            deletes.extend(
                puts.iter()
                    .filter(|id| !present.contains(id))
                    .map(|id| id.unsigned_abs()),
            );
            self.fill_embeddings(c, &mut docs)?;
            let docs: Vec<Document> = docs.iter().map(to_document).collect::<Result<_, _>>()?;
            let index = self.index(c)?;
            let mut index = index.write().unwrap_or_else(|p| p.into_inner());
            if !docs.is_empty() {
                upsert_skipping_bad(&mut index, &c.name, &docs)?;
            }
            if !deletes.is_empty() {
                index.delete(&deletes)?;
            }
        }
        let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
        self.store.ack_queue(&seqs)?;
        Ok(items.len())
    }

    /// Rebuilds `collection`'s indexes from SQLite; returns the number of documents indexed.
    /// The new index is built beside the old one, which keeps answering queries until the
    /// two are swapped.
    pub fn reindex(&self, collection: &str) -> Result<u64, SearchError> {
        let _serial = lock(&self.apply);
        let c = self.store.get_collection(collection)?;
        let head = self.store.queue_head()?;
        let dir = self.dir_of(&c.name);
        let side = dir.with_extension("rebuild");
        remove_dir(&side)?;
        let mut index = SearchIndex::create(&side, &c.model, c.dimension as usize)?;
        let mut after = 0;
        let mut total = 0u64;
        loop {
            let mut page = self.store.documents_page(&c.name, after, REINDEX_PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.id;
            self.fill_embeddings(&c, &mut page)?;
            let docs: Vec<Document> = page.iter().map(to_document).collect::<Result<_, _>>()?;
            index.upsert(&docs)?;
            total += docs.len() as u64;
        }
        drop(index);
        {
            let mut indexes = self.indexes.write().unwrap_or_else(|p| p.into_inner());
            indexes.remove(&c.name);
            remove_dir(&dir)?;
            std::fs::rename(&side, &dir).map_err(|e| {
                SearchError::Invalid(format!(
                    "cannot move {} to {}: {e}",
                    side.display(),
                    dir.display()
                ))
            })?;
            indexes.insert(
                c.name.clone(),
                Arc::new(RwLock::new(SearchIndex::open(&dir)?)),
            );
        }
        // Entries up to `head` are in what we just read; later ones are applied as usual.
        self.store.ack_collection_queue(&c.name, head)?;
        Ok(total)
    }

    /// Deletes a collection: its rows and queue entries in SQLite, then its index files.
    pub fn delete_collection(&self, collection: &str) -> Result<(), SearchError> {
        let _serial = lock(&self.apply);
        let c = self.store.get_collection(collection)?;
        self.store.delete_collection(&c.name)?;
        self.indexes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.name);
        remove_dir(&self.dir_of(&c.name))
    }

    /// Documents in the text index and vectors in the vector index of `collection`.
    pub fn index_sizes(&self, collection: &CollectionInfo) -> Result<(u64, u64), SearchError> {
        let index = self.index(collection)?;
        let index = index.read().unwrap_or_else(|p| p.into_inner());
        Ok((index.len(), index.vector_count() as u64))
    }

    /// Builds the vector graph of every collection large enough to need one and not built
    /// yet (after a start, a reindex, or enough deletes to drop it). Slow (seconds from 10k
    /// vectors on), so only the indexer thread calls it; queries meanwhile scan exactly.
    pub fn prepare_graphs(&self) -> Result<(), SearchError> {
        let _serial = lock(&self.apply);
        for c in self.store.collection_models()? {
            let index = self.index(&c)?;
            // A read lock: queries go on (exactly) while the graph is built.
            let index = index.read().unwrap_or_else(|p| p.into_inner());
            index.prepare_vectors();
        }
        Ok(())
    }

    /// Documents in `collection`'s index (for status and tests).
    pub fn indexed_count(&self, collection: &str) -> Result<u64, SearchError> {
        let c = self.store.get_collection(collection)?;
        let index = self.index(&c)?;
        let n = index.read().unwrap_or_else(|p| p.into_inner()).len();
        Ok(n)
    }

    /// Ranked hybrid search over one collection; filters apply before ranking.
    pub fn query(&self, q: &Query) -> Result<Vec<SearchHit>, SearchError> {
        let c = self.store.get_collection(&q.collection)?;
        let mut vector = q.vector.clone();
        if vector.is_none()
            && let (Some(text), Some(e)) = (&q.text, &self.embedder)
            && e.model() == c.model
            && !text.trim().is_empty()
        {
            vector = e.embed(std::slice::from_ref(text))?.pop();
        }
        let filter = Filter {
            kind: q.kind.clone(),
            session: q.session.clone(),
            user: q.user.clone(),
            since_ms: q.since_ms,
            where_: q.where_.as_ref().map(Where::parse).transpose()?,
            where_document: q
                .where_document
                .as_ref()
                .map(WhereDocument::parse)
                .transpose()?,
            ..Filter::default()
        };
        let semantic_ratio = match (&q.text, &vector) {
            (Some(_), Some(_)) => aios_search::DEFAULT_SEMANTIC_RATIO,
            (None, Some(_)) => 1.0,
            _ => 0.0,
        };
        // aios-search reads the text as plain words and drops function words for BM25
        // (`aios_search::query`); the embedding above saw the whole question.
        let req = SearchRequest {
            text: q.text.clone(),
            vector,
            k: q.k.max(1),
            filter,
            semantic_ratio,
        };
        let index = self.index(&c)?;
        let hits = index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .search(&req)?;
        let ids: Vec<i64> = hits.iter().map(|h| h.id as i64).collect();
        let docs: HashMap<i64, DocRecord> = self
            .store
            .documents_by_id(&ids)?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        Ok(hits
            .into_iter()
            .filter_map(|hit| {
                docs.get(&(hit.id as i64))
                    .cloned()
                    .map(|doc| SearchHit { doc, hit })
            })
            .collect())
    }
}

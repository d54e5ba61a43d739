//! Search collections and their documents, and the durable queue of index updates.
//!
//! SQLite is the truth for long-term search (DESIGN.md §6). Every write of a document and
//! the queue entry telling the indexes to apply it commit together; the indexer applies
//! queue entries (idempotently: put by id, delete by id) and deletes them afterwards
//! ([`Store::ack_queue`]). After `kill -9` anywhere, replaying the queue brings the indexes
//! back into agreement, with nothing lost and nothing twice.
//!
//! **Automatic remembering.** When a collection named [`HISTORY_COLLECTION`] exists,
//! [`Store::append_message`] and [`Store::record_tool_call`] also write the message or call
//! as a document of it (key `message:<row id>` / `tool_call:<row id>`, metadata `kind`
//! `message` / `tool_call`, `host`, `user` (the session owner's uid), `session`, `turn`)
//! and queue it, in the same transaction as the row itself. memoryd creates the collection
//! at start; the store does not know which embedding model it records.

use aios_domain::{StoredMessage, StoredToolCall};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::json;

use crate::error::{ErrorKind, Result, StoreError};
use crate::store::Store;

/// A collection: a name and the one embedding model its vectors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Unique name.
    pub name: String,
    /// Embedding model name; vectors of another model are refused.
    pub model: String,
    /// Vector length of that model.
    pub dimension: u32,
    /// When it was created.
    pub created_unix_ms: i64,
    /// Documents in it.
    pub count: u64,
    /// Queue entries not yet applied to its indexes.
    pub backlog: u64,
}

/// A document to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewDoc {
    /// The caller's id (ChromaDB's string id), unique in the collection.
    pub key: String,
    /// The text.
    pub text: String,
    /// Metadata as a JSON object.
    pub metadata_json: String,
    /// The vector, when the caller computed it; otherwise the indexer embeds `text`.
    pub embedding: Option<Vec<f32>>,
    /// When it happened.
    pub unix_ms: i64,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocRecord {
    /// Row id: the id of the document in the search indexes.
    pub id: i64,
    /// Collection name.
    pub collection: String,
    /// The caller's id.
    pub key: String,
    /// The text.
    pub text: String,
    /// Metadata as a JSON object.
    pub metadata_json: String,
    /// The vector, once given or computed.
    pub embedding: Option<Vec<f32>>,
    /// When it happened.
    pub unix_ms: i64,
}

/// `add` refuses existing keys; `upsert` replaces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail if any key exists (nothing is written).
    Add,
    /// Insert or replace.
    Upsert,
}

/// What an index must do for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOp {
    /// (Re)index the document's current row.
    Put,
    /// Remove the document.
    Delete,
}

/// One pending index update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    /// Position in the queue.
    pub seq: i64,
    /// Collection name.
    pub collection: String,
    /// Document row id.
    pub doc_id: i64,
    /// What to do.
    pub op: IndexOp,
}

/// The collection conversation turns and tool calls are remembered in.
pub const HISTORY_COLLECTION: &str = "history";

/// At most this many bytes of a tool call's arguments and result go into its document:
/// enough to find it, while the full output stays in `tool_calls`.
const REMEMBERED_TOOL_TEXT: usize = 8 * 1024;

/// This machine's name (`/proc/sys/kernel/hostname`), `localhost` when it cannot be read.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `s` cut to at most `max` bytes at a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Writes one history document and its queue entry, when the history collection exists.
fn remember(
    tx: &Transaction<'_>,
    key: &str,
    text: &str,
    metadata: &serde_json::Value,
    unix_ms: i64,
) -> rusqlite::Result<()> {
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM collections WHERE name = ?1)")?
        .query_row([HISTORY_COLLECTION], |r| r.get(0))?;
    if !exists || text.trim().is_empty() {
        return Ok(());
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO documents (collection, key, text, metadata_json, embedding, unix_ms)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5) ON CONFLICT (collection, key) DO NOTHING",
        )?
        .execute(params![
            HISTORY_COLLECTION,
            key,
            text,
            metadata.to_string(),
            unix_ms
        ])?;
    if inserted == 1 {
        let id = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT INTO index_queue (collection, doc_id, op) VALUES (?1, ?2, 'put')",
        )?
        .execute(params![HISTORY_COLLECTION, id])?;
    }
    Ok(())
}

fn session_uid(tx: &Transaction<'_>, session_id: &str) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached("SELECT uid FROM sessions WHERE id = ?1")?
        .query_row([session_id], |r| r.get(0))
        .optional()
}

/// Remembers message row `id` in the history collection (see the module doc).
pub(crate) fn remember_message(
    tx: &Transaction<'_>,
    host: &str,
    id: i64,
    m: &StoredMessage,
) -> rusqlite::Result<()> {
    let mut text = m.content.clone();
    for call in &m.tool_calls {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "{} {}",
            call.name,
            clip(&call.args.to_string(), REMEMBERED_TOOL_TEXT)
        ));
    }
    let uid = session_uid(tx, &m.session_id)?;
    let metadata = json!({
        "kind": "message",
        "role": m.role.as_str(),
        "host": host,
        "user": uid.map(|u| u.to_string()).unwrap_or_default(),
        "session": m.session_id,
        "turn": m.turn_id,
    });
    remember(tx, &format!("message:{id}"), &text, &metadata, m.unix_ms)
}

/// Remembers tool call row `id` in the history collection (see the module doc).
pub(crate) fn remember_tool_call(
    tx: &Transaction<'_>,
    host: &str,
    id: i64,
    c: &StoredToolCall,
    status: &str,
) -> rusqlite::Result<()> {
    let text = format!(
        "{} {}\n{status}: {}",
        c.tool,
        clip(&c.args.to_string(), REMEMBERED_TOOL_TEXT),
        clip(&c.result.to_string(), REMEMBERED_TOOL_TEXT)
    );
    let uid = session_uid(tx, &c.session_id)?;
    let metadata = json!({
        "kind": "tool_call",
        "tool": c.tool,
        "status": status,
        "call_id": c.call_id,
        "host": host,
        "user": uid.map(|u| u.to_string()).unwrap_or_default(),
        "session": c.session_id,
        "turn": c.turn_id,
    });
    remember(tx, &format!("tool_call:{id}"), &text, &metadata, c.unix_ms)
}

fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn invalid(message: String) -> StoreError {
    StoreError::new(ErrorKind::Invalid, message)
}

impl Store {
    /// Creates collection `name` for `model` vectors of `dimension`, or returns it if it
    /// exists with the same model and dimension. A different model is refused: vectors of two
    /// models are not comparable.
    pub fn create_collection(
        &self,
        name: &str,
        model: &str,
        dimension: u32,
        now_ms: i64,
    ) -> Result<CollectionInfo> {
        if name.is_empty() || model.is_empty() || dimension == 0 {
            return Err(invalid(format!(
                "a collection needs a name, an embedding model and a dimension > 0 (got {name:?}, {model:?}, {dimension})"
            )));
        }
        {
            let conn = self.conn();
            conn.execute(
                "INSERT INTO collections (name, model, dimension, created_unix_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![name, model, dimension, now_ms],
            )
            .map_err(self.err(&format!("create collection {name:?}")))?;
        }
        let c = self.get_collection(name)?;
        if c.model != model || c.dimension != dimension {
            return Err(invalid(format!(
                "collection {name:?} holds vectors of {} ({} dimensions), not {model} ({dimension}); \
                 mixing embedding models is refused: use another collection name",
                c.model, c.dimension
            )));
        }
        Ok(c)
    }

    /// One collection, with its document count and backlog.
    pub fn get_collection(&self, name: &str) -> Result<CollectionInfo> {
        self.list_collections()?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                StoreError::new(
                    ErrorKind::NotFound,
                    format!("no collection {name:?} in {}", self.path().display()),
                )
            })
    }

    /// Every collection, by name.
    pub fn list_collections(&self) -> Result<Vec<CollectionInfo>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.name, c.model, c.dimension, c.created_unix_ms,
                        (SELECT count(*) FROM documents d WHERE d.collection = c.name),
                        (SELECT count(*) FROM index_queue q WHERE q.collection = c.name)
                 FROM collections c ORDER BY c.name",
            )
            .map_err(self.err("list collections"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CollectionInfo {
                    name: r.get(0)?,
                    model: r.get(1)?,
                    dimension: r.get(2)?,
                    created_unix_ms: r.get(3)?,
                    count: r.get::<_, i64>(4)?.max(0) as u64,
                    backlog: r.get::<_, i64>(5)?.max(0) as u64,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err("list collections"))?;
        Ok(rows)
    }

    /// Every collection's name, model and dimension, without counting documents: what
    /// the indexer needs for each batch, cheaply.
    pub fn collection_models(&self) -> Result<Vec<CollectionInfo>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, model, dimension, created_unix_ms FROM collections ORDER BY name",
            )
            .map_err(self.err("list collections"))?;
        stmt.query_map([], |r| {
            Ok(CollectionInfo {
                name: r.get(0)?,
                model: r.get(1)?,
                dimension: r.get(2)?,
                created_unix_ms: r.get(3)?,
                count: 0,
                backlog: 0,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(self.err("list collections"))
    }

    /// Queues a put for every document without a vector in a collection of `model` that is
    /// not already queued, so an embedder that arrives later fills them in. Returns how
    /// many were queued.
    pub fn queue_unembedded(&self, model: &str) -> Result<u64> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT INTO index_queue (collection, doc_id, op)
                 SELECT d.collection, d.id, 'put' FROM documents d
                 JOIN collections c ON c.name = d.collection
                 WHERE d.embedding IS NULL AND c.model = ?1
                   AND NOT EXISTS (SELECT 1 FROM index_queue q WHERE q.doc_id = d.id)
                 ORDER BY d.id",
                [model],
            )
            .map_err(self.err("queue documents without vectors"))?;
        Ok(n as u64)
    }

    /// Deletes a collection, its documents and its queue entries.
    pub fn delete_collection(&self, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let doing = format!("delete collection {name:?}");
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        tx.execute("DELETE FROM index_queue WHERE collection = ?1", [name])
            .and_then(|_| tx.execute("DELETE FROM documents WHERE collection = ?1", [name]))
            .and_then(|_| tx.execute("DELETE FROM collections WHERE name = ?1", [name]))
            .and_then(|_| tx.commit())
            .map_err(self.err(&doing))
    }

    /// Writes documents and queues them for indexing, in one transaction: all or nothing.
    /// Returns their row ids, in order. A key keeps its row id when upserted.
    pub fn write_documents(
        &self,
        collection: &str,
        docs: &[NewDoc],
        mode: WriteMode,
    ) -> Result<Vec<i64>> {
        let info = self.get_collection(collection)?;
        let mut seen = std::collections::HashSet::new();
        for (i, d) in docs.iter().enumerate() {
            if d.key.is_empty() {
                return Err(invalid(format!("document {i}: the id is empty")));
            }
            if !seen.insert(d.key.as_str()) {
                return Err(invalid(format!(
                    "id {:?} appears twice in one request",
                    d.key
                )));
            }
            if let Some(v) = &d.embedding
                && v.len() != info.dimension as usize
            {
                return Err(invalid(format!(
                    "id {:?}: embedding has {} dimensions, collection {collection:?} ({}) has {}",
                    d.key,
                    v.len(),
                    info.model,
                    info.dimension
                )));
            }
            let meta: serde_json::Value = serde_json::from_str(&d.metadata_json)
                .map_err(|e| invalid(format!("id {:?}: metadata is not JSON: {e}", d.key)))?;
            if !meta.is_object() {
                return Err(invalid(format!(
                    "id {:?}: metadata must be a JSON object",
                    d.key
                )));
            }
        }
        let doing = format!(
            "write {} documents to collection {collection:?}",
            docs.len()
        );
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        let mut ids = Vec::with_capacity(docs.len());
        {
            let mut find = tx
                .prepare_cached("SELECT id FROM documents WHERE collection = ?1 AND key = ?2")
                .map_err(self.err(&doing))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO documents (collection, key, text, metadata_json, embedding, unix_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(self.err(&doing))?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE documents SET text = ?2, metadata_json = ?3, embedding = ?4, unix_ms = ?5 WHERE id = ?1",
                )
                .map_err(self.err(&doing))?;
            let mut enqueue = tx
                .prepare_cached(
                    "INSERT INTO index_queue (collection, doc_id, op) VALUES (?1, ?2, 'put')",
                )
                .map_err(self.err(&doing))?;
            for d in docs {
                let existing: Option<i64> = find
                    .query_row(params![collection, d.key], |r| r.get(0))
                    .optional()
                    .map_err(self.err(&doing))?;
                let blob = d.embedding.as_deref().map(encode);
                let id = match (existing, mode) {
                    (Some(_), WriteMode::Add) => {
                        return Err(invalid(format!(
                            "id {:?} already exists in collection {collection:?}; use upsert to replace it",
                            d.key
                        )));
                    }
                    (Some(id), WriteMode::Upsert) => {
                        update
                            .execute(params![id, d.text, d.metadata_json, blob, d.unix_ms])
                            .map_err(self.err(&doing))?;
                        id
                    }
                    (None, _) => {
                        insert
                            .execute(params![
                                collection,
                                d.key,
                                d.text,
                                d.metadata_json,
                                blob,
                                d.unix_ms
                            ])
                            .map_err(self.err(&doing))?;
                        tx.last_insert_rowid()
                    }
                };
                enqueue
                    .execute(params![collection, id])
                    .map_err(self.err(&doing))?;
                ids.push(id);
            }
        }
        tx.commit().map_err(self.err(&doing))?;
        Ok(ids)
    }

    /// Deletes documents by key and queues their removal from the indexes. Returns the row
    /// ids deleted (unknown keys are skipped, as ChromaDB does).
    pub fn delete_documents(&self, collection: &str, keys: &[String]) -> Result<Vec<i64>> {
        let doing = format!(
            "delete {} documents from collection {collection:?}",
            keys.len()
        );
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        let mut ids = Vec::new();
        {
            let mut del = tx
                .prepare_cached(
                    "DELETE FROM documents WHERE collection = ?1 AND key = ?2 RETURNING id",
                )
                .map_err(self.err(&doing))?;
            let mut enqueue = tx
                .prepare_cached(
                    "INSERT INTO index_queue (collection, doc_id, op) VALUES (?1, ?2, 'delete')",
                )
                .map_err(self.err(&doing))?;
            for k in keys {
                let id: Option<i64> = del
                    .query_row(params![collection, k], |r| r.get(0))
                    .optional()
                    .map_err(self.err(&doing))?;
                if let Some(id) = id {
                    enqueue
                        .execute(params![collection, id])
                        .map_err(self.err(&doing))?;
                    ids.push(id);
                }
            }
        }
        tx.commit().map_err(self.err(&doing))?;
        Ok(ids)
    }

    /// The oldest `limit` queue entries, [`DOCS_COLLECTION`](crate::DOCS_COLLECTION)'s last:
    /// entries of one collection keep their order (what the indexes rely on), while a
    /// backlog of documentation never holds up another collection's updates.
    pub fn queue_batch(&self, limit: u32) -> Result<Vec<QueueItem>> {
        let conn = self.conn();
        let read = |sql: &str, collection: Option<&str>, limit: i64| {
            let mut stmt = conn.prepare_cached(sql)?;
            let map = |r: &rusqlite::Row<'_>| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            };
            match collection {
                Some(c) => stmt
                    .query_map(params![c, limit], map)?
                    .collect::<rusqlite::Result<Vec<_>>>(),
                None => stmt
                    .query_map([limit], map)?
                    .collect::<rusqlite::Result<Vec<_>>>(),
            }
        };
        let by_collection = "SELECT seq, collection, doc_id, op FROM index_queue
             WHERE collection = ?1 ORDER BY seq LIMIT ?2";
        let names: Vec<String> = conn
            .prepare_cached("SELECT name FROM collections ORDER BY name")
            .and_then(|mut st| {
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(self.err("read the index queue"))?;
        let limit = i64::from(limit);
        let mut rows = Vec::new();
        for name in names.iter().filter(|n| *n != crate::DOCS_COLLECTION) {
            rows.extend(
                read(by_collection, Some(name), limit).map_err(self.err("read the index queue"))?,
            );
        }
        rows.sort_by_key(|r| r.0);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let room = limit - rows.len() as i64;
        if room > 0 && names.iter().any(|n| n == crate::DOCS_COLLECTION) {
            rows.extend(
                read(by_collection, Some(crate::DOCS_COLLECTION), room)
                    .map_err(self.err("read the index queue"))?,
            );
        }
        if rows.is_empty() {
            // Entries of no known collection (left by a deleted one): the indexer drops them.
            rows = read(
                "SELECT seq, collection, doc_id, op FROM index_queue ORDER BY seq LIMIT ?1",
                None,
                limit,
            )
            .map_err(self.err("read the index queue"))?;
        }
        drop(conn);
        rows.into_iter()
            .map(|(seq, collection, doc_id, op)| {
                let op = match op.as_str() {
                    "put" => IndexOp::Put,
                    "delete" => IndexOp::Delete,
                    other => {
                        return Err(
                            self.corrupt(format!("index queue entry {seq} has op {other:?}"))
                        );
                    }
                };
                Ok(QueueItem {
                    seq,
                    collection,
                    doc_id,
                    op,
                })
            })
            .collect()
    }

    /// Number of queue entries not yet applied.
    pub fn queue_len(&self) -> Result<u64> {
        let conn = self.conn();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM index_queue", [], |r| r.get(0))
            .map_err(self.err("count the index queue"))?;
        Ok(n.max(0) as u64)
    }

    /// Deletes applied queue entries.
    pub fn ack_queue(&self, seqs: &[i64]) -> Result<()> {
        let doing = "acknowledge applied index updates";
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(doing))?;
        {
            let mut del = tx
                .prepare_cached("DELETE FROM index_queue WHERE seq = ?1")
                .map_err(self.err(doing))?;
            for s in seqs {
                del.execute([s]).map_err(self.err(doing))?;
            }
        }
        tx.commit().map_err(self.err(doing))
    }

    /// Deletes every queue entry of `collection` up to `seq` (after a full reindex).
    pub fn ack_collection_queue(&self, collection: &str, up_to_seq: i64) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM index_queue WHERE collection = ?1 AND seq <= ?2",
            params![collection, up_to_seq],
        )
        .map_err(self.err("acknowledge a reindexed collection's queue"))?;
        Ok(())
    }

    /// The newest queue position, 0 when the queue has always been empty.
    pub fn queue_head(&self) -> Result<i64> {
        let conn = self.conn();
        conn.query_row("SELECT coalesce(max(seq), 0) FROM index_queue", [], |r| {
            r.get(0)
        })
        .map_err(self.err("read the index queue"))
    }

    /// Stores vectors computed off the request path. Rows deleted meanwhile are skipped.
    pub fn set_embeddings(&self, vectors: &[(i64, Vec<f32>)]) -> Result<()> {
        let doing = "store computed embeddings";
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(doing))?;
        {
            let mut set = tx
                .prepare_cached("UPDATE documents SET embedding = ?2 WHERE id = ?1")
                .map_err(self.err(doing))?;
            for (id, v) in vectors {
                set.execute(params![id, encode(v)])
                    .map_err(self.err(doing))?;
            }
        }
        tx.commit().map_err(self.err(doing))
    }

    /// Documents by row id, in the order given; ids that no longer exist are skipped.
    pub fn documents_by_id(&self, ids: &[i64]) -> Result<Vec<DocRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, collection, key, text, metadata_json, embedding, unix_ms FROM documents WHERE id = ?1",
            )
            .map_err(self.err("read documents"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(d) = stmt
                .query_row([id], row_doc)
                .optional()
                .map_err(self.err("read documents"))?
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Documents of `collection` by key, in the order given; unknown keys are skipped.
    pub fn documents_by_key(&self, collection: &str, keys: &[String]) -> Result<Vec<DocRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, collection, key, text, metadata_json, embedding, unix_ms FROM documents
                 WHERE collection = ?1 AND key = ?2",
            )
            .map_err(self.err("read documents"))?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(d) = stmt
                .query_row(params![collection, k], row_doc)
                .optional()
                .map_err(self.err("read documents"))?
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Up to `limit` documents of `collection` with row id above `after`, by row id: pages
    /// for a reindex.
    pub fn documents_page(
        &self,
        collection: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DocRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, collection, key, text, metadata_json, embedding, unix_ms FROM documents
                 WHERE collection = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(self.err("read documents"))?;
        stmt.query_map(params![collection, after, i64::from(limit)], row_doc)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err("read documents"))
    }
}

fn row_doc(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocRecord> {
    Ok(DocRecord {
        id: r.get(0)?,
        collection: r.get(1)?,
        key: r.get(2)?,
        text: r.get(3)?,
        metadata_json: r.get(4)?,
        embedding: r.get::<_, Option<Vec<u8>>>(5)?.map(|b| decode(&b)),
        unix_ms: r.get(6)?,
    })
}

#[cfg(test)]
#[path = "documents_tests.rs"]
mod tests;

//! The search service (`memoryd`): ChromaDB-like collections with hybrid BM25 + vector
//! queries. The plain types here are what callers see; the wire types stay private.
//!
//! JSON (metadata, `where`, `where_document`) travels as text and is parsed at this edge,
//! so a malformed value is an `InvalidArgument` here rather than deeper in.

use std::sync::Arc;

use serde_json::{Map, Value};
use tonic::transport::Channel;

use crate::principal::principal_of;
use crate::wire;
use crate::{ApiError, Principal};

/// A collection and its indexing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionStatus {
    /// Name.
    pub name: String,
    /// Embedding model its vectors come from.
    pub model: String,
    /// Vector length.
    pub dimension: u32,
    /// Documents stored.
    pub count: u64,
    /// Index updates not yet applied (embedding included).
    pub backlog: u64,
    /// Documents in the text (BM25) index.
    pub indexed: u64,
    /// Vectors in the vector index (documents embedded so far).
    pub vectors: u64,
    /// For a collection fed from files (`docs`): changed or new files not yet read.
    pub pending_sources: u64,
    /// For a collection fed from files: a pass over them is still under way (its
    /// documents are not all stored yet).
    pub ingesting: bool,
}

/// Every collection, and the model memoryd embeds with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchStatus {
    /// Collections by name.
    pub collections: Vec<CollectionStatus>,
    /// memoryd's in-process embedding model, if one is loaded.
    pub embedder_model: Option<String>,
}

/// A document as stored or to store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchDocument {
    /// The caller's id.
    pub id: String,
    /// Text.
    pub text: String,
    /// Metadata object.
    pub metadata: Map<String, Value>,
    /// Vector; `None` = memoryd embeds the text in the background.
    pub embedding: Option<Vec<f32>>,
    /// When it happened.
    pub unix_ms: i64,
}

/// A query over one collection. Give text, a vector, or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    /// Collection.
    pub collection: String,
    /// Query text.
    pub text: Option<String>,
    /// Query vector.
    pub vector: Option<Vec<f32>>,
    /// Results wanted (0 = 10).
    pub limit: u32,
    /// ChromaDB `where`.
    pub where_: Option<Value>,
    /// ChromaDB `where_document`.
    pub where_document: Option<Value>,
    /// Metadata `kind` must equal this.
    pub kind: Option<String>,
    /// Only documents at or after this time.
    pub since_unix_ms: Option<i64>,
    /// Metadata `session` must equal this.
    pub session: Option<String>,
}

/// One ranked result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The document.
    pub document: SearchDocument,
    /// Fused reciprocal-rank score.
    pub score: f32,
    /// Rank in the BM25 list.
    pub bm25_rank: Option<u32>,
    /// Rank in the vector list.
    pub vector_rank: Option<u32>,
    /// Cosine distance to the query vector.
    pub distance: Option<f32>,
    /// A fragment of the text around the match.
    pub snippet: String,
}

/// What memoryd implements for search.
#[tonic::async_trait]
pub trait SearchApi: Send + Sync + 'static {
    /// Create a collection, or return the existing one if it has the same model.
    async fn create_collection(
        &self,
        who: Principal,
        name: String,
        model: Option<(String, u32)>,
    ) -> Result<CollectionStatus, ApiError>;
    /// Delete a collection, its documents and its indexes.
    async fn delete_collection(&self, who: Principal, name: String) -> Result<(), ApiError>;
    /// Collections and indexing backlog.
    async fn status(&self, who: Principal) -> Result<SearchStatus, ApiError>;
    /// Add (or with `upsert`, replace) documents; durable when this returns.
    async fn write(
        &self,
        who: Principal,
        collection: String,
        upsert: bool,
        docs: Vec<SearchDocument>,
    ) -> Result<u32, ApiError>;
    /// Delete documents by id; returns how many existed.
    async fn delete(
        &self,
        who: Principal,
        collection: String,
        ids: Vec<String>,
    ) -> Result<u32, ApiError>;
    /// Documents by id.
    async fn get(
        &self,
        who: Principal,
        collection: String,
        ids: Vec<String>,
    ) -> Result<Vec<SearchDocument>, ApiError>;
    /// Ranked hybrid search.
    async fn query(&self, who: Principal, q: SearchQuery) -> Result<Vec<SearchHit>, ApiError>;
    /// Rebuild a collection's indexes (all with `None`) from SQLite.
    async fn reindex(&self, who: Principal, collection: Option<String>) -> Result<u64, ApiError>;
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn json_opt(s: &str, what: &str) -> Result<Option<Value>, ApiError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(s)
        .map(Some)
        .map_err(|e| ApiError::invalid(format!("{what} is not valid JSON: {e}")))
}

fn doc_in(d: wire::SearchDocument) -> Result<SearchDocument, ApiError> {
    let metadata = match json_opt(&d.metadata_json, "metadata")? {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "metadata of {:?} must be a JSON object",
                d.id
            )));
        }
    };
    Ok(SearchDocument {
        id: d.id,
        text: d.text,
        metadata,
        embedding: (!d.embedding.is_empty()).then_some(d.embedding),
        unix_ms: d.unix_ms,
    })
}

fn doc_out(d: SearchDocument) -> wire::SearchDocument {
    wire::SearchDocument {
        id: d.id,
        text: d.text,
        metadata_json: Value::Object(d.metadata).to_string(),
        embedding: d.embedding.unwrap_or_default(),
        unix_ms: d.unix_ms,
    }
}

fn status_in(c: wire::CollectionStatus) -> CollectionStatus {
    CollectionStatus {
        name: c.name,
        model: c.model,
        dimension: c.dimension,
        count: c.count,
        backlog: c.backlog,
        indexed: c.indexed,
        vectors: c.vectors,
        pending_sources: c.pending_sources,
        ingesting: c.ingesting,
    }
}

fn status_out(c: CollectionStatus) -> wire::CollectionStatus {
    wire::CollectionStatus {
        name: c.name,
        model: c.model,
        dimension: c.dimension,
        count: c.count,
        backlog: c.backlog,
        indexed: c.indexed,
        vectors: c.vectors,
        pending_sources: c.pending_sources,
        ingesting: c.ingesting,
    }
}

fn query_in(q: wire::SearchQueryRequest) -> Result<SearchQuery, ApiError> {
    Ok(SearchQuery {
        where_: json_opt(&q.where_json, "where")?,
        where_document: json_opt(&q.where_document_json, "where_document")?,
        collection: q.collection,
        text: non_empty(q.text),
        vector: (!q.vector.is_empty()).then_some(q.vector),
        limit: q.limit,
        kind: non_empty(q.kind),
        since_unix_ms: (q.since_unix_ms != 0).then_some(q.since_unix_ms),
        session: non_empty(q.session),
    })
}

fn query_out(q: SearchQuery) -> wire::SearchQueryRequest {
    wire::SearchQueryRequest {
        collection: q.collection,
        text: q.text.unwrap_or_default(),
        vector: q.vector.unwrap_or_default(),
        limit: q.limit,
        where_json: q.where_.map(|v| v.to_string()).unwrap_or_default(),
        where_document_json: q.where_document.map(|v| v.to_string()).unwrap_or_default(),
        kind: q.kind.unwrap_or_default(),
        since_unix_ms: q.since_unix_ms.unwrap_or(0),
        session: q.session.unwrap_or_default(),
    }
}

fn hit_out(h: SearchHit) -> wire::SearchHit {
    wire::SearchHit {
        document: Some(doc_out(h.document)),
        score: h.score,
        bm25_rank: h.bm25_rank.unwrap_or(0),
        vector_rank: h.vector_rank.unwrap_or(0),
        distance: h.distance.unwrap_or(-1.0),
        snippet: h.snippet,
    }
}

fn hit_in(h: wire::SearchHit) -> Result<SearchHit, ApiError> {
    Ok(SearchHit {
        document: doc_in(h.document.unwrap_or_default())?,
        score: h.score,
        bm25_rank: (h.bm25_rank != 0).then_some(h.bm25_rank),
        vector_rank: (h.vector_rank != 0).then_some(h.vector_rank),
        distance: (h.distance >= 0.0).then_some(h.distance),
        snippet: h.snippet,
    })
}

pub(crate) struct Adapter(pub(crate) Arc<dyn SearchApi>);

type Resp<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl wire::search_server::Search for Adapter {
    async fn create_collection(
        &self,
        req: tonic::Request<wire::CreateCollectionRequest>,
    ) -> Resp<wire::CollectionStatus> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let model = non_empty(r.model).map(|m| (m, r.dimension));
        let c = self.0.create_collection(who, r.name, model).await?;
        Ok(tonic::Response::new(status_out(c)))
    }

    async fn delete_collection(
        &self,
        req: tonic::Request<wire::DeleteCollectionRequest>,
    ) -> Resp<wire::DeleteCollectionReply> {
        let who = principal_of(&req)?;
        self.0.delete_collection(who, req.into_inner().name).await?;
        Ok(tonic::Response::new(wire::DeleteCollectionReply {}))
    }

    async fn search_status(
        &self,
        req: tonic::Request<wire::SearchStatusRequest>,
    ) -> Resp<wire::SearchStatusReply> {
        let who = principal_of(&req)?;
        let s = self.0.status(who).await?;
        Ok(tonic::Response::new(wire::SearchStatusReply {
            collections: s.collections.into_iter().map(status_out).collect(),
            embedder_model: s.embedder_model.unwrap_or_default(),
        }))
    }

    async fn write_documents(
        &self,
        req: tonic::Request<wire::WriteDocumentsRequest>,
    ) -> Resp<wire::WriteDocumentsReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let docs = r
            .documents
            .into_iter()
            .map(doc_in)
            .collect::<Result<Vec<_>, _>>()?;
        let written = self.0.write(who, r.collection, r.upsert, docs).await?;
        Ok(tonic::Response::new(wire::WriteDocumentsReply { written }))
    }

    async fn delete_documents(
        &self,
        req: tonic::Request<wire::DeleteDocumentsRequest>,
    ) -> Resp<wire::DeleteDocumentsReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let deleted = self.0.delete(who, r.collection, r.ids).await?;
        Ok(tonic::Response::new(wire::DeleteDocumentsReply { deleted }))
    }

    async fn get_documents(
        &self,
        req: tonic::Request<wire::GetDocumentsRequest>,
    ) -> Resp<wire::GetDocumentsReply> {
        let who = principal_of(&req)?;
        let r = req.into_inner();
        let docs = self.0.get(who, r.collection, r.ids).await?;
        Ok(tonic::Response::new(wire::GetDocumentsReply {
            documents: docs.into_iter().map(doc_out).collect(),
        }))
    }

    async fn query(
        &self,
        req: tonic::Request<wire::SearchQueryRequest>,
    ) -> Resp<wire::SearchQueryReply> {
        let who = principal_of(&req)?;
        let q = query_in(req.into_inner())?;
        let hits = self.0.query(who, q).await?;
        Ok(tonic::Response::new(wire::SearchQueryReply {
            hits: hits.into_iter().map(hit_out).collect(),
        }))
    }

    async fn reindex(&self, req: tonic::Request<wire::ReindexRequest>) -> Resp<wire::ReindexReply> {
        let who = principal_of(&req)?;
        let indexed = self
            .0
            .reindex(who, non_empty(req.into_inner().collection))
            .await?;
        Ok(tonic::Response::new(wire::ReindexReply { indexed }))
    }
}

/// Client of the search service.
#[derive(Clone)]
pub struct SearchClient {
    inner: wire::search_client::SearchClient<Channel>,
}

impl std::fmt::Debug for SearchClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchClient").finish_non_exhaustive()
    }
}

impl SearchClient {
    /// Wrap a connected channel.
    pub fn new(channel: Channel) -> Self {
        SearchClient {
            inner: wire::search_client::SearchClient::new(channel)
                .max_decoding_message_size(crate::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(crate::MAX_MESSAGE_BYTES),
        }
    }

    /// Create a collection (`model` `None`: memoryd's embedder), or get the existing one.
    pub async fn create_collection(
        &mut self,
        name: &str,
        model: Option<(&str, u32)>,
    ) -> Result<CollectionStatus, ApiError> {
        let (model, dimension) = model.map_or((String::new(), 0), |(m, d)| (m.to_string(), d));
        let r = self
            .inner
            .create_collection(crate::unary(wire::CreateCollectionRequest {
                name: name.to_string(),
                model,
                dimension,
            }))
            .await?;
        Ok(status_in(r.into_inner()))
    }

    /// Delete a collection with its documents and indexes.
    pub async fn delete_collection(&mut self, name: &str) -> Result<(), ApiError> {
        self.inner
            .delete_collection(crate::unary(wire::DeleteCollectionRequest {
                name: name.to_string(),
            }))
            .await?;
        Ok(())
    }

    /// Collections and backlog.
    pub async fn status(&mut self) -> Result<SearchStatus, ApiError> {
        let r = self
            .inner
            .search_status(crate::unary(wire::SearchStatusRequest {}))
            .await?
            .into_inner();
        Ok(SearchStatus {
            collections: r.collections.into_iter().map(status_in).collect(),
            embedder_model: non_empty(r.embedder_model),
        })
    }

    /// Add or upsert documents.
    pub async fn write(
        &mut self,
        collection: &str,
        upsert: bool,
        docs: Vec<SearchDocument>,
    ) -> Result<u32, ApiError> {
        let r = self
            .inner
            .write_documents(crate::unary(wire::WriteDocumentsRequest {
                collection: collection.to_string(),
                upsert,
                documents: docs.into_iter().map(doc_out).collect(),
            }))
            .await?;
        Ok(r.into_inner().written)
    }

    /// Delete documents by id.
    pub async fn delete(&mut self, collection: &str, ids: Vec<String>) -> Result<u32, ApiError> {
        let r = self
            .inner
            .delete_documents(crate::unary(wire::DeleteDocumentsRequest {
                collection: collection.to_string(),
                ids,
            }))
            .await?;
        Ok(r.into_inner().deleted)
    }

    /// Documents by id.
    pub async fn get(
        &mut self,
        collection: &str,
        ids: Vec<String>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let r = self
            .inner
            .get_documents(crate::unary(wire::GetDocumentsRequest {
                collection: collection.to_string(),
                ids,
            }))
            .await?;
        r.into_inner().documents.into_iter().map(doc_in).collect()
    }

    /// Ranked hybrid search.
    pub async fn query(&mut self, q: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
        let r = self.inner.query(crate::unary(query_out(q))).await?;
        r.into_inner().hits.into_iter().map(hit_in).collect()
    }

    /// Rebuild indexes from SQLite (`None`: every collection). Not bound by the unary
    /// deadline: a large collection takes minutes.
    pub async fn reindex(&mut self, collection: Option<&str>) -> Result<u64, ApiError> {
        let r = self
            .inner
            .reindex(tonic::Request::new(wire::ReindexRequest {
                collection: collection.unwrap_or_default().to_string(),
            }))
            .await?;
        Ok(r.into_inner().indexed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_survives_the_wire() {
        let q = SearchQuery {
            collection: "docs".into(),
            text: Some("immutable file".into()),
            vector: None,
            limit: 5,
            where_: Some(serde_json::json!({"section": {"$eq": "1"}})),
            where_document: None,
            kind: Some("man".into()),
            since_unix_ms: Some(7),
            session: Some("s-1".into()),
        };
        assert_eq!(query_in(query_out(q.clone())).unwrap(), q);
    }

    #[test]
    fn bad_metadata_json_is_an_invalid_argument() {
        let e = doc_in(wire::SearchDocument {
            id: "a".into(),
            metadata_json: "[1]".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.kind, crate::ApiErrorKind::InvalidArgument);
    }
}

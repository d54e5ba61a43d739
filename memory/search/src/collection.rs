//! The ChromaDB-equivalent API: a [`Collection`] with `add`, `upsert`, `delete`, `get` and
//! `query`, string ids, `where` / `where_document` filters as ChromaDB spells them, and one
//! embedding model per collection.
//!
//! Differences from ChromaDB, on purpose:
//! - `add` with an id that exists is an error (ChromaDB logs and drops the record).
//! - `upsert` replaces the whole record.
//! - `query_texts` runs a hybrid BM25 + vector query when an [`Embedder`] is attached, and
//!   BM25 alone (distances `None`) when none is.
//! - `where_document` `$contains` matches words, not substrings (see [`crate::filter`]).

use std::path::Path;

use serde_json::{Map, Value};

use crate::embed::Embedder;
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{Filter, Where, WhereDocument};
use crate::index::{Document, Hit, SearchIndex, SearchRequest};

/// Records for `add` / `upsert`, column-wise as ChromaDB takes them.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Unique string ids.
    pub ids: Vec<String>,
    /// One vector per id; required unless an embedder is attached and `documents` are given.
    pub embeddings: Option<Vec<Vec<f32>>>,
    /// One text per id.
    pub documents: Option<Vec<String>>,
    /// One metadata object per id.
    pub metadatas: Option<Vec<Map<String, Value>>>,
}

/// Arguments of `get`. With neither `ids` nor a filter, returns everything (up to `limit`).
#[derive(Debug, Clone, Default)]
pub struct GetRequest {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// ChromaDB `where`, as JSON.
    pub where_: Option<Value>,
    /// ChromaDB `where_document`, as JSON.
    pub where_document: Option<Value>,
    /// At most this many records.
    pub limit: Option<usize>,
    /// Skip this many records first (records are ordered by insertion).
    pub offset: usize,
}

/// Records returned by `get`, column-wise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetResult {
    /// Ids.
    pub ids: Vec<String>,
    /// Texts.
    pub documents: Vec<String>,
    /// Metadata objects.
    pub metadatas: Vec<Map<String, Value>>,
    /// Stored vectors (normalised to unit length); `None` for records without one.
    pub embeddings: Vec<Option<Vec<f32>>>,
}

/// Arguments of `query`: exactly one of `query_texts` / `query_embeddings`.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// Query texts.
    pub query_texts: Option<Vec<String>>,
    /// Query vectors.
    pub query_embeddings: Option<Vec<Vec<f32>>>,
    /// Results per query.
    pub n_results: usize,
    /// ChromaDB `where`, as JSON.
    pub where_: Option<Value>,
    /// ChromaDB `where_document`, as JSON.
    pub where_document: Option<Value>,
}

impl Default for QueryRequest {
    fn default() -> Self {
        Self {
            query_texts: None,
            query_embeddings: None,
            n_results: 10,
            where_: None,
            where_document: None,
        }
    }
}

/// Results of `query`: one inner list per query, best first.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// Ids.
    pub ids: Vec<Vec<String>>,
    /// Cosine distances (`None` for BM25-only queries).
    pub distances: Vec<Vec<Option<f32>>>,
    /// Texts.
    pub documents: Vec<Vec<String>>,
    /// Metadata objects.
    pub metadatas: Vec<Vec<Map<String, Value>>>,
    /// The full hits, with BM25 and vector ranks and snippets.
    pub hits: Vec<Vec<Hit>>,
}

/// A named set of documents with one embedding model, stored in one directory.
pub struct Collection {
    name: String,
    index: SearchIndex,
    next_id: u64,
    embedder: Option<Box<dyn Embedder>>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("index", &self.index)
            .finish()
    }
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Collection {
    /// Creates a collection in `dir` (its name is the directory's name) for `model`'s vectors.
    pub fn create(dir: &Path, model: &str, dimension: usize) -> Result<Self> {
        let index = SearchIndex::create(dir, model, dimension)?;
        Ok(Self {
            name: dir_name(dir),
            index,
            next_id: 1,
            embedder: None,
        })
    }

    /// Opens the collection in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let index = SearchIndex::open(dir)?;
        let next_id = index
            .ids_matching(&Filter::default())?
            .into_iter()
            .max()
            .map_or(1, |m| m + 1);
        Ok(Self {
            name: dir_name(dir),
            index,
            next_id,
            embedder: None,
        })
    }

    /// Opens `dir` if it holds a collection, else creates it; either way refuses a model or
    /// dimension other than the one recorded.
    pub fn open_or_create(dir: &Path, model: &str, dimension: usize) -> Result<Self> {
        let me = if SearchIndex::exists(dir) {
            Self::open(dir)?
        } else {
            Self::create(dir, model, dimension)?
        };
        me.check_model(model, dimension)?;
        Ok(me)
    }

    fn check_model(&self, model: &str, dimension: usize) -> Result<()> {
        if model != self.model() || dimension != self.dimension() {
            return Err(Error::new(
                ErrorKind::ModelMismatch,
                format!(
                    "collection `{}` holds vectors of `{}` ({} dimensions); refusing `{model}` ({dimension} dimensions): use a new collection for another model",
                    self.name,
                    self.model(),
                    self.dimension()
                ),
            ));
        }
        Ok(())
    }

    /// Attaches the embedder used for `query_texts` and for records given without embeddings.
    pub fn with_embedder(mut self, embedder: Box<dyn Embedder>) -> Result<Self> {
        self.check_model(embedder.model(), embedder.dimension())?;
        self.embedder = Some(embedder);
        Ok(self)
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The embedding model recorded for this collection.
    pub fn model(&self) -> &str {
        self.index.model()
    }

    /// The vector dimension recorded for this collection.
    pub fn dimension(&self) -> usize {
        self.index.dimension()
    }

    /// Number of records.
    pub fn count(&self) -> u64 {
        self.index.len()
    }

    /// The underlying index, for hybrid searches with the fixed fields.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Adds records; fails, writing nothing, if any id exists already or repeats.
    pub fn add(&mut self, records: Records) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for id in &records.ids {
            if !seen.insert(id.as_str()) || self.index.id_for_key(id)?.is_some() {
                return Err(Error::new(
                    ErrorKind::DuplicateId,
                    format!(
                        "add: id `{id}` already exists in `{}`; use upsert to replace it",
                        self.name
                    ),
                ));
            }
        }
        self.write(records)
    }

    /// Adds records, replacing those whose id exists.
    pub fn upsert(&mut self, records: Records) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = records.ids.iter().find(|id| !seen.insert(id.as_str())) {
            return Err(Error::new(
                ErrorKind::DuplicateId,
                format!("upsert: id `{dup}` appears twice in one call"),
            ));
        }
        self.write(records)
    }

    fn write(&mut self, records: Records) -> Result<()> {
        let n = records.ids.len();
        let check_len = |what: &str, len: Option<usize>| match len {
            Some(l) if l != n => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{what} has {l} entries but ids has {n}; give one per id"),
            )),
            _ => Ok(()),
        };
        check_len("embeddings", records.embeddings.as_ref().map(Vec::len))?;
        check_len("documents", records.documents.as_ref().map(Vec::len))?;
        check_len("metadatas", records.metadatas.as_ref().map(Vec::len))?;
        if let Some(i) = records.ids.iter().position(String::is_empty) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("ids[{i}] is empty; ids must be non-empty strings"),
            ));
        }
        let embeddings = match (records.embeddings, &records.documents, &self.embedder) {
            (Some(e), _, _) => e,
            (None, Some(docs), Some(embedder)) => embedder.embed(docs)?,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "no embeddings given and no embedder attached to embed the documents: pass embeddings",
                ));
            }
        };
        let mut docs = Vec::with_capacity(n);
        for (i, (key, vector)) in records.ids.into_iter().zip(embeddings).enumerate() {
            let id = match self.index.id_for_key(&key)? {
                Some(id) => id,
                None => {
                    self.next_id += 1;
                    self.next_id - 1
                }
            };
            docs.push(Document {
                id,
                key,
                text: records
                    .documents
                    .as_ref()
                    .and_then(|d| d.get(i))
                    .cloned()
                    .unwrap_or_default(),
                metadata: records
                    .metadatas
                    .as_ref()
                    .and_then(|m| m.get(i))
                    .cloned()
                    .unwrap_or_default(),
                vector: Some(vector),
                ..Document::default()
            });
        }
        self.index.upsert(&docs)
    }

    fn filter(where_: Option<&Value>, where_document: Option<&Value>) -> Result<Filter> {
        Ok(Filter {
            where_: where_.map(Where::parse).transpose()?,
            where_document: where_document.map(WhereDocument::parse).transpose()?,
            ..Filter::default()
        })
    }

    /// Deletes by ids and/or filter (both: the intersection); returns how many were deleted.
    pub fn delete(
        &mut self,
        ids: Option<&[String]>,
        where_: Option<&Value>,
        where_document: Option<&Value>,
    ) -> Result<usize> {
        if ids.is_none() && where_.is_none() && where_document.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "delete: give ids, where or where_document; deleting everything needs an explicit filter",
            ));
        }
        let found = self.get(GetRequest {
            ids: ids.map(<[String]>::to_vec),
            where_: where_.cloned(),
            where_document: where_document.cloned(),
            ..GetRequest::default()
        })?;
        let mut victims = Vec::with_capacity(found.ids.len());
        for key in &found.ids {
            if let Some(id) = self.index.id_for_key(key)? {
                victims.push(id);
            }
        }
        self.index.delete(&victims)?;
        Ok(victims.len())
    }

    /// Records by ids and/or filter, in insertion order.
    pub fn get(&self, req: GetRequest) -> Result<GetResult> {
        let filter = Self::filter(req.where_.as_ref(), req.where_document.as_ref())?;
        let mut ids: Vec<u64> = match (&req.ids, filter.is_empty()) {
            (Some(keys), true) => {
                let mut v = Vec::with_capacity(keys.len());
                for k in keys {
                    if let Some(id) = self.index.id_for_key(k)? {
                        v.push(id);
                    }
                }
                v
            }
            (keys, _) => {
                let mut matching = self.index.ids_matching(&filter)?;
                if let Some(keys) = keys {
                    let mut wanted = std::collections::HashSet::new();
                    for k in keys {
                        if let Some(id) = self.index.id_for_key(k)? {
                            wanted.insert(id);
                        }
                    }
                    matching.retain(|id| wanted.contains(id));
                }
                matching
            }
        };
        ids.sort_unstable();
        ids.dedup();
        let ids: Vec<u64> = ids
            .into_iter()
            .skip(req.offset)
            .take(req.limit.unwrap_or(usize::MAX))
            .collect();
        let mut out = GetResult::default();
        for d in self.index.get(&ids)? {
            out.ids.push(d.key);
            out.documents.push(d.text);
            out.metadatas.push(d.metadata);
            out.embeddings.push(d.vector);
        }
        Ok(out)
    }

    /// Nearest records for each query text or vector, filtered before ranking.
    pub fn query(&self, req: QueryRequest) -> Result<QueryResult> {
        let filter = Self::filter(req.where_.as_ref(), req.where_document.as_ref())?;
        let searches: Vec<SearchRequest> = match (&req.query_texts, &req.query_embeddings) {
            (Some(texts), None) => {
                let vectors = match &self.embedder {
                    Some(e) => e.embed(texts)?.into_iter().map(Some).collect(),
                    None => vec![None; texts.len()],
                };
                texts
                    .iter()
                    .zip(vectors)
                    .map(|(t, v)| SearchRequest {
                        text: Some(t.clone()),
                        vector: v,
                        k: req.n_results,
                        filter: filter.clone(),
                        semantic_ratio: crate::index::DEFAULT_SEMANTIC_RATIO,
                    })
                    .collect()
            }
            (None, Some(vectors)) => vectors
                .iter()
                .map(|v| SearchRequest {
                    text: None,
                    vector: Some(v.clone()),
                    k: req.n_results,
                    filter: filter.clone(),
                    semantic_ratio: 1.0,
                })
                .collect(),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "query: give exactly one of query_texts and query_embeddings",
                ));
            }
        };
        let mut out = QueryResult::default();
        for s in searches {
            let hits = self.index.search(&s)?;
            let docs = self
                .index
                .get(&hits.iter().map(|h| h.id).collect::<Vec<_>>())?;
            out.ids.push(hits.iter().map(|h| h.key.clone()).collect());
            out.distances
                .push(hits.iter().map(|h| h.distance).collect());
            out.documents
                .push(docs.iter().map(|d| d.text.clone()).collect());
            out.metadatas
                .push(docs.into_iter().map(|d| d.metadata).collect());
            out.hits.push(hits);
        }
        Ok(out)
    }
}

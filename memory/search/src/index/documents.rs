//! Writing and reading documents: upsert, delete, get by id or key.

use serde_json::{Map, Value};
use tantivy::query::TermQuery;
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::{DocAddress, TantivyDocument, Term};

use super::SearchIndex;
use crate::collector::IdCollector;
use crate::error::{Error, ErrorKind, Result, index_err, io_err};

/// One document: text, the fixed fields memoryd filters on, free metadata, and its vector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// Document id, shared by the text and vector sides (memoryd: the SQLite row id).
    pub id: u64,
    /// External key (ChromaDB's string id); may be empty.
    pub key: String,
    /// The text, indexed for BM25 and stored for snippets.
    pub text: String,
    /// Kind, e.g. `turn`, `tool_result`, `audit`, `fact`, `doc`.
    pub kind: String,
    /// Host the memory belongs to.
    pub host: String,
    /// User the memory belongs to.
    pub user: String,
    /// Session the memory came from.
    pub session: String,
    /// When it happened, Unix milliseconds.
    pub unix_ms: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// Arbitrary metadata: values are strings, numbers, booleans or arrays of those.
    pub metadata: Map<String, Value>,
    /// Embedding vector, of the index's model and dimension.
    pub vector: Option<Vec<f32>>,
}

impl SearchIndex {
    /// Inserts or replaces documents by id, durably. Validates every document first, so a bad
    /// one leaves the index untouched.
    pub fn upsert(&mut self, docs: &[Document]) -> Result<()> {
        for (i, d) in docs.iter().enumerate() {
            if let Some(v) = &d.vector {
                self.vectors
                    .check(&format!("document {i} (id {})", d.id), v)?;
            }
            check_metadata(&format!("document {i}"), &d.metadata)?;
        }
        let f = self.fields;
        for d in docs {
            self.writer.delete_term(Term::from_field_u64(f.id, d.id));
            let mut doc = TantivyDocument::new();
            doc.add_u64(f.id, d.id);
            doc.add_text(f.key, &d.key);
            doc.add_text(f.text, &d.text);
            doc.add_text(f.kind, &d.kind);
            doc.add_text(f.host, &d.host);
            doc.add_text(f.user, &d.user);
            doc.add_text(f.session, &d.session);
            doc.add_i64(f.unix_ms, d.unix_ms);
            for t in &d.tags {
                doc.add_text(f.tags, t);
            }
            let meta_value = Value::Object(d.metadata.clone());
            doc.add_field_value(f.metadata, &meta_value);
            doc.add_text(f.metadata_src, meta_value.to_string());
            self.writer
                .add_document(doc)
                .map_err(index_err(format!("indexing document {}", d.id)))?;
            match &d.vector {
                Some(v) => self.vectors.put(d.id, v),
                None => self.vectors.remove(d.id),
            }
        }
        self.commit()
    }

    /// Deletes documents by id (missing ids are ignored), durably.
    pub fn delete(&mut self, ids: &[u64]) -> Result<()> {
        for id in ids {
            self.writer
                .delete_term(Term::from_field_u64(self.fields.id, *id));
            self.vectors.remove(*id);
        }
        self.commit()
    }
    /// The documents with these ids, in the given order; missing ids are skipped.
    pub fn get(&self, ids: &[u64]) -> Result<Vec<Document>> {
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(addr) = self.address_of(&searcher, *id)? {
                out.push(self.load(&searcher, addr)?);
            }
        }
        Ok(out)
    }

    /// The id of the document with external key `key`, if any.
    pub fn id_for_key(&self, key: &str) -> Result<Option<u64>> {
        let q = TermQuery::new(
            Term::from_field_text(self.fields.key, key),
            IndexRecordOption::Basic,
        );
        let ids = self
            .reader
            .searcher()
            .search(&q, &IdCollector)
            .map_err(index_err("looking up a key"))?;
        Ok(ids.into_iter().next())
    }

    /// Where the live document `id` is: a term-dictionary lookup in each segment, without a
    /// query, a scorer or a collector (a vector hit needs this for its key and snippet, ten
    /// times per query).
    pub(super) fn address_of(
        &self,
        searcher: &tantivy::Searcher,
        id: u64,
    ) -> Result<Option<DocAddress>> {
        use tantivy::DocSet as _;
        let term = Term::from_field_u64(self.fields.id, id);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let postings = segment
                .inverted_index(self.fields.id)
                .map_err(index_err(format!("looking up document {id}")))?
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(io_err(format!("looking up document {id}")))?;
            let Some(mut postings) = postings else {
                continue;
            };
            let alive = segment.alive_bitset();
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    // Segment ordinals are u32 in tantivy.
                    return Ok(Some(DocAddress::new(ord as u32, doc)));
                }
                doc = postings.advance();
            }
        }
        Ok(None)
    }

    fn load(&self, searcher: &tantivy::Searcher, addr: DocAddress) -> Result<Document> {
        let f = self.fields;
        let doc: TantivyDocument = searcher
            .doc(addr)
            .map_err(index_err("reading a stored document"))?;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let id = doc
            .get_first(f.id)
            .and_then(|v| v.as_u64())
            .unwrap_or_default();
        let metadata = match serde_json::from_str(&text(f.metadata_src)) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!("document {id}: stored metadata is not a JSON object; reindex"),
                ));
            }
        };
        Ok(Document {
            id,
            key: text(f.key),
            text: text(f.text),
            kind: text(f.kind),
            host: text(f.host),
            user: text(f.user),
            session: text(f.session),
            unix_ms: doc
                .get_first(f.unix_ms)
                .and_then(|v| v.as_i64())
                .unwrap_or_default(),
            tags: doc
                .get_all(f.tags)
                .filter_map(|v| v.as_str())
                .map(str::to_owned)
                .collect(),
            metadata,
            vector: self.vectors.get(id).map(<[f32]>::to_vec),
        })
    }
}

/// Checks metadata as [`SearchIndex::upsert`] will: keys neither empty nor starting with
/// `$`, values strings, numbers, booleans or arrays of those. `what` names the document in
/// the error. Callers that queue documents for later indexing check them up front.
pub fn check_metadata(what: &str, m: &Map<String, Value>) -> Result<()> {
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    for (k, v) in m {
        if k.is_empty() || k.starts_with('$') {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{what}: metadata key `{k}` is empty or starts with `$` (reserved for operators)"
                ),
            ));
        }
        let ok = match v {
            Value::Array(items) => items.iter().all(scalar),
            other => scalar(other),
        };
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{what}: metadata `{k}` must be a string, number, boolean or an array of those"
                ),
            ));
        }
    }
    Ok(())
}

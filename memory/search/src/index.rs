//! [`SearchIndex`]: one directory holding a tantivy text index (`text/`) and a vector log
//! (`vectors.log`) under the same document ids, and the hybrid query over both.
//!
//! The on-disk format is versioned ([`FORMAT_VERSION`], in the file `FORMAT`): an index written
//! by another version is refused on open with [`ErrorKind::Outdated`], to be rebuilt from the
//! source of truth (`aios memory reindex`) rather than misread (e.g. unstemmed terms queried
//! with stemmed ones).
//!
//! Invariant: after every successful `upsert`/`delete`, the vector log and the text index hold
//! the same set of ids with vectors. The vector log is synced before the tantivy commit; on
//! open, vectors whose id has no text document (a crash between the two) are dropped.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::collector::IdCollector;
use crate::error::{Error, ErrorKind, Result, index_err, io_err};
use crate::filter::Filter;
use crate::vectors::VectorStore;

/// Reciprocal-rank-fusion constant (Cormack et al.): damps the head of each list.
pub const RRF_K: f32 = 60.0;
/// Default weight of the vector list in fusion ([`SearchRequest::semantic_ratio`]). Chosen on
/// the tuning half of the evaluation set only (`aios-bench memory-eval`'s sweep; best nDCG@10
/// at 3 decimals, ties to the lower ratio): 0.90 and 0.95 tied at 0.757 there, against 0.671
/// at 0.5 and 0.733 at 1.0 (vectors only). See `docs/memory-search.md`, "Retrieval quality".
/// At 0.9 the text list still moves a document a few ranks (0.1 / 61 outweighs the gap
/// between vector ranks 1 and 2, 0.9 / 61 - 0.9 / 62), so exact words break near-ties.
pub const DEFAULT_SEMANTIC_RATIO: f32 = 0.9;
/// Depth of each list fused in a hybrid query (at least k): a document ranked 15th by both
/// sides is a better answer than one ranked 3rd by one side only, and fusing two top-k lists
/// cannot see it.
pub const FUSION_DEPTH: usize = 50;
/// Version of the on-disk format; bump it whenever the schema or the analysis of text changes.
/// 1: text analysed by tantivy's `default` tokenizer (no file). 2: English stemming, `FORMAT`.
pub const FORMAT_VERSION: u32 = 2;
/// Name of the file holding [`FORMAT_VERSION`] in an index directory.
const FORMAT_FILE: &str = "FORMAT";
/// Analyzer of the `text` field: tantivy's `en_stem` (simple tokenizer, long tokens dropped,
/// lower case, Snowball English stemmer), so "backups" finds "backup" and "rotated" finds
/// "rotate".
const TEXT_TOKENIZER: &str = "en_stem";
/// Heap for tantivy's indexing buffer. Small, as memoryd indexes in small batches.
const WRITER_HEAP: usize = 64 * 1024 * 1024;
/// Snippet length in characters.
const SNIPPET_CHARS: usize = 160;

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

/// A hybrid query. Set `text`, `vector` or both.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Words to match with BM25: plain words, never query syntax; function words are
    /// dropped (`crate::query`).
    pub text: Option<String>,
    /// Query embedding, of the index's model.
    pub vector: Option<Vec<f32>>,
    /// Number of hits wanted.
    pub k: usize,
    /// Applied before ranking on both sides.
    pub filter: Filter,
    /// Weight of the vector list in fusion, 0.0..=1.0 (text gets `1 - ratio`).
    pub semantic_ratio: f32,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            text: None,
            vector: None,
            k: 10,
            filter: Filter::default(),
            semantic_ratio: DEFAULT_SEMANTIC_RATIO,
        }
    }
}

/// A fragment of a document's text with the byte ranges that matched the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snippet {
    /// The fragment.
    pub text: String,
    /// Byte ranges into `text` to highlight.
    pub highlights: Vec<Range<usize>>,
}

/// One ranked result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Document id.
    pub id: u64,
    /// External key (ChromaDB id), possibly empty.
    pub key: String,
    /// Fused reciprocal-rank score; higher is better.
    pub score: f32,
    /// 1-based rank in the BM25 list, if the document was in it.
    pub bm25_rank: Option<usize>,
    /// 1-based rank in the vector list, if the document was in it.
    pub vector_rank: Option<usize>,
    /// Cosine distance (`1 - cosine similarity`) to the query vector, if one was given.
    pub distance: Option<f32>,
    /// Highlighted fragment (the text's start when only the vector side matched).
    pub snippet: Snippet,
}

/// The schema's field handles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) key: Field,
    pub(crate) text: Field,
    pub(crate) kind: Field,
    pub(crate) host: Field,
    pub(crate) user: Field,
    pub(crate) session: Field,
    pub(crate) unix_ms: Field,
    pub(crate) tags: Field,
    pub(crate) metadata: Field,
    pub(crate) metadata_src: Field,
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field("id", INDEXED | FAST | STORED);
    b.add_text_field("key", STRING | STORED);
    let text = TextFieldIndexing::default()
        .set_tokenizer(TEXT_TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    b.add_text_field(
        "text",
        TextOptions::default()
            .set_indexing_options(text)
            .set_stored(),
    );
    for name in ["kind", "host", "user", "session"] {
        b.add_text_field(name, STRING | FAST | STORED);
    }
    b.add_i64_field("unix_ms", INDEXED | FAST | STORED);
    b.add_text_field("tags", STRING | FAST | STORED);
    // Raw tokenizer: metadata strings match whole and case-sensitively, as in ChromaDB.
    let raw = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic);
    b.add_json_field(
        "metadata",
        JsonObjectOptions::default()
            .set_indexing_options(raw)
            .set_fast("raw"),
    );
    // The metadata as given: the JSON field normalises 5.0 to 5, the caller gets back what it sent.
    b.add_text_field("metadata_src", STORED);
    b.build()
}

impl Fields {
    fn of(schema: &Schema) -> Result<Self> {
        let get = |name: &str| {
            schema.get_field(name).map_err(|_| {
                Error::new(
                    ErrorKind::Corrupt,
                    format!("text index lacks field `{name}`: not an aios-search index"),
                )
            })
        };
        Ok(Self {
            id: get("id")?,
            key: get("key")?,
            text: get("text")?,
            kind: get("kind")?,
            host: get("host")?,
            user: get("user")?,
            session: get("session")?,
            unix_ms: get("unix_ms")?,
            tags: get("tags")?,
            metadata: get("metadata")?,
            metadata_src: get("metadata_src")?,
        })
    }
}

/// Text and vector indexes of one collection, in one directory.
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    vectors: VectorStore,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .field("model", &self.vectors.model())
            .finish()
    }
}

impl SearchIndex {
    /// Creates an empty index in `dir` (created if missing, must not hold an index) for vectors
    /// of `model` with `dim` dimensions.
    pub fn create(dir: &Path, model: &str, dim: usize) -> Result<Self> {
        let text_dir = dir.join("text");
        std::fs::create_dir_all(&text_dir)
            .map_err(io_err(format!("creating {}", text_dir.display())))?;
        let vectors = VectorStore::create(&dir.join("vectors.log"), model, dim)?;
        let index = Index::create_in_dir(&text_dir, schema()).map_err(index_err(format!(
            "creating text index in {}",
            text_dir.display()
        )))?;
        let format = dir.join(FORMAT_FILE);
        std::fs::write(&format, format!("{FORMAT_VERSION}\n"))
            .map_err(io_err(format!("writing {}", format.display())))?;
        Self::assemble(dir, index, vectors)
    }

    /// The format version of the index in `dir`: 1 for an index from before versions were
    /// recorded, `None` when `dir` holds no index or its `FORMAT` file is unreadable.
    pub fn format_of(dir: &Path) -> Option<u32> {
        if !Self::exists(dir) {
            return None;
        }
        match std::fs::read_to_string(dir.join(FORMAT_FILE)) {
            Ok(s) => s.trim().parse().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(1),
            Err(_) => None,
        }
    }

    /// True if `dir` holds an index this build cannot read as it is (another format
    /// version): it must be rebuilt from the source of truth.
    pub fn needs_rebuild(dir: &Path) -> bool {
        Self::exists(dir) && Self::format_of(dir) != Some(FORMAT_VERSION)
    }

    /// Opens the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        if Self::exists(dir) && Self::format_of(dir) != Some(FORMAT_VERSION) {
            let found =
                Self::format_of(dir).map_or_else(|| "unknown".to_owned(), |v| v.to_string());
            return Err(Error::new(
                ErrorKind::Outdated,
                format!(
                    "{}: index format {found}, this build reads format {FORMAT_VERSION}; rebuild it from its source (memoryd: `aios memory reindex`)",
                    dir.display()
                ),
            ));
        }
        let text_dir = dir.join("text");
        let vectors = VectorStore::open(&dir.join("vectors.log"))?;
        let index = Index::open_in_dir(&text_dir).map_err(index_err(format!(
            "opening text index in {}",
            text_dir.display()
        )))?;
        let mut me = Self::assemble(dir, index, vectors)?;
        me.drop_orphan_vectors()?;
        Ok(me)
    }

    /// True if `dir` looks like it holds an index.
    pub fn exists(dir: &Path) -> bool {
        dir.join("vectors.log").exists()
    }

    fn assemble(dir: &Path, index: Index, vectors: VectorStore) -> Result<Self> {
        let fields = Fields::of(&index.schema())?;
        let writer = index.writer(WRITER_HEAP).map_err(index_err(format!(
            "opening the writer of {} (is another process using it?)",
            dir.display()
        )))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_err("opening a reader"))?;
        Ok(Self {
            dir: dir.to_owned(),
            index,
            writer,
            reader,
            fields,
            vectors,
        })
    }

    fn drop_orphan_vectors(&mut self) -> Result<()> {
        let live: HashSet<u64> = self.ids_matching(&Filter::default())?.into_iter().collect();
        let orphans: Vec<u64> = self
            .vectors
            .ids()
            .iter()
            .copied()
            .filter(|id| !live.contains(id))
            .collect();
        for id in &orphans {
            self.vectors.remove(*id);
        }
        self.vectors.sync()
    }

    /// The embedding model recorded for this index.
    pub fn model(&self) -> &str {
        self.vectors.model()
    }

    /// The vector dimension recorded for this index.
    pub fn dimension(&self) -> usize {
        self.vectors.dim()
    }

    /// Number of documents.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// True when there are no documents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of documents with a vector.
    pub fn vector_count(&self) -> usize {
        self.vectors.len()
    }

    /// Builds the HNSW graph when there are at least [`crate::ANN_THRESHOLD`] vectors and it
    /// is not built yet (seconds at 10k+ vectors: call it off the request path; memoryd's
    /// indexer does). Queries never build it: until it exists they scan exactly. Returns
    /// whether vector queries now go through the graph.
    pub fn prepare_vectors(&self) -> bool {
        self.vectors.prepare()
    }

    /// The HNSW graph's parameters.
    pub fn ann_params(&self) -> crate::AnnParams {
        self.vectors.ann_params()
    }

    /// Changes the HNSW graph's parameters (benches; the defaults are the measured choice).
    /// A different M or efConstruction drops the graph until the next
    /// [`Self::prepare_vectors`]; efSearch applies to the next query.
    pub fn set_ann_params(&mut self, params: crate::AnnParams) {
        self.vectors.set_ann_params(params);
    }

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

    fn commit(&mut self) -> Result<()> {
        self.vectors.sync()?;
        self.writer.commit().map_err(index_err(format!(
            "committing the text index in {}",
            self.dir.display()
        )))?;
        self.reader
            .reload()
            .map_err(index_err("reloading the reader"))
    }

    /// Ids of every document the filter matches (unordered).
    pub fn ids_matching(&self, filter: &Filter) -> Result<Vec<u64>> {
        let query = self
            .filter_query(filter)?
            .unwrap_or_else(|| Box::new(tantivy::query::AllQuery));
        self.reader
            .searcher()
            .search(&*query, &IdCollector)
            .map_err(index_err("running the filter"))
    }

    fn filter_query(&self, filter: &Filter) -> Result<Option<Box<dyn Query>>> {
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.fields.text)
            .map_err(index_err("loading the text tokenizer"))?;
        filter.to_query(&self.fields, &mut analyzer)
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
    fn address_of(&self, searcher: &tantivy::Searcher, id: u64) -> Result<Option<DocAddress>> {
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

    /// Hybrid search: BM25 top-k ∪ vector top-k, both restricted by the filter before ranking,
    /// fused by weighted reciprocal rank.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>> {
        if req.k == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "search: k must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&req.semantic_ratio) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "search: semantic_ratio must be within 0..=1, got {}",
                    req.semantic_ratio
                ),
            ));
        }
        let text = req.text.as_deref().filter(|t| !t.trim().is_empty());
        if text.is_none() && req.vector.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "search: give query text, a query vector, or both",
            ));
        }
        // Text of punctuation only has no words: no text side (and no hits without a vector).
        let terms = match text {
            Some(t) => self.text_terms(t)?,
            None => Vec::new(),
        };
        let text = text.filter(|_| !terms.is_empty());
        // Hybrid fuses deeper lists than k; a single side needs only its top k.
        let depth = if text.is_some() && req.vector.is_some() {
            req.k.max(FUSION_DEPTH)
        } else {
            req.k
        };
        if let Some(v) = &req.vector {
            self.vectors.check("query vector", v)?;
        }
        let searcher = self.reader.searcher();
        let filter = self.filter_query(&req.filter)?;

        let mut text_query = None;
        let mut bm25: Vec<(u64, DocAddress)> = Vec::new();
        if text.is_some() {
            let q: Box<dyn Query> = Box::new(BooleanQuery::new_multiterms_query(terms));
            let ranked: Box<dyn Query> = match &filter {
                Some(fq) => Box::new(BooleanQuery::new(vec![
                    (Occur::Must, q.box_clone()),
                    (
                        Occur::Must,
                        Box::new(ConstScoreQuery::new(fq.box_clone(), 0.0)),
                    ),
                ])),
                None => q.box_clone(),
            };
            let top = searcher
                .search(&*ranked, &TopDocs::with_limit(depth).order_by_score())
                .map_err(index_err("running the text query"))?;
            // One id column per segment, not per hit: a hybrid query reads up to
            // FUSION_DEPTH ids.
            let mut ids = IdColumns::default();
            for (_, addr) in top {
                bm25.push((ids.of(&searcher, addr)?, addr));
            }
            text_query = Some(q);
        }

        let mut vec_hits: Vec<(u64, f32)> = Vec::new();
        if let Some(v) = &req.vector {
            let allowed = match &filter {
                Some(fq) => Some(
                    searcher
                        .search(&**fq, &IdCollector)
                        .map_err(index_err("running the filter"))?,
                ),
                None => None,
            };
            vec_hits = self.vectors.top_k(v, depth, allowed.as_deref());
        }

        let (w_text, w_vec) = match (text.is_some(), req.vector.is_some()) {
            (true, true) => (1.0 - req.semantic_ratio, req.semantic_ratio),
            (true, false) => (1.0, 0.0),
            _ => (0.0, 1.0),
        };
        let mut fused: HashMap<u64, Hit> = HashMap::new();
        let mut addrs: HashMap<u64, DocAddress> = HashMap::new();
        for (rank, (id, addr)) in bm25.iter().enumerate() {
            addrs.insert(*id, *addr);
            let hit = fused.entry(*id).or_insert_with(|| blank_hit(*id));
            hit.bm25_rank = Some(rank + 1);
            hit.score += w_text / (RRF_K + (rank + 1) as f32);
        }
        for (rank, (id, sim)) in vec_hits.iter().enumerate() {
            let hit = fused.entry(*id).or_insert_with(|| blank_hit(*id));
            hit.vector_rank = Some(rank + 1);
            hit.distance = Some(1.0 - sim);
            hit.score += w_vec / (RRF_K + (rank + 1) as f32);
        }
        if let Some(v) = &req.vector {
            // Text-only hits still get their distance, so every hit is comparable.
            let mut q = v.clone();
            crate::vectors::normalize(&mut q);
            for hit in fused.values_mut().filter(|h| h.distance.is_none()) {
                hit.distance = self
                    .vectors
                    .get(hit.id)
                    .map(|d| 1.0 - crate::vectors::dot(&q, d));
            }
        }
        let mut hits: Vec<Hit> = fused.into_values().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(req.k);

        let snippets = match &text_query {
            Some(q) => {
                let mut g = SnippetGenerator::create(&searcher, &**q, self.fields.text)
                    .map_err(index_err("building the snippet generator"))?;
                g.set_max_num_chars(SNIPPET_CHARS);
                Some(g)
            }
            None => None,
        };
        for hit in &mut hits {
            let addr = match addrs.get(&hit.id) {
                Some(a) => *a,
                None => match self.address_of(&searcher, hit.id)? {
                    Some(a) => a,
                    None => continue,
                },
            };
            let doc: TantivyDocument = searcher
                .doc(addr)
                .map_err(index_err("reading a stored document"))?;
            let body = doc
                .get_first(self.fields.text)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            hit.key = doc
                .get_first(self.fields.key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let generated = snippets
                .as_ref()
                .map(|g| g.snippet(body))
                .filter(|s| !s.is_empty());
            hit.snippet = match generated {
                Some(s) => Snippet {
                    text: s.fragment().to_owned(),
                    highlights: s.highlighted().to_vec(),
                },
                None => Snippet {
                    text: prefix(body, SNIPPET_CHARS).to_owned(),
                    highlights: Vec::new(),
                },
            };
        }
        Ok(hits)
    }

    /// The distinct index terms of user text (`crate::query::terms`), analysed as the
    /// `text` field's documents were.
    fn text_terms(&self, text: &str) -> Result<Vec<Term>> {
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.fields.text)
            .map_err(index_err("loading the text tokenizer"))?;
        Ok(crate::query::terms(&mut analyzer, self.fields.text, text))
    }
}

/// The `id` fast-field columns of the segments read so far.
#[derive(Default)]
struct IdColumns(HashMap<tantivy::SegmentOrdinal, tantivy::columnar::Column<u64>>);

impl IdColumns {
    /// The id of the document at `addr`.
    fn of(&mut self, searcher: &tantivy::Searcher, addr: DocAddress) -> Result<u64> {
        let col = match self.0.entry(addr.segment_ord) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .u64("id")
                    .map_err(index_err("reading ids"))?,
            ),
        };
        col.first(addr.doc_id)
            .ok_or_else(|| Error::new(ErrorKind::Corrupt, "a text document has no id; reindex"))
    }
}

fn blank_hit(id: u64) -> Hit {
    Hit {
        id,
        key: String::new(),
        score: 0.0,
        bm25_rank: None,
        vector_rank: None,
        distance: None,
        snippet: Snippet::default(),
    }
}

/// The longest prefix of `s` of at most `max` characters.
fn prefix(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
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

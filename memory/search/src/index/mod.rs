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
//!
//! Modules by responsibility: this one opens, creates and describes an index; [`schema`] is
//! the tantivy schema; [`documents`] writes and reads documents; [`search`] is the hybrid
//! query.

mod documents;
mod schema;
mod search;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy};

use crate::error::{Error, ErrorKind, Result, index_err, io_err};
use crate::filter::Filter;
use crate::vectors::VectorStore;

pub use documents::{Document, check_metadata};
pub(crate) use schema::Fields;
pub use search::{DEFAULT_SEMANTIC_RATIO, FUSION_DEPTH, Hit, RRF_K, SearchRequest, Snippet};

/// Version of the on-disk format; bump it whenever the schema or the analysis of text changes.
/// 1: text analysed by tantivy's `default` tokenizer (no file). 2: English stemming, `FORMAT`.
pub const FORMAT_VERSION: u32 = 2;
/// Name of the file holding [`FORMAT_VERSION`] in an index directory.
const FORMAT_FILE: &str = "FORMAT";
/// Heap for tantivy's indexing buffer. Small, as memoryd indexes in small batches.
const WRITER_HEAP: usize = 64 * 1024 * 1024;

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
        let index = Index::create_in_dir(&text_dir, schema::schema()).map_err(index_err(
            format!("creating text index in {}", text_dir.display()),
        ))?;
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
    /// is not built yet (seconds at 20k+ vectors: call it off the request path; memoryd's
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
}

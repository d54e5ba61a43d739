//! Long-term memory search for aiOS: a tantivy BM25 index and exact vector search over the
//! same document ids, fused with reciprocal-rank fusion, with filters applied before ranking;
//! and a ChromaDB-equivalent [`Collection`] API on top.
//!
//! Embeddings are computed elsewhere and passed in; [`Embedder`] is the seam for that.
//! This crate is synchronous and has no async runtime or RPC dependency.

mod ann;
mod collection;
mod collector;
mod embed;
mod error;
pub mod filter;
mod index;
pub mod query;
pub mod synthetic;
mod vectors;

pub use ann::{AnnParams, EF_CONSTRUCTION, EF_SEARCH, MAX_CONNECTIONS};
pub use collection::{Collection, GetRequest, GetResult, QueryRequest, QueryResult, Records};
pub use embed::{Embedder, HashingEmbedder};
pub use error::{Error, ErrorKind, Result};
pub use filter::{CmpOp, Filter, Scalar, Where, WhereDocument};
pub use index::{
    DEFAULT_SEMANTIC_RATIO, Document, FORMAT_VERSION, FUSION_DEPTH, Hit, RRF_K, SearchIndex,
    SearchRequest, Snippet, check_metadata,
};
pub use vectors::{ANN_THRESHOLD, EXACT_FILTERED_MAX};

#[doc(hidden)]
/// Exposed for the benches only: the vectorised dot product.
pub fn bench_dot(a: &[f32], b: &[f32]) -> f32 {
    vectors::dot(a, b)
}

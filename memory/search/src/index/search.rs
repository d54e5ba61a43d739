//! The hybrid query: BM25 top-k and vector top-k, both filtered before ranking, fused by
//! weighted reciprocal rank, with snippets.

use std::collections::HashMap;
use std::ops::Range;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query};
use tantivy::schema::Value as _;
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, TantivyDocument, Term};

use super::SearchIndex;
use crate::collector::IdCollector;
use crate::error::{Error, ErrorKind, Result, index_err};
use crate::filter::Filter;

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
/// Snippet length in characters.
const SNIPPET_CHARS: usize = 160;

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

impl SearchIndex {
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

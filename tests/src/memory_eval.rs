//! The memory retrieval evaluation over the committed set in `tests/eval/memory/`
//! (`docs.jsonl`, `queries.jsonl`, `VERSION`; made by `build_set.py` there): nDCG@10 and
//! recall@10 of BM25 only, vectors only and hybrid (reciprocal-rank fusion, k = 60, semantic
//! ratio 0.5) through the real `aios_search::SearchIndex`, with vectors from a real
//! [`Embedder`] (all-MiniLM-L6-v2 in the bench and the test).
//!
//! The scoring ([`ndcg_at`], [`recall_at`]) is pure; [`evaluate`] builds a temporary index.
//! [`export`] writes the documents, queries and vectors as JSON so another engine
//! (ChromaDB, `tests/bench/chroma_side.py`) is scored on exactly the same vectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aios_search::{Document, Embedder, SearchIndex, SearchRequest};
use anyhow::Context as _;
use serde_json::{Value, json};

/// Cut-off of every figure.
pub const K: usize = 10;

/// The committed set's directory.
pub fn set_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/memory")
}

/// One document of the set.
#[derive(Debug, Clone)]
pub struct EvalDoc {
    /// `d0000`…
    pub id: String,
    /// `message`, `tool_call` or `man`.
    pub kind: String,
    /// Session of a history document, empty for man pages.
    pub session: String,
    /// When, Unix milliseconds.
    pub unix_ms: i64,
    /// The text.
    pub text: String,
}

/// One query with its graded relevance (2 answers, 1 helps).
#[derive(Debug, Clone)]
pub struct EvalQuery {
    /// `q000`…
    pub id: String,
    /// The query as a user would type it.
    pub text: String,
    /// `paraphrase` or `exact`.
    pub style: String,
    /// Document id → grade.
    pub relevant: BTreeMap<String, u8>,
}

/// The set as committed.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// `VERSION`.
    pub version: String,
    /// Documents.
    pub docs: Vec<EvalDoc>,
    /// Queries.
    pub queries: Vec<EvalQuery>,
}

fn str_of(v: &Value, key: &str, what: &str) -> anyhow::Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{what}: no string {key:?}"))
}

/// Reads the set from `dir`.
pub fn load(dir: &Path) -> anyhow::Result<EvalSet> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let version = read("VERSION")?.trim().to_owned();
    let mut docs = Vec::new();
    for (n, line) in read("docs.jsonl")?.lines().enumerate() {
        let what = format!("docs.jsonl line {}", n + 1);
        let v: Value = serde_json::from_str(line).with_context(|| what.clone())?;
        docs.push(EvalDoc {
            id: str_of(&v, "id", &what)?,
            kind: str_of(&v, "kind", &what)?,
            session: str_of(&v, "session", &what)?,
            unix_ms: v
                .get("unix_ms")
                .and_then(Value::as_i64)
                .with_context(|| format!("{what}: no unix_ms"))?,
            text: str_of(&v, "text", &what)?,
        });
    }
    let mut queries = Vec::new();
    for (n, line) in read("queries.jsonl")?.lines().enumerate() {
        let what = format!("queries.jsonl line {}", n + 1);
        let v: Value = serde_json::from_str(line).with_context(|| what.clone())?;
        let relevant = v
            .get("relevant")
            .and_then(Value::as_object)
            .with_context(|| format!("{what}: no relevant"))?
            .iter()
            .map(|(k, g)| {
                let g = g
                    .as_u64()
                    .and_then(|g| u8::try_from(g).ok())
                    .with_context(|| format!("{what}: grade of {k} is not a small integer"))?;
                Ok((k.clone(), g))
            })
            .collect::<anyhow::Result<_>>()?;
        queries.push(EvalQuery {
            id: str_of(&v, "id", &what)?,
            text: str_of(&v, "text", &what)?,
            style: str_of(&v, "style", &what)?,
            relevant,
        });
    }
    Ok(EvalSet {
        version,
        docs,
        queries,
    })
}

/// nDCG@k with graded gains `2^grade - 1` and `log2(rank + 1)` discounts; 0 when nothing is
/// relevant.
pub fn ndcg_at(ranked: &[String], relevant: &BTreeMap<String, u8>, k: usize) -> f64 {
    let gain = |g: u8| f64::from((1u32 << g) - 1);
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, id)| relevant.get(id).map_or(0.0, |&g| gain(g) * discount(i)))
        .sum();
    let mut ideal: Vec<u8> = relevant.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| gain(g) * discount(i))
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Share of the relevant documents (any grade) in the first k, out of as many as fit in k.
pub fn recall_at(ranked: &[String], relevant: &BTreeMap<String, u8>, k: usize) -> f64 {
    let want = relevant.len().min(k);
    if want == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|id| relevant.contains_key(*id))
        .count();
    found as f64 / want as f64
}

/// Vectors of every document and query, in the set's order.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The model's name.
    pub model: String,
    /// One per document.
    pub docs: Vec<Vec<f32>>,
    /// One per query.
    pub queries: Vec<Vec<f32>>,
}

/// Embeds the set with `embedder`.
pub fn embed(set: &EvalSet, embedder: &dyn Embedder) -> anyhow::Result<Embedded> {
    let texts: Vec<String> = set.docs.iter().map(|d| d.text.clone()).collect();
    let docs = embedder.embed(&texts).context("embedding the documents")?;
    let texts: Vec<String> = set.queries.iter().map(|q| q.text.clone()).collect();
    let queries = embedder.embed(&texts).context("embedding the queries")?;
    Ok(Embedded {
        model: embedder.model().to_owned(),
        docs,
        queries,
    })
}

/// The three retrieval modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BM25 over the text only.
    Bm25,
    /// Exact cosine over the vectors only.
    Vector,
    /// Both, fused with RRF (k = 60), semantic ratio 0.5.
    Hybrid,
}

impl Mode {
    /// All three, in table order.
    pub const ALL: [Mode; 3] = [Mode::Bm25, Mode::Vector, Mode::Hybrid];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bm25 => "BM25 only",
            Mode::Vector => "vectors only",
            Mode::Hybrid => "hybrid (RRF k=60)",
        }
    }
}

/// Mean figures of one mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Mean nDCG@10 over every query.
    pub ndcg: f64,
    /// Mean recall@10.
    pub recall: f64,
    /// Mean nDCG@10 of the paraphrase queries.
    pub ndcg_paraphrase: f64,
    /// Mean nDCG@10 of the exact-term queries.
    pub ndcg_exact: f64,
}

/// Figures per mode, in [`Mode::ALL`] order, and the per-query ranked ids.
#[derive(Debug, Clone)]
pub struct Report {
    /// (mode, figures).
    pub modes: Vec<(Mode, Figures)>,
    /// The number of queries and documents.
    pub queries: usize,
    /// Documents.
    pub docs: usize,
}

impl Report {
    /// The figures of `mode`.
    pub fn of(&self, mode: Mode) -> Figures {
        self.modes
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, f)| *f)
            .unwrap_or_default()
    }
}

/// Mean figures of ranked lists (one per query, in the set's order).
pub fn score(set: &EvalSet, ranked: &[Vec<String>]) -> Figures {
    let mut f = Figures::default();
    let (mut np, mut ne) = (0usize, 0usize);
    for (q, r) in set.queries.iter().zip(ranked) {
        let n = ndcg_at(r, &q.relevant, K);
        f.ndcg += n;
        f.recall += recall_at(r, &q.relevant, K);
        if q.style == "exact" {
            f.ndcg_exact += n;
            ne += 1;
        } else {
            f.ndcg_paraphrase += n;
            np += 1;
        }
    }
    let n = set.queries.len().max(1) as f64;
    f.ndcg /= n;
    f.recall /= n;
    f.ndcg_exact /= ne.max(1) as f64;
    f.ndcg_paraphrase /= np.max(1) as f64;
    f
}

/// Indexes the set in a temporary directory and scores the three modes.
pub fn evaluate(set: &EvalSet, vectors: &Embedded) -> anyhow::Result<Report> {
    let dim = vectors.docs.first().map_or(0, Vec::len);
    let dir = tempfile::tempdir()?;
    let mut index = SearchIndex::create(dir.path(), &vectors.model, dim)?;
    let docs: Vec<Document> = set
        .docs
        .iter()
        .zip(&vectors.docs)
        .enumerate()
        .map(|(i, (d, v))| Document {
            id: i as u64 + 1,
            key: d.id.clone(),
            text: d.text.clone(),
            kind: d.kind.clone(),
            host: String::new(),
            user: String::new(),
            session: d.session.clone(),
            unix_ms: d.unix_ms,
            tags: Vec::new(),
            metadata: serde_json::Map::new(),
            vector: Some(v.clone()),
        })
        .collect();
    index.upsert(&docs)?;
    let mut modes = Vec::new();
    for mode in Mode::ALL {
        let mut ranked = Vec::with_capacity(set.queries.len());
        for (q, v) in set.queries.iter().zip(&vectors.queries) {
            let req = SearchRequest {
                text: (mode != Mode::Vector).then(|| q.text.clone()),
                vector: (mode != Mode::Bm25).then(|| v.clone()),
                k: K,
                semantic_ratio: 0.5,
                ..SearchRequest::default()
            };
            let hits = index
                .search(&req)
                .with_context(|| format!("query {}", q.id))?;
            ranked.push(hits.into_iter().map(|h| h.key).collect::<Vec<_>>());
        }
        modes.push((mode, score(set, &ranked)));
    }
    Ok(Report {
        modes,
        queries: set.queries.len(),
        docs: set.docs.len(),
    })
}

/// Writes the set with its vectors as one JSON object (`docs`, `queries`: id, text, kind,
/// vector; `relevant` per query) for another engine to score.
pub fn export(set: &EvalSet, vectors: &Embedded, path: &Path) -> anyhow::Result<()> {
    let docs: Vec<Value> = set
        .docs
        .iter()
        .zip(&vectors.docs)
        .map(|(d, v)| json!({"id": d.id, "text": d.text, "kind": d.kind, "unix_ms": d.unix_ms, "vector": v}))
        .collect();
    let queries: Vec<Value> = set
        .queries
        .iter()
        .zip(&vectors.queries)
        .map(|(q, v)| json!({"id": q.id, "text": q.text, "style": q.style, "relevant": q.relevant, "vector": v}))
        .collect();
    let body =
        json!({"version": set.version, "model": vectors.model, "docs": docs, "queries": queries});
    std::fs::write(path, serde_json::to_vec(&body)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
        pairs.iter().map(|(k, g)| ((*k).to_owned(), *g)).collect()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn ideal_order_scores_one_and_misses_score_zero() {
        let r = rel(&[("a", 2), ("b", 1)]);
        assert!((ndcg_at(&ids(&["a", "b", "x"]), &r, 10) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at(&ids(&["x", "y"]), &r, 10), 0.0);
        assert_eq!(ndcg_at(&ids(&["a"]), &BTreeMap::new(), 10), 0.0);
    }

    #[test]
    fn a_swapped_pair_scores_below_one_by_the_textbook_amount() {
        let r = rel(&[("a", 2), ("b", 1)]);
        // DCG = 1/log2(2) + 3/log2(3); IDCG = 3/log2(2) + 1/log2(3).
        let want = (1.0 + 3.0 / 3f64.log2()) / (3.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at(&ids(&["b", "a"]), &r, 10) - want).abs() < 1e-12);
        // Past the cut-off counts nothing.
        assert_eq!(ndcg_at(&ids(&["x", "a"]), &r, 1), 0.0);
    }

    #[test]
    fn recall_counts_relevant_hits_out_of_what_fits() {
        let r = rel(&[("a", 2), ("b", 1), ("c", 1)]);
        assert!((recall_at(&ids(&["a", "x", "c"]), &r, 10) - 2.0 / 3.0).abs() < 1e-12);
        assert!((recall_at(&ids(&["a", "b"]), &r, 2) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_committed_set_loads_and_every_query_has_an_answer_in_it() {
        let set = load(&set_dir()).unwrap();
        assert!((200..=500).contains(&set.docs.len()), "{}", set.docs.len());
        assert!(set.queries.len() >= 40, "{}", set.queries.len());
        let ids: std::collections::BTreeSet<&str> =
            set.docs.iter().map(|d| d.id.as_str()).collect();
        for q in &set.queries {
            assert!(q.relevant.values().any(|&g| g == 2), "{}", q.id);
            for id in q.relevant.keys() {
                assert!(ids.contains(id.as_str()), "{}: {id}", q.id);
            }
        }
    }
}

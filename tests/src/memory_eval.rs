//! The memory retrieval evaluation over the committed set in `tests/eval/memory/`
//! (`docs.jsonl`, `queries.jsonl`, `VERSION`; made by `build_set.py` there): nDCG@10 and
//! recall@10 of BM25 only, vectors only and hybrid (reciprocal-rank fusion, k = 60, the
//! default semantic ratio) through the real `aios_search::SearchIndex`, with vectors from a
//! real [`Embedder`] (all-MiniLM-L6-v2 in the bench and the test).
//!
//! The queries are split deterministically into two halves ([`half_of`], by a hash of the
//! query id, so neither half is the history or the man-page part): the default semantic
//! ratio is chosen on the [`Half::Tuning`] half only ([`sweep`]), and the
//! [`Half::HeldOut`] half says whether that choice generalises.
//!
//! The scoring ([`ndcg_at`], [`recall_at`]) is pure; [`evaluate`] builds a temporary index.
//! [`export`] writes the documents, queries and vectors as JSON so another engine
//! (ChromaDB, `tests/bench/chroma_side.py`) is scored on exactly the same vectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aios_search::{DEFAULT_SEMANTIC_RATIO, Document, Embedder, SearchIndex, SearchRequest};
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
    /// Both, fused with RRF (k = 60) at the default semantic ratio.
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

/// The two halves of the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// Where parameters (the semantic ratio) are chosen.
    Tuning,
    /// Never looked at while choosing.
    HeldOut,
}

impl Half {
    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Half::Tuning => "tuning half",
            Half::HeldOut => "held-out half",
        }
    }
}

/// The half a query belongs to: the parity of the FNV-1a hash of its id. Deterministic,
/// and independent of the order in which the set lists its queries.
pub fn half_of(query_id: &str) -> Half {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in query_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if h.is_multiple_of(2) {
        Half::Tuning
    } else {
        Half::HeldOut
    }
}

/// Figures per mode, in [`Mode::ALL`] order: over every query and per half.
#[derive(Debug, Clone)]
pub struct Report {
    /// The semantic ratio of the hybrid rows.
    pub ratio: f32,
    /// (mode, figures) over every query.
    pub modes: Vec<(Mode, Figures)>,
    /// (mode, figures) over the tuning half.
    pub tuning: Vec<(Mode, Figures)>,
    /// (mode, figures) over the held-out half.
    pub held_out: Vec<(Mode, Figures)>,
    /// Queries in the tuning half.
    pub tuning_queries: usize,
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
    score_where(set, ranked, |_| true)
}

/// Mean figures of the ranked lists of the queries `keep` selects.
pub fn score_where(
    set: &EvalSet,
    ranked: &[Vec<String>],
    keep: impl Fn(&EvalQuery) -> bool,
) -> Figures {
    let mut f = Figures::default();
    let (mut np, mut ne) = (0usize, 0usize);
    for (q, r) in set.queries.iter().zip(ranked).filter(|(q, _)| keep(q)) {
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
    let n = (np + ne).max(1) as f64;
    f.ndcg /= n;
    f.recall /= n;
    f.ndcg_exact /= ne.max(1) as f64;
    f.ndcg_paraphrase /= np.max(1) as f64;
    f
}

/// The set indexed in a temporary directory, ready to rank its queries.
pub struct Evaluator<'a> {
    set: &'a EvalSet,
    vectors: &'a Embedded,
    index: SearchIndex,
    _dir: tempfile::TempDir,
}

impl<'a> Evaluator<'a> {
    /// Indexes `set` with its `vectors`.
    pub fn new(set: &'a EvalSet, vectors: &'a Embedded) -> anyhow::Result<Self> {
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
        Ok(Self {
            set,
            vectors,
            index,
            _dir: dir,
        })
    }

    /// The ranked document ids of every query (in the set's order) in `mode`; `ratio` is the
    /// semantic ratio of hybrid queries.
    pub fn ranked(&self, mode: Mode, ratio: f32) -> anyhow::Result<Vec<Vec<String>>> {
        let mut ranked = Vec::with_capacity(self.set.queries.len());
        for (q, v) in self.set.queries.iter().zip(&self.vectors.queries) {
            let req = SearchRequest {
                text: (mode != Mode::Vector).then(|| q.text.clone()),
                vector: (mode != Mode::Bm25).then(|| v.clone()),
                k: K,
                semantic_ratio: ratio,
                ..SearchRequest::default()
            };
            let hits = self
                .index
                .search(&req)
                .with_context(|| format!("query {}", q.id))?;
            ranked.push(hits.into_iter().map(|h| h.key).collect::<Vec<_>>());
        }
        Ok(ranked)
    }

    /// Scores the three modes, hybrid at semantic ratio `ratio`.
    pub fn report(&self, ratio: f32) -> anyhow::Result<Report> {
        let set = self.set;
        let (mut modes, mut tuning, mut held_out) = (Vec::new(), Vec::new(), Vec::new());
        for mode in Mode::ALL {
            let ranked = self.ranked(mode, ratio)?;
            modes.push((mode, score(set, &ranked)));
            tuning.push((
                mode,
                score_where(set, &ranked, |q| half_of(&q.id) == Half::Tuning),
            ));
            held_out.push((
                mode,
                score_where(set, &ranked, |q| half_of(&q.id) == Half::HeldOut),
            ));
        }
        Ok(Report {
            ratio,
            modes,
            tuning,
            held_out,
            tuning_queries: set
                .queries
                .iter()
                .filter(|q| half_of(&q.id) == Half::Tuning)
                .count(),
            queries: set.queries.len(),
            docs: set.docs.len(),
        })
    }

    /// Hybrid figures on the tuning half at each semantic ratio of `ratios`: the only
    /// figures a ratio may be chosen by.
    pub fn sweep(&self, ratios: &[f32]) -> anyhow::Result<Vec<(f32, Figures)>> {
        ratios
            .iter()
            .map(|&r| {
                let ranked = self.ranked(Mode::Hybrid, r)?;
                Ok((
                    r,
                    score_where(self.set, &ranked, |q| half_of(&q.id) == Half::Tuning),
                ))
            })
            .collect()
    }
}

/// The ratio a sweep chooses: the best nDCG@10 at 3 decimals (finer differences are noise on
/// 34 queries), ties to the lower ratio (more weight on exact words). `None` for no rows.
pub fn choose_ratio(sweep: &[(f32, Figures)]) -> Option<f32> {
    let key = |f: &Figures| (f.ndcg * 1000.0).round() as i64;
    let mut best: Option<(f32, i64)> = None;
    for (r, f) in sweep {
        match best {
            Some((br, bk)) if key(f) < bk || (key(f) == bk && *r >= br) => {}
            _ => best = Some((*r, key(f))),
        }
    }
    best.map(|(r, _)| r)
}

/// Indexes the set in a temporary directory and scores the three modes, hybrid at the
/// default semantic ratio.
pub fn evaluate(set: &EvalSet, vectors: &Embedded) -> anyhow::Result<Report> {
    Evaluator::new(set, vectors)?.report(DEFAULT_SEMANTIC_RATIO)
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
    fn the_sweep_chooses_the_best_rounded_ndcg_and_ties_go_low() {
        let f = |ndcg: f64| Figures {
            ndcg,
            ..Figures::default()
        };
        let sweep = [
            (0.5, f(0.6712)),
            (0.9, f(0.7566)),
            (0.95, f(0.7574)),
            (1.0, f(0.733)),
        ];
        assert_eq!(choose_ratio(&sweep), Some(0.9));
        assert_eq!(choose_ratio(&sweep[2..]), Some(0.95));
        assert_eq!(choose_ratio(&[]), None);
    }

    #[test]
    fn the_halves_are_fixed_and_both_hold_history_and_man_page_queries() {
        let set = load(&set_dir()).unwrap();
        let tuning: Vec<&EvalQuery> = set
            .queries
            .iter()
            .filter(|q| half_of(&q.id) == Half::Tuning)
            .collect();
        let n = set.queries.len();
        assert!(
            (n * 2 / 5..=n * 3 / 5).contains(&tuning.len()),
            "{} of {n}",
            tuning.len()
        );
        // Queries q000..q035 are about the history, the rest about man pages.
        let history = |q: &&EvalQuery| q.id.as_str() < "q036";
        assert!(tuning.iter().any(history) && !tuning.iter().all(history));
        // Fixed by the id alone.
        assert_eq!(half_of("q000"), half_of("q000"));
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

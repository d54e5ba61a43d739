//! The memory rows of `aios-bench`: memoryd's `Search` service over its Unix socket, with
//! 10,000 documents (12 words from a 2,000-word vocabulary, a `kind` out of 10, and a
//! given 384-dimension vector each, so no embedding model is involved).
//!
//! - ingest: batches of 500 through `WriteDocuments` until the queue has drained (written,
//!   indexed by BM25 and vectors), in documents per second; and the acknowledgement alone;
//! - query latency, client to client, p50 and p99 over 300 queries: BM25 with a `kind`
//!   filter, and hybrid (text + vector) with the same filter.

use std::time::{Duration, Instant};

use aios_proto::{SearchClient, SearchDocument, SearchQuery};
use serde_json::json;

const DOCS: usize = 10_000;
const BATCH: usize = 500;
const DIM: usize = 384;
const QUERIES: usize = 300;
const VOCABULARY: u64 = 2_000;

/// Deterministic pseudo-random numbers (xorshift64), so every run ingests the same corpus
/// (the side-by-side bench draws its corpus from it too).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-0.5, 0.5).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| format!("w{}", self.next() % VOCABULARY))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.unit()).collect()
    }
}

/// One row of the table: name, n, p50, p99 (or a rate in the p50 column).
pub struct Row {
    /// What was measured.
    pub name: String,
    /// How many samples or documents.
    pub n: usize,
    /// Median (or the rate).
    pub p50: String,
    /// 99th percentile, or empty.
    pub p99: String,
}

async fn drained(c: &mut SearchClient, name: &str, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    loop {
        let s = c.status().await?;
        let col = s
            .collections
            .iter()
            .find(|x| x.name == name)
            .ok_or_else(|| anyhow::anyhow!("collection {name} vanished"))?;
        if col.backlog == 0 && col.indexed as usize == DOCS {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "indexing did not finish in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the memory benchmark against the memoryd socket `socket`.
pub async fn run(
    socket: &std::path::Path,
    pct: fn(&[Duration], usize) -> Duration,
    fmt: fn(Duration) -> String,
) -> anyhow::Result<Vec<Row>> {
    let mut c = SearchClient::new(aios_proto::connect(socket).await?);
    let name = "bench";
    c.create_collection(name, Some(("bench-random-384", DIM as u32)))
        .await?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let docs: Vec<SearchDocument> = (0..DOCS)
        .map(|i| {
            let mut metadata = serde_json::Map::new();
            metadata.insert("kind".into(), json!(format!("k{}", i % 10)));
            SearchDocument {
                id: format!("d{i}"),
                text: rng.words(12),
                metadata,
                embedding: Some(rng.vector()),
                unix_ms: 1_700_000_000_000 + i as i64,
            }
        })
        .collect();
    let started = Instant::now();
    for chunk in docs.chunks(BATCH) {
        c.write(name, false, chunk.to_vec()).await?;
    }
    let acked = started.elapsed();
    drained(&mut c, name, Duration::from_secs(600)).await?;
    let indexed = started.elapsed();
    let rate = |d: Duration| format!("{:.0} docs/s", DOCS as f64 / d.as_secs_f64());

    let mut bm25 = Vec::with_capacity(QUERIES);
    let mut hybrid = Vec::with_capacity(QUERIES);
    for i in 0..QUERIES {
        let text = rng.words(2);
        let kind = Some(format!("k{}", i % 10));
        let t = Instant::now();
        let hits = c
            .query(SearchQuery {
                collection: name.into(),
                text: Some(text.clone()),
                limit: 10,
                kind: kind.clone(),
                ..SearchQuery::default()
            })
            .await?;
        bm25.push(t.elapsed());
        anyhow::ensure!(hits.len() <= 10);
        let t = Instant::now();
        c.query(SearchQuery {
            collection: name.into(),
            text: Some(text),
            vector: Some(rng.vector()),
            limit: 10,
            kind,
            ..SearchQuery::default()
        })
        .await?;
        hybrid.push(t.elapsed());
    }
    bm25.sort_unstable();
    hybrid.sort_unstable();
    Ok(vec![
        Row {
            name: "memory ingest, vectors given, batches of 500: acknowledged (in SQLite)".into(),
            n: DOCS,
            p50: rate(acked),
            p99: String::new(),
        },
        Row {
            name: "memory ingest, vectors given: written and indexed (queue drained)".into(),
            n: DOCS,
            p50: rate(indexed),
            p99: String::new(),
        },
        Row {
            name: "memory query over the socket, BM25, `kind` filter, k=10".into(),
            n: QUERIES,
            p50: fmt(pct(&bm25, 50)),
            p99: fmt(pct(&bm25, 99)),
        },
        Row {
            name: "memory query over the socket, hybrid (text + vector), `kind` filter, k=10"
                .into(),
            n: QUERIES,
            p50: fmt(pct(&hybrid, 50)),
            p99: fmt(pct(&hybrid, 99)),
        },
    ])
}

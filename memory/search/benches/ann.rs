//! Vector-search latency *and recall* of `aios-search` once the HNSW graph is in use, with
//! and without filters; the numbers behind `ANN_THRESHOLD` and `EXACT_FILTERED_MAX`.
//!
//! Not criterion: recall needs the exact answers, and the gate is on p50/p99 per query, so
//! this harness times each query itself and prints one table row per case.
//!
//! Corpora (384 dimensions, the shape of all-MiniLM-L6-v2), from
//! [`aios_search::synthetic`] (shared with `aios-bench chroma`):
//! - `latent`: vectors `A·z + noise` with `z` in 24 dimensions and a fixed random `A`. Real
//!   sentence embeddings have a low intrinsic dimension; this mimics that.
//! - `uniform`: i.i.d. uniform coordinates, the worst case for any graph index (no
//!   structure at all); reported so nobody mistakes the `latent` numbers for a guarantee.
//!
//! Each size first times unfiltered queries by exact scan (before the graph is built), then
//! builds the graph and times every case through it; `AIOS_ANN_BENCH_EF=32,64,128` repeats
//! the unfiltered case at each efSearch, `AIOS_ANN_BENCH_M` and `AIOS_ANN_BENCH_EFC` set
//! the graph's M and efConstruction (defaults: the crate's).
//!
//! Queries are corpus vectors plus noise (a query is near something). Filters: `kind = …`
//! keeps 10%, `host = …` keeps 1%.
//!
//! Run: `cargo bench -p aios-search --bench ann` (`AIOS_ANN_BENCH_SIZES=10000,100000`,
//! `AIOS_ANN_BENCH_CORPORA=latent,uniform`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aios_search::synthetic::{VectorGen, VectorSource};
use aios_search::{AnnParams, Document, Filter, SearchIndex, SearchRequest};

const DIM: usize = 384;
const QUERIES: usize = 200;
const K: usize = 10;
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn exact(
    data: &[(u64, Vec<f32>, usize, usize)],
    q: &[f32],
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<u64> {
    let mut s: Vec<(f32, u64)> = data
        .iter()
        .filter(|(_, _, kind, host)| keep(*kind, *host))
        .map(|(id, v, _, _)| (dot(q, v), *id))
        .collect();
    s.sort_by(|a, b| b.0.total_cmp(&a.0));
    s.truncate(K);
    s.into_iter().map(|(_, id)| id).collect()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn env_list(name: &str) -> Option<Vec<usize>> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
}

fn main() {
    let sizes = env_list("AIOS_ANN_BENCH_SIZES").unwrap_or_else(|| vec![10_000, 100_000]);
    let corpora: Vec<String> = std::env::var("AIOS_ANN_BENCH_CORPORA")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_else(|| vec!["latent".into(), "uniform".into()]);
    let defaults = AnnParams::default();
    let params = AnnParams {
        max_connections: env_list("AIOS_ANN_BENCH_M")
            .and_then(|v| v.first().copied())
            .unwrap_or(defaults.max_connections),
        ef_construction: env_list("AIOS_ANN_BENCH_EFC")
            .and_then(|v| v.first().copied())
            .unwrap_or(defaults.ef_construction),
        ef_search: defaults.ef_search,
    };
    let efs = env_list("AIOS_ANN_BENCH_EF").unwrap_or_default();
    println!(
        "ANN_THRESHOLD={} EXACT_FILTERED_MAX={} {params:?} efSearch sweep {efs:?}",
        aios_search::ANN_THRESHOLD,
        aios_search::EXACT_FILTERED_MAX
    );
    println!("| corpus | n | case | p50 | p99 | recall@10 |");
    println!("|---|---|---|---|---|---|");
    for corpus in &corpora {
        for &n in &sizes {
            run(corpus, n, params, &efs);
        }
    }
}

/// Times `queries` through `idx` unfiltered; (p50, p99, recall@10 against `truth`).
fn unfiltered(
    idx: &SearchIndex,
    queries: &[(Vec<f32>, usize, usize)],
    truth: &[Vec<u64>],
) -> (Duration, Duration, f64) {
    let mut times = Vec::with_capacity(queries.len());
    let mut found = 0usize;
    let mut wanted = 0usize;
    for ((q, _, _), truth) in queries.iter().zip(truth) {
        let req = SearchRequest {
            text: None,
            vector: Some(q.clone()),
            k: K,
            filter: Filter::default(),
            semantic_ratio: 1.0,
        };
        let t = Instant::now();
        let hits = black_box(idx.search(&req).unwrap());
        times.push(t.elapsed());
        wanted += truth.len();
        found += truth
            .iter()
            .filter(|id| hits.iter().any(|h| h.id == **id))
            .count();
    }
    times.sort();
    (
        pct(&times, 0.5),
        pct(&times, 0.99),
        found as f64 / wanted.max(1) as f64,
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(corpus: &str, n: usize, params: AnnParams, efs: &[usize]) {
    let source = VectorSource::parse(corpus).unwrap_or(VectorSource::Random);
    let mut g = VectorGen::new(source, DIM, SEED);
    let data: Vec<(u64, Vec<f32>, usize, usize)> = (0..n as u64)
        .map(|id| {
            let kind = g.rng.below(10);
            let host = g.rng.below(100);
            (id, g.vector(), kind, host)
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = SearchIndex::create(&tmp.path().join("idx"), "bench", DIM).unwrap();
    idx.set_ann_params(params);
    let t = Instant::now();
    for chunk in data.chunks(10_000) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|(id, v, kind, host)| Document {
                id: *id,
                text: format!("w{} w{}", id % 997, id % 113),
                kind: format!("kind{kind}"),
                host: format!("host{host}"),
                vector: Some(v.clone()),
                ..Document::default()
            })
            .collect();
        idx.upsert(&docs).unwrap();
    }
    let ingest = t.elapsed();
    let queries: Vec<(Vec<f32>, usize, usize)> = (0..QUERIES)
        .map(|_| {
            let base = data[g.rng.below(n)].1.clone();
            let q = g.near(&base, 0.02);
            (q, g.rng.below(10), g.rng.below(100))
        })
        .collect();
    let truth: Vec<Vec<u64>> = queries
        .iter()
        .map(|(q, _, _)| exact(&data, q, |_, _| true))
        .collect();
    let (p50, p99, recall) = unfiltered(&idx, &queries, &truth);
    println!(
        "| {corpus} | {n} | vector, exact scan (no graph yet) | {:.3} ms | {:.3} ms | {recall:.3} |",
        ms(p50),
        ms(p99)
    );
    let t = Instant::now();
    let graph = idx.prepare_vectors();
    let build = t.elapsed();
    println!(
        "| {corpus} | {n} | ingest {:.0} docs/s; graph {}built in {:.1} s | | | |",
        n as f64 / ingest.as_secs_f64(),
        if graph { "" } else { "not " },
        build.as_secs_f64()
    );
    for &ef in efs {
        idx.set_ann_params(AnnParams {
            ef_search: ef,
            ..params
        });
        let (p50, p99, recall) = unfiltered(&idx, &queries, &truth);
        println!(
            "| {corpus} | {n} | vector (graph, efSearch {ef}) | {:.3} ms | {:.3} ms | {recall:.3} |",
            ms(p50),
            ms(p99)
        );
    }
    idx.set_ann_params(params);
    type Keep = fn(usize, usize, usize, usize) -> bool;
    let cases: [(&str, u8, bool, Keep); 5] = [
        ("vector", 0, false, |_, _, _, _| true),
        ("vector, kind (10%)", 1, false, |k, _, qk, _| k == qk),
        ("vector, host (1%)", 2, false, |_, h, _, qh| h == qh),
        ("hybrid, kind (10%)", 1, true, |k, _, qk, _| k == qk),
        ("hybrid, host (1%)", 2, true, |_, h, _, qh| h == qh),
    ];
    for (name, filter_kind, hybrid, keep) in cases {
        let mut times = Vec::with_capacity(QUERIES);
        let mut found = 0usize;
        let mut wanted = 0usize;
        for (q, qk, qh) in &queries {
            let filter = match filter_kind {
                1 => Filter {
                    kind: Some(format!("kind{qk}")),
                    ..Filter::default()
                },
                2 => Filter {
                    host: Some(format!("host{qh}")),
                    ..Filter::default()
                },
                _ => Filter::default(),
            };
            let req = SearchRequest {
                text: hybrid.then(|| format!("w{} w{}", qk * 7, qh * 3)),
                vector: Some(q.clone()),
                k: K,
                filter,
                semantic_ratio: if hybrid { 0.5 } else { 1.0 },
            };
            let t = Instant::now();
            let hits = black_box(idx.search(&req).unwrap());
            times.push(t.elapsed());
            let truth = exact(&data, q, |k, h| keep(k, h, *qk, *qh));
            let mut got: Vec<u64> = hits
                .iter()
                .filter(|h| h.vector_rank.is_some())
                .map(|h| h.id)
                .collect();
            got.truncate(K);
            wanted += truth.len();
            found += truth.iter().filter(|id| got.contains(id)).count();
        }
        times.sort();
        println!(
            "| {corpus} | {n} | {name} | {:.3} ms | {:.3} ms | {:.3} |",
            pct(&times, 0.5).as_secs_f64() * 1e3,
            pct(&times, 0.99).as_secs_f64() * 1e3,
            found as f64 / wanted.max(1) as f64
        );
    }
}

//! Vector-search latency *and recall* of `aios-search` once the HNSW graph is in use, with
//! and without filters; the numbers behind `ANN_THRESHOLD` and `EXACT_FILTERED_MAX`.
//!
//! Not criterion: recall needs the exact answers, and the gate is on p50/p99 per query, so
//! this harness times each query itself and prints one table row per case.
//!
//! Corpora (384 dimensions, the shape of all-MiniLM-L6-v2):
//! - `latent`: vectors `A·z + noise` with `z` in 24 dimensions and a fixed random `A`. Real
//!   sentence embeddings have a low intrinsic dimension; this mimics that.
//! - `uniform`: i.i.d. uniform coordinates, the worst case for any graph index (no
//!   structure at all); reported so nobody mistakes the `latent` numbers for a guarantee.
//!
//! Queries are corpus vectors plus noise (a query is near something). Filters: `kind = …`
//! keeps 10%, `host = …` keeps 1%.
//!
//! Run: `cargo bench -p aios-search --bench ann` (`AIOS_ANN_BENCH_SIZES=10000,100000`,
//! `AIOS_ANN_BENCH_CORPORA=latent,uniform`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aios_search::{Document, Filter, SearchIndex, SearchRequest};

const DIM: usize = 384;
const LATENT: usize = 24;
const QUERIES: usize = 200;
const K: usize = 10;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

struct Gen {
    rng: Rng,
    basis: Vec<f32>,
    latent: bool,
}

impl Gen {
    fn new(latent: bool) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let basis = (0..DIM * LATENT).map(|_| rng.unit()).collect();
        Self { rng, basis, latent }
    }
    fn vector(&mut self) -> Vec<f32> {
        let mut v = if self.latent {
            let z: Vec<f32> = (0..LATENT).map(|_| self.rng.unit()).collect();
            (0..DIM)
                .map(|d| {
                    let row = &self.basis[d * LATENT..(d + 1) * LATENT];
                    row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.05 * self.rng.unit()
                })
                .collect()
        } else {
            (0..DIM).map(|_| self.rng.unit()).collect::<Vec<f32>>()
        };
        normalise(&mut v);
        v
    }
}

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

fn main() {
    let sizes: Vec<usize> = std::env::var("AIOS_ANN_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let corpora: Vec<String> = std::env::var("AIOS_ANN_BENCH_CORPORA")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_else(|| vec!["latent".into(), "uniform".into()]);
    println!(
        "ANN_THRESHOLD={} EXACT_FILTERED_MAX={}",
        aios_search::ANN_THRESHOLD,
        aios_search::EXACT_FILTERED_MAX
    );
    println!("| corpus | n | case | p50 | p99 | recall@10 |");
    println!("|---|---|---|---|---|---|");
    for corpus in &corpora {
        for &n in &sizes {
            run(corpus, n);
        }
    }
}

fn run(corpus: &str, n: usize) {
    let mut g = Gen::new(corpus == "latent");
    let data: Vec<(u64, Vec<f32>, usize, usize)> = (0..n as u64)
        .map(|id| {
            let kind = g.rng.below(10);
            let host = g.rng.below(100);
            (id, g.vector(), kind, host)
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = SearchIndex::create(&tmp.path().join("idx"), "bench", DIM).unwrap();
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
    let t = Instant::now();
    let graph = idx.prepare_vectors();
    let build = t.elapsed();
    println!(
        "| {corpus} | {n} | ingest {:.0} docs/s; graph {} built in {:.1} s | | | |",
        n as f64 / ingest.as_secs_f64(),
        if graph { "" } else { "not" },
        build.as_secs_f64()
    );
    let queries: Vec<(Vec<f32>, usize, usize)> = (0..QUERIES)
        .map(|_| {
            let base = &data[g.rng.below(n)].1;
            let mut q: Vec<f32> = base.iter().map(|x| x + 0.02 * g.rng.unit()).collect();
            normalise(&mut q);
            (q, g.rng.below(10), g.rng.below(100))
        })
        .collect();
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

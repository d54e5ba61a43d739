//! Query latency and indexing throughput of `aios-search`.
//!
//! Corpus: N documents with a 384-dimension random unit vector (the shape of
//! all-MiniLM-L6-v2) and a short text of 12 words drawn from a 2,000-word vocabulary; `kind`
//! is one of 10 values, so `kind = …` keeps 10%. Queries cycle through 64 precomputed ones.
//!
//! - `query/N/{text,vector,hybrid}`: unfiltered, k = 10;
//! - `query/N/{vector,hybrid}_filtered`: with `kind = …`, filter applied before ranking;
//! - `query/N/filter_ids_only`: the ids matching `kind = …`, the vector side's first step;
//! - `ingest/10k`: upsert of 10,000 documents (vectors given) in batches of 1,000, with commits.
//!
//! Run: `cargo bench -p aios-search --bench search` (medians in
//! `$CARGO_TARGET_DIR/criterion/*/new/estimates.json`). `AIOS_SEARCH_BENCH_SIZES=10000`
//! restricts the corpus sizes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use aios_search::{Document, Filter, SearchIndex, SearchRequest};
use criterion::{BatchSize, Criterion, Throughput};

const DIM: usize = 384;
const VOCAB: usize = 2000;
const KINDS: usize = 10;

/// xorshift64*: deterministic, dependency-free; quality is irrelevant for a benchmark corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vector(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.unit()).collect()
    }
}

fn word(i: usize) -> String {
    // Pronounceable, distinct words: "w" + base-26 digits.
    let mut s = String::from("w");
    let mut n = i;
    loop {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    s
}

fn corpus(rng: &mut Rng, start: u64, n: usize) -> Vec<Document> {
    (0..n as u64)
        .map(|i| Document {
            id: start + i,
            text: (0..12)
                .map(|_| word(rng.below(VOCAB)))
                .collect::<Vec<_>>()
                .join(" "),
            kind: format!("kind{}", rng.below(KINDS)),
            host: "bench".into(),
            unix_ms: (start + i) as i64,
            vector: Some(rng.vector()),
            ..Document::default()
        })
        .collect()
}

fn build(dir: &std::path::Path, n: usize) -> SearchIndex {
    let mut idx = SearchIndex::create(dir, "bench-random", DIM).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let batch = 10_000;
    let mut start = 0;
    while start < n {
        let take = batch.min(n - start);
        idx.upsert(&corpus(&mut rng, start as u64, take)).unwrap();
        start += take;
    }
    idx
}

fn sizes() -> Vec<usize> {
    std::env::var("AIOS_SEARCH_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000])
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    for n in sizes() {
        let tmp = tempfile::tempdir().unwrap();
        let idx = build(&tmp.path().join("idx"), n);
        let mut rng = Rng(42);
        let queries: Vec<(String, Vec<f32>, Filter)> = (0..64)
            .map(|_| {
                let text = format!("{} {}", word(rng.below(VOCAB)), word(rng.below(VOCAB)));
                let filter = Filter {
                    kind: Some(format!("kind{}", rng.below(KINDS))),
                    ..Filter::default()
                };
                (text, rng.vector(), filter)
            })
            .collect();
        let label = format!("{}k", n / 1000);
        println!(
            "{n} docs: the first filter keeps {} ids",
            idx.ids_matching(&queries[0].2).unwrap().len()
        );
        let mut g = c.benchmark_group(format!("query/{label}"));
        let cases: [(&str, bool, bool, bool); 5] = [
            ("text", true, false, false),
            ("vector", false, true, false),
            ("hybrid", true, true, false),
            ("vector_filtered", false, true, true),
            ("hybrid_filtered", true, true, true),
        ];
        for (name, text, vector, filtered) in cases {
            let mut i = 0usize;
            g.bench_function(name, |b| {
                b.iter(|| {
                    let (t, v, f) = &queries[i % queries.len()];
                    i += 1;
                    let req = SearchRequest {
                        text: text.then(|| t.clone()),
                        vector: vector.then(|| v.clone()),
                        k: 10,
                        filter: if filtered {
                            f.clone()
                        } else {
                            Filter::default()
                        },
                        semantic_ratio: 0.5,
                    };
                    black_box(idx.search(&req).unwrap())
                });
            });
        }
        let mut i = 0usize;
        g.bench_function("filter_ids_only", |b| {
            b.iter(|| {
                i += 1;
                black_box(idx.ids_matching(&queries[i % queries.len()].2).unwrap())
            });
        });
        g.finish();
    }

    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).throughput(Throughput::Elements(10_000));
    g.bench_function("10k", |b| {
        b.iter_batched(
            || {
                let tmp = tempfile::tempdir().unwrap();
                let docs = corpus(&mut Rng(7), 0, 10_000);
                (tmp, docs)
            },
            |(tmp, docs)| {
                let mut idx =
                    SearchIndex::create(&tmp.path().join("idx"), "bench-random", DIM).unwrap();
                for chunk in docs.chunks(1000) {
                    idx.upsert(chunk).unwrap();
                }
                black_box(idx.len());
                tmp
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

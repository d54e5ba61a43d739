//! The memory retrieval gate of issue #11: on the committed evaluation set
//! (`tests/eval/memory/`), with the real all-MiniLM-L6-v2 embedder, hybrid search
//! (RRF k = 60) scores an nDCG@10 at least as high as BM25 alone and as vectors alone.
//! `cargo xtask test` fetches the model first (`cargo xtask model fetch all-minilm-l6-v2`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_tests::memory_eval::{self, Mode};

// Measured 2026-12-03 on set v2 (107 queries): BM25 0.612, vectors 0.718, hybrid 0.734 at
// the default semantic ratio 0.9 (docs/memory-search.md, "Retrieval quality on set v2"; v1's
// 68 queries: 0.533, 0.731, 0.741). The assertions are the issue's: hybrid at least each
// single side.
#[test]
fn hybrid_ndcg_is_at_least_each_single_side_on_the_evaluation_set() {
    let set = memory_eval::load(&memory_eval::set_dir()).unwrap();
    let embedder = aios_embed::MiniLm::load_default().expect(
        "all-MiniLM-L6-v2 is not installed: run `cargo xtask model fetch all-minilm-l6-v2`",
    );
    let vectors = memory_eval::embed(&set, &embedder).unwrap();
    let report = memory_eval::evaluate(&set, &vectors).unwrap();
    let (bm25, vector, hybrid) = (
        report.of(Mode::Bm25),
        report.of(Mode::Vector),
        report.of(Mode::Hybrid),
    );
    eprintln!("nDCG@10: BM25 {bm25:?}\nvectors {vector:?}\nhybrid {hybrid:?}");
    for f in [bm25, vector, hybrid] {
        assert!(f.ndcg.is_finite() && f.ndcg > 0.0 && f.ndcg <= 1.0, "{f:?}");
    }
    assert!(
        hybrid.ndcg >= bm25.ndcg,
        "hybrid {hybrid:?} below BM25 {bm25:?}"
    );
    assert!(
        hybrid.ndcg >= vector.ndcg,
        "hybrid {hybrid:?} below vectors {vector:?}"
    );
}

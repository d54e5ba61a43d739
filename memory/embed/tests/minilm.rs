//! all-MiniLM-L6-v2 through candle, against what sentence-transformers publishes for it.
//!
//! Needs the weights: `cargo xtask model fetch all-minilm-l6-v2` (`cargo xtask test` does it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use aios_embed::{MODEL_NAME, MiniLm};
use aios_search::Embedder;

fn model() -> &'static MiniLm {
    static M: OnceLock<MiniLm> = OnceLock::new();
    M.get_or_init(|| {
        MiniLm::load_default().unwrap_or_else(|e| {
            panic!("{e}\n(fetch the weights with `cargo xtask model fetch all-minilm-l6-v2`)")
        })
    })
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let texts: Vec<String> = texts.iter().map(|s| (*s).to_string()).collect();
    model().embed(&texts).unwrap()
}

#[test]
fn matches_the_similarities_sentence_transformers_publishes() {
    // The sentence-transformers README's example for this model prints
    // [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]].
    let v = embed(&[
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ]);
    let got = [cos(&v[0], &v[1]), cos(&v[0], &v[2]), cos(&v[1], &v[2])];
    let want = [0.6660, 0.1046, 0.1411];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 0.005, "got {got:?}, want {want:?}");
    }
}

#[test]
fn vectors_are_unit_length_384_wide_and_named() {
    let m = model();
    assert_eq!(m.model(), MODEL_NAME);
    assert_eq!(Embedder::dimension(m), 384);
    for v in embed(&["", "a", &"long text ".repeat(400)]) {
        assert_eq!(v.len(), 384);
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "norm {n}");
    }
}

#[test]
fn similar_pairs_are_closer_than_dissimilar_ones() {
    let pairs = [
        (
            "how do I make a file immutable",
            "chattr +i sets the immutable attribute on a file",
            "the nginx service failed to start",
        ),
        (
            "the disk is almost full",
            "free space on the filesystem is running out",
            "a new user account was created",
        ),
        (
            "restart the web server",
            "systemctl restart nginx",
            "list the largest files in /var",
        ),
        (
            "failed ssh login attempts",
            "authentication failure for sshd from 10.0.0.5",
            "the backup job finished successfully",
        ),
    ];
    for (q, near, far) in pairs {
        let v = embed(&[q, near, far]);
        let (n, f) = (cos(&v[0], &v[1]), cos(&v[0], &v[2]));
        assert!(n > f, "{q:?}: near {n} should exceed far {f}");
    }
}

#[test]
fn batching_and_order_do_not_change_vectors() {
    let texts = [
        "short",
        "a somewhat longer sentence about disks",
        "mid length text",
    ];
    let together = embed(&texts);
    for (i, t) in texts.iter().enumerate() {
        let alone = embed(&[t]);
        let c = cos(&alone[0], &together[i]);
        assert!(c > 0.9999, "{t:?}: cosine {c} between batched and alone");
    }
}

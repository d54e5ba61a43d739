//! The [`Embedder`] seam (real models plug in later) and a hashing embedder for tests.

use crate::error::{Error, ErrorKind, Result};

/// Turns texts into vectors. Implementations are expected to batch; this crate never calls
/// one on its own, except `Collection::query` with `query_texts` when one is configured.
pub trait Embedder: Send + Sync {
    /// Name recorded in each collection, so vectors of different models are never mixed.
    fn model(&self) -> &str;
    /// Length of every vector `embed` returns.
    fn dimension(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// **Not semantic: for tests and benches only.** Feature-hashes lower-cased words into
/// `dimension` buckets and normalises, so texts sharing words are close and nothing else is.
/// Deterministic across runs and machines (FNV-1a, no random seed).
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dimension: usize,
}

impl HashingEmbedder {
    /// The model name it records; says what it is so it is never mistaken for a real model.
    pub const MODEL: &'static str = "aios-hashing-test-embedder-not-semantic";

    /// An embedder producing `dimension`-long vectors.
    pub fn new(dimension: usize) -> Result<Self> {
        if dimension == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "HashingEmbedder: dimension must be > 0",
            ));
        }
        Ok(Self { dimension })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Embedder for HashingEmbedder {
    fn model(&self) -> &str {
        Self::MODEL
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|text| {
                let mut v = vec![0f32; self.dimension];
                for word in text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let h = fnv1a(word.to_lowercase().as_bytes());
                    // dimension fits in u64 on every target we build for.
                    let bucket = (h % self.dimension as u64) as usize;
                    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
                    if let Some(slot) = v.get_mut(bucket) {
                        *slot += sign;
                    }
                }
                crate::vectors::normalize(&mut v);
                v
            })
            .collect())
    }
}

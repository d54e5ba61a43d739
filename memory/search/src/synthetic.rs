//! Synthetic embedding-like vectors for benchmarks (`benches/ann.rs`, `aios-bench chroma`),
//! deterministic from a seed, so every bench and both engines of a side by side see the
//! same numbers.
//!
//! Two sources:
//! - [`VectorSource::Latent`]: `A·z + noise`, with `z` uniform in [`LATENT_DIM`] dimensions,
//!   a fixed random `A` (`dim × LATENT_DIM`) and a little uniform noise in every
//!   coordinate, normalised. Real sentence embeddings have a low intrinsic dimension; this
//!   mimics that structure (which any graph index exploits).
//! - [`VectorSource::Random`]: i.i.d. uniform coordinates, normalised: no structure at all,
//!   the worst case for any graph index. Reported beside `latent` so nobody mistakes the
//!   `latent` figures for a guarantee.
//!
//! Not for production use: nothing here is an embedding of any text.

/// The intrinsic dimension of [`VectorSource::Latent`] vectors.
pub const LATENT_DIM: usize = 24;
/// Amplitude of the uniform noise added to every coordinate of a latent vector (the
/// coordinates of `A·z` have a standard deviation of about 1.6).
pub const LATENT_NOISE: f32 = 0.05;

/// Which kind of synthetic vectors to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorSource {
    /// Low intrinsic dimension, like real embeddings: `A·z + noise`.
    Latent,
    /// Uniform random directions: no structure.
    Random,
}

impl VectorSource {
    /// Parses `latent` or `random` (`uniform` is accepted for `random`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "latent" => Some(Self::Latent),
            "random" | "uniform" => Some(Self::Random),
            _ => None,
        }
    }

    /// The name [`Self::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Latent => "latent",
            Self::Random => "random",
        }
    }
}

/// xorshift64* (Vigna): small, fast and good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits. A zero state would stay zero: seed with a non-zero value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// Uniform in `0..n` (`n` > 0; modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// A deterministic stream of unit vectors of one [`VectorSource`].
#[derive(Debug, Clone)]
pub struct VectorGen {
    /// The generator's random stream; callers may draw from it too (kinds, hosts, queries),
    /// which keeps a whole synthetic corpus reproducible from one seed.
    pub rng: Rng,
    basis: Vec<f32>,
    source: VectorSource,
    dim: usize,
}

impl VectorGen {
    /// A generator of `dim`-dimensional vectors seeded with `seed` (non-zero). The latent
    /// basis `A` is drawn first from the same stream, for both sources, so the stream of a
    /// given seed does not depend on the source.
    pub fn new(source: VectorSource, dim: usize, seed: u64) -> Self {
        let mut rng = Rng(seed.max(1));
        let basis = (0..dim * LATENT_DIM).map(|_| rng.unit()).collect();
        Self {
            rng,
            basis,
            source,
            dim,
        }
    }

    /// The source this generator draws from.
    pub fn source(&self) -> VectorSource {
        self.source
    }

    /// The next unit vector.
    pub fn vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = match self.source {
            VectorSource::Latent => {
                let z: Vec<f32> = (0..LATENT_DIM).map(|_| self.rng.unit()).collect();
                self.basis
                    .chunks_exact(LATENT_DIM)
                    .map(|row| {
                        row.iter().zip(&z).map(|(a, b)| a * b).sum::<f32>()
                            + LATENT_NOISE * self.rng.unit()
                    })
                    .collect()
            }
            VectorSource::Random => (0..self.dim).map(|_| self.rng.unit()).collect(),
        };
        normalise(&mut v);
        v
    }

    /// A unit vector near `base`: `base` plus uniform noise of amplitude `noise` in every
    /// coordinate, normalised (a query "about" a known document).
    pub fn near(&mut self, base: &[f32], noise: f32) -> Vec<f32> {
        let mut v: Vec<f32> = base.iter().map(|x| x + noise * self.rng.unit()).collect();
        normalise(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_and_reproducible() {
        for source in [VectorSource::Latent, VectorSource::Random] {
            let mut a = VectorGen::new(source, 384, 7);
            let mut b = VectorGen::new(source, 384, 7);
            for _ in 0..3 {
                let (x, y) = (a.vector(), b.vector());
                assert_eq!(x, y);
                assert_eq!(x.len(), 384);
                let norm: f32 = x.iter().map(|v| v * v).sum();
                assert!((norm - 1.0).abs() < 1e-4, "{source:?}: |v|² = {norm}");
            }
        }
    }

    #[test]
    fn latent_vectors_have_low_intrinsic_dimension() {
        // Two latent vectors are far more often similar than two random ones: their
        // coordinates share a 24-dimensional span.
        let mean_abs_cos = |source| {
            let mut g = VectorGen::new(source, 384, 11);
            let vs: Vec<Vec<f32>> = (0..40).map(|_| g.vector()).collect();
            let mut sum = 0.0;
            let mut n = 0.0;
            for (i, a) in vs.iter().enumerate() {
                for b in &vs[i + 1..] {
                    sum += a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>().abs();
                    n += 1.0;
                }
            }
            sum / n
        };
        let latent = mean_abs_cos(VectorSource::Latent);
        let random = mean_abs_cos(VectorSource::Random);
        assert!(latent > 2.0 * random, "latent {latent} vs random {random}");
    }

    #[test]
    fn sources_parse_by_name() {
        for s in [VectorSource::Latent, VectorSource::Random] {
            assert_eq!(VectorSource::parse(s.name()), Some(s));
        }
        assert_eq!(VectorSource::parse("gaussian"), None);
    }
}

//! The vector side: an append-only log of f32 vectors keyed by document id, held in memory
//! normalised, searched exactly by brute-force cosine.
//!
//! File `vectors.log`: header `b"AIOSVEC1"`, `u32` dimension, `u32` model-name length, the
//! model name (UTF-8); then records `u8 op` (1 = put, 2 = delete), `u64 id`, and for a put
//! `dimension` f32s. All little-endian. The last record for an id wins; replaying the log
//! rebuilds the id map. A torn last record (crash mid-append) is cut off on open.
//!
//! Search is exact below [`ANN_THRESHOLD`] vectors and through an HNSW graph ([`crate::ann`])
//! above it once [`VectorStore::prepare`] has built the graph from the in-memory vectors (it
//! is never persisted); until then, and while a graph dropped for rebuilding is not yet
//! rebuilt, queries scan exactly.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::ann::{Ann, AnnParams};

use crate::error::{Error, ErrorKind, Result, io_err};

const MAGIC: &[u8; 8] = b"AIOSVEC1";
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
/// Names longer than this are refused: the header must stay small and a bad length must not
/// make us allocate gigabytes.
const MAX_MODEL_NAME: usize = 1024;
/// Larger than any embedding model we know of; a header above it is corruption.
pub(crate) const MAX_DIMENSION: usize = 65_536;
/// From this many vectors on, unfiltered queries go through HNSW. Measured in release on
/// latent 384-dim corpora (docs/memory-search.md, session 13), exact scan against the graph
/// at efSearch 64, p50: 0.53 vs 0.89 ms at 10k, 1.44 vs 1.83 ms at 20k, 2.54 vs 1.87 ms at
/// 30k. The crossover lies between 20k and 30k, so below 20k the graph costs its build and
/// a second copy of the vectors for slower, inexact answers.
pub const ANN_THRESHOLD: usize = 20_000;
/// A filter keeping at most this many vectors is answered by an exact scan of just those,
/// which is exact and, at this size, no slower than a filtered graph walk (see
/// docs/memory-search.md for the measurement).
pub const EXACT_FILTERED_MAX: usize = 20_000;
/// The widest candidate list a filtered graph search may use.
const MAX_FILTERED_EF: usize = 1024;

/// Hasher of document ids for the id -> slot and id -> label maps. A filtered query looks up
/// every matching id (10k lookups for a `where kind=` at 100k documents), and the std
/// SipHash costs more than the rest of the lookup; ids come from our own store, not from an
/// attacker choosing collisions. A folded 64×64 -> 128-bit multiply spreads the high bits
/// into the low ones, so ids that are multiples of a power of two do not share buckets (a
/// plain multiply, as in FxHash, keeps their low bits zero).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed in this crate; other input still hashes, byte by byte.
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let p = u128::from(self.0 ^ x) * 0x9e37_79b9_7f4a_7c15_u128;
        // The two halves of the product, folded: truncation is the point.
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

/// A map keyed by document id, with [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Vectors scored ahead of the one being scored in a filtered scan. Matches are scattered
/// (one slot in ten for a `where kind=` of ten kinds), so the hardware prefetcher, which
/// follows sequential lines within a page, misses the first lines of every vector; asking
/// for a few vectors ahead hides that latency behind the dot products.
const PREFETCH_AHEAD: usize = 4;

/// Asks the CPU to start loading `v` into cache. A hint only: it changes no result.
#[inline]
fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // 16 f32s per 64-byte cache line.
        for line in v.chunks(16) {
            // SAFETY: a prefetch never faults and reads nothing into the program; the pointer
            // comes from a live slice anyway. SSE is part of the x86_64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Scales `v` to unit length in place (a zero vector stays zero), so cosine is a dot product.
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Dot product in eight independent lanes so LLVM emits SIMD without fast-math; the
/// fixed-size chunks carry their length in the type, so the inner loop has no bounds checks.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (a_chunks, a_rest) = a.as_chunks::<8>();
    let (b_chunks, b_rest) = b.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += xi * yi;
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// Vectors of one embedding model, by document id.
#[derive(Debug)]
pub(crate) struct VectorStore {
    path: PathBuf,
    file: File,
    model: String,
    dim: usize,
    /// Normalised vectors, `dim` floats per slot, contiguous for the scan.
    data: Vec<f32>,
    /// Slot -> document id.
    ids: Vec<u64>,
    /// Document id -> slot.
    slots: IdMap<usize>,
    /// Records appended since the last `sync`.
    pending: Vec<u8>,
    /// The HNSW graph, built by [`Self::prepare`] once there are [`ANN_THRESHOLD`] vectors.
    ann: OnceLock<Ann>,
    /// The graph's parameters.
    params: AnnParams,
}

impl VectorStore {
    /// Creates `path` with a header recording `model` and `dim`; fails if it exists.
    pub(crate) fn create(path: &Path, model: &str, dim: usize) -> Result<Self> {
        if model.is_empty() || model.len() > MAX_MODEL_NAME {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "embedding model name must be 1..={MAX_MODEL_NAME} bytes, got {}",
                    model.len()
                ),
            ));
        }
        if dim == 0 || dim > MAX_DIMENSION {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("vector dimension must be 1..={MAX_DIMENSION}, got {dim}"),
            ));
        }
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(io_err(format!("creating vector log {}", path.display())))?;
        let mut header = Vec::with_capacity(16 + model.len());
        header.extend_from_slice(MAGIC);
        // Both bounded above by the checks at the top of this function.
        header.extend_from_slice(&(dim as u32).to_le_bytes());
        header.extend_from_slice(&(model.len() as u32).to_le_bytes());
        header.extend_from_slice(model.as_bytes());
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(io_err(format!("writing header of {}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            file,
            model: model.to_owned(),
            dim,
            data: Vec::new(),
            ids: Vec::new(),
            slots: IdMap::default(),
            pending: Vec::new(),
            ann: OnceLock::new(),
            params: AnnParams::default(),
        })
    }

    /// Opens and replays `path`, cutting off a torn last record.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let shown = path.display();
        let mut file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(path)
            .map_err(io_err(format!("opening vector log {shown}")))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_err(format!("reading vector log {shown}")))?;
        let corrupt = |what: String| {
            Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{shown}: {what}; this file was not written by aios-search or is damaged: rebuild it with `aios memory reindex`"
                ),
            )
        };
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(corrupt("missing AIOSVEC1 header".into()));
        }
        let dim = u32_at(&bytes, 8) as usize;
        let name_len = u32_at(&bytes, 12) as usize;
        if dim == 0 || dim > MAX_DIMENSION {
            return Err(corrupt(format!("header dimension {dim} out of range")));
        }
        if name_len == 0 || name_len > MAX_MODEL_NAME || bytes.len() < 16 + name_len {
            return Err(corrupt(format!(
                "header model-name length {name_len} out of range"
            )));
        }
        let model = std::str::from_utf8(&bytes[16..16 + name_len])
            .map_err(|_| corrupt("model name is not UTF-8".into()))?
            .to_owned();
        let mut store = Self {
            path: path.to_owned(),
            file,
            model,
            dim,
            data: Vec::new(),
            ids: Vec::new(),
            slots: IdMap::default(),
            pending: Vec::new(),
            ann: OnceLock::new(),
            params: AnnParams::default(),
        };
        let mut pos = 16 + name_len;
        let put_len = 9 + 4 * dim;
        while pos < bytes.len() {
            let op = bytes[pos];
            let need = match op {
                OP_PUT => put_len,
                OP_DELETE => 9,
                other => return Err(corrupt(format!("unknown record op {other} at byte {pos}"))),
            };
            if pos + need > bytes.len() {
                // A crash mid-append leaves a partial record; it was never acknowledged.
                let keep = pos as u64;
                store
                    .file
                    .set_len(keep)
                    .map_err(io_err(format!("truncating torn record in {shown}")))?;
                break;
            }
            let id = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().unwrap_or_default());
            if op == OP_PUT {
                let floats: Vec<f32> = bytes[pos + 9..pos + need]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                store.put_in_memory(id, &floats);
            } else {
                store.remove_in_memory(id);
            }
            pos += need;
        }
        Ok(store)
    }

    /// The embedding model recorded in the header.
    pub(crate) fn model(&self) -> &str {
        &self.model
    }

    /// The dimension recorded in the header.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// Number of live vectors.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Ids of all live vectors.
    pub(crate) fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Checks a vector before anything is written, naming the item at fault.
    pub(crate) fn check(&self, what: &str, v: &[f32]) -> Result<()> {
        if v.len() != self.dim {
            return Err(Error::new(
                ErrorKind::DimensionMismatch,
                format!(
                    "{what}: vector has {} dimensions but this collection's model `{}` has {}; embed with the same model or create a new collection",
                    v.len(),
                    self.model,
                    self.dim
                ),
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{what}: vector contains NaN or infinity"),
            ));
        }
        Ok(())
    }

    /// Sets the vector of `id` (the caller has run [`Self::check`]). Durable after `sync`.
    pub(crate) fn put(&mut self, id: u64, v: &[f32]) {
        self.pending.push(OP_PUT);
        self.pending.extend_from_slice(&id.to_le_bytes());
        for x in v {
            self.pending.extend_from_slice(&x.to_le_bytes());
        }
        self.put_in_memory(id, v);
        if let (Some(ann), Some(&slot)) = (self.ann.get_mut(), self.slots.get(&id)) {
            ann.put(id, &self.data[slot * self.dim..(slot + 1) * self.dim]);
        }
    }

    /// Removes the vector of `id`, if any. Durable after `sync`.
    pub(crate) fn remove(&mut self, id: u64) {
        if self.slots.contains_key(&id) {
            self.pending.push(OP_DELETE);
            self.pending.extend_from_slice(&id.to_le_bytes());
            self.remove_in_memory(id);
            if let Some(ann) = self.ann.get_mut() {
                ann.remove(id);
                if ann.needs_rebuild() {
                    // Rebuilt lazily by the next query that needs it.
                    self.ann = OnceLock::new();
                }
            }
        }
    }

    /// The HNSW parameters in use.
    pub(crate) fn ann_params(&self) -> AnnParams {
        self.params
    }

    /// Changes the HNSW parameters. A different M or efConstruction drops the graph (the
    /// next [`Self::prepare`] builds one with them; queries scan exactly meanwhile).
    pub(crate) fn set_ann_params(&mut self, params: AnnParams) {
        if !params.same_graph(&self.params) {
            self.ann = OnceLock::new();
        }
        self.params = params;
    }

    /// Builds the HNSW graph now if the store is large enough to use one, so the first query
    /// does not pay for it. Returns whether a graph is in use.
    pub(crate) fn prepare(&self) -> bool {
        self.graph().is_some()
    }

    fn graph(&self) -> Option<&Ann> {
        (self.ids.len() >= ANN_THRESHOLD).then(|| {
            self.ann
                .get_or_init(|| Ann::build(&self.ids, &self.data, self.dim, self.params))
        })
    }

    /// The graph if it is already built. Queries never build it: that takes seconds from
    /// 20k vectors on, and a query (holding its caller's request) must not wait for it.
    /// [`Self::prepare`] builds it, off the request path; until then queries scan exactly,
    /// which gives the same results, only slower.
    fn ready_graph(&self) -> Option<&Ann> {
        if self.ids.len() >= ANN_THRESHOLD {
            self.ann.get()
        } else {
            None
        }
    }

    /// Appends the pending records and fsyncs.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.pending)
            .and_then(|()| self.file.sync_data())
            .map_err(io_err(format!(
                "appending to vector log {}",
                self.path.display()
            )))?;
        self.pending.clear();
        Ok(())
    }

    /// The stored (normalised) vector of `id`.
    pub(crate) fn get(&self, id: u64) -> Option<&[f32]> {
        let slot = *self.slots.get(&id)?;
        self.data.get(slot * self.dim..(slot + 1) * self.dim)
    }

    fn put_in_memory(&mut self, id: u64, v: &[f32]) {
        let mut v = v.to_vec();
        normalize(&mut v);
        match self.slots.get(&id) {
            Some(&slot) => self.data[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&v),
            None => {
                self.slots.insert(id, self.ids.len());
                self.ids.push(id);
                self.data.extend_from_slice(&v);
            }
        }
    }

    fn remove_in_memory(&mut self, id: u64) {
        let Some(slot) = self.slots.remove(&id) else {
            return;
        };
        let last = self.ids.len() - 1;
        if slot != last {
            let moved = self.ids[last];
            self.data
                .copy_within(last * self.dim..(last + 1) * self.dim, slot * self.dim);
            self.ids[slot] = moved;
            self.slots.insert(moved, slot);
        }
        self.ids.pop();
        self.data.truncate(last * self.dim);
    }

    /// The slots of `ids` (unknown ids skipped), ascending: the scan then reads memory forward
    /// only. Marking a bitmap of all slots and reading it back costs one bit per stored vector
    /// (12 KiB at 100k) and no sort.
    fn slots_in_order(&self, ids: &[u64]) -> Vec<u32> {
        let mut marks = vec![0u64; self.ids.len().div_ceil(64)];
        let mut count = 0;
        for id in ids {
            if let Some(&slot) = self.slots.get(id) {
                let (word, bit) = (slot / 64, slot % 64);
                count += usize::from(marks[word] & (1 << bit) == 0);
                marks[word] |= 1 << bit;
            }
        }
        let mut slots = Vec::with_capacity(count);
        for (w, &word) in marks.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                // Slot counts fit in u32: 4 G vectors would not fit in memory first.
                slots.push((w * 64) as u32 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        slots
    }

    /// The `k` ids most similar to `query` (cosine, best first), among `allowed` if given.
    pub(crate) fn top_k(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&[u64]>,
    ) -> Vec<(u64, f32)> {
        let mut q = query.to_vec();
        normalize(&mut q);
        if let Some(ann) = self.ready_graph() {
            let to_similarity =
                |hits: Vec<(u64, f32)>| hits.into_iter().map(|(id, d)| (id, 1.0 - d)).collect();
            match allowed {
                None => return to_similarity(ann.search(&q, k, self.params.ef_search, None)),
                Some(ids) if ids.len() > EXACT_FILTERED_MAX => {
                    // A filter keeping a fraction f of the points needs about 1/f times the
                    // candidates to find k of them.
                    let widen = self.ids.len().div_ceil(ids.len().max(1));
                    let base = self.params.ef_search;
                    let ef = (base * widen).clamp(base, MAX_FILTERED_EF.max(base));
                    let hits = ann.search(&q, k, ef, Some(ids));
                    // Top-k must never under-fill: if the walk found too few, scan exactly.
                    if hits.len() >= k.min(ids.len()) {
                        return to_similarity(hits);
                    }
                }
                Some(_) => {}
            }
        }
        let mut scored: Vec<(f32, u32)> = match allowed {
            None => self
                .data
                .chunks_exact(self.dim)
                .enumerate()
                // Slot counts fit in u32: 4 G vectors would not fit in memory first.
                .map(|(slot, v)| (dot(&q, v), slot as u32))
                .collect(),
            Some(ids) => {
                let slots = self.slots_in_order(ids);
                let vector = |slot: u32| {
                    let at = slot as usize * self.dim;
                    &self.data[at..at + self.dim]
                };
                let mut scored = Vec::with_capacity(slots.len());
                for (i, &slot) in slots.iter().enumerate() {
                    if let Some(&ahead) = slots.get(i + PREFETCH_AHEAD) {
                        prefetch(vector(ahead));
                    }
                    scored.push((dot(&q, vector(slot)), slot));
                }
                scored
            }
        };
        let by_score = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > k && k > 0 {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.truncate(k);
        scored.sort_unstable_by(by_score);
        scored
            .into_iter()
            .map(|(s, slot)| (self.ids[slot as usize], s))
            .collect()
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic vector for `seed`, not normalised.
    fn vector(seed: u64, dim: usize) -> Vec<f32> {
        let mut rng = crate::synthetic::Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        (0..dim)
            .map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn filtered_scan_matches_brute_force_over_an_unordered_allowed_list() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 24;
        let mut store = VectorStore::create(&tmp.path().join("v.log"), "m", dim).unwrap();
        // Ids that are multiples of a power of two: the worst case for a multiplicative hash.
        let ids: Vec<u64> = (1..=600).map(|i| i * 1024).collect();
        for id in &ids {
            store.put(*id, &vector(*id, dim));
        }
        // Removals move the last slot into the hole: slots stop following id order.
        for id in ids.iter().step_by(7) {
            store.remove(*id);
        }
        let live: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| store.get(*id).is_some())
            .collect();
        // Every third live id, reversed, with duplicates and ids the store never had.
        let mut allowed: Vec<u64> = live.iter().rev().step_by(3).copied().collect();
        allowed.extend_from_slice(&allowed.clone()[..10]);
        allowed.extend([3, 5, 1_000_000_007]);

        let q = vector(42, dim);
        let mut nq = q.clone();
        normalize(&mut nq);
        let mut want: Vec<(f32, u64)> = allowed[..allowed.len() - 13]
            .iter()
            .map(|id| (dot(&nq, store.get(*id).unwrap()), *id))
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0));
        want.truncate(10);

        let got = store.top_k(&q, 10, Some(&allowed));
        let got_ids: Vec<u64> = got.iter().map(|(id, _)| *id).collect();
        let want_ids: Vec<u64> = want.iter().map(|(_, id)| *id).collect();
        assert_eq!(got_ids, want_ids);
        // More wanted than allowed: every allowed live id, once.
        assert_eq!(
            store.top_k(&q, 1000, Some(&allowed)).len(),
            live.len().div_ceil(3)
        );
    }
}

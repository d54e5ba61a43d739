//! The approximate side of vector search: an HNSW graph (`hnsw_rs`) over the same normalised
//! vectors as the exact store, used once a collection is large enough for it to pay off.
//!
//! HNSW graphs cannot delete or update a point. So every insertion gets a fresh *label* (the
//! graph's data id); `labels[label]` names the document it was inserted for, and a label is
//! live only while `label_of[doc]` still points at it. Replaced or deleted documents leave
//! stale labels that searches skip; when stale labels outnumber live ones the owner drops the
//! graph and builds a fresh one.
//!
//! The graph is derived data: it is never written to disk, it is built from the vector log by
//! `SearchIndex::prepare_vectors`, so it can never disagree with the log after a crash.

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;

use crate::vectors::{IdMap, dot};

/// Neighbours per node (M) by default.
pub const MAX_CONNECTIONS: usize = 16;
/// Candidate list size while building (efConstruction) by default.
pub const EF_CONSTRUCTION: usize = 128;
/// Candidate list size while searching (efSearch) by default; raised to `k` when `k` is larger.
pub const EF_SEARCH: usize = 64;
/// hnsw_rs caps layers at 16; fewer layers than that is plenty for millions of points.
const MAX_LAYERS: usize = 16;

/// The HNSW graph's parameters. The defaults ([`MAX_CONNECTIONS`], [`EF_CONSTRUCTION`],
/// [`EF_SEARCH`]) are what `docs/memory-search.md` measured; benches change them through
/// `SearchIndex::set_ann_params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnParams {
    /// Neighbours per node (M); the bottom layer keeps twice as many.
    pub max_connections: usize,
    /// Candidate list size while inserting (efConstruction).
    pub ef_construction: usize,
    /// Candidate list size of an unfiltered search (efSearch), at least `k`.
    pub ef_search: usize,
}

impl Default for AnnParams {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            ef_construction: EF_CONSTRUCTION,
            ef_search: EF_SEARCH,
        }
    }
}

impl AnnParams {
    /// Whether a graph built with `self` differs from one built with `other` (efSearch
    /// only matters when searching).
    pub(crate) fn same_graph(&self, other: &Self) -> bool {
        self.max_connections == other.max_connections
            && self.ef_construction == other.ef_construction
    }
}

/// Cosine distance of unit vectors: `1 - a·b`, with the crate's vectorised dot product.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        // Clamped: rounding can push 1 - a·b a hair below zero, and the graph assumes d ≥ 0.
        (1.0 - dot(va, vb)).max(0.0)
    }
}

/// An HNSW graph over document vectors, with stale-label bookkeeping.
pub(crate) struct Ann {
    graph: Hnsw<'static, f32, UnitCosine>,
    /// Label -> document id.
    labels: Vec<u64>,
    /// Document id -> its live label.
    label_of: IdMap<usize>,
}

impl std::fmt::Debug for Ann {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ann")
            .field("live", &self.label_of.len())
            .field("labels", &self.labels.len())
            .finish()
    }
}

impl Ann {
    /// Builds a graph over `vectors` (`dim` floats per id, already normalised), in parallel.
    pub(crate) fn build(ids: &[u64], data: &[f32], dim: usize, params: AnnParams) -> Self {
        let capacity = ids.len().max(1024);
        let graph = Hnsw::new(
            params.max_connections.max(2),
            capacity,
            MAX_LAYERS,
            params.ef_construction.max(1),
            UnitCosine,
        );
        let batch: Vec<(&[f32], usize)> = data.chunks_exact(dim).zip(0..ids.len()).collect();
        graph.parallel_insert_slice(&batch);
        let label_of = ids
            .iter()
            .enumerate()
            .map(|(label, id)| (*id, label))
            .collect();
        Self {
            graph,
            labels: ids.to_vec(),
            label_of,
        }
    }

    /// Adds or replaces the vector of `id` (normalised).
    pub(crate) fn put(&mut self, id: u64, v: &[f32]) {
        let label = self.labels.len();
        self.graph.insert_slice((v, label));
        self.labels.push(id);
        self.label_of.insert(id, label);
    }

    /// Forgets `id`; its label becomes stale.
    pub(crate) fn remove(&mut self, id: u64) {
        self.label_of.remove(&id);
    }

    /// True when stale labels outnumber live ones: searches waste most of their visits, so the
    /// owner should rebuild.
    pub(crate) fn needs_rebuild(&self) -> bool {
        self.labels.len() - self.label_of.len() > self.label_of.len()
    }

    fn is_live(&self, label: usize) -> bool {
        self.labels
            .get(label)
            .is_some_and(|id| self.label_of.get(id) == Some(&label))
    }

    /// Up to `k` (document id, distance) pairs nearest to the unit vector `q`, nearest first.
    /// With `allowed` (document ids, any order), only those are returned; `ef` is the search
    /// breadth.
    pub(crate) fn search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        allowed: Option<&[u64]>,
    ) -> Vec<(u64, f32)> {
        let ef = ef.max(k);
        let found = match allowed {
            // No stale labels: nothing to skip, and no per-node lookups.
            None if self.labels.len() == self.label_of.len() => self.graph.search(q, k, ef),
            None => {
                let filter = |label: &usize| self.is_live(*label);
                self.graph.search_filter(q, k, ef, Some(&filter))
            }
            Some(ids) => {
                let mut labels: Vec<usize> = ids
                    .iter()
                    .filter_map(|id| self.label_of.get(id).copied())
                    .collect();
                labels.sort_unstable();
                self.graph.search_filter(q, k, ef, Some(&labels))
            }
        };
        found
            .into_iter()
            .filter_map(|n| self.labels.get(n.d_id).map(|id| (*id, n.distance)))
            .collect()
    }
}

//! Vector search once the HNSW graph is in use (at least `ANN_THRESHOLD` vectors): nearest
//! neighbours are found, replaced and deleted vectors never come back, and filtered queries
//! still fill top-k.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_search::{
    ANN_THRESHOLD, AnnParams, Document, EXACT_FILTERED_MAX, Filter, SearchIndex, SearchRequest,
};

const DIM: usize = 16;

/// Deterministic pseudo-random unit-ish vectors (xorshift), so the graph has real work to do.
fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..n).map(|_| (0..DIM).map(|_| next()).collect()).collect()
}

fn vector_query(v: &[f32], k: usize, filter: Filter) -> SearchRequest {
    SearchRequest {
        text: None,
        vector: Some(v.to_vec()),
        k,
        filter,
        semantic_ratio: 1.0,
    }
}

fn big_index(tmp: &tempfile::TempDir, n: usize) -> (SearchIndex, Vec<Vec<f32>>) {
    let mut idx = SearchIndex::create(&tmp.path().join("idx"), "test-model", DIM).unwrap();
    let vs = vectors(n, 0x1234_5678);
    let docs: Vec<Document> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| Document {
            id: i as u64,
            text: format!("doc{i}"),
            // Two kinds: "rare" keeps 1 in 50 (below EXACT_FILTERED_MAX), "half" 1 in 2.
            kind: if i % 50 == 0 {
                "rare".into()
            } else {
                "common".into()
            },
            host: if i % 2 == 0 {
                "even".into()
            } else {
                "odd".into()
            },
            vector: Some(v.clone()),
            ..Document::default()
        })
        .collect();
    for chunk in docs.chunks(5_000) {
        idx.upsert(chunk).unwrap();
    }
    (idx, vs)
}

#[test]
fn the_graph_finds_a_stored_vector_and_honours_replacements_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let n = ANN_THRESHOLD + 500;
    let (mut idx, vs) = big_index(&tmp, n);
    assert!(idx.prepare_vectors(), "{n} vectors should use the graph");
    for probe in [0usize, 7, 4_321, n - 1] {
        let hits = idx
            .search(&vector_query(&vs[probe], 10, Filter::default()))
            .unwrap();
        assert_eq!(hits.len(), 10);
        assert_eq!(hits[0].id, probe as u64, "probe {probe}");
        assert!(hits[0].distance.unwrap() < 1e-4);
    }
    // Replace doc 7's vector with doc 4321's, delete doc 4321: a query for that vector now
    // finds 7 first, and 4321 never.
    let mut moved = Document {
        id: 7,
        text: "doc7".into(),
        kind: "common".into(),
        vector: Some(vs[4_321].clone()),
        ..Document::default()
    };
    idx.upsert(std::slice::from_ref(&moved)).unwrap();
    idx.delete(&[4_321]).unwrap();
    let hits = idx
        .search(&vector_query(&vs[4_321], 10, Filter::default()))
        .unwrap();
    assert_eq!(hits[0].id, 7);
    assert!(hits.iter().all(|h| h.id != 4_321));
    // The old vector of 7 no longer leads to 7.
    let hits = idx
        .search(&vector_query(&vs[7], 3, Filter::default()))
        .unwrap();
    assert!(hits.iter().all(|h| h.id != 7) || hits[0].distance.unwrap() > 1e-3);
    moved.vector = Some(vs[7].clone());
    idx.upsert(&[moved]).unwrap();
    let hits = idx
        .search(&vector_query(&vs[7], 3, Filter::default()))
        .unwrap();
    assert_eq!(hits[0].id, 7);
}

#[test]
fn filtered_queries_fill_top_k_exactly_or_through_the_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let n = ANN_THRESHOLD + 500;
    let (idx, vs) = big_index(&tmp, n);
    idx.prepare_vectors();
    // A narrow filter (1 in 50) and a wide one (1 in 2): both full, both only matching
    // documents, both with the matching probe first. Both keep fewer than
    // EXACT_FILTERED_MAX vectors, so both are exact scans of the matches while unfiltered
    // queries on the same index walk the graph; the filtered graph walk itself needs more
    // than EXACT_FILTERED_MAX matches and is exercised by the `ann` bench, not here.
    let rare = Filter {
        kind: Some("rare".into()),
        ..Filter::default()
    };
    assert!(idx.ids_matching(&rare).unwrap().len() <= EXACT_FILTERED_MAX);
    let hits = idx.search(&vector_query(&vs[100], 10, rare)).unwrap();
    assert_eq!(hits.len(), 10);
    assert_eq!(hits[0].id, 100);
    assert!(hits.iter().all(|h| h.id % 50 == 0));

    let even = Filter {
        host: Some("even".into()),
        ..Filter::default()
    };
    let hits = idx.search(&vector_query(&vs[202], 10, even)).unwrap();
    assert_eq!(hits.len(), 10);
    assert_eq!(hits[0].id, 202);
    assert!(hits.iter().all(|h| h.id % 2 == 0));
}

#[test]
fn reopening_rebuilds_the_graph_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let n = ANN_THRESHOLD + 10;
    let (idx, vs) = big_index(&tmp, n);
    drop(idx);
    let mut idx = SearchIndex::open(&tmp.path().join("idx")).unwrap();
    assert!(idx.prepare_vectors(), "the graph is rebuilt from the log");
    let hits = idx
        .search(&vector_query(&vs[9_999], 5, Filter::default()))
        .unwrap();
    assert_eq!(hits[0].id, 9_999);
    // Other graph parameters: the graph is dropped (queries scan exactly meanwhile) and
    // rebuilt with them; the answers stay the same.
    let params = AnnParams {
        max_connections: 8,
        ef_construction: 32,
        ef_search: 16,
    };
    idx.set_ann_params(params);
    assert_eq!(idx.ann_params(), params);
    let hits = idx
        .search(&vector_query(&vs[1_234], 5, Filter::default()))
        .unwrap();
    assert_eq!(hits[0].id, 1_234);
    assert!(idx.prepare_vectors());
    let hits = idx
        .search(&vector_query(&vs[1_234], 5, Filter::default()))
        .unwrap();
    assert_eq!((hits.len(), hits[0].id), (5, 1_234));
}

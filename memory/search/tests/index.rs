//! Hybrid search on [`SearchIndex`]: BM25, exact vectors, fusion and filters before ranking.
// Test helpers outside #[test] fns panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_search::{Document, Filter, SearchIndex, SearchRequest, Where};
use serde_json::json;

const DIM: usize = 8;

/// A unit vector along `axis`, tilted slightly towards `axis + 1`, so neighbours are ordered.
fn axis(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[axis % DIM] = 1.0;
    v[(axis + 1) % DIM] = tilt;
    v
}

fn doc(id: u64, text: &str, vector: Vec<f32>) -> Document {
    Document {
        id,
        text: text.to_owned(),
        kind: "note".into(),
        vector: Some(vector),
        ..Document::default()
    }
}

fn index(tmp: &tempfile::TempDir) -> SearchIndex {
    SearchIndex::create(&tmp.path().join("idx"), "test-model", DIM).unwrap()
}

#[test]
fn bm25_finds_exact_words_with_highlights() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    idx.upsert(&[
        doc(1, "the kernel scheduler balances load", axis(0, 0.0)),
        doc(2, "use chattr +i to make a file immutable", axis(1, 0.0)),
        doc(
            3,
            "immutable infrastructure is a deployment style",
            axis(2, 0.0),
        ),
    ])
    .unwrap();
    let hits = idx
        .search(&SearchRequest {
            text: Some("chattr immutable".into()),
            k: 5,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(hits[0].bm25_rank, Some(1));
    assert_eq!(hits[0].vector_rank, None);
    assert_eq!(hits[0].distance, None);
    let s = &hits[0].snippet;
    let marked: Vec<&str> = s.highlights.iter().map(|r| &s.text[r.clone()]).collect();
    assert_eq!(marked, vec!["chattr", "immutable"]);
}

#[test]
fn vector_search_finds_nearest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    let docs: Vec<Document> = (0..DIM as u64)
        .map(|i| doc(i + 10, "x", axis(i as usize, 0.1)))
        .collect();
    idx.upsert(&docs).unwrap();
    let hits = idx
        .search(&SearchRequest {
            vector: Some(axis(5, 0.0)),
            k: 3,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(hits[0].id, 15);
    assert_eq!(hits[0].vector_rank, Some(1));
    // Exactly cos = 1/sqrt(1.01) away from axis 5.
    let want = 1.0 - 1.0 / 1.01f32.sqrt();
    assert!(
        (hits[0].distance.unwrap() - want).abs() < 1e-5,
        "{:?}",
        hits[0].distance
    );
    // Axis 4 tilts towards 5, so it is the runner-up.
    assert_eq!(hits[1].id, 14);
    assert!(hits[0].distance < hits[1].distance);
    assert_eq!(hits.len(), 3);
}

#[test]
fn rrf_fuses_and_reports_both_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    idx.upsert(&[
        // Best text match, far vector.
        doc(1, "backup backup backup job", axis(4, 0.0)),
        // Best vector match, no text match.
        doc(2, "something unrelated", axis(0, 0.0)),
        // Second on both lists.
        doc(3, "the backup job of the week", axis(0, 0.5)),
    ])
    .unwrap();
    // k = 2: each side contributes its top 2, so doc 1 is only on the BM25 list.
    let req = SearchRequest {
        text: Some("backup".into()),
        vector: Some(axis(0, 0.0)),
        k: 2,
        ..SearchRequest::default()
    };
    let hits = idx.search(&req).unwrap();
    let rrf = |r: usize| 1.0 / (60.0 + r as f32);
    assert_eq!(hits.len(), 2);
    assert_eq!(
        hits[0].id, 3,
        "second on both lists beats first on one: {hits:?}"
    );
    assert_eq!((hits[0].bm25_rank, hits[0].vector_rank), (Some(2), Some(2)));
    assert!((hits[0].score - (0.5 * rrf(2) + 0.5 * rrf(2))).abs() < 1e-7);
    // Docs 1 (BM25 #1) and 2 (vector #1) tie; the lower id wins the tie.
    assert_eq!(hits[1].id, 1);
    assert_eq!((hits[1].bm25_rank, hits[1].vector_rank), (Some(1), None));
    assert!((hits[1].score - 0.5 * rrf(1)).abs() < 1e-7);
    // A text-only hit still reports its distance when a vector was given: axis 4 is orthogonal.
    assert!((hits[1].distance.unwrap() - 1.0).abs() < 1e-6);

    // The ratio weights the lists: all-semantic puts the vector winner first.
    let hits = idx
        .search(&SearchRequest {
            semantic_ratio: 1.0,
            ..req.clone()
        })
        .unwrap();
    assert_eq!(hits[0].id, 2);
    assert_eq!((hits[0].bm25_rank, hits[0].vector_rank), (None, Some(1)));
    let hits = idx
        .search(&SearchRequest {
            semantic_ratio: 0.0,
            ..req
        })
        .unwrap();
    assert_eq!(hits[0].id, 1);
}

#[test]
fn filters_apply_before_ranking_and_never_under_fill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    let docs: Vec<Document> = (0..1000u64)
        .map(|i| {
            let rare = i % 100 == 7;
            Document {
                id: i,
                text: format!("memory entry number {i} about disks"),
                kind: if rare { "audit".into() } else { "turn".into() },
                host: "h1".into(),
                unix_ms: i as i64,
                tags: if rare {
                    vec!["rare".into(), "x".into()]
                } else {
                    vec!["x".into()]
                },
                metadata: json!({"n": i}).as_object().unwrap().clone(),
                // Every rare doc is far from the query vector, every common one near it.
                vector: Some(if rare {
                    axis(3, 0.0)
                } else {
                    axis(0, (i % 13) as f32 / 13.0)
                }),
                ..Document::default()
            }
        })
        .collect();
    idx.upsert(&docs).unwrap();
    assert_eq!(idx.len(), 1000);
    let rare = Filter {
        kind: Some("audit".into()),
        ..Filter::default()
    };
    for (text, vector) in [
        (Some("disks"), None),
        (None, Some(axis(0, 0.0))),
        (Some("disks"), Some(axis(0, 0.0))),
    ] {
        let req = SearchRequest {
            text: text.map(str::to_owned),
            vector: vector.clone(),
            k: 10,
            filter: rare.clone(),
            semantic_ratio: 0.5,
        };
        let hits = idx.search(&req).unwrap();
        assert_eq!(hits.len(), 10, "text {text:?} vector {}", vector.is_some());
        assert!(hits.iter().all(|h| h.id % 100 == 7), "{hits:?}");
    }
    // Fixed fields combine: tags, host, a time window and a metadata `where`.
    let f = Filter {
        host: Some("h1".into()),
        tags: vec!["rare".into(), "x".into()],
        since_ms: Some(100),
        until_ms: Some(507),
        where_: Some(Where::parse(&json!({"n": {"$gte": 200}})).unwrap()),
        ..Filter::default()
    };
    let mut ids = idx.ids_matching(&f).unwrap();
    ids.sort_unstable();
    assert_eq!(ids, vec![207, 307, 407]);
    let hits = idx
        .search(&SearchRequest {
            vector: Some(axis(0, 0.0)),
            k: 10,
            filter: f,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 3);
}

#[test]
fn documents_without_vectors_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    idx.upsert(&[
        doc(1, "alpha", axis(0, 0.0)),
        Document {
            id: 2,
            text: "alpha beta".into(),
            ..Document::default()
        },
    ])
    .unwrap();
    assert_eq!(idx.vector_count(), 1);
    let hits = idx
        .search(&SearchRequest {
            vector: Some(axis(0, 0.0)),
            k: 5,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1]);
    idx.delete(&[1]).unwrap();
    assert_eq!(idx.vector_count(), 0);
    let hits = idx
        .search(&SearchRequest {
            text: Some("alpha".into()),
            k: 5,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(hits[0].snippet.text, "alpha beta");
    let got = idx.get(&[2, 1]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].vector, None);
    assert!(
        idx.search(&SearchRequest {
            k: 0,
            text: Some("a".into()),
            ..SearchRequest::default()
        })
        .is_err()
    );
    assert!(
        idx.search(&SearchRequest::default()).is_err(),
        "neither text nor vector"
    );
}

#[test]
fn vectors_without_a_text_document_are_dropped_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    {
        let mut idx = SearchIndex::create(&dir, "test-model", DIM).unwrap();
        idx.upsert(&[doc(1, "kept", axis(0, 0.0))]).unwrap();
    }
    // A crash after the vector log was synced but before tantivy committed: a put for id 99.
    let mut record = vec![1u8];
    record.extend_from_slice(&99u64.to_le_bytes());
    for x in axis(0, 0.0) {
        record.extend_from_slice(&x.to_le_bytes());
    }
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("vectors.log"))
        .unwrap()
        .write_all(&record)
        .unwrap();

    let idx = SearchIndex::open(&dir).unwrap();
    assert_eq!(idx.vector_count(), 1);
    let hits = idx
        .search(&SearchRequest {
            vector: Some(axis(0, 0.0)),
            k: 5,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1]);
    drop(idx);
    // The drop was made durable: a second open sees the same.
    assert_eq!(SearchIndex::open(&dir).unwrap().vector_count(), 1);
}

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
fn rrf_fuses_lists_deeper_than_k_and_reports_both_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    let mut docs = vec![
        // Best text match, far vector: past the vector list's depth (fillers are nearer).
        doc(1, "backup backup backup", axis(4, 0.0)),
        // Best vector match, no text match.
        doc(2, "something unrelated", axis(0, 0.0)),
        // Second on both lists.
        doc(3, "backup job notes", axis(0, 0.3)),
    ];
    for i in 0..aios_search::FUSION_DEPTH + 5 {
        docs.push(doc(
            100 + i as u64,
            &format!("filler text {i}"),
            axis(0, 0.5 + i as f32 * 0.01),
        ));
    }
    idx.upsert(&docs).unwrap();
    // k = 1: with only each side's top 1 fused, doc 3 could never be seen.
    let req = SearchRequest {
        text: Some("backup".into()),
        vector: Some(axis(0, 0.0)),
        k: 3,
        semantic_ratio: 0.5,
        ..SearchRequest::default()
    };
    let top1 = idx
        .search(&SearchRequest {
            k: 1,
            ..req.clone()
        })
        .unwrap();
    assert_eq!(top1.len(), 1);
    assert_eq!(
        top1[0].id, 3,
        "second on both lists beats first on one: {top1:?}"
    );
    let hits = idx.search(&req).unwrap();
    let rrf = |r: usize| 1.0 / (60.0 + r as f32);
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![3, 1, 2]);
    assert_eq!((hits[0].bm25_rank, hits[0].vector_rank), (Some(2), Some(2)));
    assert!((hits[0].score - (0.5 * rrf(2) + 0.5 * rrf(2))).abs() < 1e-7);
    // Docs 1 (BM25 #1) and 2 (vector #1) tie; the lower id wins the tie.
    assert_eq!((hits[1].bm25_rank, hits[1].vector_rank), (Some(1), None));
    assert!((hits[1].score - 0.5 * rrf(1)).abs() < 1e-7);
    // A text-only hit still reports its distance when a vector was given: axis 4 is orthogonal.
    assert!((hits[1].distance.unwrap() - 1.0).abs() < 1e-6);
    assert_eq!((hits[2].bm25_rank, hits[2].vector_rank), (None, Some(1)));

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

fn text_ids(idx: &SearchIndex, text: &str) -> Vec<u64> {
    idx.search(&SearchRequest {
        text: Some(text.into()),
        k: 10,
        ..SearchRequest::default()
    })
    .unwrap_or_else(|e| panic!("{text:?}: {e}"))
    .iter()
    .map(|h| h.id)
    .collect()
}

#[test]
fn user_text_is_plain_words_never_query_syntax() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    idx.upsert(&[
        doc(1, "rsync --delete removes extraneous files", axis(0, 0.0)),
        doc(2, "dd conv=fsync flushes before it exits", axis(1, 0.0)),
        doc(3, "title: nginx AND apache, \"quoted\"", axis(2, 0.0)),
    ])
    .unwrap();
    // As query syntax, `--delete` excluded the very word, and `title:` named a field.
    assert_eq!(text_ids(&idx, "--delete"), vec![1]);
    assert_eq!(text_ids(&idx, "conv=fsync"), vec![2]);
    assert_eq!(text_ids(&idx, "title:nginx"), vec![3]);
    assert_eq!(text_ids(&idx, "\"quoted"), vec![3]);
    assert_eq!(text_ids(&idx, "apache -nginx"), vec![3]);
    // Operators are words like any other, and nothing a user types is an error.
    for text in [
        "AND",
        "NOT OR",
        "(((",
        "*?:-\"(){}[]^~!+",
        "\\",
        "a:b:c",
        "[1 TO 5]",
    ] {
        idx.search(&SearchRequest {
            text: Some(text.into()),
            k: 5,
            ..SearchRequest::default()
        })
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
    // Punctuation only: no words, so no text hits; with a vector, the vector side answers.
    assert!(text_ids(&idx, "?!:-\"()").is_empty());
    let hits = idx
        .search(&SearchRequest {
            text: Some("--".into()),
            vector: Some(axis(1, 0.0)),
            k: 1,
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!((hits[0].id, hits[0].bm25_rank), (2, None));
}

#[test]
fn questions_are_searched_by_their_content_words() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    idx.upsert(&[
        doc(1, "how do I do it? what is it? how do I?", axis(0, 0.0)),
        doc(2, "chattr makes a file immutable", axis(1, 0.0)),
        doc(3, "the file manager", axis(2, 0.0)),
    ])
    .unwrap();
    // Function words match nothing: doc 1 is all function words.
    assert_eq!(
        text_ids(&idx, "How do I make a file immutable?"),
        vec![2, 3]
    );
    // A question of function words only still searches for them.
    assert_eq!(text_ids(&idx, "how do I?"), vec![1]);
}

#[test]
fn words_match_across_english_inflections_with_highlights() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idx = index(&tmp);
    idx.upsert(&[
        doc(1, "we rotated the backups nightly", axis(0, 0.0)),
        doc(2, "the kernel schedules tasks", axis(1, 0.0)),
    ])
    .unwrap();
    assert_eq!(text_ids(&idx, "rotate backup"), vec![1]);
    assert_eq!(text_ids(&idx, "scheduling"), vec![2]);
    let hits = idx
        .search(&SearchRequest {
            text: Some("Backup rotation".into()),
            k: 1,
            ..SearchRequest::default()
        })
        .unwrap();
    let s = &hits[0].snippet;
    let marked: Vec<&str> = s.highlights.iter().map(|r| &s.text[r.clone()]).collect();
    assert_eq!(marked, vec!["rotated", "backups"]);
}

#[test]
fn an_index_of_another_format_is_refused_until_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    assert!(
        !SearchIndex::needs_rebuild(&dir),
        "nothing there: nothing to rebuild"
    );
    {
        let mut idx = SearchIndex::create(&dir, "test-model", DIM).unwrap();
        idx.upsert(&[doc(1, "kept", axis(0, 0.0))]).unwrap();
    }
    assert_eq!(
        SearchIndex::format_of(&dir),
        Some(aios_search::FORMAT_VERSION)
    );
    assert!(!SearchIndex::needs_rebuild(&dir));
    // An index from before formats were recorded (unstemmed terms) has no FORMAT file.
    std::fs::remove_file(dir.join("FORMAT")).unwrap();
    assert_eq!(SearchIndex::format_of(&dir), Some(1));
    assert!(SearchIndex::needs_rebuild(&dir));
    let e = SearchIndex::open(&dir).unwrap_err();
    assert_eq!(e.kind(), aios_search::ErrorKind::Outdated);
    assert!(e.to_string().contains("reindex"), "{e}");
    // A newer one is refused too.
    std::fs::write(dir.join("FORMAT"), "99\n").unwrap();
    assert_eq!(
        SearchIndex::open(&dir).unwrap_err().kind(),
        aios_search::ErrorKind::Outdated
    );
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

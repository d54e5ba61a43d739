//! The ChromaDB-equivalent API against real tantivy directories in tempdirs.
// Test helpers outside #[test] fns panic on setup failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_search::{
    Collection, Embedder, ErrorKind, GetRequest, HashingEmbedder, QueryRequest, Records,
};
use serde_json::{Map, Value, json};

const DIM: usize = 16;

fn meta(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
    let e = HashingEmbedder::new(DIM).unwrap();
    e.embed(&texts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap()
}

fn records(items: &[(&str, &str, Value)]) -> Records {
    let texts: Vec<&str> = items.iter().map(|i| i.1).collect();
    Records {
        ids: items.iter().map(|i| i.0.to_owned()).collect(),
        embeddings: Some(embed(&texts)),
        documents: Some(texts.iter().map(|s| s.to_string()).collect()),
        metadatas: Some(items.iter().map(|i| meta(i.2.clone())).collect()),
    }
}

fn new_collection(dir: &std::path::Path) -> Collection {
    Collection::create(&dir.join("notes"), HashingEmbedder::MODEL, DIM).unwrap()
}

fn sample() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "a",
            "nginx config lives in sites-enabled",
            json!({"kind": "fact", "year": 2021, "score": 0.5, "ok": true, "tags": ["web", "nginx"]}),
        ),
        (
            "b",
            "backup job runs nightly at two",
            json!({"kind": "decision", "year": 2023, "score": 1.5, "ok": false, "tags": ["backup"]}),
        ),
        (
            "c",
            "chattr makes a file immutable",
            json!({"kind": "doc", "year": 2024, "score": 2.0, "tags": ["fs"], "app.name": "chattr"}),
        ),
        (
            "d",
            "the firewall allows ssh from the lan",
            json!({"kind": "fact", "year": 2025.0, "ok": true}),
        ),
    ]
}

fn get_where(c: &Collection, w: Value) -> Vec<String> {
    let mut ids = c
        .get(GetRequest {
            where_: Some(w),
            ..GetRequest::default()
        })
        .unwrap()
        .ids;
    ids.sort();
    ids
}

#[test]
fn add_get_upsert_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = new_collection(tmp.path());
    c.add(records(&sample())).unwrap();
    assert_eq!(c.count(), 4);

    let got = c
        .get(GetRequest {
            ids: Some(vec!["c".into(), "a".into()]),
            ..GetRequest::default()
        })
        .unwrap();
    assert_eq!(got.ids, vec!["a", "c"], "get returns insertion order");
    assert_eq!(got.documents[1], "chattr makes a file immutable");
    assert_eq!(got.metadatas[0]["year"], json!(2021));
    assert_eq!(got.embeddings[0].as_ref().map(Vec::len), Some(DIM));

    let err = c.add(records(&[("a", "again", json!({}))])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DuplicateId);
    assert!(err.to_string().contains("`a`"), "{err}");
    assert_eq!(c.count(), 4, "a refused add writes nothing");

    c.upsert(records(&[
        (
            "a",
            "nginx moved to conf.d",
            json!({"kind": "fact", "year": 2026}),
        ),
        ("e", "new one", json!({})),
    ]))
    .unwrap();
    assert_eq!(c.count(), 5);
    let a = c
        .get(GetRequest {
            ids: Some(vec!["a".into()]),
            ..GetRequest::default()
        })
        .unwrap();
    assert_eq!(a.documents, vec!["nginx moved to conf.d"]);
    assert_eq!(a.metadatas[0]["year"], json!(2026));

    let deleted = c
        .delete(Some(&["b".to_string(), "zzz".to_string()]), None, None)
        .unwrap();
    assert_eq!(deleted, 1);
    let deleted = c.delete(None, Some(&json!({"kind": "doc"})), None).unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(get_where(&c, json!({"year": {"$gt": 0}})), vec!["a", "d"]);
    assert_eq!(c.count(), 3);
    assert_eq!(
        c.delete(None, None, None).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn every_where_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = new_collection(tmp.path());
    c.add(records(&sample())).unwrap();
    let cases = [
        (json!({"kind": "fact"}), vec!["a", "d"]),
        (json!({"kind": {"$eq": "fact"}}), vec!["a", "d"]),
        (json!({"kind": {"$ne": "fact"}}), vec!["b", "c"]),
        (json!({"year": {"$eq": 2025}}), vec!["d"]),
        (json!({"year": {"$gt": 2023}}), vec!["c", "d"]),
        (json!({"year": {"$gte": 2023}}), vec!["b", "c", "d"]),
        (json!({"year": {"$lt": 2023}}), vec!["a"]),
        (json!({"year": {"$lte": 2023}}), vec!["a", "b"]),
        (json!({"score": {"$gt": 1.0}}), vec!["b", "c"]),
        (json!({"score": {"$lte": 0.5}}), vec!["a"]),
        (
            json!({"kind": {"$in": ["doc", "decision"]}}),
            vec!["b", "c"],
        ),
        (
            json!({"kind": {"$nin": ["doc", "decision"]}}),
            vec!["a", "d"],
        ),
        (json!({"year": {"$in": [2021, 2024]}}), vec!["a", "c"]),
        (json!({"ok": true}), vec!["a", "d"]),
        (json!({"ok": {"$ne": true}}), vec!["b", "c"]),
        (json!({"tags": {"$contains": "nginx"}}), vec!["a"]),
        (json!({"app.name": "chattr"}), vec!["c"]),
        (
            json!({"$and": [{"kind": "fact"}, {"year": {"$lt": 2025}}]}),
            vec!["a"],
        ),
        (
            json!({"$or": [{"kind": "doc"}, {"year": 2021}]}),
            vec!["a", "c"],
        ),
        (
            json!({"$or": [{"$and": [{"kind": "fact"}, {"ok": true}]}, {"score": {"$gte": 2}}]}),
            vec!["a", "c", "d"],
        ),
    ];
    for (w, want) in cases {
        assert_eq!(get_where(&c, w.clone()), want, "where {w}");
    }
    let docs = |w: Value| {
        let mut ids = c
            .get(GetRequest {
                where_document: Some(w),
                ..GetRequest::default()
            })
            .unwrap()
            .ids;
        ids.sort();
        ids
    };
    assert_eq!(docs(json!({"$contains": "Nginx"})), vec!["a"]);
    assert_eq!(docs(json!({"$contains": "file immutable"})), vec!["c"]);
    assert_eq!(
        docs(json!({"$contains": "immutable file"})),
        Vec::<String>::new(),
        "phrase order matters"
    );
    assert_eq!(docs(json!({"$not_contains": "the"})), vec!["a", "b", "c"]);
    assert_eq!(
        docs(json!({"$or": [{"$contains": "ssh"}, {"$contains": "backup"}]})),
        vec!["b", "d"]
    );
}

#[test]
fn bad_filters_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = new_collection(tmp.path());
    c.add(records(&sample())).unwrap();
    let cases = [
        (
            json!({"year": {"$between": [1, 2]}}),
            "unknown operator `$between`",
        ),
        (
            json!({"year": {"$gt": "2020"}}),
            "range operators compare numbers",
        ),
        (json!({"$xor": []}), "unknown logical operator `$xor`"),
        (json!({"$and": {}}), "`$and` takes a non-empty array"),
        (json!({"kind": {"$in": []}}), "non-empty array"),
        (
            json!({"kind": {"$eq": "a", "$ne": "b"}}),
            "exactly one operator",
        ),
        (json!({"kind": null}), "where.kind"),
        (json!([]), "expected an object"),
    ];
    for (w, needle) in cases {
        let err = c
            .get(GetRequest {
                where_: Some(w.clone()),
                ..GetRequest::default()
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidFilter, "{w}");
        assert!(err.to_string().contains(needle), "{w}: {err}");
    }
    for (w, needle) in [
        (json!({"$regex": "a.*"}), "$regex is not supported"),
        (json!({"$contains": ""}), "non-empty string"),
        (json!({"$contains": "!!"}), "no words"),
    ] {
        let err = c
            .get(GetRequest {
                where_document: Some(w.clone()),
                ..GetRequest::default()
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidFilter, "{w}");
        assert!(err.to_string().contains(needle), "{w}: {err}");
    }
    let bad_meta = Records {
        metadatas: Some(vec![meta(json!({"x": {"nested": 1}}))]),
        ..records(&[("z", "z", json!({}))])
    };
    let err = c.add(bad_meta).unwrap_err();
    assert!(err.to_string().contains("metadata `x`"), "{err}");
}

#[test]
fn mixing_models_or_dimensions_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("notes");
    let mut c = Collection::create(&dir, HashingEmbedder::MODEL, DIM).unwrap();
    let mut r = records(&sample());
    r.embeddings.as_mut().unwrap()[2] = vec![0.5; DIM + 1];
    let err = c.add(r).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DimensionMismatch);
    assert!(err.to_string().contains("17 dimensions"), "{err}");
    assert_eq!(c.count(), 0, "nothing of a refused batch is written");

    let q = QueryRequest {
        query_embeddings: Some(vec![vec![1.0; 3]]),
        ..QueryRequest::default()
    };
    assert_eq!(c.query(q).unwrap_err().kind(), ErrorKind::DimensionMismatch);

    let err = c
        .with_embedder(Box::new(HashingEmbedder::new(DIM * 2).unwrap()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ModelMismatch);
    let err = Collection::open_or_create(&dir, "all-MiniLM-L6-v2", DIM).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ModelMismatch);
    assert!(err.to_string().contains("all-MiniLM-L6-v2"), "{err}");
    assert!(Collection::open_or_create(&dir, HashingEmbedder::MODEL, DIM).is_ok());
}

#[test]
fn query_by_embedding_and_by_text() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = new_collection(tmp.path());
    c.add(records(&sample())).unwrap();
    let q = QueryRequest {
        query_embeddings: Some(embed(&["chattr makes a file immutable"])),
        n_results: 2,
        ..QueryRequest::default()
    };
    let res = c.query(q).unwrap();
    assert_eq!(res.ids[0][0], "c");
    assert!(
        res.distances[0][0].unwrap().abs() < 1e-5,
        "identical text has distance 0"
    );
    assert_eq!(res.ids[0].len(), 2);
    assert_eq!(res.metadatas[0][0]["kind"], json!("doc"));

    // Text without an embedder: BM25 only, no distances.
    let q = QueryRequest {
        query_texts: Some(vec!["backup".into()]),
        where_: Some(json!({"kind": "decision"})),
        ..QueryRequest::default()
    };
    let res = c.query(q).unwrap();
    assert_eq!(res.ids[0], vec!["b"]);
    assert_eq!(res.distances[0], vec![None]);

    // With an embedder: hybrid, both ranks reported.
    let c = c
        .with_embedder(Box::new(HashingEmbedder::new(DIM).unwrap()))
        .unwrap();
    let q = QueryRequest {
        query_texts: Some(vec!["nginx config".into()]),
        n_results: 1,
        ..QueryRequest::default()
    };
    let res = c.query(q).unwrap();
    assert_eq!(res.ids[0], vec!["a"]);
    assert_eq!(res.hits[0][0].bm25_rank, Some(1));
    assert_eq!(res.hits[0][0].vector_rank, Some(1));

    let both = QueryRequest {
        query_texts: Some(vec![]),
        query_embeddings: Some(vec![]),
        ..QueryRequest::default()
    };
    assert_eq!(c.query(both).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn reopen_from_disk_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("notes");
    let before = {
        let mut c = Collection::create(&dir, HashingEmbedder::MODEL, DIM).unwrap();
        c.add(records(&sample())).unwrap();
        c.delete(Some(&["b".to_string()]), None, None).unwrap();
        c.upsert(records(&[(
            "c",
            "chattr plus i flag",
            json!({"kind": "doc", "year": 2020}),
        )]))
        .unwrap();
        c.get(GetRequest::default()).unwrap()
    };
    let mut c = Collection::open(&dir).unwrap();
    assert_eq!(c.name(), "notes");
    assert_eq!(c.model(), HashingEmbedder::MODEL);
    assert_eq!(c.dimension(), DIM);
    let after = c.get(GetRequest::default()).unwrap();
    assert_eq!(after, before);
    // An upsert keeps the record's place in insertion order.
    assert_eq!(after.ids, vec!["a", "c", "d"]);
    assert_eq!(get_where(&c, json!({"year": {"$lt": 2021}})), vec!["c"]);
    // New records after reopening get fresh ids: nothing existing is overwritten.
    c.add(records(&[("f", "fresh", json!({}))])).unwrap();
    assert_eq!(c.count(), 4);
    let res = c
        .query(QueryRequest {
            query_embeddings: Some(embed(&["the firewall allows ssh from the lan"])),
            n_results: 1,
            ..QueryRequest::default()
        })
        .unwrap();
    assert_eq!(res.ids[0], vec!["d"]);
}

#[test]
fn torn_vector_record_is_cut_off_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("notes");
    {
        let mut c = Collection::create(&dir, HashingEmbedder::MODEL, DIM).unwrap();
        c.add(records(&sample())).unwrap();
    }
    let log = dir.join("vectors.log");
    let len = std::fs::metadata(&log).unwrap().len();
    // A crash mid-append: a put record's op byte and half its id.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&[1, 7, 0, 0])
        .unwrap();
    let c = Collection::open(&dir).unwrap();
    assert_eq!(c.count(), 4);
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        len,
        "torn tail removed"
    );

    std::fs::write(&log, b"not a vector log").unwrap();
    let err = Collection::open(&dir).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("vectors.log"), "{err}");
}

//! Tests of the document store: collections, writes, the index queue and its batches.

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("m.db")).unwrap();
    (dir, s)
}

fn doc(key: &str, text: &str) -> NewDoc {
    NewDoc {
        key: key.into(),
        text: text.into(),
        metadata_json: "{}".into(),
        embedding: None,
        unix_ms: 1,
    }
}

#[test]
fn a_collection_refuses_a_second_model() {
    let (_d, s) = store();
    s.create_collection("docs", "m1", 4, 0).unwrap();
    assert_eq!(
        s.create_collection("docs", "m1", 4, 5)
            .unwrap()
            .created_unix_ms,
        0
    );
    let e = s.create_collection("docs", "m2", 4, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("mixing embedding models"), "{e}");
}

#[test]
fn writes_queue_index_updates_and_upsert_keeps_the_row_id() {
    let (_d, s) = store();
    s.create_collection("c", "m", 2, 0).unwrap();
    let ids = s
        .write_documents("c", &[doc("a", "one"), doc("b", "two")], WriteMode::Add)
        .unwrap();
    let again = s
        .write_documents("c", &[doc("a", "uno")], WriteMode::Upsert)
        .unwrap();
    assert_eq!(again, vec![ids[0]]);
    let e = s
        .write_documents("c", &[doc("c", "x"), doc("b", "dup")], WriteMode::Add)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    // The failed add wrote nothing, not even "c".
    assert!(s.documents_by_key("c", &["c".into()]).unwrap().is_empty());
    let deleted = s
        .delete_documents("c", &["b".into(), "nope".into()])
        .unwrap();
    assert_eq!(deleted, vec![ids[1]]);
    let q = s.queue_batch(100).unwrap();
    let ops: Vec<(i64, IndexOp)> = q.iter().map(|i| (i.doc_id, i.op)).collect();
    assert_eq!(
        ops,
        vec![
            (ids[0], IndexOp::Put),
            (ids[1], IndexOp::Put),
            (ids[0], IndexOp::Put),
            (ids[1], IndexOp::Delete)
        ]
    );
    assert_eq!(s.get_collection("c").unwrap().backlog, 4);
    s.ack_queue(&q.iter().map(|i| i.seq).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(s.queue_len().unwrap(), 0);
    let docs = s.documents_by_id(&ids).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].text, "uno");
}

#[test]
fn embeddings_round_trip_and_wrong_dimensions_are_refused() {
    let (_d, s) = store();
    s.create_collection("c", "m", 2, 0).unwrap();
    let mut d = doc("a", "one");
    d.embedding = Some(vec![1.0, 2.0, 3.0]);
    assert!(s.write_documents("c", &[d], WriteMode::Add).is_err());
    let ids = s
        .write_documents("c", &[doc("a", "one")], WriteMode::Add)
        .unwrap();
    s.set_embeddings(&[(ids[0], vec![0.5, -0.25])]).unwrap();
    let page = s.documents_page("c", 0, 10).unwrap();
    assert_eq!(page[0].embedding, Some(vec![0.5, -0.25]));
}

fn session(s: &Store, id: &str, uid: u32) {
    s.put_session(&aios_domain::SessionInfo {
        id: id.into(),
        uid,
        provider: "p".into(),
        model: "m".into(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: aios_domain::ApprovalMode::Ask,
        kind: Default::default(),
    })
    .unwrap();
}

fn message(session: &str, content: &str) -> StoredMessage {
    StoredMessage {
        session_id: session.into(),
        turn_id: "t1".into(),
        role: aios_domain::Role::Assistant,
        content: content.into(),
        tool_calls: vec![],
        tool_call_id: None,
        unix_ms: 42,
    }
}

#[test]
fn messages_and_tool_calls_are_remembered_once_the_history_collection_exists() {
    let (_d, s) = store();
    session(&s, "s1", 1000);
    // No history collection yet: nothing is remembered, nothing fails.
    s.append_message(&message("s1", "before")).unwrap();
    assert_eq!(s.queue_len().unwrap(), 0);
    s.create_collection(HISTORY_COLLECTION, "m", 4, 0).unwrap();
    let id = s
        .append_message(&message("s1", "the backup runs at 02:00"))
        .unwrap();
    // Empty messages are not worth a document.
    s.append_message(&message("s1", "  ")).unwrap();
    let call_id = s
        .record_tool_call(&StoredToolCall {
            session_id: "s1".into(),
            turn_id: "t1".into(),
            call_id: "c1".into(),
            tool: "fs.read".into(),
            args: json!({"path": "/etc/hosts"}),
            status: aios_domain::ToolStatus::Ok,
            result: json!({"text": "x".repeat(3 * REMEMBERED_TOOL_TEXT)}),
            duration_us: 1,
            unix_ms: 43,
        })
        .unwrap();
    let docs = s
        .documents_by_key(
            HISTORY_COLLECTION,
            &[format!("message:{id}"), format!("tool_call:{call_id}")],
        )
        .unwrap();
    assert_eq!(docs.len(), 2);
    let meta: serde_json::Value = serde_json::from_str(&docs[0].metadata_json).unwrap();
    assert_eq!(meta["kind"], "message");
    assert_eq!(meta["role"], "assistant");
    assert_eq!(meta["user"], "1000");
    assert_eq!(meta["session"], "s1");
    assert!(!meta["host"].as_str().unwrap().is_empty());
    assert_eq!(docs[0].unix_ms, 42);
    assert!(
        docs[1]
            .text
            .starts_with("fs.read {\"path\":\"/etc/hosts\"}")
    );
    assert!(docs[1].text.len() < 2 * REMEMBERED_TOOL_TEXT + 100);
    let q = s.queue_batch(10).unwrap();
    assert_eq!(
        q.iter().map(|i| i.doc_id).collect::<Vec<_>>(),
        vec![docs[0].id, docs[1].id]
    );
    // A later embedder picks up what has no vector and is not queued yet.
    s.ack_queue(&q.iter().map(|i| i.seq).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(s.queue_unembedded("other-model").unwrap(), 0);
    assert_eq!(s.queue_unembedded("m").unwrap(), 2);
    assert_eq!(s.queue_unembedded("m").unwrap(), 0);
}

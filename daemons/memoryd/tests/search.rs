//! Long-term search in the real `memoryd`: writes are durable when acknowledged, indexing
//! happens in the background, and after `kill -9` in the middle of a stream of writes a
//! restart brings the indexes back into agreement with SQLite: every acknowledged document
//! is found exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aios_proto::{SearchClient, SearchDocument, SearchQuery};

const DEADLINE: Duration = Duration::from_secs(60);
const DIM: u32 = 8;

fn start(root: &Path, n: u32) -> (Child, PathBuf) {
    let notify = root.join(format!("notify-{n}"));
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(DEADLINE)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_memoryd"))
        .env("AIOS_STATE_DIR", root.join("state"))
        .env("AIOS_RUNTIME_DIR", root.join("run"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        // No embedding model here: the test gives its own vectors, so it needs no weights.
        .env("AIOS_MODEL_DIR", root.join("no-models"))
        .env("NOTIFY_SOCKET", &notify)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let len = rx
        .recv(&mut buf)
        .expect("memoryd did not report READY=1 in time");
    assert_eq!(&buf[..len], b"READY=1");
    (child, root.join("run/memoryd.sock"))
}

fn doc(n: u32) -> SearchDocument {
    let mut embedding = vec![0.0f32; DIM as usize];
    embedding[(n % DIM) as usize] = 1.0;
    embedding[((n / DIM) % DIM) as usize] += 0.5;
    let mut metadata = serde_json::Map::new();
    metadata.insert("kind".into(), "note".into());
    metadata.insert("n".into(), n.into());
    SearchDocument {
        id: format!("doc-{n}"),
        text: format!("common marker{n} words about backups"),
        metadata,
        embedding: Some(embedding),
        unix_ms: i64::from(n) + 1,
    }
}

async fn wait_indexed(client: &mut SearchClient, collection: &str) -> u64 {
    let until = Instant::now() + DEADLINE;
    loop {
        let s = client.status().await.unwrap();
        let c = s.collections.iter().find(|c| c.name == collection).unwrap();
        if c.backlog == 0 {
            return c.count;
        }
        assert!(
            Instant::now() < until,
            "backlog still {} after {DEADLINE:?}",
            c.backlog
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_agree_with_sqlite_after_kill_9_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (mut first, socket) = start(root, 1);
    let mut client = SearchClient::new(aios_proto::connect(&socket).await.unwrap());
    client
        .create_collection("notes", Some(("test-model", DIM)))
        .await
        .unwrap();
    // Mixing models in one collection is refused.
    let err = client
        .create_collection("notes", Some(("other-model", DIM)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mixing embedding models"), "{err}");

    // A writer keeps writing one document per call while we kill the daemon under it.
    let writer_socket = socket.clone();
    let writer = tokio::spawn(async move {
        let mut c = SearchClient::new(aios_proto::connect(&writer_socket).await.unwrap());
        let mut acked = Vec::new();
        for n in 0..10_000u32 {
            match c.write("notes", true, vec![doc(n)]).await {
                Ok(_) => acked.push(n),
                Err(_) => break,
            }
        }
        acked
    });
    // Kill once a good number are acknowledged, so the indexer is mid-flight.
    let until = Instant::now() + DEADLINE;
    loop {
        let s = client.status().await.unwrap();
        let notes = s.collections.iter().find(|c| c.name == "notes").unwrap();
        if notes.count >= 150 {
            break;
        }
        assert!(Instant::now() < until, "writes did not progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(client);
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let acked = writer.await.unwrap();
    assert!(
        acked.len() >= 150,
        "only {} writes acknowledged",
        acked.len()
    );

    let (mut second, socket) = start(root, 2);
    let mut client = SearchClient::new(aios_proto::connect(&socket).await.unwrap());
    let stored = wait_indexed(&mut client, "notes").await;
    assert!(stored >= acked.len() as u64);
    // The queue drained into the index: it holds exactly what SQLite holds.
    let s = client.status().await.unwrap();
    let notes = s.collections.iter().find(|c| c.name == "notes").unwrap();
    assert_eq!(
        (notes.indexed, notes.vectors),
        (stored, stored),
        "{notes:?}"
    );
    // No embedding model here, and status says so.
    assert_eq!(s.embedder_model, None);

    // Every stored document is indexed exactly once: a query for the word they all share
    // returns each id once, and nothing else.
    let all = client
        .query(SearchQuery {
            collection: "notes".into(),
            text: Some("common".into()),
            limit: 20_000,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<&str> = all.iter().map(|h| h.document.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "a document is indexed twice");
    assert_eq!(all.len() as u64, stored, "index and SQLite disagree");
    for n in &acked {
        let hits = client
            .query(SearchQuery {
                collection: "notes".into(),
                text: Some(format!("marker{n}")),
                limit: 5,
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "acknowledged doc-{n}: {hits:?}");
        assert_eq!(hits[0].document.id, format!("doc-{n}"));
    }

    // Vector query with a filter before ranking, and deletes reach the index too.
    let q = doc(3).embedding.unwrap();
    let hits = client
        .query(SearchQuery {
            collection: "notes".into(),
            vector: Some(q),
            limit: 3,
            where_: Some(serde_json::json!({"n": {"$lt": 10}})),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hits[0].document.id, "doc-3");
    assert!(
        hits.iter()
            .all(|h| h.document.metadata["n"].as_u64().unwrap() < 10)
    );
    assert_eq!(
        client.delete("notes", vec!["doc-3".into()]).await.unwrap(),
        1
    );
    wait_indexed(&mut client, "notes").await;
    let hits = client
        .query(SearchQuery {
            collection: "notes".into(),
            text: Some("marker3".into()),
            limit: 5,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert!(hits.is_empty(), "{hits:?}");

    // A reindex from SQLite gives the same count.
    assert_eq!(client.reindex(Some("notes")).await.unwrap(), stored - 1);
    drop(client);
    second.kill().unwrap();
    second.wait().unwrap();
}

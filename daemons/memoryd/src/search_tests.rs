//! The search service over a real store and real indexes in a temporary directory, with
//! hand-built principals: automatic remembering, who reads and writes what, and vectors
//! arriving after the text.

use std::sync::Arc;

use aios_proto::{
    ApiErrorKind, ApprovalMode, MemoryApi, Principal, Role, SearchApi, SearchDocument, SearchQuery,
    SessionInfo, StoredMessage, StoredToolCall, ToolStatus,
};
use aios_search::{Embedder, HashingEmbedder};
use aios_store::Store;
use serde_json::json;

use crate::MemoryService;
use crate::search::SearchHost;
use crate::search_service::SearchService;

fn user(uid: u32) -> Principal {
    Principal::ordinary(uid)
}

fn admin(uid: u32) -> Principal {
    Principal {
        admin: true,
        ..user(uid)
    }
}

fn daemon() -> Principal {
    Principal {
        trusted_peer: true,
        ..user(999)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    memory: MemoryService,
    search: SearchService,
    host: Arc<SearchHost>,
}

fn fixture(embedder: Option<Arc<dyn Embedder>>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("m.sqlite3")).unwrap());
    let host = Arc::new(
        SearchHost::open(Arc::clone(&store), &dir.path().join("search"), embedder).unwrap(),
    );
    let search = SearchService::start(Arc::clone(&host)).unwrap();
    Fixture {
        memory: MemoryService::shared(store).with_indexer(search.waker()),
        search,
        host,
        _dir: dir,
    }
}

/// A user turn and a tool call about `words`, written as memoryd writes them.
async fn remember(memory: &MemoryService, session: &str, uid: u32, words: &str) {
    memory
        .put_session(
            daemon(),
            SessionInfo {
                id: session.into(),
                uid,
                provider: "p".into(),
                model: "m".into(),
                created_unix_ms: 1,
                title: "t".into(),
                approval: ApprovalMode::Ask,
                kind: Default::default(),
            },
        )
        .await
        .unwrap();
    memory
        .append_message(
            daemon(),
            StoredMessage {
                session_id: session.into(),
                turn_id: "t1".into(),
                role: Role::User,
                content: format!("tell me about {words}"),
                tool_calls: vec![],
                tool_call_id: None,
                unix_ms: 1_000,
            },
        )
        .await
        .unwrap();
    memory
        .record_tool_call(
            daemon(),
            StoredToolCall {
                session_id: session.into(),
                turn_id: "t1".into(),
                call_id: "c1".into(),
                tool: "fs.read".into(),
                args: json!({"path": format!("/etc/{words}.conf")}),
                status: ToolStatus::Ok,
                result: json!({"text": "enabled = true"}),
                duration_us: 10,
                unix_ms: 2_000,
            },
        )
        .await
        .unwrap();
}

impl Fixture {
    /// Applies the whole queue now (the indexer thread may be doing the same: the two
    /// are serialised and both idempotent).
    fn drain(&self) {
        while self.host.apply_pending(64).unwrap() > 0 {}
    }

    async fn conversation(&self, session: &str, uid: u32, words: &str) {
        remember(&self.memory, session, uid, words).await;
    }

    async fn find(&self, who: Principal, text: &str) -> Result<Vec<String>, aios_proto::ApiError> {
        let hits = self
            .search
            .query(
                who,
                SearchQuery {
                    collection: "history".into(),
                    text: Some(text.into()),
                    limit: 10,
                    ..SearchQuery::default()
                },
            )
            .await?;
        Ok(hits.into_iter().map(|h| h.document.id).collect())
    }
}

#[tokio::test]
async fn messages_and_tool_calls_are_remembered_and_users_read_only_their_own() {
    let f = fixture(None);
    f.conversation("alice-s", 1000, "nginx").await;
    f.conversation("bob-s", 1001, "nginx").await;
    f.drain();

    let status = f.search.status(user(1000)).await.unwrap();
    assert_eq!(status.embedder_model, None);
    let history = status
        .collections
        .iter()
        .find(|c| c.name == "history")
        .unwrap();
    assert_eq!(
        (
            history.count,
            history.indexed,
            history.backlog,
            history.vectors
        ),
        (4, 4, 0, 0)
    );

    // Daemons and administrators see both users' memories; each user only their own.
    assert_eq!(f.find(daemon(), "nginx").await.unwrap().len(), 4);
    assert_eq!(f.find(admin(1002), "nginx").await.unwrap().len(), 4);
    let alice = f.find(user(1000), "nginx").await.unwrap();
    assert_eq!(alice.len(), 2, "{alice:?}");
    let bob = f.find(user(1001), "nginx").await.unwrap();
    assert_eq!(bob.len(), 2, "{bob:?}");
    assert!(alice.iter().all(|id| !bob.contains(id)));
    assert!(f.find(user(1003), "nginx").await.unwrap().is_empty());
    // `get` by id follows the same rule.
    let got = f
        .search
        .get(user(1001), "history".into(), alice.clone())
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    let got = f
        .search
        .get(user(1000), "history".into(), alice.clone())
        .await
        .unwrap();
    assert_eq!(got.len(), 2);

    // The tool call document carries its kind, tool, session and owner.
    let calls = f
        .search
        .query(
            daemon(),
            SearchQuery {
                collection: "history".into(),
                text: Some("nginx".into()),
                kind: Some("tool_call".into()),
                session: Some("alice-s".into()),
                ..SearchQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    let meta = &calls[0].document.metadata;
    assert_eq!(meta["tool"], "fs.read");
    assert_eq!(meta["user"], "1000");
    assert!(!meta["host"].as_str().unwrap().is_empty());
    assert!(calls[0].bm25_rank.is_some() && calls[0].vector_rank.is_none());
}

#[tokio::test]
async fn only_daemons_write_system_collections_and_users_read_docs() {
    let f = fixture(None);
    let doc = SearchDocument {
        id: "chattr.1".into(),
        text: "chattr change file attributes immutable".into(),
        ..SearchDocument::default()
    };
    for who in [user(1000), admin(1000)] {
        let e = f
            .search
            .create_collection(who.clone(), "docs".into(), Some(("m".into(), 4)))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
        let e = f
            .search
            .write(who, "history".into(), true, vec![doc.clone()])
            .await
            .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
    }
    f.search
        .create_collection(daemon(), "docs".into(), Some(("m".into(), 4)))
        .await
        .unwrap();
    f.search
        .write(daemon(), "docs".into(), false, vec![doc])
        .await
        .unwrap();
    f.drain();
    let hits = f
        .search
        .query(
            user(1000),
            SearchQuery {
                collection: "docs".into(),
                text: Some("immutable".into()),
                ..SearchQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(hits[0].document.id, "chattr.1");

    // Other collections: administrators may create and write them, users may not read them.
    f.search
        .create_collection(admin(1000), "notes".into(), Some(("m".into(), 4)))
        .await
        .unwrap();
    let e = f
        .search
        .query(
            user(1000),
            SearchQuery {
                collection: "notes".into(),
                text: Some("x".into()),
                ..SearchQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
    // Deleting a collection removes it, its documents and its index.
    let e = f
        .search
        .delete_collection(user(1000), "notes".into())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
    f.search
        .delete_collection(admin(1000), "notes".into())
        .await
        .unwrap();
    let names: Vec<String> = f
        .search
        .status(user(1000))
        .await
        .unwrap()
        .collections
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["docs", "history"]);
}

#[tokio::test]
async fn vectors_arrive_in_the_background_and_queries_become_hybrid() {
    let embedder: Arc<dyn Embedder> = Arc::new(HashingEmbedder::new(64).unwrap());
    let f = fixture(Some(embedder));
    f.conversation("s", 1000, "postgres").await;
    // Text search works before anything is embedded (nothing applied yet: BM25 on an
    // empty index returns nothing, and the request never waits for the embedder).
    f.drain();
    let status = f.search.status(daemon()).await.unwrap();
    assert_eq!(
        status.embedder_model.as_deref(),
        Some(HashingEmbedder::MODEL)
    );
    let history = status
        .collections
        .iter()
        .find(|c| c.name == "history")
        .unwrap();
    assert_eq!(history.model, HashingEmbedder::MODEL);
    assert_eq!(history.vectors, 2);
    let hits = f
        .search
        .query(
            daemon(),
            SearchQuery {
                collection: "history".into(),
                text: Some("postgres".into()),
                ..SearchQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(
        hits.iter()
            .all(|h| h.bm25_rank.is_some() && h.vector_rank.is_some())
    );
    assert!(hits.iter().all(|h| h.distance.is_some()));
    // The vectors were stored back in SQLite: a reindex does not need the embedder.
    assert_eq!(f.search.reindex(daemon(), None).await.unwrap(), 2);
    let e = f.search.reindex(user(1000), None).await.unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied);
}

#[tokio::test]
async fn an_index_of_an_older_format_is_rebuilt_from_sqlite_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("m.sqlite3")).unwrap());
    let root = dir.path().join("search");
    // No indexer: the queue is applied by hand.
    let memory = MemoryService::shared(Arc::clone(&store));
    {
        let host = SearchHost::open(Arc::clone(&store), &root, None).unwrap();
        remember(&memory, "s1", 1000, "postgres").await;
        while host.apply_pending(64).unwrap() > 0 {}
    }
    // An index from before stemming has no FORMAT file; one more turn is queued but not
    // applied, so the collection also has a backlog at the next start.
    let mut outdated = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if aios_search::SearchIndex::exists(&path) {
            std::fs::remove_file(path.join("FORMAT")).unwrap();
            assert!(aios_search::SearchIndex::needs_rebuild(&path));
            outdated += 1;
        }
    }
    assert!(outdated >= 1);
    remember(&memory, "s2", 1000, "nginx").await;

    let host = SearchHost::open(Arc::clone(&store), &root, None).unwrap();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        assert!(!aios_search::SearchIndex::needs_rebuild(&path), "{path:?}");
    }
    let history = store.get_collection("history").unwrap();
    assert_eq!(history.count, 4);
    assert_eq!(host.index_sizes(&history).unwrap().0, 4);
    for words in ["postgres", "nginx"] {
        let hits = host
            .query(&crate::search::Query {
                collection: "history".into(),
                text: Some(words.into()),
                k: 10,
                ..crate::search::Query::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 2, "{words}: the message and the tool call");
    }
}

//! The I/O seam with a memory that hangs or answers: retrieval keeps to its
//! time budget, and only close hits become memories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

use aios_proto::{
    ApprovalMode, BoxStream, ExecuteEvent, ExecuteRequest, StoredMessage, StoredToolCall, ToolSpec,
};

/// A memoryd whose search never answers, or answers `hits`.
struct Memoryd {
    hang: bool,
    hits: Vec<SearchHit>,
}

#[async_trait::async_trait]
impl Backends for Memoryd {
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError> {
        Ok(vec![])
    }
    async fn complete(&self, _: CompletionRequest) -> Result<BoxStream<CompletionEvent>, ApiError> {
        Err(ApiError::internal("no model here"))
    }
    async fn execute(&self, _: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        Err(ApiError::internal("no tools here"))
    }
    async fn put_session(&self, _: SessionInfo) -> Result<(), ApiError> {
        Ok(())
    }
    async fn append_message(&self, _: StoredMessage) -> Result<(), ApiError> {
        Ok(())
    }
    async fn record_tool_call(&self, _: StoredToolCall) -> Result<(), ApiError> {
        Ok(())
    }
    async fn list_sessions(&self, _: u32) -> Result<Vec<SessionInfo>, ApiError> {
        Ok(vec![])
    }
    async fn search(&self, q: SearchQuery) -> Result<Vec<SearchHit>, ApiError> {
        if self.hang {
            futures::future::pending::<()>().await;
        }
        Ok(self
            .hits
            .iter()
            .filter(|h| h.document.metadata["collection"] == q.collection.as_str())
            .cloned()
            .collect())
    }
}

fn info() -> SessionInfo {
    SessionInfo {
        id: "s1".into(),
        uid: 1000,
        provider: String::new(),
        model: String::new(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    }
}

fn hit(collection: &str, text: &str, distance: Option<f32>) -> SearchHit {
    let mut metadata = Map::new();
    metadata.insert("collection".into(), json!(collection));
    metadata.insert("kind".into(), json!("message"));
    metadata.insert("role".into(), json!("user"));
    metadata.insert("session".into(), json!("s0"));
    metadata.insert("page".into(), json!("chattr.1"));
    SearchHit {
        document: SearchDocument {
            id: text.into(),
            text: text.into(),
            metadata,
            embedding: None,
            unix_ms: 1,
        },
        score: 0.1,
        bm25_rank: Some(1),
        vector_rank: distance.map(|_| 1),
        distance,
        snippet: String::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_memoryd_that_never_answers_costs_the_turn_its_budget_and_no_more() {
    let hung = Memoryd {
        hang: true,
        hits: vec![],
    };
    let started = tokio::time::Instant::now();
    let got = retrieve(&hung, &info(), "anything", RETRIEVAL_BUDGET).await;
    assert!(got.is_empty());
    // The paused clock moved by exactly the budget: nothing waited longer.
    assert_eq!(started.elapsed(), RETRIEVAL_BUDGET);
}

#[tokio::test]
async fn only_hits_close_to_the_request_become_memories_history_first() {
    let memoryd = Memoryd {
        hang: false,
        hits: vec![
            hit("docs", "chattr +i makes a file immutable", Some(0.3)),
            hit(
                "history",
                "the nginx config lives in sites-enabled",
                Some(0.4),
            ),
            hit("history", "unrelated but ranked", Some(0.9)),
            hit("history", "text match only, no vector", None),
        ],
    };
    let got = retrieve(&memoryd, &info(), "q", RETRIEVAL_BUDGET).await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "the nginx config lives in sites-enabled",
            "chattr +i makes a file immutable"
        ]
    );
    assert_eq!(got[0].source, "message user, session s0");
    assert_eq!(got[1].source, "documentation chattr.1");
}

#[test]
fn history_is_searched_as_the_user_s_own_other_sessions() {
    let [history, docs] = queries(&info(), "where is it");
    assert_eq!(history.collection, "history");
    assert_eq!(
        history.where_.unwrap(),
        json!({"$and": [{"user": {"$eq": "1000"}}, {"session": {"$ne": "s1"}}]})
    );
    assert_eq!(docs.collection, "docs");
    assert_eq!(docs.where_, None);
    assert_eq!(docs.text.as_deref(), Some("where is it"));
}

#[test]
fn a_summary_is_stored_as_the_owner_s_history_document() {
    let d = summary_document(
        &info(),
        &Summary {
            covers: 12,
            text: "s".into(),
        },
    );
    assert_eq!(d.id, "summary:s1");
    assert_eq!(d.metadata["kind"], "summary");
    assert_eq!(d.metadata["user"], "1000");
    assert_eq!(d.metadata["covers"], 12);
}

#[test]
fn the_calibrator_scales_by_the_growth_of_the_real_count_within_a_turn() {
    let session = crate::session::Session::new(info());
    let c = Calibrator::default();
    // The first call alone says nothing (its count includes the tools).
    c.observe(&session, 5000, 500);
    assert!((session.working().count.scale - 1.0).abs() < 1e-9);
    // 200 more estimated tokens of conversation were 300 real ones.
    c.observe(&session, 5300, 700);
    assert!((session.working().count.scale - 1.5).abs() < 1e-9);
    // Growth too small to measure is ignored.
    c.observe(&session, 5310, 710);
    assert!((session.working().count.scale - 1.5).abs() < 1e-9);
}

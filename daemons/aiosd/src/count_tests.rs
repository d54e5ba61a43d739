//! Real token counts asked of the gateway: each text once, used by the
//! assembly in place of the estimate, and not asked again of a provider
//! that cannot count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use super::*;

use aios_proto::{
    ApprovalMode, BoxStream, ExecuteEvent, ExecuteRequest, Role, StoredMessage, StoredToolCall,
    ToolSpec,
};

/// A gateway that counts one token per byte (or cannot count), and
/// remembers what it was asked.
struct Gateway {
    can_count: bool,
    asked: Mutex<Vec<Vec<String>>>,
}

#[async_trait::async_trait]
impl Backends for Gateway {
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
    async fn count_tokens(
        &self,
        _: Option<String>,
        _: Option<String>,
        texts: Vec<String>,
    ) -> Result<TokenCounts, ApiError> {
        self.asked.lock().unwrap().push(texts.clone());
        Ok(TokenCounts {
            counts: self
                .can_count
                .then(|| texts.iter().map(|t| t.len() as u32).collect()),
            detail: String::new(),
        })
    }
}

fn session() -> Arc<Session> {
    let s = Session::new(SessionInfo {
        id: "s1".into(),
        uid: 1000,
        provider: String::new(),
        model: String::new(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    });
    for (role, text) in [
        (Role::User, "how full is the disk?"),
        (Role::Assistant, "It is 90% full."),
    ] {
        s.push_history(ChatMessage {
            role,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: None,
        })
        .unwrap();
    }
    s
}

#[tokio::test]
async fn each_text_is_counted_once_and_measured_by_its_count() {
    let gw = Gateway {
        can_count: true,
        asked: Mutex::default(),
    };
    let s = session();
    let budget = Budget::of(3000);
    let cancel = CancellationToken::new();
    let (_, h) = s.history_window();
    assert!(count_real(&gw, &s, &h, &[], &budget, &cancel).await);
    let count = s.working().count;
    assert_eq!(count.text("how full is the disk?"), 21);
    assert_eq!(count.text("It is 90% full."), 15);
    // Asked again, nothing new: no request.
    assert!(count_real(&gw, &s, &h, &[], &budget, &cancel).await);
    assert_eq!(gw.asked.lock().unwrap().len(), 1);
    // A new message is the only text asked for next.
    s.push_history(ChatMessage {
        role: Role::User,
        content: "and /home?".into(),
        tool_calls: vec![],
        tool_call_id: None,
    })
    .unwrap();
    let (_, h) = s.history_window();
    assert!(count_real(&gw, &s, &h, &[], &budget, &cancel).await);
    assert_eq!(gw.asked.lock().unwrap()[1], vec!["and /home?".to_string()]);
}

#[tokio::test]
async fn a_provider_that_cannot_count_is_not_asked_again_and_the_estimate_stays() {
    let gw = Gateway {
        can_count: false,
        asked: Mutex::default(),
    };
    let s = session();
    let budget = Budget::of(3000);
    let cancel = CancellationToken::new();
    let (_, h) = s.history_window();
    assert!(count_real(&gw, &s, &h, &[], &budget, &cancel).await);
    assert!(count_real(&gw, &s, &h, &[], &budget, &cancel).await);
    assert_eq!(gw.asked.lock().unwrap().len(), 1);
    let w = s.working();
    assert!(w.uncountable);
    assert_eq!(w.count.text("how full is the disk?"), 6, "21 bytes / 3.5");
}

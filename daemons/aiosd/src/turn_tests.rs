//! The turn loop against in-memory backends: ordering, refusal, interrupt,
//! deadlines and failures, with tokio's paused clock (no real waiting).

use std::sync::Mutex;

use aios_proto::{ApprovalMode, BoxStream, SessionInfo, Usage};
use futures::stream;
use serde_json::json;

use super::*;

/// What a fake tool call does.
#[derive(Clone)]
enum ToolBehaviour {
    End(ToolStatus, Value),
    Hang,
}

struct Fake {
    replies: Mutex<Vec<Vec<Result<CompletionEvent, ApiError>>>>,
    slow_model: bool,
    tool: ToolBehaviour,
    memory_down: bool,
    recorded_calls: Mutex<Vec<StoredToolCall>>,
    messages: Mutex<Vec<StoredMessage>>,
}

impl Fake {
    fn new(replies: Vec<Vec<CompletionEvent>>) -> Fake {
        Fake {
            replies: Mutex::new(
                replies
                    .into_iter()
                    .map(|r| r.into_iter().map(Ok).collect())
                    .collect(),
            ),
            slow_model: false,
            tool: ToolBehaviour::End(ToolStatus::Ok, json!({"ok": true})),
            memory_down: false,
            recorded_calls: Mutex::new(Vec::new()),
            messages: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl Backends for Fake {
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError> {
        Ok(vec![ToolSpec {
            name: "sys.overview".into(),
            description: "overview".into(),
            args_schema: json!({"type": "object"}),
            effect: Risk::Read,
            resources: vec![],
        }])
    }

    async fn complete(
        &self,
        _req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        let mut replies = self.replies.lock().unwrap();
        if replies.is_empty() {
            return Err(ApiError::internal("no more replies"));
        }
        let reply = replies.remove(0);
        if self.slow_model {
            // Emit the first event, then never finish.
            let first = reply.into_iter().next();
            return Ok(stream::iter(first).chain(stream::pending()).boxed());
        }
        Ok(stream::iter(reply).boxed())
    }

    async fn execute(&self, _req: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        match &self.tool {
            ToolBehaviour::End(status, result) => Ok(stream::iter(vec![
                Ok(ExecuteEvent::Output("line\n".into())),
                Ok(ExecuteEvent::End(ExecuteEnd {
                    status: *status,
                    result: result.clone(),
                    duration_us: 5,
                })),
            ])
            .boxed()),
            ToolBehaviour::Hang => Ok(stream::pending().boxed()),
        }
    }

    async fn put_session(&self, _s: SessionInfo) -> Result<(), ApiError> {
        Ok(())
    }

    async fn append_message(&self, m: StoredMessage) -> Result<(), ApiError> {
        if self.memory_down {
            return Err(ApiError::transport(
                "memoryd is not reachable at /x/memoryd.sock",
            ));
        }
        self.messages.lock().unwrap().push(m);
        Ok(())
    }

    async fn record_tool_call(&self, c: StoredToolCall) -> Result<(), ApiError> {
        self.recorded_calls.lock().unwrap().push(c);
        Ok(())
    }

    async fn list_sessions(&self, _uid: u32) -> Result<Vec<SessionInfo>, ApiError> {
        Ok(vec![])
    }
}

fn limits() -> Limits {
    Limits {
        max_iterations: 4,
        model_timeout: Duration::from_secs(60),
        model_idle_timeout: Duration::from_secs(30),
        tool_timeout: Duration::from_secs(10),
        rpc_timeout: Duration::from_secs(5),
        tool_grace: Duration::from_secs(1),
    }
}

fn session() -> Arc<Session> {
    Session::new(SessionInfo {
        id: "s1".into(),
        uid: 1000,
        provider: "scripted".into(),
        model: String::new(),
        created_unix_ms: 0,
        title: String::new(),
        approval: ApprovalMode::Policy,
    })
}

fn call(name: &str) -> CompletionEvent {
    CompletionEvent::ToolCall(ToolCall {
        id: "c1".into(),
        name: name.into(),
        args: json!({}),
    })
}

fn done() -> CompletionEvent {
    CompletionEvent::Done {
        stop_reason: "end_turn".into(),
    }
}

fn text(t: &str) -> CompletionEvent {
    CompletionEvent::TextDelta(t.into())
}

async fn run(fake: Fake, cancel: CancellationToken) -> (Arc<Session>, Arc<Fake>) {
    let fake = Arc::new(fake);
    let s = session();
    let (turn_id, _) = s.begin_turn().unwrap();
    let t = Turn::new(fake.clone(), s.clone(), limits(), turn_id, cancel);
    t.run("hello".into()).await;
    (s, fake)
}

fn kinds(s: &Session) -> Vec<EventKind> {
    s.subscribe(0).0.into_iter().map(|e| e.kind).collect()
}

fn completed(s: &Session) -> (TurnStatus, String) {
    match kinds(s).last() {
        Some(EventKind::TurnCompleted {
            status, message, ..
        }) => (*status, message.clone()),
        other => panic!("last event is not TurnCompleted: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn tool_call_is_persisted_then_reported_and_answer_follows() {
    let fake = Fake::new(vec![
        vec![
            text("checking"),
            call("sys.overview"),
            CompletionEvent::Usage(Usage::default()),
            done(),
        ],
        vec![text("all good"), done()],
    ]);
    let (s, fake) = run(fake, CancellationToken::new()).await;
    assert_eq!(completed(&s).0, TurnStatus::Completed);
    let ks = kinds(&s);
    assert!(
        ks.iter()
            .any(|k| matches!(k, EventKind::ToolOutputDelta { chunk, .. } if chunk == "line\n"))
    );
    assert!(ks.iter().any(|k| matches!(k, EventKind::ToolCallBegin { rationale, risk: Risk::Read, .. } if rationale == "checking")));
    assert_eq!(fake.recorded_calls.lock().unwrap().len(), 1);
    let roles: Vec<Role> = fake
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    // The session is free again.
    assert!(s.begin_turn().is_some());
}

#[tokio::test(start_paused = true)]
async fn denied_call_makes_the_turn_refused() {
    let mut fake = Fake::new(vec![
        vec![call("sys.overview"), done()],
        vec![text("I was not allowed."), done()],
    ]);
    fake.tool = ToolBehaviour::End(ToolStatus::Denied, json!("no policy rule allows it"));
    let (s, _) = run(fake, CancellationToken::new()).await;
    let (status, message) = completed(&s);
    assert_eq!(status, TurnStatus::Refused);
    assert!(message.contains("no policy rule"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn interrupt_stops_a_hanging_model_stream() {
    let mut fake = Fake::new(vec![vec![text("thinking"), done()]]);
    fake.slow_model = true;
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let fake = Arc::new(fake);
    let s = session();
    let (turn_id, _) = s.begin_turn().unwrap();
    let t = Turn::new(fake.clone(), s.clone(), limits(), turn_id, cancel);
    let h = tokio::spawn(t.run("hello".into()));
    // Wait until the first delta is out, then interrupt.
    let (_, mut rx) = s.subscribe(0);
    loop {
        if let Ok(e) = rx.recv().await
            && matches!(e.kind, EventKind::AssistantDelta { .. })
        {
            break;
        }
    }
    c2.cancel();
    h.await.unwrap();
    assert_eq!(completed(&s).0, TurnStatus::Interrupted);
}

#[tokio::test(start_paused = true)]
async fn silent_model_times_out() {
    let mut fake = Fake::new(vec![vec![text("thinking"), done()]]);
    fake.slow_model = true;
    let (s, _) = run(fake, CancellationToken::new()).await;
    let (status, message) = completed(&s);
    assert_eq!(status, TurnStatus::Failed);
    assert!(message.contains("sent nothing for 30s"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn hanging_executor_is_timed_out_and_the_turn_goes_on() {
    let mut fake = Fake::new(vec![
        vec![call("sys.overview"), done()],
        vec![text("it timed out"), done()],
    ]);
    fake.tool = ToolBehaviour::Hang;
    let (s, fake) = run(fake, CancellationToken::new()).await;
    assert_eq!(completed(&s).0, TurnStatus::Completed);
    assert_eq!(
        fake.recorded_calls.lock().unwrap()[0].status,
        ToolStatus::TimedOut
    );
}

#[tokio::test(start_paused = true)]
async fn store_down_fails_the_turn_as_daemon_unavailable() {
    let mut fake = Fake::new(vec![vec![text("hi"), done()]]);
    fake.memory_down = true;
    let (s, _) = run(fake, CancellationToken::new()).await;
    assert!(kinds(&s).iter().any(
        |k| matches!(k, EventKind::Error { code, fatal: true, .. } if code == "daemon_unavailable")
    ));
    assert_eq!(completed(&s).0, TurnStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn stream_ending_without_done_is_a_model_error() {
    let fake = Fake::new(vec![vec![text("partial")]]);
    let (s, _) = run(fake, CancellationToken::new()).await;
    let (status, message) = completed(&s);
    assert_eq!(status, TurnStatus::Failed);
    assert!(message.contains("ended before"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn malformed_arguments_are_not_executed_and_the_model_is_told() {
    let fake = Fake::new(vec![
        vec![
            CompletionEvent::MalformedToolCall {
                id: "c1".into(),
                name: "sys.overview".into(),
                raw_args: "{bad".into(),
                error: "EOF".into(),
            },
            done(),
        ],
        vec![text("sorry"), done()],
    ]);
    let (s, fake) = run(fake, CancellationToken::new()).await;
    assert_eq!(completed(&s).0, TurnStatus::Completed);
    let rec = &fake.recorded_calls.lock().unwrap()[0];
    assert_eq!(rec.status, ToolStatus::Error);
    let msgs = fake.messages.lock().unwrap();
    let tool_msg = msgs.iter().find(|m| m.role == Role::Tool).unwrap();
    assert!(
        tool_msg.content.contains("not valid JSON"),
        "{}",
        tool_msg.content
    );
}

#[test]
fn huge_results_are_capped_for_the_model() {
    let end = ExecuteEnd {
        status: ToolStatus::Ok,
        result: Value::String("é".repeat(40_000)),
        duration_us: 1,
    };
    let text = for_model(&end);
    assert!(text.len() <= MAX_RESULT_FOR_MODEL + 64);
    assert!(text.ends_with("longer than 32 KiB]"));
}

//! The turn loop against in-memory backends: ordering, refusal, interrupt,
//! deadlines, failures, bounds, and turns whose task dies, with tokio's
//! paused clock (no real waiting).

use std::sync::Mutex;

use aios_proto::{ApprovalMode, BoxStream, SessionInfo, Usage};
use futures::stream;
use serde_json::json;

use super::call::for_model;
use super::*;
use crate::limits::{MAX_REPLY_BYTES, MAX_RESULT_FOR_MODEL};
use aios_proto::{
    CompletionEvent, CompletionRequest, ExecuteEvent, ExecuteRequest, Risk, StoredToolCall,
};
use futures::StreamExt;

/// What a fake tool call does.
#[derive(Clone)]
enum ToolBehaviour {
    End(ToolStatus, Value),
    Hang,
}

struct Fake {
    replies: Mutex<Vec<Vec<Result<CompletionEvent, ApiError>>>>,
    slow_model: bool,
    /// `complete` panics (a bug in a backend client).
    panicking_model: bool,
    tool: ToolBehaviour,
    memory_down: bool,
    /// Messages go to this real store service instead of the list.
    store: Option<aios_memoryd::MemoryService>,
    executed: Mutex<usize>,
    /// The session kind and approval mode of each execute request.
    sent: Mutex<Vec<(aios_proto::SessionKind, ApprovalMode)>>,
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
            panicking_model: false,
            tool: ToolBehaviour::End(ToolStatus::Ok, json!({"ok": true})),
            memory_down: false,
            store: None,
            executed: Mutex::new(0),
            sent: Mutex::new(Vec::new()),
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
            examples: vec![],
        }])
    }

    async fn complete(
        &self,
        _req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        if self.panicking_model {
            panic!("the model client hit a bug");
        }
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

    async fn execute(&self, req: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        *self.executed.lock().unwrap() += 1;
        self.sent
            .lock()
            .unwrap()
            .push((req.session_kind, req.approval));
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
        if let Some(store) = &self.store {
            use aios_proto::MemoryApi;
            return store
                .append_message(aios_proto::current_principal(), m)
                .await
                .map(|_| ());
        }
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
        approval_timeout: Duration::from_secs(10),
        context_tokens: 3072,
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
        kind: aios_proto::SessionKind::Interactive,
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
    // The executor is told the kind the session was created with (an
    // interactive session under --approve=policy stays interactive), and
    // the session's approval mode.
    assert_eq!(
        *fake.sent.lock().unwrap(),
        [(aios_proto::SessionKind::Interactive, ApprovalMode::Policy)]
    );
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

/// Wait (on the paused clock) for the turn to end; its last event.
async fn turn_end(s: &Session) -> (TurnStatus, String) {
    let (seen, mut rx) = s.subscribe(0);
    if seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::TurnCompleted { .. }))
    {
        return completed(s);
    }
    tokio::time::timeout(Duration::from_secs(3600), async {
        loop {
            if let Ok(e) = rx.recv().await
                && matches!(e.kind, EventKind::TurnCompleted { .. })
            {
                return;
            }
        }
    })
    .await
    .expect("the turn never ended");
    completed(s)
}

fn fatal_codes(s: &Session) -> Vec<String> {
    kinds(s)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Error {
                code, fatal: true, ..
            } => Some(code.to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_panicking_backend_still_ends_the_turn_and_frees_the_session() {
    let mut fake = Fake::new(vec![]);
    fake.panicking_model = true;
    let fake = Arc::new(fake);
    let s = session();
    let (turn_id, cancel) = s.begin_turn().unwrap();
    Turn::new(fake, s.clone(), limits(), turn_id, cancel).spawn("hello".into());
    let (status, message) = turn_end(&s).await;
    assert_eq!(status, TurnStatus::Failed);
    assert!(message.contains("the model client hit a bug"), "{message}");
    assert_eq!(fatal_codes(&s), ["internal_error"]);
    // Exactly one TurnCompleted, and the next input is accepted.
    let ends = kinds(&s)
        .iter()
        .filter(|k| matches!(k, EventKind::TurnCompleted { .. }))
        .count();
    assert_eq!(ends, 1);
    assert!(s.begin_turn().is_some());
}

#[tokio::test(start_paused = true)]
async fn an_aborted_turn_task_still_ends_the_turn() {
    let mut fake = Fake::new(vec![vec![text("thinking"), done()]]);
    fake.slow_model = true;
    let s = session();
    let (turn_id, cancel) = s.begin_turn().unwrap();
    let (_, mut rx) = s.subscribe(0);
    let abort = Turn::new(Arc::new(fake), s.clone(), limits(), turn_id, cancel).spawn("hi".into());
    loop {
        if let Ok(e) = rx.recv().await
            && matches!(e.kind, EventKind::AssistantDelta { .. })
        {
            break;
        }
    }
    abort.abort();
    let (status, message) = turn_end(&s).await;
    assert_eq!(status, TurnStatus::Failed);
    assert!(message.contains("cancelled"), "{message}");
    assert!(s.begin_turn().is_some());
}

#[tokio::test(start_paused = true)]
async fn absurd_timeouts_do_not_overflow_the_clock() {
    let config = aios_config::TurnConfig {
        max_iterations: 4,
        model_timeout_secs: u64::MAX,
        tool_timeout_secs: u64::MAX,
        approval_timeout_secs: u64::MAX,
        context_tokens: 3072,
    };
    let fake = Arc::new(Fake::new(vec![
        vec![call("sys.overview"), done()],
        vec![text("fine"), done()],
    ]));
    let s = session();
    let (turn_id, cancel) = s.begin_turn().unwrap();
    let t = Turn::new(
        fake,
        s.clone(),
        Limits::from_config(&config),
        turn_id,
        cancel,
    );
    t.spawn("hello".into());
    assert_eq!(turn_end(&s).await.0, TurnStatus::Completed);
    assert!(fatal_codes(&s).is_empty(), "{:?}", kinds(&s));
}

#[tokio::test(start_paused = true)]
async fn a_full_store_is_a_memory_error_not_a_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let opts = aios_store::Options {
        max_bytes: Some(128 * 1024),
        ..Default::default()
    };
    let store = aios_store::Store::open_with(&dir.path().join("m.sqlite3"), &opts).unwrap();
    let svc = aios_memoryd::MemoryService::new(store);
    let who = aios_proto::current_principal();
    let s = session();
    use aios_proto::MemoryApi;
    svc.put_session(who, s.info.clone()).await.unwrap();
    let mut fake = Fake::new(vec![vec![text("hi"), done()]]);
    fake.store = Some(svc);
    let (turn_id, cancel) = s.begin_turn().unwrap();
    let t = Turn::new(Arc::new(fake), s.clone(), limits(), turn_id, cancel);
    // Larger than the whole store: the very first write is refused.
    t.run("x".repeat(200 * 1024)).await;
    assert_eq!(fatal_codes(&s), ["memory_error"]);
    let (status, message) = completed(&s);
    assert_eq!(status, TurnStatus::Failed);
    assert!(message.starts_with("disk full: "), "{message}");
}

fn numbered_call(i: usize) -> CompletionEvent {
    CompletionEvent::ToolCall(ToolCall {
        id: format!("c{i}"),
        name: "sys.overview".into(),
        args: json!({}),
    })
}

#[tokio::test(start_paused = true)]
async fn one_tool_call_past_the_cap_is_not_run_and_both_sides_are_told() {
    let mut first: Vec<CompletionEvent> =
        (0..=MAX_TOOL_CALLS_PER_REPLY).map(numbered_call).collect();
    first.push(done());
    let fake = Fake::new(vec![first, vec![text("done"), done()]]);
    let (s, fake) = run(fake, CancellationToken::new()).await;
    assert_eq!(completed(&s).0, TurnStatus::Completed);
    assert_eq!(*fake.executed.lock().unwrap(), MAX_TOOL_CALLS_PER_REPLY);
    let ks = kinds(&s);
    assert!(ks.iter().any(|k| matches!(k, EventKind::Error { code, fatal: false, message } if code == "too_many_tool_calls" && message.contains("17 tool calls"))), "{ks:?}");
    let plan = ks
        .iter()
        .find_map(|k| match k {
            EventKind::PlanProposed { steps, .. } => Some(steps.len()),
            _ => None,
        })
        .unwrap();
    assert_eq!(plan, MAX_TOOL_CALLS_PER_REPLY);
    // The model's view: 16 calls, 16 results, and a note about the rest.
    let msgs = fake.messages.lock().unwrap();
    let assistant = msgs.iter().find(|m| m.role == Role::Assistant).unwrap();
    assert_eq!(assistant.tool_calls.len(), MAX_TOOL_CALLS_PER_REPLY);
    assert!(
        assistant
            .content
            .contains("only the first 16 of the 17 tool calls"),
        "{}",
        assistant.content
    );
    let results = msgs.iter().filter(|m| m.role == Role::Tool).count();
    assert_eq!(results, MAX_TOOL_CALLS_PER_REPLY);
}

#[tokio::test(start_paused = true)]
async fn a_reply_one_byte_past_the_cap_fails_the_turn() {
    let fake = Fake::new(vec![vec![
        text(&"a".repeat(MAX_REPLY_BYTES)),
        text("b"),
        done(),
    ]]);
    let (s, _) = run(fake, CancellationToken::new()).await;
    assert_eq!(fatal_codes(&s), ["reply_too_large"]);
    let (status, message) = completed(&s);
    assert_eq!(status, TurnStatus::Failed);
    assert!(message.contains("256 KiB"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_turn_past_the_history_cap_fails_as_context_too_large() {
    // Each reply is under the reply cap, but the turn's conversation grows
    // past the history cap within the iteration limit.
    let big = "r".repeat(MAX_REPLY_BYTES - 16);
    let replies: Vec<Vec<CompletionEvent>> = (0..6)
        .map(|i| vec![text(&big), numbered_call(i), done()])
        .collect();
    let mut l = limits();
    l.max_iterations = 6;
    let fake = Arc::new(Fake::new(replies));
    let s = session();
    let (turn_id, cancel) = s.begin_turn().unwrap();
    Turn::new(fake, s.clone(), l, turn_id, cancel)
        .run("hello".into())
        .await;
    assert_eq!(fatal_codes(&s), ["context_too_large"]);
    assert_eq!(completed(&s).0, TurnStatus::Failed);
}

#[test]
fn backend_errors_map_to_codes() {
    let code = |what, e| match backend_stop(what, e) {
        Stop::Failed { code, .. } => code,
        Stop::Interrupted => ErrorCode::Other("interrupted".into()),
    };
    assert_eq!(
        code(Backend::Memory, ApiError::exhausted("disk full")),
        "memory_error"
    );
    assert_eq!(
        code(Backend::Model, ApiError::exhausted("429")),
        "rate_limited"
    );
    assert_eq!(
        code(Backend::Memory, ApiError::transport("gone")),
        "daemon_unavailable"
    );
    assert_eq!(
        code(Backend::Model, ApiError::unavailable("down")),
        "model_unavailable"
    );
    assert_eq!(
        code(Backend::Tools, ApiError::internal("bug")),
        "backend_error"
    );
}

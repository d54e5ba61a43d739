//! Durable sessions in-process (issue 10 §7): an orchestrator over a real
//! memoryd service and SQLite store, then a second orchestrator on the same
//! store standing for aiosd after a restart. The model is a fake that
//! hangs or answers; no tools run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_memoryd::MemoryService;
use aios_proto::{
    ApiError, ApprovalMode, BoxStream, ChatMessage, CompletionEvent, CompletionRequest,
    CreateSession, ErrorCode, Event, EventKind, ExecuteEvent, ExecuteRequest, MemoryApi, Op,
    Principal, SessionApi, SessionInfo, StoredMessage, StoredToolCall, ToolSpec, TurnStatus,
};
use aiosd::limits::MAX_LOG_EVENTS;
use aiosd::{Backends, Orchestrator};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

const WAIT: Duration = Duration::from_secs(60);

/// Backends whose memory is a real [`MemoryService`] called in-process as
/// aiosd (a trusted daemon); the model hangs first, then answers.
struct Mem {
    memory: MemoryService,
    answers: Mutex<u32>,
    /// The conversation of each model call.
    asked: Mutex<Vec<Vec<ChatMessage>>>,
}

fn aiosd() -> Principal {
    Principal {
        trusted_peer: true,
        ..Principal::ordinary(999)
    }
}

#[async_trait::async_trait]
impl Backends for Mem {
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError> {
        Ok(vec![])
    }
    async fn complete(
        &self,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        self.asked.lock().unwrap().push(req.messages);
        let mut answers = self.answers.lock().unwrap();
        if *answers == 0 {
            *answers += 1;
            return Ok(futures::stream::pending().boxed());
        }
        Ok(futures::stream::iter(vec![
            Ok(CompletionEvent::TextDelta("answer".into())),
            Ok(CompletionEvent::Done {
                stop_reason: "end_turn".into(),
            }),
        ])
        .boxed())
    }
    async fn execute(&self, _req: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        Err(ApiError::internal("no tools here"))
    }
    async fn put_session(&self, s: SessionInfo) -> Result<(), ApiError> {
        self.memory.put_session(aiosd(), s).await
    }
    async fn append_message(&self, m: StoredMessage) -> Result<(), ApiError> {
        self.memory.append_message(aiosd(), m).await.map(|_| ())
    }
    async fn record_tool_call(&self, c: StoredToolCall) -> Result<(), ApiError> {
        self.memory.record_tool_call(aiosd(), c).await.map(|_| ())
    }
    async fn list_sessions(&self, uid: u32) -> Result<Vec<SessionInfo>, ApiError> {
        self.memory.list_sessions(aiosd(), Some(uid), 100).await
    }
    async fn append_events(&self, events: Vec<Event>) -> Result<(), ApiError> {
        self.memory.append_events(aiosd(), events).await.map(|_| ())
    }
    async fn get_events(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<Event>, ApiError> {
        self.memory
            .get_events(aiosd(), session_id.into(), after_seq, limit, newest)
            .await
    }
    async fn get_session(&self, session_id: &str) -> Result<SessionInfo, ApiError> {
        self.memory.get_session(aiosd(), session_id.into()).await
    }
    async fn get_messages(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, ApiError> {
        self.memory
            .get_messages(aiosd(), session_id.into(), limit)
            .await
    }
}

fn backends() -> (tempfile::TempDir, Arc<Mem>) {
    let dir = tempfile::tempdir().unwrap();
    let store = aios_store::Store::open(&dir.path().join("memory.db")).unwrap();
    let mem = Arc::new(Mem {
        memory: MemoryService::new(store),
        answers: Mutex::new(0),
        asked: Mutex::new(Vec::new()),
    });
    (dir, mem)
}

fn orchestrator(b: &Arc<Mem>) -> Orchestrator {
    Orchestrator::new(b.clone(), &aios_config::Config::default())
}

struct Client {
    ops: mpsc::UnboundedSender<Op>,
    events: BoxStream<Event>,
}

impl Client {
    async fn next(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.events.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .expect("an event, not an error")
    }
}

async fn attach(o: &Orchestrator, uid: u32, id: &str, after_seq: u64) -> Result<Client, ApiError> {
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Op::Attach {
        session_id: id.to_string(),
        after_seq,
    })
    .unwrap();
    let events = o
        .stream(
            Principal::ordinary(uid),
            UnboundedReceiverStream::new(rx).map(Ok).boxed(),
        )
        .await?;
    Ok(Client { ops: tx, events })
}

#[tokio::test]
async fn after_a_restart_the_session_resumes_with_its_transcript_and_the_cut_turn_closed() {
    let (_dir, mem) = backends();
    let before = orchestrator(&mem);
    let id = before
        .create(
            Principal::ordinary(1000),
            CreateSession {
                provider: None,
                model: None,
                approval: ApprovalMode::Ask,
                kind: Default::default(),
                title: "t".into(),
            },
        )
        .await
        .unwrap()
        .id;
    let mut c = attach(&before, 1000, &id, 0).await.unwrap();
    assert!(matches!(
        c.next().await.kind,
        EventKind::SessionStarted { resumed: false, .. }
    ));
    c.ops.send(Op::UserInput { text: "hi".into() }).unwrap();
    // Shown, so stored: the model now hangs, mid-turn.
    assert!(matches!(c.next().await.kind, EventKind::TurnStarted { .. }));

    // aiosd "restarts": a new orchestrator on the same memory. Someone
    // else may not resume the session.
    let after = orchestrator(&mem);
    let denied = attach(&after, 1001, &id, 0).await.err().unwrap();
    assert_eq!(denied.kind, aios_proto::ApiErrorKind::PermissionDenied);
    let mut c = attach(&after, 1000, &id, 0).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..5 {
        kinds.push(c.next().await);
    }
    let seqs: Vec<u64> = kinds.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert!(matches!(
        kinds[0].kind,
        EventKind::SessionStarted { resumed: false, .. }
    ));
    assert!(matches!(&kinds[1].kind, EventKind::TurnStarted { turn_id, .. } if turn_id == "t1"));
    assert!(matches!(
        &kinds[2].kind,
        EventKind::Error {
            code: ErrorCode::DaemonUnavailable,
            fatal: true,
            ..
        }
    ));
    assert!(matches!(&kinds[3].kind,
        EventKind::TurnCompleted { turn_id, status: TurnStatus::Interrupted, message }
            if turn_id == "t1" && message.contains("daemon restart")));
    assert!(matches!(
        kinds[4].kind,
        EventKind::SessionStarted { resumed: true, .. }
    ));

    // The session continues: a new turn id, and the model sees the
    // conversation so far.
    c.ops
        .send(Op::UserInput {
            text: "again".into(),
        })
        .unwrap();
    let e = c.next().await;
    assert!(
        matches!(&e.kind, EventKind::TurnStarted { turn_id, .. } if turn_id == "t2"),
        "{e:?}"
    );
    loop {
        if let EventKind::TurnCompleted { status, .. } = c.next().await.kind {
            assert_eq!(status, TurnStatus::Completed);
            break;
        }
    }
    let asked = mem.asked.lock().unwrap().last().cloned().unwrap();
    let said: Vec<&str> = asked.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(said, ["hi", "again"]);

    // Attaching again replays and adds nothing of its own.
    let mut d = attach(&after, 1000, &id, 5).await.unwrap();
    assert!(
        matches!(&d.next().await.kind, EventKind::TurnStarted { turn_id, .. } if turn_id == "t2")
    );
}

#[tokio::test]
async fn a_replay_older_than_the_in_memory_log_is_read_back_from_memoryd() {
    let (_dir, mem) = backends();
    let info = SessionInfo {
        id: "old".into(),
        uid: 1000,
        provider: "scripted".into(),
        model: String::new(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    };
    mem.put_session(info).await.unwrap();
    let stored = (MAX_LOG_EVENTS + 500) as u64;
    let events: Vec<Event> = (1..=stored)
        .map(|seq| Event {
            seq,
            session_id: "old".into(),
            unix_ms: 1,
            kind: EventKind::Notification {
                level: "info".into(),
                text: format!("n{seq}"),
            },
        })
        .collect();
    mem.append_events(events).await.unwrap();
    let o = orchestrator(&mem);
    let mut c = attach(&o, 1000, "old", 0).await.unwrap();
    for want in 1..=stored {
        let e = c.next().await;
        assert_eq!(e.seq, want, "{e:?}");
        assert!(
            matches!(&e.kind, EventKind::Notification { text, .. } if *text == format!("n{want}"))
        );
    }
    let e = c.next().await;
    assert_eq!(e.seq, stored + 1);
    assert!(matches!(
        e.kind,
        EventKind::SessionStarted { resumed: true, .. }
    ));
}

/// Memory that is down (refuses appends) until told otherwise.
struct Flaky {
    up: std::sync::atomic::AtomicBool,
    tries: std::sync::atomic::AtomicU32,
    stored: Mutex<Vec<u64>>,
}

#[async_trait::async_trait]
impl Backends for Flaky {
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError> {
        Ok(vec![])
    }
    async fn complete(
        &self,
        _req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        Ok(futures::stream::pending().boxed())
    }
    async fn execute(&self, _req: ExecuteRequest) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        Err(ApiError::internal("no tools here"))
    }
    async fn put_session(&self, _s: SessionInfo) -> Result<(), ApiError> {
        Ok(())
    }
    async fn append_message(&self, _m: StoredMessage) -> Result<(), ApiError> {
        Ok(())
    }
    async fn record_tool_call(&self, _c: StoredToolCall) -> Result<(), ApiError> {
        Ok(())
    }
    async fn list_sessions(&self, _uid: u32) -> Result<Vec<SessionInfo>, ApiError> {
        Ok(vec![])
    }
    async fn append_events(&self, events: Vec<Event>) -> Result<(), ApiError> {
        use std::sync::atomic::Ordering;
        self.tries.fetch_add(1, Ordering::SeqCst);
        if !self.up.load(Ordering::SeqCst) {
            return Err(ApiError::transport("memoryd is not reachable"));
        }
        self.stored
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| e.seq));
        Ok(())
    }
}

/// Wait until `f` holds, on the paused clock (bounded by [`WAIT`] of it).
async fn until(f: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the condition holds in time");
}

#[tokio::test(start_paused = true)]
async fn while_memoryd_is_down_events_are_held_in_order_and_shown_once_stored() {
    use std::sync::atomic::Ordering;
    let flaky = Arc::new(Flaky {
        up: false.into(),
        tries: 0.into(),
        stored: Mutex::new(Vec::new()),
    });
    let session = aiosd::Session::durable(
        SessionInfo {
            id: "s".into(),
            uid: 1000,
            provider: "p".into(),
            model: String::new(),
            created_unix_ms: 1,
            title: "t".into(),
            approval: ApprovalMode::Ask,
            kind: Default::default(),
        },
        flaky.clone(),
    );
    for i in 0..3 {
        session.emit(EventKind::Notification {
            level: "info".into(),
            text: format!("n{i}"),
        });
    }
    // Several attempts fail (the paused clock runs the backoff at once),
    // and nothing is shown unstored.
    until(|| flaky.tries.load(Ordering::SeqCst) >= 3).await;
    assert_eq!(session.published(), 0);
    flaky.up.store(true, Ordering::SeqCst);
    until(|| session.published() >= 3).await;
    assert_eq!(*flaky.stored.lock().unwrap(), [1, 2, 3]);
}

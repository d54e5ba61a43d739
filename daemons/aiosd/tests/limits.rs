//! The orchestrator's bounds through its real `SessionApi`: per-field
//! limits, sessions per user and in total with eviction of idle sessions
//! (never of one in use), idle expiry, attached clients per session,
//! replay across the capped log, and a turn whose backend panics. One test
//! goes over a real Unix socket to show the errors reach a client intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_proto::{
    ApiError, ApiErrorKind, ApprovalMode, BoxStream, CompletionEvent, CompletionRequest,
    CreateSession, Event, EventKind, ExecuteEvent, ExecuteRequest, Op, Principal, SessionApi,
    SessionInfo, StoredMessage, StoredToolCall, ToolSpec, TurnStatus,
};
use aiosd::limits::{
    MAX_CLIENTS_PER_SESSION, MAX_ID_BYTES, MAX_LOG_EVENTS, MAX_MODEL_BYTES, MAX_SESSIONS,
    MAX_SESSIONS_PER_USER, MAX_TITLE_BYTES, SESSION_IDLE_TIMEOUT, SWEEP_INTERVAL,
};
use aiosd::{Backends, Orchestrator};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Bound of every wait: a bug fails the test instead of hanging it. Some
/// tests run on the paused clock, where it is virtual time and must cover
/// one sweep interval.
const WAIT: Duration = Duration::from_secs(120);

/// What the fake model does on each call, in order; then it hangs.
#[derive(Clone, Copy)]
enum Model {
    Panic,
    Answer,
    Hang,
}

struct Fake {
    model: Mutex<Vec<Model>>,
    /// Sessions the orchestrator told the executor had ended.
    ended: Mutex<Vec<String>>,
    ended_changed: tokio::sync::Notify,
}

impl Fake {
    fn new(model: Vec<Model>) -> Arc<Fake> {
        Arc::new(Fake {
            model: Mutex::new(model),
            ended: Mutex::new(Vec::new()),
            ended_changed: tokio::sync::Notify::new(),
        })
    }
}

#[async_trait::async_trait]
impl Backends for Fake {
    async fn list_tools(&self) -> Result<Vec<ToolSpec>, ApiError> {
        Ok(vec![])
    }
    async fn complete(
        &self,
        _req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        let next = {
            let mut m = self.model.lock().unwrap();
            if m.is_empty() {
                Model::Hang
            } else {
                m.remove(0)
            }
        };
        match next {
            Model::Panic => panic!("a bug in the model client"),
            Model::Answer => Ok(futures::stream::iter(vec![
                Ok(CompletionEvent::TextDelta("answer".into())),
                Ok(CompletionEvent::Done {
                    stop_reason: "end_turn".into(),
                }),
            ])
            .boxed()),
            Model::Hang => Ok(futures::stream::pending().boxed()),
        }
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
    async fn end_session(&self, session_id: &str) -> Result<(), ApiError> {
        self.ended.lock().unwrap().push(session_id.to_string());
        self.ended_changed.notify_waiters();
        Ok(())
    }
}

fn user(uid: u32) -> Principal {
    Principal::ordinary(uid)
}

fn orchestrator(model: Vec<Model>) -> Orchestrator {
    Orchestrator::new(Fake::new(model), &aios_config::Config::default())
}

fn request() -> CreateSession {
    CreateSession {
        provider: None,
        model: None,
        approval: ApprovalMode::Ask,
        kind: Default::default(),
        title: String::new(),
    }
}

/// An attached client: send ops, read events. Dropping it detaches.
struct Client {
    ops: mpsc::UnboundedSender<Op>,
    events: BoxStream<Event>,
}

impl Client {
    fn send(&self, op: Op) {
        self.ops.send(op).unwrap();
    }

    /// The next event, bounded in time so a bug fails instead of hanging.
    async fn next(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.events.next())
            .await
            .expect("an event")
            .expect("the stream is open")
            .expect("an event, not an error")
    }

    /// Events up to and including the next `turn_completed`.
    async fn turn(&mut self) -> Vec<EventKind> {
        let mut out = Vec::new();
        loop {
            let e = self.next().await.kind;
            let end = matches!(e, EventKind::TurnCompleted { .. });
            out.push(e);
            if end {
                return out;
            }
        }
    }
}

async fn attach(
    o: &Orchestrator,
    who: Principal,
    id: &str,
    after_seq: u64,
) -> Result<Client, ApiError> {
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Op::Attach {
        session_id: id.to_string(),
        after_seq,
    })
    .unwrap();
    let events = o
        .stream(who, UnboundedReceiverStream::new(rx).map(Ok).boxed())
        .await?;
    Ok(Client { ops: tx, events })
}

/// Wait until `f` holds, on the paused clock.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Detaching is asynchronous (the client's tasks end when its streams
/// close): create as soon as a session became idle and could be evicted.
async fn create_once_there_is_room(o: &Orchestrator, who: Principal) -> SessionInfo {
    tokio::time::timeout(WAIT, async {
        loop {
            match o.create(who.clone(), request()).await {
                Ok(info) => return info,
                Err(e) if e.kind == ApiErrorKind::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("a session to become idle")
}

#[tokio::test]
async fn fields_one_byte_past_their_limits_are_refused() {
    let o = orchestrator(vec![]);
    let cases: [(&str, CreateSession); 3] = [
        (
            "session title",
            CreateSession {
                title: "t".repeat(MAX_TITLE_BYTES + 1),
                ..request()
            },
        ),
        (
            "model name",
            CreateSession {
                model: Some("m".repeat(MAX_MODEL_BYTES + 1)),
                ..request()
            },
        ),
        (
            "provider name",
            CreateSession {
                provider: Some("p".repeat(MAX_ID_BYTES + 1)),
                ..request()
            },
        ),
    ];
    for (what, req) in cases {
        let err = o.create(user(1000), req).await.unwrap_err();
        assert_eq!(err.kind, ApiErrorKind::InvalidArgument, "{what}");
        assert!(err.message.contains(what), "{}", err.message);
        assert!(err.message.contains("the limit is"), "{}", err.message);
        assert!(err.message.len() < 200, "the value is not echoed back");
    }
    assert_eq!(o.live_sessions(), 0, "nothing was created");
    // Exactly at the limits is fine.
    o.create(
        user(1000),
        CreateSession {
            title: "t".repeat(MAX_TITLE_BYTES),
            model: Some("m".repeat(MAX_MODEL_BYTES)),
            ..request()
        },
    )
    .await
    .unwrap();
    // A session id past its limit is refused before any lookup.
    let err = attach(&o, user(1000), &"x".repeat(MAX_ID_BYTES + 1), 0)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ApiErrorKind::InvalidArgument);
}

#[tokio::test]
async fn one_session_past_the_user_cap_evicts_the_oldest_idle_one() {
    let fake = Fake::new(vec![]);
    let o = Orchestrator::new(fake.clone(), &aios_config::Config::default());
    let mut ids = Vec::new();
    for _ in 0..MAX_SESSIONS_PER_USER {
        ids.push(o.create(user(1000), request()).await.unwrap().id);
    }
    // Another user is not affected by this user's cap.
    let other = o.create(user(1001), request()).await.unwrap().id;
    // Use the oldest, so the second oldest is the one idle the longest.
    drop(attach(&o, user(1000), &ids[0], 0).await.unwrap());
    let newest = o.create(user(1000), request()).await.unwrap().id;
    assert_eq!(o.live_sessions(), MAX_SESSIONS_PER_USER + 1);
    // Evicted from memory; these fake backends store nothing, so there is
    // nothing to resume it from (with memoryd it would be brought back).
    let gone = attach(&o, user(1000), &ids[1], 0).await.err().unwrap();
    assert_eq!(gone.kind, ApiErrorKind::NotFound);
    assert!(gone.message.contains("no session"), "{}", gone.message);
    for id in [&ids[0], &ids[2], &newest] {
        attach(&o, user(1000), id, 0).await.unwrap();
    }
    attach(&o, user(1001), &other, 0).await.unwrap();
    // The executor hears that the evicted session ended, so its approvals
    // and grants expire with it.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let changed = fake.ended_changed.notified();
            if fake.ended.lock().unwrap().contains(&ids[1]) {
                return;
            }
            changed.await;
        }
    })
    .await
    .expect("toolsd was not told that the evicted session ended");
    assert_eq!(*fake.ended.lock().unwrap(), [ids[1].clone()]);
}

#[tokio::test]
async fn sessions_in_use_are_never_evicted_and_the_cap_then_refuses() {
    // The first session runs a turn that never ends; the others have a
    // client attached.
    let o = orchestrator(vec![Model::Hang]);
    let mut clients = Vec::new();
    let busy = o.create(user(1000), request()).await.unwrap().id;
    {
        let mut c = attach(&o, user(1000), &busy, 0).await.unwrap();
        c.send(Op::UserInput {
            text: "hello".into(),
        });
        loop {
            if matches!(c.next().await.kind, EventKind::TurnStarted { .. }) {
                break;
            }
        }
        // Detached, but its turn still runs.
    }
    for _ in 1..MAX_SESSIONS_PER_USER {
        let id = o.create(user(1000), request()).await.unwrap().id;
        clients.push(attach(&o, user(1000), &id, 0).await.unwrap());
    }
    let err = o.create(user(1000), request()).await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::ResourceExhausted);
    assert!(
        err.message
            .contains("16 live sessions (the per-user limit)"),
        "{}",
        err.message
    );
    // The session with the running turn is still there.
    let mut c = attach(&o, user(1000), &busy, 1).await.unwrap();
    // Detaching one client makes room: its session is evicted, not the busy one.
    clients.pop();
    create_once_there_is_room(&o, user(1000)).await;
    c.send(Op::Interrupt);
    let end = c.turn().await;
    assert!(matches!(
        end.last(),
        Some(EventKind::TurnCompleted {
            status: TurnStatus::Interrupted,
            ..
        })
    ));
}

#[tokio::test]
async fn one_session_past_the_global_cap_is_refused_while_all_are_in_use() {
    let o = orchestrator(vec![]);
    let mut clients = Vec::new();
    let users = u32::try_from(MAX_SESSIONS / MAX_SESSIONS_PER_USER).unwrap();
    for uid in 0..users {
        for _ in 0..MAX_SESSIONS_PER_USER {
            let id = o.create(user(2000 + uid), request()).await.unwrap().id;
            clients.push(attach(&o, user(2000 + uid), &id, 0).await.unwrap());
        }
    }
    assert_eq!(o.live_sessions(), MAX_SESSIONS);
    let err = o.create(user(9999), request()).await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::ResourceExhausted);
    assert!(err.message.contains("256 live sessions"), "{}", err.message);
    clients.clear();
    create_once_there_is_room(&o, user(9999)).await;
    assert_eq!(o.live_sessions(), MAX_SESSIONS);
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_expire_and_the_sweeper_evicts_them() {
    let o = orchestrator(vec![]);
    o.spawn_sweeper();
    let old = o.create(user(1000), request()).await.unwrap().id;
    let kept = o.create(user(1000), request()).await.unwrap().id;
    let _attached = attach(&o, user(1000), &kept, 0).await.unwrap();
    tokio::time::advance(SESSION_IDLE_TIMEOUT - Duration::from_secs(1)).await;
    assert_eq!(o.live_sessions(), 2, "not idle long enough yet");
    tokio::time::advance(SWEEP_INTERVAL + Duration::from_secs(1)).await;
    until("the sweeper", || o.live_sessions() == 1).await;
    assert_eq!(
        attach(&o, user(1000), &old, 0).await.err().unwrap().kind,
        ApiErrorKind::NotFound
    );
    // The attached session is in use, however long ago it was created.
    attach(&o, user(1000), &kept, 0).await.unwrap();
}

#[tokio::test]
async fn one_client_past_the_attach_limit_is_refused() {
    let o = orchestrator(vec![]);
    let id = o.create(user(1000), request()).await.unwrap().id;
    let mut clients = Vec::new();
    for _ in 0..MAX_CLIENTS_PER_SESSION {
        clients.push(attach(&o, user(1000), &id, 1).await.unwrap());
    }
    let err = attach(&o, user(1000), &id, 1).await.err().unwrap();
    assert_eq!(err.kind, ApiErrorKind::ResourceExhausted);
    assert!(err.message.contains("clients attached"), "{}", err.message);
}

#[tokio::test]
async fn replay_past_the_capped_log_starts_with_a_gap_marker() {
    let o = orchestrator(vec![]);
    let id = o.create(user(1000), request()).await.unwrap().id;
    let mut c = attach(&o, user(1000), &id, 0).await.unwrap();
    // Each interrupt with no turn running is one notification.
    let total = MAX_LOG_EVENTS as u64 + 10;
    for _ in 1..total {
        c.send(Op::Interrupt);
    }
    let mut last = 0;
    while last < total {
        last = c.next().await.seq;
    }
    drop(c);
    // A client that saw only the first 5 events.
    let mut c = attach(&o, user(1000), &id, 5).await.unwrap();
    let marker = c.next().await;
    assert_eq!(marker.seq, 10);
    match &marker.kind {
        EventKind::Error {
            code,
            fatal: false,
            message,
        } => {
            assert_eq!(code, "replay_gap");
            assert!(message.contains("events 6-10"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    for seq in 11..=total {
        assert_eq!(c.next().await.seq, seq);
    }
    // Live events follow without a gap.
    c.send(Op::Interrupt);
    assert_eq!(c.next().await.seq, total + 1);
}

#[tokio::test]
async fn a_panicking_turn_ends_and_the_session_takes_the_next_input() {
    let o = orchestrator(vec![Model::Panic, Model::Answer]);
    let id = o.create(user(1000), request()).await.unwrap().id;
    let mut c = attach(&o, user(1000), &id, 0).await.unwrap();
    c.send(Op::UserInput {
        text: "first".into(),
    });
    let first = c.turn().await;
    let n = first.len();
    assert!(
        matches!(&first[n - 2], EventKind::Error { code, fatal: true, message } if code == "internal_error" && message.contains("a bug in the model client")),
        "{first:?}"
    );
    assert!(matches!(
        &first[n - 1],
        EventKind::TurnCompleted {
            status: TurnStatus::Failed,
            ..
        }
    ));
    c.send(Op::UserInput {
        text: "second".into(),
    });
    let second = c.turn().await;
    assert!(
        matches!(
            second.last(),
            Some(EventKind::TurnCompleted {
                status: TurnStatus::Completed,
                ..
            })
        ),
        "{second:?}"
    );
}

#[tokio::test]
async fn limit_errors_reach_a_client_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("aiosd.sock");
    let listener = aios_proto::bind(&sock).await.unwrap();
    let o: Arc<dyn SessionApi> = Arc::new(orchestrator(vec![]));
    let server = tokio::spawn(
        aios_proto::Services::new("aiosd")
            .session(o)
            .serve(listener, std::future::pending()),
    );
    let mut client = aios_proto::SessionClient::new(aios_proto::connect(&sock).await.unwrap());
    // A title of 3 MiB fits in one message but not in a session.
    let err = client
        .create(CreateSession {
            title: "t".repeat(3 * 1024 * 1024),
            ..request()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::InvalidArgument);
    assert!(
        err.message
            .contains("the session title is 3145728 bytes; the limit is 256 bytes"),
        "{}",
        err.message
    );
    for _ in 0..MAX_SESSIONS_PER_USER {
        client.create(request()).await.unwrap();
    }
    // All idle: the next one evicts the oldest and succeeds.
    client.create(request()).await.unwrap();
    server.abort();
}

#[tokio::test]
async fn input_and_call_ids_past_their_limits_get_clear_errors() {
    let o = orchestrator(vec![Model::Answer]);
    let id = o.create(user(1000), request()).await.unwrap().id;
    let mut c = attach(&o, user(1000), &id, 0).await.unwrap();
    assert!(matches!(
        c.next().await.kind,
        EventKind::SessionStarted { .. }
    ));
    c.send(Op::UserInput {
        text: "x".repeat(aiosd::MAX_INPUT_BYTES + 1),
    });
    match c.next().await.kind {
        EventKind::Error {
            code,
            fatal: false,
            message,
        } => {
            assert_eq!(code, "input_too_large");
            assert!(message.contains("the limit is 262144 bytes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    c.send(Op::ApprovalDecision {
        call_id: "c".repeat(1024 * 1024),
        decision: aios_proto::Decision::Approve,
    });
    match c.next().await.kind {
        EventKind::Error { code, message, .. } => {
            assert_eq!(code, "no_pending_approval");
            assert!(message.len() < 400, "the id is not echoed whole");
            assert!(message.contains("(1048576 bytes)"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Nothing was started: the next request runs.
    c.send(Op::UserInput { text: "hi".into() });
    assert!(matches!(
        c.turn().await.last(),
        Some(EventKind::TurnCompleted {
            status: TurnStatus::Completed,
            ..
        })
    ));
}

//! The session's log, history and bookkeeping: replay without gaps, the
//! capped log and its `replay_gap` marker, history trimming by whole turns,
//! attach limits and idleness.

use super::*;

fn session() -> Arc<Session> {
    Session::new(SessionInfo {
        id: "s".into(),
        uid: 1,
        provider: "scripted".into(),
        model: String::new(),
        created_unix_ms: 0,
        title: String::new(),
        approval: aios_proto::ApprovalMode::Ask,
        kind: Default::default(),
    })
}

fn note(i: u32) -> EventKind {
    EventKind::Notification {
        level: "info".into(),
        text: i.to_string(),
    }
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn gap_code(e: &Event) -> Option<&str> {
    match &e.kind {
        EventKind::Error {
            code, fatal: false, ..
        } => Some(code.as_str()),
        _ => None,
    }
}

#[tokio::test]
async fn replay_then_live_without_gaps_or_duplicates() {
    let s = session();
    for i in 0..3 {
        s.emit(note(i));
    }
    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let h = tokio::spawn(forward(s.clone(), 1, tx, stop.clone()));
    for i in 3..6 {
        s.emit(note(i));
    }
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        seqs.push(rx.recv().await.unwrap().seq);
    }
    assert_eq!(seqs, vec![2, 3, 4, 5, 6]);
    stop.cancel();
    h.await.unwrap();
}

#[tokio::test]
async fn lagging_client_loses_nothing() {
    let s = session();
    let (tx, mut rx) = mpsc::channel(1);
    let stop = CancellationToken::new();
    let h = tokio::spawn(forward(s.clone(), 0, tx, stop.clone()));
    let total = LIVE_CAPACITY as u64 * 3;
    for i in 0..total {
        s.emit(note(i as u32));
    }
    let mut expect = 1;
    while expect <= total {
        let e = rx.recv().await.unwrap();
        assert_eq!(e.seq, expect);
        expect += 1;
    }
    stop.cancel();
    h.await.unwrap();
}

#[test]
fn one_turn_at_a_time() {
    let s = session();
    let (id, _t) = s.begin_turn().unwrap();
    assert_eq!(id, "t1");
    assert!(s.begin_turn().is_none());
    assert!(s.interrupt());
    assert!(!s.end_turn("t0"), "only the running turn ends");
    assert!(s.end_turn("t1"));
    assert!(!s.end_turn("t1"));
    assert_eq!(s.begin_turn().unwrap().0, "t2");
}

#[test]
fn one_event_past_the_log_cap_drops_the_oldest_and_replay_marks_the_gap() {
    let s = session();
    let total = MAX_LOG_EVENTS as u64 + 1;
    for i in 0..total {
        s.emit(note(i as u32));
    }
    // From the start: one marker standing for event 1, then 2..=total.
    let (replay, _) = s.subscribe(0);
    assert_eq!(replay.len(), MAX_LOG_EVENTS + 1);
    assert_eq!(gap_code(&replay[0]), Some("replay_gap"));
    assert_eq!(replay[0].seq, 1);
    match &replay[0].kind {
        EventKind::Error { message, .. } => {
            assert!(message.contains("events 1-1"), "{message}");
            assert!(message.contains("continues with event 2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seqs(&replay[1..]), (2..=total).collect::<Vec<_>>());
    // A client that already has event 1 sees no gap.
    let (replay, _) = s.subscribe(1);
    assert_eq!(replay[0].seq, 2);
    assert_eq!(gap_code(&replay[0]), None);
    // A client that is up to date gets nothing.
    assert!(s.subscribe(total).0.is_empty());
    assert!(s.subscribe(u64::MAX).0.is_empty());
}

#[test]
fn the_log_is_bounded_in_bytes_too() {
    let s = session();
    let big = "x".repeat(100 * 1024);
    for _ in 0..20 {
        s.emit(EventKind::Notification {
            level: "info".into(),
            text: big.clone(),
        });
    }
    let (replay, _) = s.subscribe(0);
    assert_eq!(gap_code(&replay[0]), Some("replay_gap"));
    let held: usize = replay[1..].iter().map(json_len).sum();
    assert!(held <= MAX_LOG_BYTES, "{held}");
    assert_eq!(replay.last().unwrap().seq, 20);
    // One event larger than the whole bound is still kept (alone).
    s.emit(EventKind::Notification {
        level: "info".into(),
        text: "y".repeat(MAX_LOG_BYTES + 1),
    });
    let (replay, _) = s.subscribe(0);
    assert_eq!(seqs(&replay), vec![20, 21]);
}

#[tokio::test]
async fn forward_from_a_dropped_seq_is_contiguous_after_the_marker() {
    let s = session();
    let total = MAX_LOG_EVENTS as u64 + 100;
    for i in 0..total {
        s.emit(note(i as u32));
    }
    let (tx, mut rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let h = tokio::spawn(forward(s.clone(), 10, tx, stop.clone()));
    let first = rx.recv().await.unwrap();
    assert_eq!(gap_code(&first), Some("replay_gap"));
    assert_eq!(first.seq, 100);
    let mut expect = 101;
    while expect <= total {
        assert_eq!(rx.recv().await.unwrap().seq, expect);
        expect += 1;
    }
    s.emit(note(0));
    assert_eq!(rx.recv().await.unwrap().seq, total + 1);
    stop.cancel();
    h.await.unwrap();
}

fn msg(role: Role, bytes: usize) -> ChatMessage {
    ChatMessage {
        role,
        content: "m".repeat(bytes),
        tool_calls: Vec::new(),
        tool_call_id: (role == Role::Tool).then(|| "c1".to_string()),
    }
}

#[test]
fn history_past_its_bound_drops_whole_old_turns() {
    let s = session();
    // Three turns fit with room for their JSON overhead.
    let turn = MAX_HISTORY_BYTES / 3 - 1024;
    for _ in 0..3 {
        s.push_history(msg(Role::User, 100)).unwrap();
        s.push_history(msg(Role::Assistant, turn / 2)).unwrap();
        s.push_history(msg(Role::Tool, turn / 2)).unwrap();
    }
    assert_eq!(s.history().len(), 9, "exactly three turns fit");
    // One more turn: the oldest whole turn goes, pairs stay together.
    s.push_history(msg(Role::User, 100)).unwrap();
    s.push_history(msg(Role::Assistant, turn / 2)).unwrap();
    let h = s.history();
    assert_eq!(h.len(), 8);
    assert_eq!(h[0].role, Role::User);
    assert_eq!(h[1].role, Role::Assistant);
    assert_eq!(h[2].role, Role::Tool);
}

#[test]
fn a_current_turn_past_the_history_bound_is_reported() {
    let s = session();
    s.push_history(msg(Role::User, 10)).unwrap();
    s.push_history(msg(Role::Assistant, MAX_HISTORY_BYTES / 2))
        .unwrap();
    let full = s
        .push_history(msg(Role::Tool, MAX_HISTORY_BYTES / 2))
        .unwrap_err();
    assert!(full.bytes > MAX_HISTORY_BYTES);
    // Nothing of the current turn was dropped.
    assert_eq!(s.history().len(), 3);
}

#[test]
fn one_client_past_the_attach_limit_is_refused_and_idleness_follows_use() {
    let s = session();
    assert!(s.idle_since().is_some());
    let mut guards: Vec<Attached> = (0..MAX_CLIENTS_PER_SESSION)
        .map(|_| s.attach().unwrap())
        .collect();
    let err = s.attach().err().unwrap();
    assert_eq!(err.kind, aios_proto::ApiErrorKind::ResourceExhausted);
    assert!(
        err.message.contains("8 clients attached"),
        "{}",
        err.message
    );
    assert!(s.idle_since().is_none(), "attached sessions are in use");
    guards.pop();
    guards.push(s.attach().unwrap());
    guards.clear();
    assert!(s.idle_since().is_some());
    let (id, _) = s.begin_turn().unwrap();
    assert!(s.idle_since().is_none(), "a running turn is in use");
    assert!(s.end_turn(&id));
    assert!(s.idle_since().is_some());
}

#[test]
fn an_abandoned_turn_ends_once_with_an_error_then_turn_completed() {
    let s = session();
    let (id, _) = s.begin_turn().unwrap();
    s.abandon_turn(&id, "it panicked: boom");
    s.abandon_turn(&id, "again");
    let (events, _) = s.subscribe(0);
    let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        matches!(kinds[0], EventKind::Error { code, fatal: true, message } if code == "internal_error" && message.contains("boom"))
    );
    assert!(matches!(
        kinds[1],
        EventKind::TurnCompleted {
            status: TurnStatus::Failed,
            ..
        }
    ));
    assert!(s.begin_turn().is_some(), "the session takes the next input");
}

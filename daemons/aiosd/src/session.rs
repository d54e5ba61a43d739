//! One live session: its event log (for replay on attach), the broadcast of
//! new events to attached clients, the conversation history, the running
//! turn, and what eviction needs to know (attached clients, last activity).
//!
//! Sessions live in `aiosd`, not in a client: a client that goes away loses
//! nothing, and `Attach{after_seq}` replays what it missed. Both the log and
//! the history are bounded (see [`crate::limits`]); the full transcript is
//! in the episodic store.
//!
//! Durability (issue 10 §7): a session made by [`Session::durable`] hands
//! each event to its journal task ([`crate::journal`]), which appends it to
//! memoryd and only then publishes it (to the in-memory log and the live
//! channel). Events are numbered when emitted and published in that order,
//! so what a client sees is always a prefix of what is stored. Replays that
//! reach below the in-memory log read the older events back from memoryd.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use aios_proto::{
    ApiError, ChatMessage, ErrorCode, Event, EventKind, Role, SessionInfo, TurnStatus, now_unix_ms,
};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backends::Backends;
use crate::context::{Summary, TokenCount};
use crate::limits::{
    LIVE_CAPACITY, MAX_CLIENTS_PER_SESSION, MAX_HISTORY_BYTES, MAX_LOG_BYTES, MAX_LOG_EVENTS,
};

/// A session's working memory between model calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct Working {
    /// The model's summary of the turns that no longer fit.
    pub summary: Option<Summary>,
    /// Token counts: real ones of texts the gateway counted, estimates
    /// calibrated by the provider's reported counts for the rest.
    pub count: TokenCount,
    /// The gateway said this session's provider cannot count tokens: the
    /// estimate is all there is, so aiosd stops asking.
    pub uncountable: bool,
}

/// A session owned by one user.
pub struct Session {
    /// Immutable description.
    pub info: SessionInfo,
    state: Mutex<State>,
    live: broadcast::Sender<Event>,
    /// Where events go to be stored before they are published; `None`
    /// publishes at once (a memory-only session, for tests).
    journal: Option<mpsc::UnboundedSender<Event>>,
    /// Where older events are read back from on a deep replay.
    store: Option<Arc<dyn Backends>>,
}

struct State {
    /// The newest events with their encoded sizes, oldest first.
    log: VecDeque<(Event, usize)>,
    log_bytes: usize,
    /// The seq the next emitted event gets.
    next_seq: u64,
    /// The last seq published (stored, in the log, sent live).
    published: u64,
    history: VecDeque<(ChatMessage, usize)>,
    history_bytes: usize,
    /// Messages dropped from the front of `history` so far: the absolute
    /// index of its first message.
    history_dropped: u64,
    /// The summary of older turns and the token count's calibration.
    working: Working,
    turn: Option<Running>,
    turns_started: u64,
    clients: usize,
    last_active: Instant,
}

struct Running {
    id: String,
    cancel: CancellationToken,
}

/// The current turn's conversation alone is larger than
/// [`MAX_HISTORY_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryFull {
    /// Bytes of the current turn.
    pub bytes: usize,
}

/// Bytes of `v` encoded as JSON, without allocating the encoding.
fn json_len<T: serde::Serialize>(v: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(b.len());
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Our domain types always serialize; a failure only undercounts.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// What a stored session is rebuilt from (see [`Session::restore`]).
#[derive(Debug, Default)]
pub struct Restored {
    /// Its newest events, in seq order.
    pub events: Vec<Event>,
    /// Its conversation, oldest first, already repaired (see
    /// [`crate::rehydrate::repair_history`]).
    pub history: Vec<ChatMessage>,
    /// Turns it has started so far (the next is numbered one more).
    pub turns_started: u64,
    /// Its stored summary of older turns, placed in `history`.
    pub summary: Option<Summary>,
}

/// Add a published event to the bounded log.
fn push_log(st: &mut State, event: Event) {
    st.published = event.seq;
    let size = json_len(&event);
    st.log.push_back((event, size));
    st.log_bytes += size;
    while st.log.len() > MAX_LOG_EVENTS || (st.log_bytes > MAX_LOG_BYTES && st.log.len() > 1) {
        if let Some((_, n)) = st.log.pop_front() {
            st.log_bytes -= n;
        }
    }
}

impl Session {
    /// A new, empty session held in memory only: events are published as
    /// they are emitted, and nothing survives the process.
    pub fn new(info: SessionInfo) -> Arc<Session> {
        Session::build(info, None, Restored::default())
    }

    /// A new, empty session whose events are stored in memoryd (through
    /// `store`) before they are published. Needs a tokio runtime.
    pub fn durable(info: SessionInfo, store: Arc<dyn Backends>) -> Arc<Session> {
        Session::build(info, Some(store), Restored::default())
    }

    /// A stored session brought back after aiosd restarted: `restored`
    /// holds its newest events and its conversation. Needs a tokio runtime.
    pub fn restore(
        info: SessionInfo,
        store: Arc<dyn Backends>,
        restored: Restored,
    ) -> Arc<Session> {
        Session::build(info, Some(store), restored)
    }

    fn build(info: SessionInfo, store: Option<Arc<dyn Backends>>, r: Restored) -> Arc<Session> {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let last = r.events.last().map_or(0, |e| e.seq);
        let (journal, rx) = match &store {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let session = Arc::new(Session {
            info,
            state: Mutex::new(State {
                log: VecDeque::new(),
                log_bytes: 0,
                next_seq: last + 1,
                published: last,
                history: VecDeque::new(),
                history_bytes: 0,
                history_dropped: 0,
                working: Working {
                    summary: r.summary,
                    ..Working::default()
                },
                turn: None,
                turns_started: r.turns_started,
                clients: 0,
                last_active: Instant::now(),
            }),
            live,
            journal,
            store: store.clone(),
        });
        {
            let mut st = session.lock();
            for e in r.events {
                push_log(&mut st, e);
            }
        }
        for m in r.history {
            // A restored conversation over the bound loses its oldest
            // turns, as a live one does; the newest turn is kept whole.
            let _ = session.push_history(m);
        }
        if let (Some(store), Some(rx)) = (store, rx) {
            tokio::spawn(crate::journal::run(Arc::downgrade(&session), store, rx));
        }
        session
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half
        // written in a way that matters (counters are recomputed from what
        // is pushed and popped together), so a poisoned lock is recovered
        // rather than failing the session.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number an event and publish it: at once for a memory-only session,
    /// after memoryd stored it for a durable one (see the module docs).
    pub fn emit(&self, kind: EventKind) -> Event {
        let mut st = self.lock();
        let event = Event {
            seq: st.next_seq,
            session_id: self.info.id.clone(),
            unix_ms: now_unix_ms(),
            kind,
        };
        st.next_seq += 1;
        st.last_active = Instant::now();
        // Sent under the lock, so the journal receives events in seq order.
        let unsent = match &self.journal {
            Some(j) => j.send(event.clone()).err().map(|e| e.0),
            None => Some(event.clone()),
        };
        if let Some(e) = unsent {
            // Memory-only, or the journal task is gone (only while the
            // runtime shuts down): publish rather than lose the event.
            self.publish_locked(&mut st, e);
        }
        event
    }

    /// Publish stored events, in order: to the log (which keeps the newest
    /// [`MAX_LOG_EVENTS`] events and at most [`MAX_LOG_BYTES`], always the
    /// newest one) and to attached clients.
    pub(crate) fn publish(&self, events: Vec<Event>) {
        let mut st = self.lock();
        for e in events {
            self.publish_locked(&mut st, e);
        }
    }

    fn publish_locked(&self, st: &mut State, event: Event) {
        push_log(st, event.clone());
        // No receivers is fine: nobody is attached right now.
        let _ = self.live.send(event);
    }

    /// The last seq published so far.
    pub fn published(&self) -> u64 {
        self.lock().published
    }

    /// Stored events of this session after `after_seq`, oldest first, at
    /// most `limit`; `None` for a memory-only session.
    pub(crate) async fn stored_events(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Option<Result<Vec<Event>, ApiError>> {
        let store = self.store.as_ref()?;
        Some(
            store
                .get_events(&self.info.id, after_seq, limit, false)
                .await,
        )
    }

    /// Events after `after_seq`, plus a subscription to everything later,
    /// taken atomically so nothing falls between the two. When events the
    /// client asks for were already dropped from the capped log, the replay
    /// starts with one `replay_gap` error event standing for all of them:
    /// its `seq` is that of the last dropped event, so seqs stay contiguous.
    pub fn subscribe(&self, after_seq: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let st = self.lock();
        let first = st.log.front().map_or(st.published + 1, |(e, _)| e.seq);
        let mut out = Vec::new();
        if after_seq.saturating_add(1) < first {
            out.push(Event {
                seq: first - 1,
                session_id: self.info.id.clone(),
                unix_ms: now_unix_ms(),
                kind: EventKind::Error {
                    code: ErrorCode::ReplayGap,
                    message: format!(
                        "events {}-{} of this session are no longer held by aiosd (it keeps the last {MAX_LOG_EVENTS} events, at most {} KiB); the replay continues with event {first}",
                        after_seq.saturating_add(1),
                        first - 1,
                        MAX_LOG_BYTES / 1024
                    ),
                    fatal: false,
                },
            });
        }
        let skip = usize::try_from(after_seq.saturating_add(1).saturating_sub(first))
            .unwrap_or(usize::MAX);
        out.extend(st.log.iter().skip(skip).map(|(e, _)| e.clone()));
        (out, self.live.subscribe())
    }

    /// Copy of the conversation so far.
    pub fn history(&self) -> Vec<ChatMessage> {
        self.lock().history.iter().map(|(m, _)| m.clone()).collect()
    }

    /// The conversation so far and the absolute index of its first message
    /// (older ones were dropped past [`MAX_HISTORY_BYTES`]).
    pub(crate) fn history_window(&self) -> (u64, Vec<ChatMessage>) {
        let st = self.lock();
        (
            st.history_dropped,
            st.history.iter().map(|(m, _)| m.clone()).collect(),
        )
    }

    /// The session's working memory: summary and token calibration.
    pub(crate) fn working(&self) -> Working {
        self.lock().working.clone()
    }

    /// Keep a new summary of the older turns.
    pub(crate) fn set_summary(&self, summary: Summary) {
        self.lock().working.summary = Some(summary);
    }

    /// Remember the real counts of `texts` (in order).
    pub(crate) fn add_counts(&self, texts: &[String], counts: &[u32]) {
        let mut st = self.lock();
        let known = std::sync::Arc::make_mut(&mut st.working.count.known);
        for (t, &n) in texts.iter().zip(counts) {
            known.insert(t, n);
        }
    }

    /// The provider cannot count tokens: keep to the estimate.
    pub(crate) fn set_uncountable(&self) {
        self.lock().working.uncountable = true;
    }

    /// Scale the token estimate to a count the provider reported.
    pub(crate) fn calibrate(&self, real: u64, estimated_unscaled: usize) {
        self.lock()
            .working
            .count
            .calibrate(real, estimated_unscaled);
    }

    /// Add a message to the conversation. While the history is over
    /// [`MAX_HISTORY_BYTES`], the oldest whole turns are dropped (a turn
    /// starts at a user message, so calls and their results stay paired).
    /// The current turn is never dropped: when it alone is over the bound,
    /// the message is kept and [`HistoryFull`] returned.
    pub fn push_history(&self, m: ChatMessage) -> Result<(), HistoryFull> {
        let mut st = self.lock();
        let size = json_len(&m);
        st.history.push_back((m, size));
        st.history_bytes += size;
        while st.history_bytes > MAX_HISTORY_BYTES {
            // The start of the second turn; none means only one is left.
            let Some(next) = st
                .history
                .iter()
                .skip(1)
                .position(|(m, _)| m.role == Role::User)
            else {
                return Err(HistoryFull {
                    bytes: st.history_bytes,
                });
            };
            for _ in 0..=next {
                if let Some((_, n)) = st.history.pop_front() {
                    st.history_bytes -= n;
                    st.history_dropped += 1;
                }
            }
        }
        Ok(())
    }

    /// Start a turn unless one is running; returns its id and cancel token.
    pub fn begin_turn(&self) -> Option<(String, CancellationToken)> {
        let mut st = self.lock();
        if st.turn.is_some() {
            return None;
        }
        st.turns_started += 1;
        let token = CancellationToken::new();
        let id = format!("t{}", st.turns_started);
        st.turn = Some(Running {
            id: id.clone(),
            cancel: token.clone(),
        });
        Some((id, token))
    }

    /// Take up turn `turn_id` again (one the restart cut short) unless a
    /// turn is running; returns its cancel token.
    pub fn resume_turn(&self, turn_id: &str) -> Option<CancellationToken> {
        let mut st = self.lock();
        if st.turn.is_some() {
            return None;
        }
        let token = CancellationToken::new();
        st.turn = Some(Running {
            id: turn_id.to_string(),
            cancel: token.clone(),
        });
        Some(token)
    }

    /// The newest user message of the conversation: the request of a turn
    /// taken up again.
    pub(crate) fn last_request(&self) -> String {
        self.lock()
            .history
            .iter()
            .rev()
            .find(|(m, _)| m.role == Role::User)
            .map(|(m, _)| m.content.clone())
            .unwrap_or_default()
    }

    /// Mark the turn `turn_id` finished; false when it is not the running
    /// turn (it already ended).
    pub fn end_turn(&self, turn_id: &str) -> bool {
        let mut st = self.lock();
        if st.turn.as_ref().is_some_and(|t| t.id == turn_id) {
            st.turn = None;
            st.last_active = Instant::now();
            true
        } else {
            false
        }
    }

    /// End a turn whose task died (a panic, or the task was aborted)
    /// without ending it: the error, then `TurnCompleted`, as the stream
    /// contract requires, and the session takes the next input. Nothing
    /// happens when the turn had already ended.
    pub fn abandon_turn(&self, turn_id: &str, why: &str) {
        let running = self.lock().turn.as_ref().is_some_and(|t| t.id == turn_id);
        if !running {
            return;
        }
        let message =
            format!("the turn stopped unexpectedly ({why}); the session accepts the next request");
        self.emit(EventKind::Error {
            code: ErrorCode::InternalError,
            message: message.clone(),
            fatal: true,
        });
        if self.end_turn(turn_id) {
            self.emit(EventKind::TurnCompleted {
                turn_id: turn_id.to_string(),
                status: TurnStatus::Failed,
                message,
            });
        }
    }

    /// Interrupt the running turn; false when none runs.
    pub fn interrupt(&self) -> bool {
        match &self.lock().turn {
            Some(t) => {
                t.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Count a client as attached until the returned guard is dropped, or
    /// refuse when [`MAX_CLIENTS_PER_SESSION`] already are.
    pub fn attach(self: &Arc<Self>) -> Result<Attached, ApiError> {
        let mut st = self.lock();
        if st.clients >= MAX_CLIENTS_PER_SESSION {
            return Err(ApiError::exhausted(format!(
                "session {} already has {MAX_CLIENTS_PER_SESSION} clients attached (the limit); detach one first",
                self.info.id
            )));
        }
        st.clients += 1;
        st.last_active = Instant::now();
        Ok(Attached(self.clone()))
    }

    /// When the session became idle (no client attached, no turn running),
    /// or `None` while it is in use and so may not be evicted.
    pub fn idle_since(&self) -> Option<Instant> {
        let st = self.lock();
        (st.clients == 0 && st.turn.is_none()).then_some(st.last_active)
    }
}

/// A client attached to a session (see [`Session::attach`]).
pub struct Attached(Arc<Session>);

impl Drop for Attached {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.clients = st.clients.saturating_sub(1);
        st.last_active = Instant::now();
    }
}

/// Forward a session's events to one client: the replay first, then live
/// events, until the client goes away or `stop` fires. A client that lags
/// behind the live channel re-reads the log instead of losing events (or
/// gets a `replay_gap` marker for what the log no longer holds).
pub async fn forward(
    session: Arc<Session>,
    after_seq: u64,
    tx: mpsc::Sender<Event>,
    stop: CancellationToken,
) {
    let (replay, mut rx) = session.subscribe(after_seq);
    let mut last = after_seq;
    let mut replay = replay.into_iter().peekable();
    if let Some(gap_end) = replay.peek().and_then(gap_marker) {
        // Older than the in-memory log: read them back from memoryd. The
        // marker stays only for what could not be read.
        match older_events(&session, after_seq, gap_end, &tx).await {
            Gap::Filled => {
                replay.next();
                last = gap_end;
            }
            Gap::ClientGone => return,
            Gap::Unreadable(why) => {
                tracing::warn!(session = %session.info.id, "cannot read old events back from memoryd: {why}");
            }
        }
    }
    for e in replay {
        last = e.seq;
        if tx.send(e).await.is_err() {
            return;
        }
    }
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            _ = tx.closed() => return,
            r = rx.recv() => r,
        };
        match next {
            Ok(e) if e.seq <= last => continue,
            Ok(e) => {
                last = e.seq;
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let (missed, fresh) = session.subscribe(last);
                rx = fresh;
                for e in missed {
                    last = e.seq;
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The last seq a `replay_gap` marker stands for, if `e` is one.
fn gap_marker(e: &Event) -> Option<u64> {
    match &e.kind {
        EventKind::Error {
            code: ErrorCode::ReplayGap,
            ..
        } => Some(e.seq),
        _ => None,
    }
}

/// How reading events older than the in-memory log went.
enum Gap {
    Filled,
    ClientGone,
    Unreadable(String),
}

/// Events of page size for a deep replay from memoryd.
const REPLAY_PAGE: u32 = 512;

/// Send the stored events after `after_seq` up to `until` to the client.
async fn older_events(
    session: &Session,
    mut after_seq: u64,
    until: u64,
    tx: &mpsc::Sender<Event>,
) -> Gap {
    while after_seq < until {
        let page = match session.stored_events(after_seq, REPLAY_PAGE).await {
            None => return Gap::Unreadable("the session is not stored".into()),
            Some(Err(e)) => return Gap::Unreadable(e.message),
            Some(Ok(page)) => page,
        };
        // Seqs must continue exactly, or the client would see a hole.
        let Some(first) = page.first() else {
            return Gap::Unreadable(format!("memoryd holds no events after {after_seq}"));
        };
        if first.seq != after_seq + 1 {
            return Gap::Unreadable(format!(
                "memoryd's log jumps from {after_seq} to {}",
                first.seq
            ));
        }
        for e in page {
            if e.seq > until {
                break;
            }
            after_seq = e.seq;
            if tx.send(e).await.is_err() {
                return Gap::ClientGone;
            }
        }
    }
    Gap::Filled
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

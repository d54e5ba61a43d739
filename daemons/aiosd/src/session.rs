//! One live session: its event log (for replay on attach), the broadcast of
//! new events to attached clients, the conversation history, the running
//! turn, and what eviction needs to know (attached clients, last activity).
//!
//! Sessions live in `aiosd`, not in a client: a client that goes away loses
//! nothing, and `Attach{after_seq}` replays what it missed, as far as the
//! capped log still holds it. Both the log and the history are bounded
//! (see [`crate::limits`]); the full transcript is in the episodic store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use aios_proto::{
    ApiError, ChatMessage, ErrorCode, Event, EventKind, Role, SessionInfo, TurnStatus, now_unix_ms,
};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::limits::{
    LIVE_CAPACITY, MAX_CLIENTS_PER_SESSION, MAX_HISTORY_BYTES, MAX_LOG_BYTES, MAX_LOG_EVENTS,
};

/// A session owned by one user.
pub struct Session {
    /// Immutable description.
    pub info: SessionInfo,
    state: Mutex<State>,
    live: broadcast::Sender<Event>,
}

struct State {
    /// The newest events with their encoded sizes, oldest first.
    log: VecDeque<(Event, usize)>,
    log_bytes: usize,
    next_seq: u64,
    history: VecDeque<(ChatMessage, usize)>,
    history_bytes: usize,
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

impl Session {
    /// A new, empty session.
    pub fn new(info: SessionInfo) -> Arc<Session> {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Arc::new(Session {
            info,
            state: Mutex::new(State {
                log: VecDeque::new(),
                log_bytes: 0,
                next_seq: 1,
                history: VecDeque::new(),
                history_bytes: 0,
                turn: None,
                turns_started: 0,
                clients: 0,
                last_active: Instant::now(),
            }),
            live,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half
        // written in a way that matters (counters are recomputed from what
        // is pushed and popped together), so a poisoned lock is recovered
        // rather than failing the session.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append an event to the log and send it to attached clients. The log
    /// keeps the newest [`MAX_LOG_EVENTS`] events and at most
    /// [`MAX_LOG_BYTES`] (always the newest one).
    pub fn emit(&self, kind: EventKind) -> Event {
        let mut st = self.lock();
        let event = Event {
            seq: st.next_seq,
            session_id: self.info.id.clone(),
            unix_ms: now_unix_ms(),
            kind,
        };
        st.next_seq += 1;
        let size = json_len(&event);
        st.log.push_back((event.clone(), size));
        st.log_bytes += size;
        while st.log.len() > MAX_LOG_EVENTS || (st.log_bytes > MAX_LOG_BYTES && st.log.len() > 1) {
            if let Some((_, n)) = st.log.pop_front() {
                st.log_bytes -= n;
            }
        }
        st.last_active = Instant::now();
        // No receivers is fine: nobody is attached right now.
        let _ = self.live.send(event.clone());
        event
    }

    /// Events after `after_seq`, plus a subscription to everything later,
    /// taken atomically so nothing falls between the two. When events the
    /// client asks for were already dropped from the capped log, the replay
    /// starts with one `replay_gap` error event standing for all of them:
    /// its `seq` is that of the last dropped event, so seqs stay contiguous.
    pub fn subscribe(&self, after_seq: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let st = self.lock();
        let first = st.log.front().map_or(st.next_seq, |(e, _)| e.seq);
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

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

//! One live session: its event log (for replay on attach), the broadcast of
//! new events to attached clients, the conversation history, and the handle
//! of the running turn.
//!
//! Sessions live in `aiosd`, not in a client: a client that goes away loses
//! nothing, and `Attach{after_seq}` replays what it missed.

use std::sync::{Arc, Mutex, MutexGuard};

use aios_proto::{ChatMessage, Event, EventKind, SessionInfo, now_unix_ms};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// How many live events a slow client may fall behind before it re-reads
/// the log (it never loses events, it only pays a copy).
const LIVE_CAPACITY: usize = 1024;

/// A session owned by one user.
pub struct Session {
    /// Immutable description.
    pub info: SessionInfo,
    state: Mutex<State>,
    live: broadcast::Sender<Event>,
}

struct State {
    log: Vec<Event>,
    history: Vec<ChatMessage>,
    turn: Option<CancellationToken>,
    turns_started: u64,
}

impl Session {
    /// A new, empty session.
    pub fn new(info: SessionInfo) -> Arc<Session> {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Arc::new(Session {
            info,
            state: Mutex::new(State {
                log: Vec::new(),
                history: Vec::new(),
                turn: None,
                turns_started: 0,
            }),
            live,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the log half-written
        // (every mutation is a single push or assignment), so a poisoned lock
        // is still consistent: recover it rather than failing the session.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append an event to the log and send it to attached clients.
    pub fn emit(&self, kind: EventKind) -> Event {
        let mut st = self.lock();
        let event = Event {
            seq: st.log.len() as u64 + 1,
            session_id: self.info.id.clone(),
            unix_ms: now_unix_ms(),
            kind,
        };
        st.log.push(event.clone());
        // No receivers is fine: nobody is attached right now.
        let _ = self.live.send(event.clone());
        event
    }

    /// Events after `after_seq`, plus a subscription to everything later,
    /// taken atomically so nothing falls between the two.
    pub fn subscribe(&self, after_seq: u64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let st = self.lock();
        let start = usize::try_from(after_seq)
            .unwrap_or(usize::MAX)
            .min(st.log.len());
        (st.log[start..].to_vec(), self.live.subscribe())
    }

    /// Copy of the conversation so far.
    pub fn history(&self) -> Vec<ChatMessage> {
        self.lock().history.clone()
    }

    /// Add a message to the conversation.
    pub fn push_history(&self, m: ChatMessage) {
        self.lock().history.push(m);
    }

    /// Start a turn unless one is running; returns its id and cancel token.
    pub fn begin_turn(&self) -> Option<(String, CancellationToken)> {
        let mut st = self.lock();
        if st.turn.is_some() {
            return None;
        }
        st.turns_started += 1;
        let token = CancellationToken::new();
        st.turn = Some(token.clone());
        Some((format!("t{}", st.turns_started), token))
    }

    /// Mark the running turn finished.
    pub fn end_turn(&self) {
        self.lock().turn = None;
    }

    /// Interrupt the running turn; false when none runs.
    pub fn interrupt(&self) -> bool {
        match &self.lock().turn {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }
}

/// Forward a session's events to one client: the replay first, then live
/// events, until the client goes away or `stop` fires. A client that lags
/// behind the live channel re-reads the log instead of losing events.
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
mod tests {
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
        })
    }

    fn note(i: u32) -> EventKind {
        EventKind::Notification {
            level: "info".into(),
            text: i.to_string(),
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
        s.end_turn();
        assert_eq!(s.begin_turn().unwrap().0, "t2");
    }
}

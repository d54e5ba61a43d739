//! The session service: creating sessions, attaching clients, dispatching
//! their operations to the turn loop, and evicting idle sessions.
//!
//! Every field a client sends is bounded (see [`crate::limits`]). Live
//! sessions are bounded per user and in total: an idle session (no client
//! attached, no turn running) is evicted oldest-first when a user or the
//! daemon reaches its cap, or once it has been idle for
//! [`SESSION_IDLE_TIMEOUT`]. A session in use is never evicted; when none
//! can be, creating another is refused with `ResourceExhausted`.
//!
//! Sessions are durable: each one's events are stored in memoryd before
//! they are shown, so eviction and aiosd restarts lose nothing. Attaching
//! to a session that is not live (evicted, or created before aiosd
//! restarted) rehydrates it from memoryd ([`crate::rehydrate`]); a turn the
//! restart cut short is closed with an `interrupted` `TurnCompleted`, and a
//! `session_started` with `resumed: true` marks the resumption. When the
//! cut turn's call was waiting for the user's approval and toolsd kept it,
//! the turn is taken up instead: the approval is shown again and the turn
//! goes on with the call's result (`turn_resume.rs`). A session's
//! first `session_started` (`resumed: false`) is emitted once, at creation;
//! attaching emits nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use aios_proto::{
    ApiError, BoxStream, CreateSession, Decision, ErrorCode, Event, EventKind, Op, Principal,
    Right, SessionApi, SessionInfo, TurnStatus, now_unix_ms,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::backends::Backends;
use crate::limits::{
    MAX_ID_BYTES, MAX_INPUT_BYTES, MAX_MODEL_BYTES, MAX_SESSIONS, MAX_SESSIONS_PER_USER,
    MAX_TITLE_BYTES, SESSION_IDLE_TIMEOUT, SWEEP_INTERVAL, quote,
};
use crate::rehydrate;
use crate::session::{Attached, Session, forward};
use crate::turn::{Limits, Turn};

/// The orchestrator: owns the live sessions. Cheap to clone.
#[derive(Clone)]
pub struct Orchestrator(Arc<Inner>);

struct Inner {
    backends: Arc<dyn Backends>,
    limits: Limits,
    default_provider: String,
    default_model: Option<String>,
    /// Every configured provider instance name.
    provider_names: Vec<String>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

type Sessions = HashMap<String, Arc<Session>>;

impl Orchestrator {
    /// An orchestrator over `backends`.
    pub fn new(backends: Arc<dyn Backends>, config: &aios_config::Config) -> Orchestrator {
        Orchestrator(Arc::new(Inner {
            backends,
            limits: Limits::from_config(&config.turn),
            default_provider: config.model.provider.clone(),
            default_model: config.model.model.clone(),
            provider_names: config.provider_names(),
            sessions: Mutex::new(HashMap::new()),
        }))
    }

    /// Evict sessions idle for [`SESSION_IDLE_TIMEOUT`] every
    /// [`SWEEP_INTERVAL`], until the orchestrator is dropped. Needs a tokio
    /// runtime.
    pub fn spawn_sweeper(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_INTERVAL).await;
                let Some(inner) = weak.upgrade() else { return };
                let ended = sweep(&mut inner.sessions(), Instant::now());
                inner.ended(ended);
            }
        });
    }

    /// Number of live sessions (for tests and diagnostics).
    pub fn live_sessions(&self) -> usize {
        self.0.sessions().len()
    }
}

/// Drop sessions idle for longer than [`SESSION_IDLE_TIMEOUT`]; their ids.
fn sweep(map: &mut Sessions, now: Instant) -> Vec<String> {
    let mut ended = Vec::new();
    map.retain(|id, s| {
        let expired = s
            .idle_since()
            .is_some_and(|t| now.saturating_duration_since(t) >= SESSION_IDLE_TIMEOUT);
        if expired {
            tracing::info!(session = %id, uid = s.info.uid, "evicting a session idle for {}s", SESSION_IDLE_TIMEOUT.as_secs());
            ended.push(id.clone());
        }
        !expired
    });
    ended
}

/// Evict the session idle the longest among those `matching` (its id goes
/// to `ended`); false when every one of them is in use.
fn evict_oldest(
    map: &mut Sessions,
    matching: impl Fn(&Session) -> bool,
    why: &str,
    ended: &mut Vec<String>,
) -> bool {
    let oldest = map
        .iter()
        .filter(|(_, s)| matching(s))
        .filter_map(|(id, s)| s.idle_since().map(|t| (t, id.clone())))
        .min();
    match oldest {
        Some((_, id)) => {
            if let Some(s) = map.remove(&id) {
                tracing::info!(session = %id, uid = s.info.uid, "evicting the oldest idle session: {why}");
                ended.push(id);
            }
            true
        }
        None => false,
    }
}

/// Make room for one more session of `uid`, evicting idle sessions as
/// needed (their ids go to `ended`), or say why there is none.
fn make_room(map: &mut Sessions, uid: u32, ended: &mut Vec<String>) -> Result<(), ApiError> {
    ended.extend(sweep(map, Instant::now()));
    let mine = map.values().filter(|s| s.info.uid == uid).count();
    if mine >= MAX_SESSIONS_PER_USER
        && !evict_oldest(
            map,
            |s| s.info.uid == uid,
            "the user reached the per-user cap",
            ended,
        )
    {
        return Err(ApiError::exhausted(format!(
            "you already have {MAX_SESSIONS_PER_USER} live sessions (the per-user limit), each with a client attached or a turn running; detach from one or let its turn finish, then try again"
        )));
    }
    if map.len() >= MAX_SESSIONS
        && !evict_oldest(map, |_| true, "aiosd reached its session cap", ended)
    {
        return Err(ApiError::exhausted(format!(
            "aiosd already holds {MAX_SESSIONS} live sessions (its limit), all in use; try again when one is idle"
        )));
    }
    Ok(())
}

/// Refuse a client-supplied field longer than `max` bytes.
fn bounded(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(format!(
            "the {what} is {} bytes; the limit is {max} bytes",
            value.len()
        )));
    }
    Ok(())
}

impl Inner {
    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // Every mutation is a single insert or remove: a poisoned map is
        // still consistent.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tell the executor that these sessions ended, so their approvals and
    /// grants expire with them. Best effort: toolsd also refuses approvals
    /// for calls that are no longer waiting.
    fn ended(&self, ids: Vec<String>) {
        for id in ids {
            let backends = self.backends.clone();
            tokio::spawn(async move {
                if let Err(e) = backends.end_session(&id).await {
                    tracing::warn!(session = %id, "could not tell toolsd the session ended: {}", e.message);
                }
            });
        }
    }

    /// Attach a client to session `id` of `who`: the live one, or the
    /// stored one brought back from memoryd.
    async fn attach(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<(Arc<Session>, Attached), ApiError> {
        bounded("session id", id, MAX_ID_BYTES)?;
        if let Some(found) = self.attach_live(who, id)? {
            return Ok(found);
        }
        self.rehydrate(who, id).await?;
        self.attach_live(who, id)?.ok_or_else(|| {
            ApiError::unavailable(format!(
                "session {id:?} was closed again while it was being resumed (aiosd is at its session limit); try again"
            ))
        })
    }

    /// Find a live session of `who` and attach a client to it. Both happen
    /// under the map's lock, so the session cannot be evicted in between.
    fn attach_live(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<Option<(Arc<Session>, Attached)>, ApiError> {
        let mut map = self.sessions();
        let ended = sweep(&mut map, Instant::now());
        self.ended(ended);
        let Some(s) = map.get(id).cloned() else {
            return Ok(None);
        };
        who.require(Right::Owner(s.info.uid))?;
        let attached = s.attach()?;
        Ok(Some((s, attached)))
    }

    /// Bring stored session `id` back from memoryd and make it live. The
    /// owner is checked before any of its events are read.
    async fn rehydrate(&self, who: &Principal, id: &str) -> Result<(), ApiError> {
        let info = self.backends.get_session(id).await.map_err(|e| {
            if e.kind == aios_proto::ApiErrorKind::NotFound {
                ApiError::not_found(format!("no session {id:?}; `aios sessions` lists yours"))
            } else {
                ApiError {
                    message: format!("cannot resume session {id:?}: {}", e.message),
                    ..e
                }
            }
        })?;
        who.require(Right::Owner(info.uid))?;
        // Calls toolsd kept waiting for the user when the stream to them
        // closed: the cut turn takes them up again. Without toolsd the
        // turn is closed as before.
        let kept = match self.backends.pending_calls(id, info.uid).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(session = %id, "cannot ask toolsd for calls waiting for an approval: {}", e.message);
                Vec::new()
            }
        };
        let rehydrate::Loaded {
            restored,
            open,
            waiting,
        } = rehydrate::load(&self.backends, &info, &kept).await?;
        let uid = info.uid;
        let session = Session::restore(info, self.backends.clone(), restored);
        let mut ended = Vec::new();
        let room = {
            let mut map = self.sessions();
            if map.contains_key(id) {
                // Another client resumed it meanwhile; use theirs.
                return Ok(());
            }
            let room = make_room(&mut map, uid, &mut ended);
            if room.is_ok() {
                map.insert(id.to_string(), session.clone());
            }
            room
        };
        self.ended(ended);
        room?;
        tracing::info!(session = %id, uid, open_turn = ?open, waiting = waiting.len(), "session resumed from memoryd");
        match open {
            Some(turn_id) if !waiting.is_empty() => self.take_up(&session, turn_id, waiting),
            open => session.resume(open.as_deref()),
        }
        Ok(())
    }

    /// Take up turn `turn_id` of a resumed session, whose calls `waiting`
    /// toolsd kept waiting for the user's approval: say so, and run the
    /// turn on from there (it shows the approvals again).
    fn take_up(&self, session: &Arc<Session>, turn_id: String, waiting: Vec<rehydrate::Waiting>) {
        session.emit(EventKind::SessionStarted {
            provider: session.info.provider.clone(),
            model: session.info.model.clone(),
            resumed: true,
        });
        let Some(cancel) = session.resume_turn(&turn_id) else {
            return;
        };
        let tools: Vec<&str> = waiting.iter().map(|w| w.call.tool.as_str()).collect();
        session.emit(EventKind::Notification {
            level: "info".into(),
            text: format!(
                "aiosd restarted while {} waited for your approval; it still waits (toolsd kept it), and the turn goes on once you answer",
                tools.join(", ")
            ),
        });
        let turn = Turn::new(
            self.backends.clone(),
            session.clone(),
            self.limits.clone(),
            turn_id,
            cancel,
        );
        turn.spawn_resumed(waiting);
    }

    /// Handle one op from an attached client.
    fn dispatch(&self, session: &Arc<Session>, op: Op, detach: &CancellationToken) {
        match op {
            Op::UserInput { text } => self.user_input(session, text),
            Op::Interrupt => {
                if !session.interrupt() {
                    session.emit(EventKind::Notification {
                        level: "info".into(),
                        text: "nothing to interrupt".into(),
                    });
                }
            }
            Op::ApprovalDecision { call_id, decision } => {
                // Approvals are recorded by the executor from the user's own
                // connection (DESIGN.md §2): the orchestrator must not be a
                // path for them, so it refuses to carry one.
                let what = match decision {
                    Decision::Approve => "approve",
                    Decision::Session => "approve for the session",
                    Decision::Reject { .. } => "reject",
                    Decision::Edit { .. } => "edit",
                    Decision::Always => "always",
                };
                session.emit(EventKind::Error {
                    code: ErrorCode::NoPendingApproval,
                    message: format!(
                        "cannot {what} {} here: approvals go straight to toolsd from your shell (aiosd cannot approve)",
                        quote(&call_id, MAX_ID_BYTES)
                    ),
                    fatal: false,
                });
            }
            Op::Attach { .. } => session.emit_error_once(
                ErrorCode::AlreadyAttached,
                "this stream is already attached",
            ),
            Op::Detach => detach.cancel(),
        }
    }

    fn user_input(&self, session: &Arc<Session>, text: String) {
        if text.trim().is_empty() {
            session.emit_error_once(ErrorCode::EmptyInput, "the request is empty");
            return;
        }
        if text.len() > MAX_INPUT_BYTES {
            session.emit_error_once(
                ErrorCode::InputTooLarge,
                &format!(
                    "the request is {} bytes; the limit is {} bytes",
                    text.len(),
                    MAX_INPUT_BYTES
                ),
            );
            return;
        }
        let Some((turn_id, cancel)) = session.begin_turn() else {
            session.emit_error_once(
                ErrorCode::TurnInProgress,
                "a turn is already running; wait for it or interrupt it first",
            );
            return;
        };
        let turn = Turn::new(
            self.backends.clone(),
            session.clone(),
            self.limits.clone(),
            turn_id,
            cancel,
        );
        turn.spawn(text);
    }
}

impl Session {
    /// Mark a session brought back after aiosd restarted: close the turn
    /// the restart cut short (`open_turn`), so no client waits on it, then
    /// say the session was resumed.
    fn resume(&self, open_turn: Option<&str>) {
        if let Some(turn_id) = open_turn {
            let message = "interrupted by a daemon restart: aiosd stopped while this turn ran; ask again to continue".to_string();
            self.emit(EventKind::Error {
                code: ErrorCode::DaemonUnavailable,
                message: message.clone(),
                fatal: true,
            });
            self.emit(EventKind::TurnCompleted {
                turn_id: turn_id.to_string(),
                status: TurnStatus::Interrupted,
                message,
            });
        }
        self.emit(EventKind::SessionStarted {
            provider: self.info.provider.clone(),
            model: self.info.model.clone(),
            resumed: true,
        });
    }

    /// A non-fatal error event for the attached clients.
    fn emit_error_once(&self, code: ErrorCode, message: &str) {
        self.emit(EventKind::Error {
            code,
            message: message.to_string(),
            fatal: false,
        });
    }
}

#[async_trait::async_trait]
impl SessionApi for Orchestrator {
    async fn create(&self, who: Principal, req: CreateSession) -> Result<SessionInfo, ApiError> {
        let me = &self.0;
        if let Some(p) = &req.provider {
            bounded("provider name", p, MAX_ID_BYTES)?;
        }
        if let Some(m) = &req.model {
            bounded("model name", m, MAX_MODEL_BYTES)?;
        }
        bounded("session title", &req.title, MAX_TITLE_BYTES)?;
        let provider = req.provider.unwrap_or_else(|| me.default_provider.clone());
        if !me.provider_names.contains(&provider) {
            return Err(ApiError::invalid(format!(
                "unknown provider {provider:?}; choose one of {}",
                me.provider_names.join(", ")
            )));
        }
        // Refuse before writing anything to the store when there is no room.
        let mut ended = Vec::new();
        let room = make_room(&mut me.sessions(), who.uid, &mut ended);
        me.ended(std::mem::take(&mut ended));
        room?;
        let info = SessionInfo {
            id: uuid::Uuid::now_v7().to_string(),
            uid: who.uid,
            model: req
                .model
                .or_else(|| me.default_model.clone())
                .unwrap_or_default(),
            provider,
            created_unix_ms: now_unix_ms(),
            title: req.title,
            approval: req.approval,
            // Declared by the client that creates the session; toolsd pins
            // it at the first call and policy rules match it.
            kind: req.kind,
        };
        // The store is the truth: a session exists once it is recorded.
        me.backends.put_session(info.clone()).await?;
        {
            // Concurrent creates may have taken the room meanwhile.
            let mut map = me.sessions();
            let room = make_room(&mut map, who.uid, &mut ended);
            me.ended(ended);
            room?;
            let session = Session::durable(info.clone(), me.backends.clone());
            // The one `session_started` of a new session, first in its log.
            session.emit(EventKind::SessionStarted {
                provider: info.provider.clone(),
                model: info.model.clone(),
                resumed: false,
            });
            map.insert(info.id.clone(), session);
        }
        tracing::info!(session = %info.id, uid = who.uid, provider = %info.provider, kind = info.kind.as_str(), "session created");
        Ok(info)
    }

    async fn list(&self, who: Principal) -> Result<Vec<SessionInfo>, ApiError> {
        self.0.backends.list_sessions(who.uid).await
    }

    async fn stream(
        &self,
        who: Principal,
        mut ops: BoxStream<Op>,
    ) -> Result<BoxStream<Event>, ApiError> {
        let first = ops
            .next()
            .await
            .ok_or_else(|| ApiError::invalid("the client closed the stream before attaching"))??;
        let Op::Attach {
            session_id,
            after_seq,
        } = first
        else {
            return Err(ApiError::invalid(
                "the first operation on a session stream must be Attach",
            ));
        };
        let (session, attached) = self.0.attach(&who, &session_id).await?;
        // Held by both tasks below: the client counts as attached (and the
        // session as in use) until both have ended.
        let attached = Arc::new(attached);
        let (tx, rx) = mpsc::channel::<Event>(256);
        let detach = CancellationToken::new();
        let forwarding = attached.clone();
        tokio::spawn({
            let session = session.clone();
            let detach = detach.clone();
            async move {
                forward(session, after_seq, tx, detach).await;
                drop(forwarding);
            }
        });
        let me = self.0.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = detach.cancelled() => break,
                    // The client's stream ending is not an interrupt: the
                    // session (and any running turn) lives on in aiosd.
                    op = ops.next() => match op {
                        Some(Ok(op)) => me.dispatch(&session, op, &detach),
                        Some(Err(e)) => {
                            tracing::debug!("client stream ended: {e}");
                            break;
                        }
                        None => break,
                    },
                }
            }
            drop(attached);
        });
        Ok(ReceiverStream::new(rx).map(Ok).boxed())
    }
}

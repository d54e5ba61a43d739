//! The session service: creating sessions, attaching clients, and
//! dispatching their operations to the turn loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aios_proto::{
    ApiError, BoxStream, CreateSession, Decision, Event, EventKind, Op, Principal, Right,
    SessionApi, SessionInfo, now_unix_ms,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::backends::Backends;
use crate::session::{Session, forward};
use crate::turn::{Limits, Turn};

/// Largest accepted user input, in bytes (the shell checks first, with a
/// friendlier message; this protects the daemon from other clients).
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The orchestrator: owns the live sessions. Cheap to clone.
#[derive(Clone)]
pub struct Orchestrator(Arc<Inner>);

struct Inner {
    backends: Arc<dyn Backends>,
    limits: Limits,
    default_provider: String,
    default_model: Option<String>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl Orchestrator {
    /// An orchestrator over `backends`.
    pub fn new(backends: Arc<dyn Backends>, config: &aios_config::Config) -> Orchestrator {
        Orchestrator(Arc::new(Inner {
            backends,
            limits: Limits::from_config(&config.turn),
            default_provider: config.model.provider.clone(),
            default_model: config.model.model.clone(),
            sessions: Mutex::new(HashMap::new()),
        }))
    }
}

impl Inner {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        // Insert/lookup only: a poisoned map is still consistent.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, who: &Principal, id: &str) -> Result<Arc<Session>, ApiError> {
        let s = self.sessions().get(id).cloned().ok_or_else(|| {
            ApiError::not_found(format!(
                "no live session {id:?}; `aios sessions` lists them"
            ))
        })?;
        who.require(Right::Owner(s.info.uid))?;
        Ok(s)
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
                // connection (a later issue); nothing is pending here yet.
                let what = match decision {
                    Decision::Approve => "approve",
                    Decision::Reject { .. } => "reject",
                    Decision::Edit { .. } => "edit",
                    Decision::Always => "always",
                };
                session.emit(EventKind::Error {
                    code: "no_pending_approval".into(),
                    message: format!(
                        "cannot {what} {call_id:?}: no approval is pending for that call"
                    ),
                    fatal: false,
                });
            }
            Op::Attach { .. } => {
                session.emit_error_once("already_attached", "this stream is already attached")
            }
            Op::Detach => detach.cancel(),
        }
    }

    fn user_input(&self, session: &Arc<Session>, text: String) {
        if text.trim().is_empty() {
            session.emit_error_once("empty_input", "the request is empty");
            return;
        }
        if text.len() > MAX_INPUT_BYTES {
            session.emit_error_once(
                "input_too_large",
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
                "turn_in_progress",
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
        tokio::spawn(turn.run(text));
    }
}

impl Session {
    /// A non-fatal error event for the attached clients.
    fn emit_error_once(&self, code: &str, message: &str) {
        self.emit(EventKind::Error {
            code: code.to_string(),
            message: message.to_string(),
            fatal: false,
        });
    }
}

#[async_trait::async_trait]
impl SessionApi for Orchestrator {
    async fn create(&self, who: Principal, req: CreateSession) -> Result<SessionInfo, ApiError> {
        let me = &self.0;
        let provider = req.provider.unwrap_or_else(|| me.default_provider.clone());
        if !aios_config_providers().contains(&provider.as_str()) {
            return Err(ApiError::invalid(format!(
                "unknown provider {provider:?}; choose one of {}",
                aios_config_providers().join(", ")
            )));
        }
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
        };
        // The store is the truth: a session exists once it is recorded.
        me.backends.put_session(info.clone()).await?;
        me.sessions()
            .insert(info.id.clone(), Session::new(info.clone()));
        tracing::info!(session = %info.id, uid = who.uid, provider = %info.provider, "session created");
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
        let session = self.0.find(&who, &session_id)?;
        let (tx, rx) = mpsc::channel::<Event>(256);
        let detach = CancellationToken::new();
        if after_seq == 0 {
            session.emit(EventKind::SessionStarted {
                provider: session.info.provider.clone(),
                model: session.info.model.clone(),
                resumed: false,
            });
        }
        tokio::spawn(forward(
            session.clone(),
            after_seq,
            tx.clone(),
            detach.clone(),
        ));
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
        });
        Ok(ReceiverStream::new(rx).map(Ok).boxed())
    }
}

fn aios_config_providers() -> &'static [&'static str] {
    aios_config::PROVIDERS
}

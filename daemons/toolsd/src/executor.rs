//! The [`Executor`]: the `ToolsApi` implementation. Each call resolves
//! the tool, finds who it acts for, validates and canonicalises the
//! arguments here, then runs the rest of the pipeline ([`crate::pipeline`])
//! as its own task: assess, policy, approval, ledger intent, run, ledger
//! outcome. Approvals arrive on [`ToolsApi::approve`] from the session's
//! user; the ledger and the policy answer questions on
//! [`ToolsApi::audit`] and [`ToolsApi::policy`].
//!
//! Failure containment: a panicking tool ends the call with `Error` (the
//! task's `JoinError`), never the daemon; a tool past its time limit or
//! whose client went away is cancelled through its token and aborted after
//! a short grace period; results over the cap are replaced by a truncation
//! note so one call cannot exhaust the stream.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aios_catalog::{Access, OutputSink, Registry, Supervisor};
use aios_proto::{
    ApiError, ApprovalAck, ApprovalAnswer, ApprovalScope, AuditQuestion, BoxStream, CommandRecord,
    ExecuteEvent, ExecuteRequest, HostFacts, PendingCall, PolicyInput, PolicyQuestion, Principal,
    Right, ToolSpec, ToolStatus, ToolsApi,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::approvals::{Answer, Approvals};
use crate::audit::Audit;
use crate::authorize::run_as;
use crate::checkpoints::{CheckError, Checkpoints};
use crate::identities::Identities;
use crate::parked::Parked;
use crate::pipeline::{Call, Limits, Shared, end, status_of};
use crate::planners::Planners;
use crate::policy::PolicyEngine;
use crate::sessions::SessionKinds;
use crate::supervisor::InitdSupervisor;
use crate::undo;

/// Limits and collaborators of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Time limit when the request gives none.
    pub default_timeout: Duration,
    /// Largest time limit a request may ask for.
    pub max_timeout: Duration,
    /// Largest result (as JSON text) returned whole.
    pub max_result_bytes: usize,
    /// Largest total of live output per call.
    pub max_output_bytes: usize,
    /// How long a cancelled tool may take to stop before it is aborted.
    pub cancel_grace: Duration,
    /// How long a call waits for a human's approval.
    pub approval_timeout: Duration,
    /// How long a tool may take to assess a call.
    pub assess_timeout: Duration,
    /// aiOS's supervisor, asked by the `service.*` tools.
    pub supervisor: Arc<dyn Supervisor>,
    /// memoryd's search, asked by `memory.search`; `None`: the tool says it has none.
    pub memory: Option<Arc<dyn aios_catalog::MemoryReader>>,
    /// The policy.
    pub policy: Arc<dyn PolicyEngine>,
    /// The audit ledger. Without one, changes are refused (fail closed).
    pub audit: Audit,
    /// Facts of the host for the built-in denials.
    pub host: HostFacts,
    /// Private state (file snapshots for undo).
    pub state_dir: Option<PathBuf>,
    /// The sockets of the daemons that act as the planner (daemon name,
    /// path): no approval is heard from the process listening on one.
    pub planner_sockets: Vec<(String, PathBuf)>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            max_result_bytes: 1024 * 1024,
            max_output_bytes: OutputSink::DEFAULT_CAP,
            cancel_grace: Duration::from_secs(2),
            approval_timeout: Duration::from_secs(15 * 60),
            assess_timeout: Duration::from_secs(20),
            supervisor: Arc::new(InitdSupervisor::from_env()),
            memory: None,
            policy: Arc::new(aios_policy::Policy::builtin_only()),
            audit: Audit::unavailable(
                "no audit ledger is configured for this executor; changes are refused until one is",
            ),
            host: HostFacts::default(),
            state_dir: None,
            planner_sockets: Vec::new(),
        }
    }
}

/// Runs tool calls for authenticated callers.
#[derive(Debug, Clone)]
pub struct Executor {
    shared: Arc<Shared>,
    config: ExecutorConfig,
    /// Every uid's access and policy facts, looked up at most once per
    /// uid per TTL.
    identities: Arc<Identities>,
    /// Signed checkpoints of the ledger.
    checkpoints: Arc<Checkpoints>,
    /// Each live session's uid and kind, fixed by its first call.
    sessions: Arc<SessionKinds>,
    /// The processes no approval is heard from.
    planners: Arc<Planners>,
}

impl Executor {
    /// An executor over `registry` with default limits.
    pub fn new(registry: Registry) -> Executor {
        Executor::with_config(registry, ExecutorConfig::default())
    }

    /// An executor over `registry` with the given limits.
    pub fn with_config(registry: Registry, config: ExecutorConfig) -> Executor {
        let shared = Shared {
            registry: Arc::new(registry),
            approvals: Arc::new(Approvals::new()),
            parked: Arc::new(Parked::default()),
            policy: config.policy.clone(),
            audit: config.audit.clone(),
            host: config.host.clone(),
            limits: Limits {
                timeout: config.default_timeout,
                max_result_bytes: config.max_result_bytes,
                max_output_bytes: config.max_output_bytes,
                cancel_grace: config.cancel_grace,
                approval_timeout: config.approval_timeout,
                assess_timeout: config.assess_timeout,
            },
            own: Access::process(),
            supervisor: config.supervisor.clone(),
            memory: config.memory.clone(),
            state_dir: config.state_dir.clone(),
        };
        let checkpoints = Checkpoints::new(
            config.state_dir.clone(),
            PathBuf::from(&config.host.ledger_path),
        );
        let planners = Arc::new(Planners::new(config.planner_sockets.clone()));
        Executor {
            shared: Arc::new(shared),
            config,
            identities: Arc::new(Identities::new(Identities::TTL)),
            checkpoints: Arc::new(checkpoints),
            sessions: Arc::new(SessionKinds::default()),
            planners,
        }
    }

    /// The registry served.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// The time limit of a request: its own (capped) or the default.
    fn timeout_of(&self, req: &ExecuteRequest) -> Duration {
        if req.timeout_ms == 0 {
            self.config.default_timeout
        } else {
            Duration::from_millis(req.timeout_ms).min(self.config.max_timeout)
        }
    }
}

/// A stream of exactly one `End`.
fn end_now(status: ToolStatus, message: String) -> BoxStream<ExecuteEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    end(&tx, status, message, 0);
    tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed()
}

/// Replace a result over `cap` bytes of JSON by a note and a prefix.
pub fn cap_result(v: Value, cap: usize) -> Value {
    let text = v.to_string();
    if text.len() <= cap {
        return v;
    }
    let mut end = (cap / 2).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({
        "truncated": true,
        "note": format!(
            "the result was {} bytes, over the {cap}-byte cap; narrow the request (a smaller limit, path or max_bytes)",
            text.len()
        ),
        "partial_json": &text[..end],
    })
}

#[async_trait::async_trait]
impl ToolsApi for Executor {
    async fn list(&self, who: Principal) -> Result<Vec<ToolSpec>, ApiError> {
        who.require(Right::AnyUser)?;
        Ok(self.shared.registry.specs())
    }

    async fn execute(
        &self,
        who: Principal,
        req: ExecuteRequest,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        if let Err(e) = self.shared.registry.spec(&req.tool) {
            return Ok(end_now(ToolStatus::Error, e.message().to_string()));
        }
        let uid = run_as(&who, req.on_behalf_of_uid).map_err(ApiError::denied)?;
        // For another uid than toolsd's own, the tool's blocking work runs
        // with that user's kernel credentials (see `aios_catalog::creds`).
        let (access, mut caller) = self.identities.lookup(uid);
        // The kind comes from the request the orchestrator (or the user's
        // own client) built, never from the model, and cannot change
        // within a session.
        caller.session_kind = self
            .sessions
            .resolve(&req.session_id, uid, req.session_kind)
            .map_err(ApiError::denied)?;
        let home = access.identity().home.clone();
        let prepared =
            match self
                .shared
                .registry
                .prepare_for(&req.tool, req.args.clone(), home.as_deref())
            {
                Ok(p) => p,
                Err(e) => return Ok(end_now(status_of(&e), e.message().to_string())),
            };
        // An undo is decided as the call it stands for.
        let (prepared, rationale) = if undo::is_undo(&prepared) {
            match undo::expand(&self.shared, &prepared, &caller, home.as_deref()).await {
                Ok((inner, note)) => (inner, undo::rationale(&note, &req.rationale)),
                Err(e) => return Ok(end_now(status_of(&e), e.message().to_string())),
            }
        } else {
            (prepared, req.rationale.clone())
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let call = Call {
            shared: self.shared.clone(),
            limits: Limits {
                timeout: self.timeout_of(&req),
                ..self.shared.limits.clone()
            },
            session_id: req.session_id,
            call_id: req.call_id,
            request: req.request,
            plan_step: req.plan_step,
            rationale,
            approval: req.approval,
            caller,
            access,
            client_pid: who.pid,
        };
        tokio::spawn(call.drive(prepared, tx));
        Ok(tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed())
    }

    async fn approve(
        &self,
        who: Principal,
        answer: ApprovalAnswer,
    ) -> Result<ApprovalAck, ApiError> {
        // Issue #8 §4: background agents can never approve themselves, and
        // nobody approves in their place (toolsd never lets such a session
        // wait; this refuses the answer itself, whoever sends it).
        if self.sessions.is_background(&answer.session_id) {
            return Err(ApiError::denied(format!(
                "session {} is a background agent's session: its calls are never approved, by the \
                 agent or anyone else; run what it proposes from your own interactive session",
                answer.session_id
            )));
        }
        // Issue #8 §4: nor does the planner. In development mode it has the
        // user's uid, so it is told apart by the process the kernel says
        // sent this (`planners.rs`).
        self.planners.refuse(&who).await.map_err(ApiError::denied)?;
        let accepted = self
            .shared
            .approvals
            .answer(&who, answer)
            .map_err(|e| ApiError::denied(e.0))?;
        let input = accepted.input;
        Ok(match accepted.answer {
            Answer::Run(by) if by.scope == ApprovalScope::Always => {
                match self.shared.policy.grant(&input, accepted.grant) {
                    Ok(rule) => ApprovalAck {
                        rule_written: Some(rule),
                        message: "approved; the rule above was saved to your policy file".into(),
                    },
                    Err(e) => ApprovalAck {
                        rule_written: None,
                        message: format!("approved this once; no rule was saved: {e}"),
                    },
                }
            }
            Answer::Run(by) if by.scope == ApprovalScope::Session => ApprovalAck {
                rule_written: None,
                message: "approved for the rest of this session".into(),
            },
            Answer::Run(_) => ApprovalAck {
                rule_written: None,
                message: "approved once".into(),
            },
            Answer::Edit(..) => ApprovalAck {
                rule_written: None,
                message: "the edited call will be checked and run".into(),
            },
            Answer::Reject(_) => ApprovalAck {
                rule_written: None,
                message: "rejected".into(),
            },
        })
    }

    async fn end_session(&self, who: Principal, session_id: String) -> Result<(), ApiError> {
        who.require(Right::Daemon)?;
        self.shared.approvals.end_session(&session_id);
        self.shared.parked.end_session(&session_id);
        self.sessions.end(&session_id);
        Ok(())
    }

    async fn pending_calls(
        &self,
        who: Principal,
        session_id: String,
        on_behalf_of_uid: u32,
    ) -> Result<Vec<PendingCall>, ApiError> {
        // Kept calls are bound to the uid they act for: a user lists their
        // own, a daemon those of the user it names.
        let uid = run_as(&who, on_behalf_of_uid).map_err(ApiError::denied)?;
        Ok(self.shared.parked.pending(&session_id, uid))
    }

    async fn reattach(
        &self,
        who: Principal,
        session_id: String,
        call_id: String,
        on_behalf_of_uid: u32,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let uid = run_as(&who, on_behalf_of_uid).map_err(ApiError::denied)?;
        let rx = self
            .shared
            .parked
            .follow(&session_id, &call_id, uid, who.pid)
            .map_err(ApiError::not_found)?;
        Ok(tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed())
    }

    async fn audit(&self, who: Principal, q: AuditQuestion) -> Result<Value, ApiError> {
        let unavailable = |e: String| ApiError::unavailable(format!("audit ledger: {e}"));
        match q {
            // The chain's end says nothing about any entry's contents, so
            // anyone may export or check one.
            AuditQuestion::Checkpoint => {
                return self
                    .checkpoints
                    .export(&self.shared.audit)
                    .await
                    .map_err(unavailable);
            }
            AuditQuestion::VerifyAgainst(text) => {
                return match self
                    .checkpoints
                    .verify_against(&self.shared.audit, text)
                    .await
                {
                    Ok(v) => Ok(v),
                    Err(CheckError::Bad(e)) => Err(ApiError::invalid(e)),
                    Err(CheckError::Unavailable(e)) => Err(unavailable(e)),
                };
            }
            _ => {}
        }
        // Administrators read the whole ledger; others their own calls.
        let only = (!who.admin).then_some(who.uid);
        self.shared
            .audit
            .ask(q, only)
            .await
            .map_err(|e| ApiError::unavailable(format!("audit ledger: {e}")))
    }

    async fn record_command(&self, who: Principal, r: CommandRecord) -> Result<u64, ApiError> {
        crate::commands::record(&self.shared.audit, &self.identities, &who, r).await
    }

    async fn policy(&self, who: Principal, q: PolicyQuestion) -> Result<Value, ApiError> {
        let (access, mut caller) = self.identities.lookup(who.uid);
        match q {
            PolicyQuestion::Check {
                tool,
                args,
                session_kind,
            } => {
                caller.session_kind = session_kind.unwrap_or_default();
                let home = access.identity().home.clone();
                let mut prepared = self
                    .shared
                    .registry
                    .prepare_for(&tool, args, home.as_deref())
                    .map_err(|e| ApiError::invalid(e.message().to_string()))?;
                if undo::is_undo(&prepared) {
                    prepared = undo::expand(&self.shared, &prepared, &caller, home.as_deref())
                        .await
                        .map_err(|e| ApiError::invalid(e.message().to_string()))?
                        .0;
                }
                let ctx = self
                    .shared
                    .ctx(CancellationToken::new(), OutputSink::discard(), access);
                let a = tokio::time::timeout(self.config.assess_timeout, prepared.assess(&ctx))
                    .await
                    .map_err(|_| ApiError::unavailable("assessing the call took too long"))?
                    .map_err(|e| ApiError::invalid(e.message().to_string()))?;
                let input = PolicyInput {
                    tool: prepared.spec.name.clone(),
                    args: prepared.canonical.clone(),
                    effect: a.effect,
                    resources: a.resources,
                    caller,
                    host: self.shared.host.clone(),
                };
                let mut v = self.shared.policy.explain(&input);
                if let Value::Object(o) = &mut v {
                    o.insert("session_kind".into(), json!(input.caller.session_kind));
                    o.insert("call".into(), json!({
                        "tool": input.tool,
                        "args": input.args,
                        "call_hash": prepared.call_hash(),
                        "effect": input.effect,
                        "resources": input.resources.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "preview": a.preview,
                    }));
                }
                Ok(v)
            }
            PolicyQuestion::Grants => self
                .shared
                .policy
                .grants(&caller)
                .map_err(ApiError::unavailable),
            PolicyQuestion::Status => {
                let ledger = match self.shared.audit.missing() {
                    None => json!({ "path": self.shared.host.ledger_path, "available": true }),
                    Some(why) => {
                        json!({ "path": self.shared.host.ledger_path, "available": false, "error": why })
                    }
                };
                Ok(json!({
                    "ledger": ledger,
                    "policy": self.shared.policy.files(&caller),
                    "sandbox": aios_sandbox::probe(),
                    "tools": self.shared.registry.names().count(),
                }))
            }
            PolicyQuestion::GrantPreview {
                session_id,
                call_id,
                call_hash,
            } => {
                let input = self
                    .shared
                    .approvals
                    .pending_input(&who, &session_id, &call_id, &call_hash)
                    .map_err(|e| ApiError::denied(e.0))?;
                let preview = self
                    .shared
                    .policy
                    .preview_grant(&input)
                    .map_err(ApiError::unavailable)?;
                self.shared
                    .approvals
                    .remember_grant(&session_id, &call_id, preview.rule.clone());
                Ok(preview.to_json())
            }
            PolicyQuestion::Revoke(id) => {
                let gone = self
                    .shared
                    .policy
                    .revoke(&caller, &id)
                    .map_err(ApiError::unavailable)?;
                Ok(json!({ "revoked": gone, "id": id }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_results_pass_and_large_ones_are_replaced_by_a_note() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(cap_result(v.clone(), 100), v);
        let big = serde_json::json!({"content": "é".repeat(1000)});
        let c = cap_result(big, 100);
        assert_eq!(c["truncated"], true);
        assert!(
            c["note"]
                .as_str()
                .unwrap()
                .contains("over the 100-byte cap")
        );
        assert!(c["partial_json"].as_str().unwrap().len() <= 50);
    }

    #[test]
    fn timeouts_default_and_cap() {
        let ex = Executor::new(Registry::builtin());
        let mut req = ExecuteRequest {
            session_id: String::new(),
            call_id: String::new(),
            tool: "sys.overview".into(),
            args: Value::Null,
            on_behalf_of_uid: 0,
            timeout_ms: 0,
            rationale: String::new(),
            request: String::new(),
            plan_step: String::new(),
            session_kind: aios_proto::SessionKind::Interactive,
            approval: aios_proto::ApprovalMode::Ask,
        };
        assert_eq!(ex.timeout_of(&req), Duration::from_secs(30));
        req.timeout_ms = 10_000_000;
        assert_eq!(ex.timeout_of(&req), Duration::from_secs(300));
        req.timeout_ms = 5;
        assert_eq!(ex.timeout_of(&req), Duration::from_millis(5));
    }

    #[test]
    fn error_kinds_map_to_statuses() {
        use aios_catalog::ToolError;
        assert_eq!(status_of(&ToolError::denied("x")), ToolStatus::Denied);
        assert_eq!(status_of(&ToolError::cancelled()), ToolStatus::Interrupted);
        assert_eq!(status_of(&ToolError::not_found("x")), ToolStatus::Error);
    }
}

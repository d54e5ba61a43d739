//! One call through the executor's pipeline, stage by stage:
//!
//! resolve → validate → canonicalise (in [`crate::Executor`], before this
//! task starts) → **assess** (effect, resources, preview; as the caller) →
//! **policy** → **approval** (the session's user answers on their own
//! connection) → **ledger intent** (durable, or the call does not run) →
//! **run** (with the caller's credentials, or toolsd's own for a change an
//! administrator's policy or approval allowed) → **ledger outcome**.
//!
//! Every refusal is recorded in the ledger too, so "what did you try and
//! why was it stopped?" has an answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aios_catalog::{Access, OutputSink, Prepared, Registry, ToolCtx, ToolError, ToolErrorKind};
use aios_proto::{
    ApiError, ApprovalMode, ApprovalNeeded, ApprovalScope, Approver, AuditDecision, AuditEntry,
    AuditKind, Caller, ExecuteEnd, ExecuteEvent, HostFacts, PolicyDecision, PolicyInput, Preview,
    Risk, SessionKind, ToolStatus, Verdict, now_unix_ms,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::approvals::{Answer, Approvals, Question};
use crate::audit::Audit;
use crate::parked::{DEATH_GRACE, Keep, Parked, ended_within};
use crate::policy::PolicyEngine;

/// The stream back to the caller.
pub(crate) type Events = mpsc::UnboundedSender<Result<ExecuteEvent, ApiError>>;
/// Its other end.
pub(crate) type EventRx = mpsc::UnboundedReceiver<Result<ExecuteEvent, ApiError>>;

/// What every call shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub registry: Arc<Registry>,
    pub approvals: Arc<Approvals>,
    /// Calls kept waiting for their user after their stream closed.
    pub parked: Arc<Parked>,
    pub policy: Arc<dyn PolicyEngine>,
    pub audit: Audit,
    pub host: HostFacts,
    pub limits: Limits,
    /// toolsd's own access, for changes an administrator's policy or
    /// approval allowed.
    pub own: Access,
    pub supervisor: Arc<dyn aios_catalog::Supervisor>,
    pub memory: Option<Arc<dyn aios_catalog::MemoryReader>>,
    pub state_dir: Option<std::path::PathBuf>,
}

impl Shared {
    /// A tool context with everything the executor offers tools: the
    /// supervisor, the ledger reader and the private state directory.
    /// Assessing and running a call see the same context.
    pub fn ctx(&self, cancel: CancellationToken, output: OutputSink, access: Access) -> ToolCtx {
        let mut ctx = ToolCtx::new(cancel, output, access)
            .with_supervisor(self.supervisor.clone())
            .with_audit(Arc::new(self.audit.clone()));
        if let Some(m) = &self.memory {
            ctx = ctx.with_memory(m.clone());
        }
        match &self.state_dir {
            Some(dir) => ctx.with_state_dir(dir.clone()),
            None => ctx,
        }
    }
}

/// Limits of one call.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub timeout: Duration,
    pub max_result_bytes: usize,
    pub max_output_bytes: usize,
    pub cancel_grace: Duration,
    pub approval_timeout: Duration,
    pub assess_timeout: Duration,
}

/// The request's facts, as the pipeline carries them.
pub(crate) struct Call {
    pub shared: Arc<Shared>,
    pub session_id: String,
    pub call_id: String,
    pub request: String,
    pub plan_step: String,
    pub rationale: String,
    pub approval: ApprovalMode,
    pub caller: Caller,
    pub access: Access,
    pub limits: Limits,
    /// The process that asked (the kernel's peer pid): a call waiting for
    /// its user outlives its stream only when this process died.
    pub client_pid: Option<u32>,
}

enum Outcome {
    Finished(Result<Result<Value, ToolError>, tokio::task::JoinError>),
    TimedOut,
    ClientGone,
}

/// How a human's or policy's permission is recorded.
struct Permit {
    decision: PolicyDecision,
    approved_by: Option<Approver>,
}

impl Call {
    /// Drive `prepared` through the remaining stages, sending events to `tx`.
    pub async fn drive(self, prepared: Prepared, mut tx: Events) {
        // `tx` is replaced when the call is kept waiting past its stream.
        let Some((prepared, effect, input, permit)) = self.decide(prepared, &mut tx).await else {
            return;
        };
        self.authorised(prepared, effect, input, permit, tx).await;
    }

    /// Assess, ask policy and, if it asks, the human. `None` when the call
    /// ended here (refused, rejected, or its client left).
    async fn decide(
        &self,
        mut prepared: Prepared,
        tx: &mut Events,
    ) -> Option<(Prepared, Risk, PolicyInput, Permit)> {
        let (mut input, preview) = match self.assess(&prepared).await {
            Ok(i) => i,
            Err(e) => {
                end(tx, status_of(&e), e.message().to_string(), 0);
                return None;
            }
        };
        if self.approval == ApprovalMode::Never && input.effect != Risk::Read {
            let d = PolicyDecision {
                verdict: Verdict::Deny,
                source: aios_proto::RuleSource::Builtin,
                rule: "session.approve-never".into(),
                reason: format!(
                    "`{}` would change the system, and this session runs with --approve=never",
                    input.tool
                ),
                confirm: None,
            };
            self.refuse(&prepared, &input, &d, None, ToolStatus::Denied, tx)
                .await;
            return None;
        }
        if input.effect != Risk::Read
            && let Some(why) = self.shared.audit.missing()
        {
            // Nothing that changes the system runs unrecorded; say so now
            // rather than after a human approved it.
            end(
                tx,
                ToolStatus::Denied,
                format!("not run: `{}` changes the system and {why}", input.tool),
                0,
            );
            return None;
        }
        let decision = self.shared.policy.decide(&input);
        match decision.verdict {
            Verdict::Allow => {
                let effect = input.effect;
                return Some((
                    prepared,
                    effect,
                    input,
                    Permit {
                        decision,
                        approved_by: None,
                    },
                ));
            }
            Verdict::Deny => {
                self.refuse(&prepared, &input, &decision, None, ToolStatus::Denied, tx)
                    .await;
                return None;
            }
            Verdict::Ask => {}
        }
        if self.shared.approvals.covered(
            &self.session_id,
            self.caller.uid,
            &input.tool,
            &input.resources,
        ) {
            let by = Approver {
                uid: self.caller.uid,
                user: self.caller.user.clone(),
                scope: ApprovalScope::Session,
                edited: false,
                note: Some("covered by an approval earlier in this session".into()),
            };
            let effect = input.effect;
            return Some((
                prepared,
                effect,
                input,
                Permit {
                    decision,
                    approved_by: Some(by),
                },
            ));
        }
        if self.approval != ApprovalMode::Ask || self.caller.session_kind == SessionKind::Background
        {
            let why = PolicyDecision {
                verdict: Verdict::Deny,
                reason: format!(
                    "{}; it needs a human's approval and this session cannot ask for one \
                     (run it in an interactive session, or add a policy rule that allows it)",
                    decision.reason
                ),
                ..decision
            };
            self.refuse(&prepared, &input, &why, None, ToolStatus::Denied, tx)
                .await;
            return None;
        }
        let answer = match self
            .ask_human(&prepared, &input, preview.clone(), &decision, tx)
            .await
        {
            Some(a) => a,
            None => return None,
        };
        match answer {
            Answer::Run(by) => {
                if by.scope == ApprovalScope::Session {
                    self.shared.approvals.grant_session(
                        &self.session_id,
                        self.caller.uid,
                        &input.tool,
                        &input.resources,
                    );
                }
                let effect = input.effect;
                Some((
                    prepared,
                    effect,
                    input,
                    Permit {
                        decision,
                        approved_by: Some(by),
                    },
                ))
            }
            Answer::Reject(by) => {
                let note = by.note.clone();
                let d = PolicyDecision {
                    reason: match &note {
                        Some(n) => format!("the user rejected the call: {n}"),
                        None => "the user rejected the call".into(),
                    },
                    ..decision
                };
                self.refuse(&prepared, &input, &d, Some(by), ToolStatus::Rejected, tx)
                    .await;
                None
            }
            Answer::Edit(by, args) => {
                // The human's arguments make a new call: validated,
                // canonicalised and assessed again, and decided again so a
                // built-in denial still holds.
                let home = self.access.identity().home.clone();
                prepared =
                    match self
                        .shared
                        .registry
                        .prepare_for(&input.tool, args, home.as_deref())
                    {
                        Ok(p) => p,
                        Err(e) => {
                            end(
                                tx,
                                status_of(&e),
                                format!("the edited call is invalid: {}", e.message()),
                                0,
                            );
                            return None;
                        }
                    };
                (input, _) = match self.assess(&prepared).await {
                    Ok(i) => i,
                    Err(e) => {
                        end(tx, status_of(&e), e.message().to_string(), 0);
                        return None;
                    }
                };
                let again = self.shared.policy.decide(&input);
                if again.verdict == Verdict::Deny {
                    self.refuse(&prepared, &input, &again, Some(by), ToolStatus::Denied, tx)
                        .await;
                    return None;
                }
                let effect = input.effect;
                Some((
                    prepared,
                    effect,
                    input,
                    Permit {
                        decision: again,
                        approved_by: Some(by),
                    },
                ))
            }
        }
    }

    /// The tool's assessment of the call: the policy input and the preview.
    async fn assess(&self, prepared: &Prepared) -> Result<(PolicyInput, Preview), ToolError> {
        let ctx = self.shared.ctx(
            CancellationToken::new(),
            OutputSink::discard(),
            self.access.clone(),
        );
        let a = tokio::time::timeout(self.limits.assess_timeout, prepared.assess(&ctx))
            .await
            .map_err(|_| {
                ToolError::failed(format!(
                    "`{}`: assessing the call took longer than {} s; not run",
                    prepared.spec.name,
                    self.limits.assess_timeout.as_secs()
                ))
            })??;
        // A tool may find a call does less than its class, never that it
        // may do more unnoticed: the stricter of the two counts.
        if a.effect > prepared.spec.effect {
            tracing::warn!(tool = %prepared.spec.name, "assessed effect {:?} exceeds the tool's class", a.effect);
        }
        let effect = a.effect;
        let input = PolicyInput {
            tool: prepared.spec.name.clone(),
            args: prepared.canonical.clone(),
            effect,
            resources: a.resources,
            caller: self.caller.clone(),
            host: self.shared.host.clone(),
        };
        Ok((input, a.preview))
    }

    /// Ask the session's user; `None` when the call ended while waiting.
    /// When the stream closes meanwhile (the orchestrator restarted), the
    /// call keeps waiting until its approval timeout, its events going to
    /// [`Parked`] for whoever re-attaches: `tx` is replaced then.
    async fn ask_human(
        &self,
        prepared: &Prepared,
        input: &PolicyInput,
        preview: Preview,
        decision: &PolicyDecision,
        tx: &mut Events,
    ) -> Option<Answer> {
        let call_hash = prepared.call_hash();
        let rx = match self.shared.approvals.ask(Question {
            session_id: self.session_id.clone(),
            call_id: self.call_id.clone(),
            uid: self.caller.uid,
            user: self.caller.user.clone(),
            call_hash: call_hash.clone(),
            confirm: decision.confirm.clone(),
            input: Box::new(input.clone()),
        }) {
            Ok(rx) => rx,
            Err(e) => {
                end(tx, ToolStatus::Denied, e.0, 0);
                return None;
            }
        };
        let needed = ApprovalNeeded {
            call_id: self.call_id.clone(),
            tool: input.tool.clone(),
            args: input.args.clone(),
            call_hash,
            effect: input.effect,
            resources: input.resources.iter().map(ToString::to_string).collect(),
            preview,
            rationale: self.rationale.clone(),
            rule: decision.rule.clone(),
            reason: decision.reason.clone(),
            confirm: decision.confirm.clone(),
            session_kind: self.caller.session_kind,
        };
        let needed = Box::new(needed);
        if tx
            .send(Ok(ExecuteEvent::ApprovalNeeded(needed.clone())))
            .is_err()
        {
            self.shared
                .approvals
                .withdraw(&self.session_id, &self.call_id);
            return None;
        }
        // The approval times out once, however often the call is kept.
        let deadline = tokio::time::Instant::now() + self.limits.approval_timeout;
        let mut kept = false;
        let mut rx = rx;
        let waited = loop {
            tokio::select! {
                a = &mut rx => break a.ok(),
                _ = tx.closed() => {
                    // An orchestrator alive and gone from the stream stopped
                    // waiting on purpose (an interrupt); one that died did not.
                    let asker = if kept {
                        self.shared.parked.follower(&self.session_id, &self.call_id)
                    } else {
                        self.client_pid
                    };
                    let died = match asker {
                        Some(pid) => ended_within(pid, DEATH_GRACE).await,
                        None => false,
                    };
                    if !died {
                        break None;
                    }
                    let keep = Keep {
                        session_id: self.session_id.clone(),
                        call_id: self.call_id.clone(),
                        uid: self.caller.uid,
                        tool: input.tool.clone(),
                        call_hash: needed.call_hash.clone(),
                        expires: deadline,
                    };
                    let Some(fresh) = self.shared.parked.keep(keep) else {
                        break None;
                    };
                    tracing::info!(
                        tool = %input.tool, call = %self.call_id, session = %self.session_id,
                        "the caller went away while the call waits for its user; kept until the approval times out"
                    );
                    *tx = fresh;
                    // What a re-attaching orchestrator reads first.
                    let _ = tx.send(Ok(ExecuteEvent::ApprovalNeeded(needed.clone())));
                    kept = true;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.shared.approvals.withdraw(&self.session_id, &self.call_id);
                    if kept {
                        self.shared.parked.settled(&self.session_id, &self.call_id);
                    }
                    let d = PolicyDecision {
                        reason: format!(
                            "{}; no decision arrived within {}, so the call expired",
                            decision.reason,
                            spoken(self.limits.approval_timeout)
                        ),
                        ..decision.clone()
                    };
                    self.refuse(prepared, input, &d, None, ToolStatus::Denied, tx).await;
                    return None;
                }
            }
        };
        if kept {
            self.shared.parked.settled(&self.session_id, &self.call_id);
        }
        if waited.is_none() {
            self.shared
                .approvals
                .withdraw(&self.session_id, &self.call_id);
            let d = PolicyDecision {
                reason: "the session stopped waiting for the approval".into(),
                ..decision.clone()
            };
            self.refuse(prepared, input, &d, None, ToolStatus::Interrupted, tx)
                .await;
        }
        waited
    }

    fn entry(
        &self,
        kind: AuditKind,
        call_hash: String,
        input: &PolicyInput,
        decision: Option<AuditDecision>,
    ) -> AuditEntry {
        AuditEntry {
            kind,
            unix_ms: now_unix_ms(),
            uid: self.caller.uid,
            user: self.caller.user.clone(),
            session_id: self.session_id.clone(),
            session_kind: self.caller.session_kind,
            call_id: self.call_id.clone(),
            request: self.request.clone(),
            plan_step: self.plan_step.clone(),
            rationale: self.rationale.clone(),
            tool: input.tool.clone(),
            args: input.args.clone(),
            call_hash,
            effect: input.effect,
            resources: input.resources.clone(),
            decision,
            status: None,
            summary: String::new(),
            duration_us: 0,
            undo: None,
            intent_id: None,
        }
    }

    /// Record a refusal and end the call with it.
    async fn refuse(
        &self,
        prepared: &Prepared,
        input: &PolicyInput,
        d: &PolicyDecision,
        by: Option<Approver>,
        status: ToolStatus,
        tx: &Events,
    ) {
        let mut e = self.entry(
            AuditKind::Refusal,
            prepared.call_hash(),
            input,
            Some(AuditDecision {
                verdict: d.verdict,
                rule: d.rule.clone(),
                approved_by: by,
            }),
        );
        e.status = Some(status);
        e.summary = d.reason.clone();
        if let Err(err) = self.shared.audit.append(e).await {
            tracing::error!(tool = %input.tool, call = %self.call_id, "refusal not recorded in the ledger: {err}");
        }
        tracing::info!(tool = %input.tool, uid = self.caller.uid, call = %self.call_id, rule = %d.rule, "refused: {}", d.reason);
        end(
            tx,
            status,
            format!("not run: {} [rule {}]", d.reason, d.rule),
            0,
        );
    }

    /// Ledger intent, run, ledger outcome.
    async fn authorised(
        self,
        prepared: Prepared,
        effect: Risk,
        input: PolicyInput,
        permit: Permit,
        tx: Events,
    ) {
        let decision = AuditDecision {
            verdict: permit.decision.verdict,
            rule: permit.decision.rule.clone(),
            approved_by: permit.approved_by.clone(),
        };
        let changes = effect != Risk::Read;
        let call_hash = prepared.call_hash();
        let mut intent_id = None;
        if changes {
            let intent = self.entry(
                AuditKind::Intent,
                call_hash.clone(),
                &input,
                Some(decision.clone()),
            );
            match self.shared.audit.append(intent).await {
                Ok(id) => intent_id = Some(id),
                Err(e) => {
                    end(
                        &tx,
                        ToolStatus::Error,
                        format!(
                            "not run: the audit ledger cannot be written ({e}); changes run only once they are recorded"
                        ),
                        0,
                    );
                    return;
                }
            }
        }
        // A change an administrator's policy or approval allowed runs with
        // toolsd's own rights; everything else with the caller's.
        let access = if changes && self.caller.admin {
            self.shared.own.clone()
        } else {
            self.access.clone()
        };
        let ran = self.run(prepared, access, &tx).await;
        let mut out = self.entry(AuditKind::Outcome, call_hash, &input, Some(decision));
        out.status = Some(ran.status);
        out.summary = summary_of(ran.status, &ran.result);
        out.duration_us = ran.duration_us;
        out.undo = ran.undo;
        out.intent_id = intent_id;
        let mut result = ran.result;
        // A change's outcome is fsynced; a read's one entry is written
        // before its result is returned, without an fsync of its own (see
        // `audit`). With no ledger at all, reads still run (main.rs).
        let written = if changes {
            self.shared.audit.append(out).await
        } else if self.shared.audit.missing().is_some() {
            Ok(0)
        } else {
            self.shared.audit.append_written(out).await
        };
        if let Err(e) = written {
            tracing::error!(tool = %input.tool, call = %self.call_id, "outcome not recorded in the ledger: {e}");
            if let Value::Object(o) = &mut result {
                o.insert(
                    "ledger_warning".into(),
                    Value::String(format!(
                        "the outcome could not be written to the audit ledger: {e}"
                    )),
                );
            }
        }
        if ran.client_gone {
            return;
        }
        // Output emitted just before the tool returned was sent by `run`.
        let _ = tx.send(Ok(ExecuteEvent::End(ExecuteEnd {
            status: ran.status,
            result,
            duration_us: ran.duration_us,
        })));
    }

    /// Run the call as its own task under the time limit, streaming its
    /// output; a panic, a timeout or a departed client end it cleanly.
    async fn run(&self, prepared: Prepared, access: Access, tx: &Events) -> Ran {
        let tool = prepared.spec.name.clone();
        let cancel = CancellationToken::new();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let ctx = self.shared.ctx(
            cancel.clone(),
            OutputSink::channel(out_tx, self.limits.max_output_bytes),
            access,
        );
        let undo_slot = ctx.clone();
        let started = Instant::now();
        let mut task = tokio::spawn(prepared.run(ctx));
        let deadline = tokio::time::sleep(self.limits.timeout);
        tokio::pin!(deadline);
        let outcome = loop {
            tokio::select! {
                _ = tx.closed() => break Outcome::ClientGone,
                Some(chunk) = out_rx.recv() => {
                    if tx.send(Ok(ExecuteEvent::Output(chunk))).is_err() {
                        break Outcome::ClientGone;
                    }
                }
                r = &mut task => break Outcome::Finished(r),
                _ = &mut deadline => break Outcome::TimedOut,
            }
        };
        let elapsed = started.elapsed();
        let mut client_gone = false;
        let (status, result) = match outcome {
            Outcome::ClientGone => {
                tracing::info!(tool = %tool, call = %self.call_id, "client went away: cancelling");
                stop(cancel, task, self.limits.cancel_grace);
                client_gone = true;
                (
                    ToolStatus::Interrupted,
                    Value::String("the caller went away; the call was cancelled".into()),
                )
            }
            Outcome::TimedOut => {
                stop(cancel, task, self.limits.cancel_grace);
                (
                    ToolStatus::TimedOut,
                    Value::String(format!(
                        "`{tool}` did not finish within its time limit of {} ms and was stopped",
                        self.limits.timeout.as_millis()
                    )),
                )
            }
            Outcome::Finished(Ok(Ok(v))) => (
                ToolStatus::Ok,
                crate::executor::cap_result(v, self.limits.max_result_bytes),
            ),
            Outcome::Finished(Ok(Err(e))) => {
                (status_of(&e), Value::String(e.message().to_string()))
            }
            Outcome::Finished(Err(e)) if e.is_panic() => {
                let msg = panic_message(&*e.into_panic());
                tracing::error!(tool = %tool, call = %self.call_id, "tool panicked: {msg}");
                (
                    ToolStatus::Error,
                    Value::String(format!("`{tool}` failed with an internal error: {msg}")),
                )
            }
            Outcome::Finished(Err(_)) => (
                ToolStatus::Interrupted,
                Value::String("the call was cancelled".into()),
            ),
        };
        // Output emitted just before the tool returned is still queued.
        if !client_gone {
            while let Ok(chunk) = out_rx.try_recv() {
                let _ = tx.send(Ok(ExecuteEvent::Output(chunk)));
            }
        }
        let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            tool = %tool, call = %self.call_id, uid = self.caller.uid,
            status = ?status, duration_us, "call ended"
        );
        Ran {
            status,
            result,
            duration_us,
            undo: undo_slot.take_undo(),
            client_gone,
        }
    }
}

/// What a run left behind.
struct Ran {
    status: ToolStatus,
    result: Value,
    duration_us: u64,
    undo: Option<aios_proto::UndoRecord>,
    client_gone: bool,
}

/// Cancel the tool, give it the grace period to stop, then abort it.
fn stop(
    cancel: CancellationToken,
    mut task: JoinHandle<Result<Value, ToolError>>,
    grace: Duration,
) {
    cancel.cancel();
    tokio::spawn(async move {
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    });
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A wait in words: whole minutes, or seconds.
fn spoken(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} minutes", secs / 60)
    } else {
        format!("{} s", d.as_secs_f32())
    }
}

/// End the call now with `status` and a message.
pub(crate) fn end(tx: &Events, status: ToolStatus, message: String, duration_us: u64) {
    let _ = tx.send(Ok(ExecuteEvent::End(ExecuteEnd {
        status,
        result: Value::String(message),
        duration_us,
    })));
}

/// How a tool error ends a call.
pub(crate) fn status_of(e: &ToolError) -> ToolStatus {
    match e.kind() {
        ToolErrorKind::PermissionDenied => ToolStatus::Denied,
        ToolErrorKind::Cancelled => ToolStatus::Interrupted,
        _ => ToolStatus::Error,
    }
}

/// One line for the ledger: the result's own `summary`, or the message.
fn summary_of(status: ToolStatus, result: &Value) -> String {
    let text = match result {
        Value::Object(o) => o
            .get("summary")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{status:?}")),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    aios_catalog::util::truncate(&text, 300)
}

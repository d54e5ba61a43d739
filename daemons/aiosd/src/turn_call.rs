//! One tool call of a turn, through the executor: shown as it begins,
//! followed to its end (output as it comes; an approval request shown and
//! waited for, since a person decides), then persisted before its end is
//! reported.

use std::collections::HashMap;
use std::time::Duration;

use aios_proto::{
    ChatMessage, ErrorCode, EventKind, ExecuteEnd, ExecuteEvent, ExecuteRequest, Risk, Role,
    StoredToolCall, ToolSpec, ToolStatus, now_unix_ms,
};
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::model::{Requested, describe};
use super::{Backend, Stop, Turn, backend_stop, failed};
use crate::limits::MAX_RESULT_FOR_MODEL;

impl Turn {
    /// One tool call through the executor, persisted before it is reported.
    pub(super) async fn tool_call(
        &self,
        call: &Requested,
        rationale: &str,
        specs: &HashMap<String, ToolSpec>,
    ) -> Result<ExecuteEnd, Stop> {
        let (id, name, args) = match call {
            Requested::Valid(c) => (c.id.clone(), c.name.clone(), c.args.clone()),
            Requested::Malformed { id, name, raw, .. } => {
                (id.clone(), name.clone(), Value::String(raw.clone()))
            }
        };
        // An unknown tool is shown with the most cautious risk; the executor
        // refuses it anyway.
        let risk = specs.get(&name).map(|s| s.effect).unwrap_or(Risk::Change);
        self.session.emit(EventKind::ToolCallBegin {
            turn_id: self.turn_id.clone(),
            call_id: id.clone(),
            tool: name.clone(),
            args: args.clone(),
            risk,
            rationale: rationale.trim().to_string(),
        });
        let outcome = match call {
            Requested::Malformed { error, .. } => Ok(ExecuteEnd {
                status: ToolStatus::Error,
                result: Value::String(format!(
                    "not run: the arguments were not valid JSON ({error}); call {name} again with a JSON object"
                )),
                duration_us: 0,
            }),
            Requested::Valid(_) => {
                self.execute(&id, &name, args.clone(), rationale, &describe(call))
                    .await
            }
        };
        self.settle(&id, &name, &args, outcome).await
    }

    /// Record a call's end as any call's (the stored call, the result
    /// message, then `ToolCallEnd`). An interrupt is recorded too, as far
    /// as the store allows, and still stops the turn.
    pub(super) async fn settle(
        &self,
        id: &str,
        name: &str,
        args: &Value,
        outcome: Result<ExecuteEnd, Stop>,
    ) -> Result<ExecuteEnd, Stop> {
        let end = match outcome {
            Ok(end) => end,
            Err(Stop::Interrupted) => {
                let end = ExecuteEnd {
                    status: ToolStatus::Interrupted,
                    result: Value::String("interrupted by the user".into()),
                    duration_us: 0,
                };
                // The store may be unreachable; the interrupt still wins.
                let _ = self.finish_call(id, name, args, &end).await;
                return Err(Stop::Interrupted);
            }
            Err(stop) => return Err(stop),
        };
        self.finish_call(id, name, args, &end).await?;
        Ok(end)
    }

    /// Persist the call and its result message, then report it.
    pub(super) async fn finish_call(
        &self,
        id: &str,
        name: &str,
        args: &Value,
        end: &ExecuteEnd,
    ) -> Result<(), Stop> {
        let record = StoredToolCall {
            session_id: self.session.info.id.clone(),
            turn_id: self.turn_id.clone(),
            call_id: id.to_string(),
            tool: name.to_string(),
            args: args.clone(),
            status: end.status,
            result: end.result.clone(),
            duration_us: end.duration_us,
            unix_ms: now_unix_ms(),
        };
        self.guard(
            Backend::Memory,
            self.limits.rpc_timeout,
            self.backends.record_tool_call(record),
        )
        .await?;
        self.remember(ChatMessage {
            role: Role::Tool,
            content: for_model(end),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.to_string()),
        })
        .await?;
        self.session.emit(EventKind::ToolCallEnd {
            call_id: id.to_string(),
            status: end.status,
            result: end.result.clone(),
            duration_us: end.duration_us,
        });
        Ok(())
    }

    async fn execute(
        &self,
        id: &str,
        name: &str,
        args: Value,
        rationale: &str,
        plan_step: &str,
    ) -> Result<ExecuteEnd, Stop> {
        let approval = self.session.info.approval;
        let req = ExecuteRequest {
            session_id: self.session.info.id.clone(),
            call_id: id.to_string(),
            tool: name.to_string(),
            args,
            on_behalf_of_uid: self.session.info.uid,
            timeout_ms: u64::try_from(self.limits.tool_timeout.as_millis()).unwrap_or(u64::MAX),
            rationale: rationale.to_string(),
            request: self.request.clone(),
            plan_step: plan_step.to_string(),
            // As the client declared it when it created the session.
            session_kind: self.session.info.kind,
            approval,
        };
        // The executor enforces the tool deadline; ours is a backstop in
        // case the executor itself hangs.
        let deadline = self
            .limits
            .tool_timeout
            .saturating_add(self.limits.tool_grace);
        let stream = self
            .guard(Backend::Tools, deadline, self.backends.execute(req))
            .await?;
        self.follow(id, name, stream, deadline).await
    }

    /// Read a call's events from the executor until its end: output is
    /// shown as it comes, and an approval request is shown and extends the
    /// wait, since a person is deciding.
    pub(super) async fn follow(
        &self,
        id: &str,
        name: &str,
        mut stream: aios_proto::BoxStream<ExecuteEvent>,
        mut deadline: Duration,
    ) -> Result<ExecuteEnd, Stop> {
        let mut started = Instant::now();
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop::Interrupted),
                n = tokio::time::timeout(left, stream.next()) => n,
            };
            match next {
                Err(_) => {
                    return Ok(ExecuteEnd {
                        status: ToolStatus::TimedOut,
                        result: Value::String(format!(
                            "{name} did not finish within {}s",
                            deadline.as_secs()
                        )),
                        duration_us: u64::try_from(started.elapsed().as_micros())
                            .unwrap_or(u64::MAX),
                    });
                }
                Ok(None) => {
                    return Err(failed(
                        ErrorCode::DaemonUnavailable,
                        format!("toolsd closed the call to {name} without a result"),
                    ));
                }
                Ok(Some(Err(e))) => return Err(backend_stop(Backend::Tools, e)),
                Ok(Some(Ok(ExecuteEvent::Output(chunk)))) => {
                    self.session.emit(EventKind::ToolOutputDelta {
                        call_id: id.to_string(),
                        chunk,
                    });
                }
                Ok(Some(Ok(ExecuteEvent::End(end)))) => return Ok(end),
                Ok(Some(Ok(ExecuteEvent::ApprovalNeeded(a)))) => {
                    // The human answers toolsd directly; we only show the
                    // card and wait longer, since a person is deciding.
                    self.session.emit(EventKind::ApprovalRequested(a));
                    started = Instant::now();
                    deadline = self.limits.approval_timeout.saturating_add(deadline);
                }
            }
        }
    }
}

pub(super) fn result_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the model sees of a result: JSON on success, a labelled error
/// otherwise, capped so one huge output cannot crowd out the conversation.
pub(super) fn for_model(end: &ExecuteEnd) -> String {
    let body = result_text(&end.result);
    let mut text = match end.status {
        ToolStatus::Ok => body,
        status => format!("{} error: {body}", format!("{status:?}").to_lowercase()),
    };
    if text.len() > MAX_RESULT_FOR_MODEL {
        let mut cut = MAX_RESULT_FOR_MODEL;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n[truncated: the result was longer than 32 KiB]");
    }
    text
}

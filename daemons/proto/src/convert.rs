//! Hand-written conversions between the generated wire types and the plain
//! domain types. This is the only place both are visible.

use serde_json::Value;

use crate::domain as d;
use crate::error::ApiError;
use crate::wire as w;

fn opt(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// Parse JSON text from the wire; empty text means `null`.
pub(crate) fn json_in(s: &str) -> Result<Value, ApiError> {
    if s.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(s).map_err(|e| ApiError::invalid(format!("invalid JSON on the wire: {e}")))
}

pub(crate) fn json_out(v: &Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

pub(crate) fn approval_in(v: i32) -> d::ApprovalMode {
    match w::ApprovalMode::try_from(v) {
        Ok(w::ApprovalMode::Policy) => d::ApprovalMode::Policy,
        _ => d::ApprovalMode::Ask,
    }
}

pub(crate) fn approval_out(v: d::ApprovalMode) -> i32 {
    match v {
        d::ApprovalMode::Ask => w::ApprovalMode::Ask as i32,
        d::ApprovalMode::Policy => w::ApprovalMode::Policy as i32,
    }
}

pub(crate) fn risk_in(v: i32) -> d::Risk {
    match w::Risk::try_from(v) {
        Ok(w::Risk::Change) => d::Risk::Change,
        Ok(w::Risk::Destructive) => d::Risk::Destructive,
        // Unknown values are treated as reads only for display; the
        // executor never takes risk from the wire.
        _ => d::Risk::Read,
    }
}

pub(crate) fn risk_out(v: d::Risk) -> i32 {
    match v {
        d::Risk::Read => w::Risk::Read as i32,
        d::Risk::Change => w::Risk::Change as i32,
        d::Risk::Destructive => w::Risk::Destructive as i32,
    }
}

pub(crate) fn tool_status_in(v: i32) -> d::ToolStatus {
    match w::ToolStatus::try_from(v) {
        Ok(w::ToolStatus::Ok) => d::ToolStatus::Ok,
        Ok(w::ToolStatus::Denied) => d::ToolStatus::Denied,
        Ok(w::ToolStatus::Rejected) => d::ToolStatus::Rejected,
        Ok(w::ToolStatus::Interrupted) => d::ToolStatus::Interrupted,
        Ok(w::ToolStatus::TimedOut) => d::ToolStatus::TimedOut,
        _ => d::ToolStatus::Error,
    }
}

pub(crate) fn tool_status_out(v: d::ToolStatus) -> i32 {
    (match v {
        d::ToolStatus::Ok => w::ToolStatus::Ok,
        d::ToolStatus::Error => w::ToolStatus::Error,
        d::ToolStatus::Denied => w::ToolStatus::Denied,
        d::ToolStatus::Rejected => w::ToolStatus::Rejected,
        d::ToolStatus::Interrupted => w::ToolStatus::Interrupted,
        d::ToolStatus::TimedOut => w::ToolStatus::TimedOut,
    }) as i32
}

fn step_in(v: i32) -> d::StepStatus {
    match w::StepStatus::try_from(v) {
        Ok(w::StepStatus::Running) => d::StepStatus::Running,
        Ok(w::StepStatus::Done) => d::StepStatus::Done,
        Ok(w::StepStatus::Failed) => d::StepStatus::Failed,
        Ok(w::StepStatus::Skipped) => d::StepStatus::Skipped,
        _ => d::StepStatus::Pending,
    }
}

fn step_out(v: d::StepStatus) -> i32 {
    (match v {
        d::StepStatus::Pending => w::StepStatus::Pending,
        d::StepStatus::Running => w::StepStatus::Running,
        d::StepStatus::Done => w::StepStatus::Done,
        d::StepStatus::Failed => w::StepStatus::Failed,
        d::StepStatus::Skipped => w::StepStatus::Skipped,
    }) as i32
}

fn turn_in(v: i32) -> d::TurnStatus {
    match w::TurnStatus::try_from(v) {
        Ok(w::TurnStatus::Completed) => d::TurnStatus::Completed,
        Ok(w::TurnStatus::Interrupted) => d::TurnStatus::Interrupted,
        Ok(w::TurnStatus::Refused) => d::TurnStatus::Refused,
        _ => d::TurnStatus::Failed,
    }
}

fn turn_out(v: d::TurnStatus) -> i32 {
    (match v {
        d::TurnStatus::Completed => w::TurnStatus::Completed,
        d::TurnStatus::Failed => w::TurnStatus::Failed,
        d::TurnStatus::Interrupted => w::TurnStatus::Interrupted,
        d::TurnStatus::Refused => w::TurnStatus::Refused,
    }) as i32
}

pub(crate) fn create_in(r: w::CreateSessionRequest) -> d::CreateSession {
    d::CreateSession {
        provider: opt(r.provider),
        model: opt(r.model),
        approval: approval_in(r.approval),
        title: r.title,
    }
}

pub(crate) fn create_out(r: d::CreateSession) -> w::CreateSessionRequest {
    w::CreateSessionRequest {
        provider: r.provider.unwrap_or_default(),
        model: r.model.unwrap_or_default(),
        approval: approval_out(r.approval),
        title: r.title,
    }
}

pub(crate) fn session_in(s: w::SessionInfo) -> d::SessionInfo {
    d::SessionInfo {
        id: s.id,
        uid: s.uid,
        provider: s.provider,
        model: s.model,
        created_unix_ms: s.created_unix_ms,
        title: s.title,
        approval: approval_in(s.approval),
    }
}

pub(crate) fn session_out(s: d::SessionInfo) -> w::SessionInfo {
    w::SessionInfo {
        id: s.id,
        uid: s.uid,
        provider: s.provider,
        model: s.model,
        created_unix_ms: s.created_unix_ms,
        title: s.title,
        approval: approval_out(s.approval),
    }
}

pub(crate) fn op_in(op: w::ClientOp) -> Result<d::Op, ApiError> {
    use w::client_op::Op as O;
    Ok(
        match op.op.ok_or_else(|| ApiError::invalid("empty client op"))? {
            O::UserInput(u) => d::Op::UserInput { text: u.text },
            O::ApprovalDecision(a) => {
                use w::approval_decision::Decision as D;
                let decision = match a
                    .decision
                    .ok_or_else(|| ApiError::invalid("approval decision without a decision"))?
                {
                    D::Approve(_) => d::Decision::Approve,
                    D::Reject(r) => d::Decision::Reject { note: opt(r.note) },
                    D::Edit(e) => d::Decision::Edit {
                        args: json_in(&e.args_json)?,
                    },
                    D::Always(_) => d::Decision::Always,
                };
                d::Op::ApprovalDecision {
                    call_id: a.call_id,
                    decision,
                }
            }
            O::Interrupt(_) => d::Op::Interrupt,
            O::Attach(a) => d::Op::Attach {
                session_id: a.session_id,
                after_seq: a.after_seq,
            },
            O::Detach(_) => d::Op::Detach,
        },
    )
}

pub(crate) fn op_out(op: d::Op) -> w::ClientOp {
    use w::client_op::Op as O;
    let op = match op {
        d::Op::UserInput { text } => O::UserInput(w::UserInput { text }),
        d::Op::ApprovalDecision { call_id, decision } => {
            use w::approval_decision::Decision as D;
            let decision = match decision {
                d::Decision::Approve => D::Approve(w::Approve {}),
                d::Decision::Reject { note } => D::Reject(w::Reject {
                    note: note.unwrap_or_default(),
                }),
                d::Decision::Edit { args } => D::Edit(w::Edit {
                    args_json: args.to_string(),
                }),
                d::Decision::Always => D::Always(w::Always {}),
            };
            O::ApprovalDecision(w::ApprovalDecision {
                call_id,
                decision: Some(decision),
            })
        }
        d::Op::Interrupt => O::Interrupt(w::Interrupt {}),
        d::Op::Attach {
            session_id,
            after_seq,
        } => O::Attach(w::Attach {
            session_id,
            after_seq,
        }),
        d::Op::Detach => O::Detach(w::Detach {}),
    };
    w::ClientOp { op: Some(op) }
}

pub(crate) fn usage_in(u: w::Usage) -> d::Usage {
    d::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_usd: (u.cost_usd >= 0.0).then_some(u.cost_usd),
        provider: u.provider,
        model: u.model,
        latency_ms: u.latency_ms,
    }
}

pub(crate) fn usage_out(u: d::Usage) -> w::Usage {
    w::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_usd: u.cost_usd.unwrap_or(-1.0),
        provider: u.provider,
        model: u.model,
        latency_ms: u.latency_ms,
    }
}

pub(crate) fn event_in(e: w::SessionEvent) -> Result<d::Event, ApiError> {
    use w::session_event::Kind as K;
    let kind = match e
        .kind
        .ok_or_else(|| ApiError::invalid("event without a kind"))?
    {
        K::SessionStarted(s) => d::EventKind::SessionStarted {
            provider: s.provider,
            model: s.model,
            resumed: s.resumed,
        },
        K::TurnStarted(t) => d::EventKind::TurnStarted {
            turn_id: t.turn_id,
            input: t.input,
        },
        K::AssistantDelta(a) => d::EventKind::AssistantDelta {
            turn_id: a.turn_id,
            text: a.text,
        },
        K::PlanProposed(p) => d::EventKind::PlanProposed {
            turn_id: p.turn_id,
            steps: p.steps,
        },
        K::StepUpdate(s) => d::EventKind::StepUpdate {
            turn_id: s.turn_id,
            index: s.index,
            status: step_in(s.status),
        },
        K::ToolCallBegin(t) => d::EventKind::ToolCallBegin {
            turn_id: t.turn_id,
            call_id: t.call_id,
            tool: t.tool,
            args: json_in(&t.args_json)?,
            risk: risk_in(t.risk),
            rationale: t.rationale,
        },
        K::ApprovalRequested(a) => d::EventKind::ApprovalRequested {
            call_id: a.call_id,
            preview: a.preview,
            risk: risk_in(a.risk),
        },
        K::ToolOutputDelta(t) => d::EventKind::ToolOutputDelta {
            call_id: t.call_id,
            chunk: t.chunk,
        },
        K::ToolCallEnd(t) => d::EventKind::ToolCallEnd {
            call_id: t.call_id,
            status: tool_status_in(t.status),
            result: json_in(&t.result)?,
            duration_us: t.duration_us,
        },
        K::Usage(u) => d::EventKind::Usage(usage_in(u)),
        K::Notification(n) => d::EventKind::Notification {
            level: n.level,
            text: n.text,
        },
        K::TurnCompleted(t) => d::EventKind::TurnCompleted {
            turn_id: t.turn_id,
            status: turn_in(t.status),
            message: t.message,
        },
        K::Error(x) => d::EventKind::Error {
            code: x.code,
            message: x.message,
            fatal: x.fatal,
        },
    };
    Ok(d::Event {
        seq: e.seq,
        session_id: e.session_id,
        unix_ms: e.unix_ms,
        kind,
    })
}

pub(crate) fn event_out(e: d::Event) -> w::SessionEvent {
    use w::session_event::Kind as K;
    let kind = match e.kind {
        d::EventKind::SessionStarted {
            provider,
            model,
            resumed,
        } => K::SessionStarted(w::SessionStarted {
            provider,
            model,
            resumed,
        }),
        d::EventKind::TurnStarted { turn_id, input } => {
            K::TurnStarted(w::TurnStarted { turn_id, input })
        }
        d::EventKind::AssistantDelta { turn_id, text } => {
            K::AssistantDelta(w::AssistantDelta { turn_id, text })
        }
        d::EventKind::PlanProposed { turn_id, steps } => {
            K::PlanProposed(w::PlanProposed { turn_id, steps })
        }
        d::EventKind::StepUpdate {
            turn_id,
            index,
            status,
        } => K::StepUpdate(w::StepUpdate {
            turn_id,
            index,
            status: step_out(status),
        }),
        d::EventKind::ToolCallBegin {
            turn_id,
            call_id,
            tool,
            args,
            risk,
            rationale,
        } => K::ToolCallBegin(w::ToolCallBegin {
            turn_id,
            call_id,
            tool,
            args_json: json_out(&args),
            risk: risk_out(risk),
            rationale,
        }),
        d::EventKind::ApprovalRequested {
            call_id,
            preview,
            risk,
        } => K::ApprovalRequested(w::ApprovalRequested {
            call_id,
            preview,
            risk: risk_out(risk),
        }),
        d::EventKind::ToolOutputDelta { call_id, chunk } => {
            K::ToolOutputDelta(w::ToolOutputDelta { call_id, chunk })
        }
        d::EventKind::ToolCallEnd {
            call_id,
            status,
            result,
            duration_us,
        } => K::ToolCallEnd(w::ToolCallEnd {
            call_id,
            status: tool_status_out(status),
            result: json_out(&result),
            duration_us,
        }),
        d::EventKind::Usage(u) => K::Usage(usage_out(u)),
        d::EventKind::Notification { level, text } => {
            K::Notification(w::Notification { level, text })
        }
        d::EventKind::TurnCompleted {
            turn_id,
            status,
            message,
        } => K::TurnCompleted(w::TurnCompleted {
            turn_id,
            status: turn_out(status),
            message,
        }),
        d::EventKind::Error {
            code,
            message,
            fatal,
        } => K::Error(w::Error {
            code,
            message,
            fatal,
        }),
    };
    w::SessionEvent {
        seq: e.seq,
        session_id: e.session_id,
        unix_ms: e.unix_ms,
        kind: Some(kind),
    }
}

pub(crate) fn tool_spec_in(t: w::ToolSpec) -> Result<d::ToolSpec, ApiError> {
    Ok(d::ToolSpec {
        args_schema: json_in(&t.args_schema_json)?,
        name: t.name,
        description: t.description,
        effect: risk_in(t.effect),
        resources: t.resources,
    })
}

pub(crate) fn tool_spec_out(t: d::ToolSpec) -> w::ToolSpec {
    w::ToolSpec {
        args_schema_json: json_out(&t.args_schema),
        name: t.name,
        description: t.description,
        effect: risk_out(t.effect),
        resources: t.resources,
    }
}

pub(crate) fn exec_req_in(r: w::ExecuteRequest) -> Result<d::ExecuteRequest, ApiError> {
    Ok(d::ExecuteRequest {
        args: json_in(&r.args_json)?,
        session_id: r.session_id,
        call_id: r.call_id,
        tool: r.tool,
        on_behalf_of_uid: r.on_behalf_of_uid,
        timeout_ms: r.timeout_ms,
        rationale: r.rationale,
    })
}

pub(crate) fn exec_req_out(r: d::ExecuteRequest) -> w::ExecuteRequest {
    w::ExecuteRequest {
        args_json: json_out(&r.args),
        session_id: r.session_id,
        call_id: r.call_id,
        tool: r.tool,
        on_behalf_of_uid: r.on_behalf_of_uid,
        timeout_ms: r.timeout_ms,
        rationale: r.rationale,
    }
}

pub(crate) fn exec_event_in(e: w::ExecuteEvent) -> Result<d::ExecuteEvent, ApiError> {
    use w::execute_event::Kind as K;
    Ok(
        match e
            .kind
            .ok_or_else(|| ApiError::invalid("execute event without a kind"))?
        {
            K::OutputDelta(s) => d::ExecuteEvent::Output(s),
            K::End(end) => d::ExecuteEvent::End(d::ExecuteEnd {
                status: tool_status_in(end.status),
                result: json_in(&end.result)?,
                duration_us: end.duration_us,
            }),
        },
    )
}

pub(crate) fn exec_event_out(e: d::ExecuteEvent) -> w::ExecuteEvent {
    use w::execute_event::Kind as K;
    let kind = match e {
        d::ExecuteEvent::Output(s) => K::OutputDelta(s),
        d::ExecuteEvent::End(end) => K::End(w::ExecuteEnd {
            status: tool_status_out(end.status),
            result: json_out(&end.result),
            duration_us: end.duration_us,
        }),
    };
    w::ExecuteEvent { kind: Some(kind) }
}

pub(crate) fn tool_call_in(t: w::ModelToolCall) -> Result<d::ToolCall, ApiError> {
    Ok(d::ToolCall {
        args: json_in(&t.args_json)?,
        id: t.id,
        name: t.name,
    })
}

pub(crate) fn tool_call_out(t: d::ToolCall) -> w::ModelToolCall {
    w::ModelToolCall {
        args_json: t.args.to_string(),
        id: t.id,
        name: t.name,
    }
}

fn role_in(s: &str) -> Result<d::Role, ApiError> {
    d::Role::parse(s).ok_or_else(|| ApiError::invalid(format!("unknown role {s:?}")))
}

pub(crate) fn chat_in(m: w::ChatMessage) -> Result<d::ChatMessage, ApiError> {
    Ok(d::ChatMessage {
        role: role_in(&m.role)?,
        content: m.content,
        tool_calls: m
            .tool_calls
            .into_iter()
            .map(tool_call_in)
            .collect::<Result<_, _>>()?,
        tool_call_id: opt(m.tool_call_id),
    })
}

pub(crate) fn chat_out(m: d::ChatMessage) -> w::ChatMessage {
    w::ChatMessage {
        role: m.role.as_str().to_string(),
        content: m.content,
        tool_calls: m.tool_calls.into_iter().map(tool_call_out).collect(),
        tool_call_id: m.tool_call_id.unwrap_or_default(),
    }
}

pub(crate) fn completion_req_in(r: w::CompletionRequest) -> Result<d::CompletionRequest, ApiError> {
    Ok(d::CompletionRequest {
        provider: opt(r.provider),
        model: opt(r.model),
        system: r.system,
        messages: r
            .messages
            .into_iter()
            .map(chat_in)
            .collect::<Result<_, _>>()?,
        tools: r
            .tools
            .into_iter()
            .map(|t| {
                Ok(d::ModelTool {
                    schema: json_in(&t.schema_json)?,
                    name: t.name,
                    description: t.description,
                })
            })
            .collect::<Result<_, ApiError>>()?,
        max_tokens: r.max_tokens,
    })
}

pub(crate) fn completion_req_out(r: d::CompletionRequest) -> w::CompletionRequest {
    w::CompletionRequest {
        provider: r.provider.unwrap_or_default(),
        model: r.model.unwrap_or_default(),
        system: r.system,
        messages: r.messages.into_iter().map(chat_out).collect(),
        tools: r
            .tools
            .into_iter()
            .map(|t| w::ModelTool {
                schema_json: json_out(&t.schema),
                name: t.name,
                description: t.description,
            })
            .collect(),
        max_tokens: r.max_tokens,
    }
}

pub(crate) fn completion_event_in(e: w::CompletionEvent) -> Result<d::CompletionEvent, ApiError> {
    use w::completion_event::Kind as K;
    Ok(
        match e
            .kind
            .ok_or_else(|| ApiError::invalid("completion event without a kind"))?
        {
            K::TextDelta(t) => d::CompletionEvent::TextDelta(t),
            K::ToolCall(t) => d::CompletionEvent::ToolCall(tool_call_in(t)?),
            K::MalformedToolCall(m) => d::CompletionEvent::MalformedToolCall {
                id: m.id,
                name: m.name,
                raw_args: m.raw_args,
                error: m.error,
            },
            K::Usage(u) => d::CompletionEvent::Usage(usage_in(u)),
            K::Done(done) => d::CompletionEvent::Done {
                stop_reason: done.stop_reason,
            },
        },
    )
}

pub(crate) fn completion_event_out(e: d::CompletionEvent) -> w::CompletionEvent {
    use w::completion_event::Kind as K;
    let kind = match e {
        d::CompletionEvent::TextDelta(t) => K::TextDelta(t),
        d::CompletionEvent::ToolCall(t) => K::ToolCall(tool_call_out(t)),
        d::CompletionEvent::MalformedToolCall {
            id,
            name,
            raw_args,
            error,
        } => K::MalformedToolCall(w::MalformedToolCall {
            id,
            name,
            raw_args,
            error,
        }),
        d::CompletionEvent::Usage(u) => K::Usage(usage_out(u)),
        d::CompletionEvent::Done { stop_reason } => K::Done(w::CompletionDone { stop_reason }),
    };
    w::CompletionEvent { kind: Some(kind) }
}

pub(crate) fn provider_in(p: w::ProviderStatus) -> d::ProviderStatus {
    d::ProviderStatus {
        name: p.name,
        model: p.model,
        base_url: p.base_url,
        configured: p.configured,
        reachable: p.reachable,
        detail: p.detail,
        is_default: p.is_default,
    }
}

pub(crate) fn provider_out(p: d::ProviderStatus) -> w::ProviderStatus {
    w::ProviderStatus {
        name: p.name,
        model: p.model,
        base_url: p.base_url,
        configured: p.configured,
        reachable: p.reachable,
        detail: p.detail,
        is_default: p.is_default,
    }
}

pub(crate) fn message_in(m: w::StoredMessage) -> Result<d::StoredMessage, ApiError> {
    let tool_calls = if m.tool_calls_json.is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&m.tool_calls_json)?
    };
    Ok(d::StoredMessage {
        role: role_in(&m.role)?,
        session_id: m.session_id,
        turn_id: m.turn_id,
        content: m.content,
        tool_calls,
        tool_call_id: opt(m.tool_call_id),
        unix_ms: m.unix_ms,
    })
}

pub(crate) fn message_out(m: d::StoredMessage) -> w::StoredMessage {
    let tool_calls_json = if m.tool_calls.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&m.tool_calls).unwrap_or_default()
    };
    w::StoredMessage {
        role: m.role.as_str().to_string(),
        session_id: m.session_id,
        turn_id: m.turn_id,
        content: m.content,
        tool_calls_json,
        tool_call_id: m.tool_call_id.unwrap_or_default(),
        unix_ms: m.unix_ms,
    }
}

pub(crate) fn stored_call_in(c: w::StoredToolCall) -> Result<d::StoredToolCall, ApiError> {
    Ok(d::StoredToolCall {
        args: json_in(&c.args_json)?,
        result: json_in(&c.result)?,
        session_id: c.session_id,
        turn_id: c.turn_id,
        call_id: c.call_id,
        tool: c.tool,
        status: tool_status_in(c.status),
        duration_us: c.duration_us,
        unix_ms: c.unix_ms,
    })
}

pub(crate) fn stored_call_out(c: d::StoredToolCall) -> w::StoredToolCall {
    w::StoredToolCall {
        args_json: json_out(&c.args),
        result: json_out(&c.result),
        session_id: c.session_id,
        turn_id: c.turn_id,
        call_id: c.call_id,
        tool: c.tool,
        status: tool_status_out(c.status),
        duration_us: c.duration_us,
        unix_ms: c.unix_ms,
    }
}

pub(crate) fn service_state_in(s: w::ServiceState) -> d::ServiceState {
    d::ServiceState {
        name: s.name,
        state: s.state,
        pid: s.pid,
        enabled: s.enabled,
        restarts: s.restarts,
        status_text: s.status_text,
        last_exit_code: s.last_exit_code,
        since_unix_ms: s.since_unix_ms,
    }
}

pub(crate) fn service_state_out(s: d::ServiceState) -> w::ServiceState {
    w::ServiceState {
        name: s.name,
        state: s.state,
        pid: s.pid,
        enabled: s.enabled,
        restarts: s.restarts,
        status_text: s.status_text,
        last_exit_code: s.last_exit_code,
        since_unix_ms: s.since_unix_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_through_the_wire() {
        let kinds = vec![
            d::EventKind::ToolCallBegin {
                turn_id: "t".into(),
                call_id: "c".into(),
                tool: "fs.usage".into(),
                args: json!({"path": "/"}),
                risk: d::Risk::Read,
                rationale: "why".into(),
            },
            d::EventKind::ToolCallEnd {
                call_id: "c".into(),
                status: d::ToolStatus::Denied,
                result: json!("no"),
                duration_us: 7,
            },
            d::EventKind::Usage(d::Usage {
                cost_usd: None,
                ..Default::default()
            }),
            d::EventKind::TurnCompleted {
                turn_id: "t".into(),
                status: d::TurnStatus::Refused,
                message: "m".into(),
            },
        ];
        for kind in kinds {
            let e = d::Event {
                seq: 3,
                session_id: "s".into(),
                unix_ms: 9,
                kind,
            };
            assert_eq!(event_in(event_out(e.clone())).unwrap(), e);
        }
    }

    #[test]
    fn ops_round_trip_through_the_wire() {
        for op in [
            d::Op::UserInput { text: "hi".into() },
            d::Op::ApprovalDecision {
                call_id: "c".into(),
                decision: d::Decision::Edit {
                    args: json!({"a": 1}),
                },
            },
            d::Op::ApprovalDecision {
                call_id: "c".into(),
                decision: d::Decision::Reject {
                    note: Some("no".into()),
                },
            },
            d::Op::Interrupt,
            d::Op::Detach,
        ] {
            assert_eq!(op_in(op_out(op.clone())).unwrap(), op);
        }
    }

    #[test]
    fn bad_json_on_the_wire_is_an_invalid_argument() {
        let err = json_in("{nope").unwrap_err();
        assert_eq!(err.kind, crate::ApiErrorKind::InvalidArgument);
    }
}

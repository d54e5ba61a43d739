//! Conversions of the tools service: specs and one execution.

use super::*;

pub(crate) fn tool_spec_in(t: w::ToolSpec) -> Result<d::ToolSpec, ApiError> {
    Ok(d::ToolSpec {
        args_schema: json_in(&t.args_schema_json)?,
        name: t.name,
        description: t.description,
        effect: risk_in(t.effect),
        resources: t.resources,
        examples: t
            .examples
            .into_iter()
            .map(|x| {
                Ok(d::ToolExample {
                    args: json_in(&x.args_json)?,
                    request: x.request,
                })
            })
            .collect::<Result<_, ApiError>>()?,
    })
}

pub(crate) fn tool_spec_out(t: d::ToolSpec) -> w::ToolSpec {
    w::ToolSpec {
        args_schema_json: json_out(&t.args_schema),
        name: t.name,
        description: t.description,
        effect: risk_out(t.effect),
        resources: t.resources,
        examples: t
            .examples
            .into_iter()
            .map(|x| w::ToolExample {
                args_json: json_out(&x.args),
                request: x.request,
            })
            .collect(),
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
        request: r.request,
        plan_step: r.plan_step,
        session_kind: session_kind_in(r.session_kind),
        approval: approval_in(r.approval),
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
        request: r.request,
        plan_step: r.plan_step,
        session_kind: session_kind_out(r.session_kind),
        approval: approval_out(r.approval),
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
            K::Approval(a) => d::ExecuteEvent::ApprovalNeeded(Box::new(approval_needed_in(a)?)),
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
        d::ExecuteEvent::ApprovalNeeded(a) => K::Approval(approval_needed_out(*a)),
        d::ExecuteEvent::End(end) => K::End(w::ExecuteEnd {
            status: tool_status_out(end.status),
            result: json_out(&end.result),
            duration_us: end.duration_us,
        }),
    };
    w::ExecuteEvent { kind: Some(kind) }
}

pub(crate) fn approval_needed_in(a: w::ApprovalRequested) -> Result<d::ApprovalNeeded, ApiError> {
    let preview: d::Preview = serde_json::from_str(&a.preview_json)
        .map_err(|e| ApiError::invalid(format!("invalid approval preview on the wire: {e}")))?;
    Ok(d::ApprovalNeeded {
        args: json_in(&a.args_json)?,
        call_id: a.call_id,
        tool: a.tool,
        call_hash: a.call_hash,
        effect: risk_in(a.effect),
        resources: a.resources,
        preview,
        rationale: a.rationale,
        rule: a.rule,
        reason: a.reason,
        confirm: opt(a.confirm),
        session_kind: session_kind_in(a.session_kind),
    })
}

pub(crate) fn approval_needed_out(a: d::ApprovalNeeded) -> w::ApprovalRequested {
    w::ApprovalRequested {
        args_json: json_out(&a.args),
        call_id: a.call_id,
        tool: a.tool,
        call_hash: a.call_hash,
        effect: risk_out(a.effect),
        resources: a.resources,
        // A Preview is plain data; encoding it cannot fail.
        preview_json: serde_json::to_string(&a.preview).unwrap_or_default(),
        rationale: a.rationale,
        rule: a.rule,
        reason: a.reason,
        confirm: a.confirm.unwrap_or_default(),
        session_kind: session_kind_out(a.session_kind),
    }
}

pub(crate) fn approval_answer_in(a: w::ApprovalAnswer) -> Result<d::ApprovalAnswer, ApiError> {
    Ok(d::ApprovalAnswer {
        decision: decision_in(a.decision.and_then(|d| d.decision))?,
        session_id: a.session_id,
        call_id: a.call_id,
        call_hash: a.call_hash,
        confirm: opt(a.confirm),
        automatic: a.automatic,
    })
}

pub(crate) fn approval_answer_out(a: d::ApprovalAnswer) -> w::ApprovalAnswer {
    w::ApprovalAnswer {
        decision: Some(w::ApprovalDecision {
            call_id: a.call_id.clone(),
            decision: Some(decision_out(a.decision)),
        }),
        session_id: a.session_id,
        call_id: a.call_id,
        call_hash: a.call_hash,
        confirm: a.confirm.unwrap_or_default(),
        automatic: a.automatic,
    }
}

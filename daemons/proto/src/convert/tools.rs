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

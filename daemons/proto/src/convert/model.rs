//! Conversions of the model service: chat messages, completions and
//! provider status.

use super::*;

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

pub(crate) fn role_in(s: &str) -> Result<d::Role, ApiError> {
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
            .map(model_tool_in)
            .collect::<Result<_, ApiError>>()?,
        max_tokens: r.max_tokens,
        session: opt(r.session_id),
    })
}

pub(crate) fn model_tool_in(t: w::ModelTool) -> Result<d::ModelTool, ApiError> {
    Ok(d::ModelTool {
        schema: json_in(&t.schema_json)?,
        name: t.name,
        description: t.description,
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

pub(crate) fn model_tool_out(t: d::ModelTool) -> w::ModelTool {
    w::ModelTool {
        schema_json: json_out(&t.schema),
        name: t.name,
        description: t.description,
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

pub(crate) fn completion_req_out(r: d::CompletionRequest) -> w::CompletionRequest {
    w::CompletionRequest {
        provider: r.provider.unwrap_or_default(),
        model: r.model.unwrap_or_default(),
        system: r.system,
        messages: r.messages.into_iter().map(chat_out).collect(),
        tools: r.tools.into_iter().map(model_tool_out).collect(),
        max_tokens: r.max_tokens,
        session_id: r.session.unwrap_or_default(),
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

//! Conversions of the runtime service: model facts, generation and
//! embeddings.

use super::*;

pub(crate) fn runtime_info_in(i: w::RuntimeInfo) -> d::RuntimeInfo {
    d::RuntimeInfo {
        model_path: i.model_path,
        model_name: i.model_name,
        sha256: opt(i.sha256),
        n_ctx: i.n_ctx,
        n_ctx_train: i.n_ctx_train,
        load_ms: i.load_ms,
        resident_bytes: i.resident_bytes,
        threads: i.threads,
        kept_tokens: i.kept_tokens,
        kept_target: i.kept_target,
        warm_pending: i.warm_pending,
    }
}

pub(crate) fn runtime_info_out(i: d::RuntimeInfo) -> w::RuntimeInfo {
    w::RuntimeInfo {
        model_path: i.model_path,
        model_name: i.model_name,
        sha256: i.sha256.unwrap_or_default(),
        n_ctx: i.n_ctx,
        n_ctx_train: i.n_ctx_train,
        load_ms: i.load_ms,
        resident_bytes: i.resident_bytes,
        threads: i.threads,
        kept_tokens: i.kept_tokens,
        kept_target: i.kept_target,
        warm_pending: i.warm_pending,
    }
}

pub(crate) fn generate_req_in(r: w::GenerateRequest) -> Result<d::GenerateRequest, ApiError> {
    Ok(d::GenerateRequest {
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
            .collect::<Result<_, _>>()?,
        catalog: r
            .catalog
            .into_iter()
            .map(model_tool_in)
            .collect::<Result<_, _>>()?,
        max_tokens: r.max_tokens,
        require_tool: r.require_tool,
    })
}

pub(crate) fn generate_req_out(r: d::GenerateRequest) -> w::GenerateRequest {
    w::GenerateRequest {
        system: r.system,
        messages: r.messages.into_iter().map(chat_out).collect(),
        tools: r.tools.into_iter().map(model_tool_out).collect(),
        catalog: r.catalog.into_iter().map(model_tool_out).collect(),
        max_tokens: r.max_tokens,
        require_tool: r.require_tool,
    }
}

pub(crate) fn generate_event_in(e: w::GenerateEvent) -> Result<d::GenerateEvent, ApiError> {
    use w::generate_event::Kind as K;
    Ok(
        match e
            .kind
            .ok_or_else(|| ApiError::invalid("generate event without a kind"))?
        {
            K::TextDelta(t) => d::GenerateEvent::TextDelta(t),
            K::ToolCall(t) => d::GenerateEvent::ToolCall(tool_call_in(t)?),
            K::Usage(u) => d::GenerateEvent::Usage(d::GenerateUsage {
                prompt_tokens: u.prompt_tokens,
                cached_tokens: u.cached_tokens,
                generated_tokens: u.generated_tokens,
                prompt_ms: u.prompt_ms,
                generation_ms: u.generation_ms,
                forced_tokens: u.forced_tokens,
            }),
            K::Done(done) => d::GenerateEvent::Done {
                finish: done.finish,
            },
            K::NameChoice(c) => d::GenerateEvent::NameChoice {
                confidence: c.confidence,
                runner_up: c.runner_up,
            },
        },
    )
}

pub(crate) fn generate_event_out(e: d::GenerateEvent) -> w::GenerateEvent {
    use w::generate_event::Kind as K;
    let kind = match e {
        d::GenerateEvent::TextDelta(t) => K::TextDelta(t),
        d::GenerateEvent::ToolCall(t) => K::ToolCall(tool_call_out(t)),
        d::GenerateEvent::Usage(u) => K::Usage(w::GenerateUsage {
            prompt_tokens: u.prompt_tokens,
            cached_tokens: u.cached_tokens,
            generated_tokens: u.generated_tokens,
            prompt_ms: u.prompt_ms,
            generation_ms: u.generation_ms,
            forced_tokens: u.forced_tokens,
        }),
        d::GenerateEvent::Done { finish } => K::Done(w::GenerateDone { finish }),
        d::GenerateEvent::NameChoice {
            confidence,
            runner_up,
        } => K::NameChoice(w::NameChoice {
            confidence,
            runner_up,
        }),
    };
    w::GenerateEvent { kind: Some(kind) }
}

//! Hand-written conversions between the generated wire types and the plain
//! domain types, one module per service. This is the only place both are
//! visible. Shared pieces (JSON text, enums several services carry) live
//! here.

mod memory;
mod model;
mod runtime;
mod session;
mod supervisor;
mod tools;

pub(crate) use memory::*;
pub(crate) use model::*;
pub(crate) use runtime::*;
pub(crate) use session::*;
pub(crate) use supervisor::*;
pub(crate) use tools::*;

pub(crate) use serde_json::Value;

pub(crate) use crate::domain as d;
pub(crate) use crate::error::ApiError;
pub(crate) use crate::wire as w;

pub(crate) fn opt(s: String) -> Option<String> {
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
        Ok(w::ApprovalMode::Never) => d::ApprovalMode::Never,
        _ => d::ApprovalMode::Ask,
    }
}

pub(crate) fn session_kind_in(v: i32) -> d::SessionKind {
    match w::SessionKind::try_from(v) {
        Ok(w::SessionKind::OneShot) => d::SessionKind::OneShot,
        Ok(w::SessionKind::Background) => d::SessionKind::Background,
        _ => d::SessionKind::Interactive,
    }
}

pub(crate) fn session_kind_out(v: d::SessionKind) -> i32 {
    match v {
        d::SessionKind::Interactive => w::SessionKind::Interactive as i32,
        d::SessionKind::OneShot => w::SessionKind::OneShot as i32,
        d::SessionKind::Background => w::SessionKind::Background as i32,
    }
}

pub(crate) fn decision_in(
    a: Option<w::approval_decision::Decision>,
) -> Result<d::Decision, ApiError> {
    use w::approval_decision::Decision as D;
    Ok(
        match a.ok_or_else(|| ApiError::invalid("approval decision without a decision"))? {
            D::Approve(_) => d::Decision::Approve,
            D::Session(_) => d::Decision::Session,
            D::Reject(r) => d::Decision::Reject { note: opt(r.note) },
            D::Edit(e) => d::Decision::Edit {
                args: json_in(&e.args_json)?,
            },
            D::Always(_) => d::Decision::Always,
        },
    )
}

pub(crate) fn decision_out(decision: d::Decision) -> w::approval_decision::Decision {
    use w::approval_decision::Decision as D;
    match decision {
        d::Decision::Approve => D::Approve(w::Approve {}),
        d::Decision::Session => D::Session(w::SessionScope {}),
        d::Decision::Reject { note } => D::Reject(w::Reject {
            note: note.unwrap_or_default(),
        }),
        d::Decision::Edit { args } => D::Edit(w::Edit {
            args_json: args.to_string(),
        }),
        d::Decision::Always => D::Always(w::Always {}),
    }
}

pub(crate) fn approval_out(v: d::ApprovalMode) -> i32 {
    match v {
        d::ApprovalMode::Ask => w::ApprovalMode::Ask as i32,
        d::ApprovalMode::Policy => w::ApprovalMode::Policy as i32,
        d::ApprovalMode::Never => w::ApprovalMode::Never as i32,
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

pub(crate) fn usage_in(u: w::Usage) -> d::Usage {
    d::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_usd: (u.cost_usd >= 0.0).then_some(u.cost_usd),
        provider: u.provider,
        model: u.model,
        latency_ms: u.latency_ms,
        tokens_estimated: u.tokens_estimated,
        route_reason: u.route_reason,
        session_cost_usd: (u.session_cost_usd >= 0.0).then_some(u.session_cost_usd),
        day_cost_usd: (u.day_cost_usd >= 0.0).then_some(u.day_cost_usd),
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
        tokens_estimated: u.tokens_estimated,
        route_reason: u.route_reason,
        session_cost_usd: u.session_cost_usd.unwrap_or(-1.0),
        day_cost_usd: u.day_cost_usd.unwrap_or(-1.0),
    }
}

//! Conversions of the memory service: stored messages and tool calls.

use super::*;

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

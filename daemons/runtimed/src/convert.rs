//! The wire's conversation (`aios_proto` domain types) as the runtime's
//! [`Turn`]s and [`ToolDef`]s, and the runtime's errors and results as what
//! crosses the wire. Pure.

use std::collections::HashMap;

use aios_proto::{ApiError, ChatMessage, GenerateUsage, ModelTool, Role};
use aios_runtime::{ErrorKind, Example, Finish, Generated, RuntimeError, ToolDef, Turn};

/// The conversation as turns. A tool result is matched to its call by id
/// to name the tool; an assistant message with calls becomes one turn per
/// call (after its text, if any).
pub fn turns(messages: &[ChatMessage]) -> Result<Vec<Turn>, ApiError> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            Role::User => out.push(Turn::User(m.content.clone())),
            Role::Assistant => {
                if !m.content.trim().is_empty() {
                    out.push(Turn::Assistant(m.content.clone()));
                }
                for c in &m.tool_calls {
                    names.insert(&c.id, &c.name);
                    out.push(Turn::ToolCall {
                        name: c.name.clone(),
                        args_json: c.args.to_string(),
                    });
                }
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = names.get(id).copied().ok_or_else(|| {
                    ApiError::invalid(format!(
                        "message {i} is a tool result for call {id:?}, which no earlier \
                         assistant message made"
                    ))
                })?;
                out.push(Turn::ToolResult {
                    name: name.to_string(),
                    content: m.content.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The candidate tools as the runtime takes them.
pub fn tool_defs(tools: &[ModelTool]) -> Vec<ToolDef> {
    tools
        .iter()
        .map(|t| ToolDef {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.schema.clone(),
            examples: t
                .examples
                .iter()
                .map(|e| Example {
                    request: e.request.clone(),
                    args: e.args.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Token counts and timings.
pub fn usage(g: &Generated) -> GenerateUsage {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    GenerateUsage {
        prompt_tokens: g.prompt_tokens,
        cached_tokens: g.cached_tokens,
        generated_tokens: g.generated_tokens,
        prompt_ms: ms(g.prompt_time),
        generation_ms: ms(g.generation_time),
        forced_tokens: g.forced_tokens,
    }
}

/// Why generation ended, in the wire's words.
pub fn finish(f: Finish, tool_call: bool) -> &'static str {
    match f {
        _ if tool_call => "tool_call",
        Finish::EndOfText => "end_of_text",
        Finish::Stop => "stop",
        Finish::MaxTokens => "max_tokens",
        Finish::ContextFull => "context_full",
    }
}

/// A runtime error as the client should act on it.
pub fn api_error(e: &RuntimeError) -> ApiError {
    let message = e.to_string();
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidModel | ErrorKind::Load => {
            ApiError::precondition(message)
        }
        ErrorKind::Grammar | ErrorKind::PromptTooLong | ErrorKind::Template => {
            ApiError::invalid(message)
        }
        ErrorKind::Cancelled => ApiError::cancelled(message),
        ErrorKind::WorkerGone => ApiError::unavailable(message),
        _ => ApiError::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::{ApiErrorKind, ToolCall};
    use serde_json::json;

    fn msg(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    #[test]
    fn tool_results_are_named_by_their_call() {
        let mut call = msg(Role::Assistant, "");
        call.tool_calls.push(ToolCall {
            id: "c1".into(),
            name: "fs.usage".into(),
            args: json!({"path": "/"}),
        });
        let mut result = msg(Role::Tool, "90%");
        result.tool_call_id = Some("c1".into());
        let t = turns(&[msg(Role::User, "disk?"), call, result]).unwrap();
        assert_eq!(
            t,
            vec![
                Turn::User("disk?".into()),
                Turn::ToolCall {
                    name: "fs.usage".into(),
                    args_json: r#"{"path":"/"}"#.into()
                },
                Turn::ToolResult {
                    name: "fs.usage".into(),
                    content: "90%".into()
                },
            ]
        );
    }

    #[test]
    fn a_result_without_its_call_is_refused() {
        let mut result = msg(Role::Tool, "x");
        result.tool_call_id = Some("nope".into());
        let e = turns(&[result]).unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::InvalidArgument);
        assert!(e.message.contains("nope"), "{e}");
    }

    #[test]
    fn finish_words() {
        assert_eq!(finish(Finish::EndOfText, true), "tool_call");
        assert_eq!(finish(Finish::MaxTokens, false), "max_tokens");
    }
}

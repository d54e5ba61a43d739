//! The one streaming trait every model provider implements, and the small
//! pieces all providers share: the tool schema shape, tool-call assembly,
//! and the bounds of one reply ([`CallBudget`]).

use std::pin::Pin;

use aios_proto::{CompletionEvent, CompletionRequest, ModelTool, ProviderStatus, ToolCall};
use futures::Stream;

use crate::error::ProviderError;

/// A stream of completion events. The normal end is exactly one
/// [`CompletionEvent::Done`] after a [`CompletionEvent::Usage`]; a failure
/// after the stream started arrives as one `Err` item and ends the stream.
pub type ProviderStream =
    Pin<Box<dyn Stream<Item = Result<CompletionEvent, ProviderError>> + Send>>;

/// A model provider.
///
/// Event order within a stream: text deltas as they arrive; each tool call
/// once its arguments are complete ([`CompletionEvent::ToolCall`], or
/// [`CompletionEvent::MalformedToolCall`] when they are not valid JSON);
/// then `Usage`; then `Done { stop_reason }`. Stop reasons are normalised
/// to Anthropic's vocabulary: `end_turn`, `tool_use`, `max_tokens`,
/// `stop_sequence` (others pass through unchanged).
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name (`openai`, `anthropic`, `scripted`, `local`).
    fn name(&self) -> &'static str;

    /// The model used when a request names none.
    fn default_model(&self) -> String;

    /// What is configured, without touching the network. `reachable` is
    /// false unless it is known without I/O; [`Provider::probe`] finds out.
    fn status(&self) -> ProviderStatus;

    /// Check reachability (and the key, where the API allows it cheaply).
    /// Returns a short human detail on success.
    async fn probe(&self) -> Result<String, ProviderError>;

    /// Start one completion. Failures before any byte of the response was
    /// received (after retries) are the `Err` of this call; later ones are
    /// an `Err` item of the stream.
    async fn complete(&self, req: CompletionRequest) -> Result<ProviderStream, ProviderError>;

    /// Get ready for requests that offer `tools` under `system`, before the
    /// first one arrives. Returns a short human detail of what was done;
    /// empty when the provider needs nothing (cloud APIs).
    async fn prepare(&self, _system: &str, _tools: &[ModelTool]) -> Result<String, ProviderError> {
        Ok(String::new())
    }

    /// Each text's size in the model's own tokens, as a part of a prompt;
    /// `None` when the provider cannot count (the default: cloud APIs).
    async fn count_tokens(&self, _texts: &[String]) -> Result<Option<Vec<u32>>, ProviderError> {
        Ok(None)
    }
}

/// Most tool calls accepted in one model reply. aiosd runs fewer per reply
/// (and says so); this bound only keeps a broken or hostile server from
/// making the gateway buffer without limit.
pub const MAX_TOOL_CALLS_PER_REPLY: usize = 64;
/// Most bytes of tool-call names and arguments in one model reply, all
/// calls together.
pub const MAX_TOOL_CALL_BYTES: usize = 1024 * 1024;

/// What one reply has used of [`MAX_TOOL_CALLS_PER_REPLY`] and
/// [`MAX_TOOL_CALL_BYTES`]; decoders charge it as calls stream in.
#[derive(Debug)]
pub(crate) struct CallBudget {
    provider: &'static str,
    calls: usize,
    bytes: usize,
}

impl CallBudget {
    pub(crate) fn new(provider: &'static str) -> Self {
        CallBudget {
            provider,
            calls: 0,
            bytes: 0,
        }
    }

    /// A new tool call starts.
    pub(crate) fn call(&mut self) -> Result<(), ProviderError> {
        if self.calls >= MAX_TOOL_CALLS_PER_REPLY {
            return Err(ProviderError::BadResponse {
                provider: self.provider,
                detail: format!(
                    "the model asked for more than {MAX_TOOL_CALLS_PER_REPLY} tool calls in one reply; aiOS stopped reading it"
                ),
            });
        }
        self.calls += 1;
        Ok(())
    }

    /// `n` more bytes of tool-call names or arguments arrive.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<(), ProviderError> {
        let total = self.bytes.saturating_add(n);
        if total > MAX_TOOL_CALL_BYTES {
            return Err(ProviderError::BadResponse {
                provider: self.provider,
                detail: format!(
                    "the tool calls of one reply passed {} KiB of arguments; aiOS stopped reading it",
                    MAX_TOOL_CALL_BYTES / 1024
                ),
            });
        }
        self.bytes = total;
        Ok(())
    }
}

/// Turn an assembled tool call into its event: a [`CompletionEvent::ToolCall`]
/// when the arguments are a JSON object (empty text counts as `{}`), else a
/// [`CompletionEvent::MalformedToolCall`] carrying the text and the reason.
pub fn assemble_tool_call(id: String, name: String, raw_args: &str) -> CompletionEvent {
    let text = if raw_args.trim().is_empty() {
        "{}"
    } else {
        raw_args
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(args @ serde_json::Value::Object(_)) => {
            CompletionEvent::ToolCall(ToolCall { id, name, args })
        }
        Ok(other) => CompletionEvent::MalformedToolCall {
            id,
            name,
            raw_args: raw_args.to_string(),
            error: format!(
                "arguments must be a JSON object, got {}",
                aios_proto::json_kind(&other)
            ),
        },
        Err(e) => CompletionEvent::MalformedToolCall {
            id,
            name,
            raw_args: raw_args.to_string(),
            error: format!("arguments are not valid JSON: {e}"),
        },
    }
}

/// The tool argument schema both cloud APIs accept: they need an object
/// schema, and an absent (or empty) one means "no arguments".
pub(crate) fn object_schema(schema: &serde_json::Value) -> serde_json::Value {
    match schema {
        serde_json::Value::Object(m) if !m.is_empty() => schema.clone(),
        _ => serde_json::json!({"type": "object", "properties": {}}),
    }
}

/// Characters of a request's text (system prompt, messages, tool-call
/// arguments and tool definitions): the basis of token estimates.
pub fn request_chars(req: &CompletionRequest) -> usize {
    req.system.chars().count()
        + req
            .messages
            .iter()
            .map(|m| {
                m.content.chars().count()
                    + m.tool_calls
                        .iter()
                        .map(|c| c.name.len() + c.args.to_string().len())
                        .sum::<usize>()
            })
            .sum::<usize>()
        + req
            .tools
            .iter()
            .map(|t| t.name.len() + t.description.chars().count() + t.schema.to_string().len())
            .sum::<usize>()
}

/// Rough token count for providers that do not report one: ~4 characters
/// per token, the usual rule of thumb for English text.
pub fn rough_tokens(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_assembly() {
        let ok = assemble_tool_call("c".into(), "fs.usage".into(), "{\"path\":\"/\"}");
        assert!(matches!(ok, CompletionEvent::ToolCall(ref t) if t.args["path"] == "/"));
        let empty = assemble_tool_call("c".into(), "sys.overview".into(), "  ");
        assert!(
            matches!(empty, CompletionEvent::ToolCall(ref t) if t.args == serde_json::json!({}))
        );
        let bad = assemble_tool_call("c".into(), "x".into(), "{bad");
        match bad {
            CompletionEvent::MalformedToolCall {
                raw_args, error, ..
            } => {
                assert_eq!(raw_args, "{bad");
                assert!(error.contains("not valid JSON"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        let arr = assemble_tool_call("c".into(), "x".into(), "[1]");
        assert!(
            matches!(arr, CompletionEvent::MalformedToolCall { ref error, .. } if error.contains("an array"))
        );
    }

    #[test]
    fn rough_tokens_rounds_up() {
        assert_eq!(rough_tokens(0), 0);
        assert_eq!(rough_tokens(1), 1);
        assert_eq!(rough_tokens(8), 2);
    }

    #[test]
    fn call_budget_refuses_one_past_each_bound() {
        let mut b = CallBudget::new("openai");
        for _ in 0..MAX_TOOL_CALLS_PER_REPLY {
            b.call().unwrap();
        }
        let e = b.call().unwrap_err().to_string();
        assert!(e.contains("more than 64 tool calls"), "{e}");
        let mut b = CallBudget::new("openai");
        b.bytes(MAX_TOOL_CALL_BYTES).unwrap();
        let e = b.bytes(1).unwrap_err().to_string();
        assert!(e.contains("1024 KiB"), "{e}");
    }
}

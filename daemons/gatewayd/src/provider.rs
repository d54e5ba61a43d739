//! The one streaming trait every model provider implements, and the small
//! pieces of stream assembly all providers share.

use std::pin::Pin;

use aios_proto::{CompletionEvent, CompletionRequest, ProviderStatus, ToolCall};
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
            error: format!("arguments must be a JSON object, got {}", json_kind(&other)),
        },
        Err(e) => CompletionEvent::MalformedToolCall {
            id,
            name,
            raw_args: raw_args.to_string(),
            error: format!("arguments are not valid JSON: {e}"),
        },
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
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
}

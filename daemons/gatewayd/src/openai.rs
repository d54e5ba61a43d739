//! OpenAI Chat Completions and every server that speaks it (Ollama,
//! llama-server, vLLM): the request body, the streamed-chunk decoder, and
//! the provider.
//!
//! Wire facts this module relies on:
//! - `POST {base_url}/chat/completions` with `stream: true` and
//!   `stream_options.include_usage`, answered by SSE `data:` chunks ending
//!   with `data: [DONE]`;
//! - tool calls stream as `choices[0].delta.tool_calls[]` keyed by `index`,
//!   with `id` and `function.name` in the first delta and
//!   `function.arguments` split across any number of later ones;
//! - usage arrives in a final chunk with empty `choices`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aios_config::OpenAiConfig;
use aios_proto::{CompletionEvent, CompletionRequest, ProviderStatus, Role, Usage};
use serde_json::{Value, json};

use crate::error::{GatewayError, ProviderError};
use crate::http::{self, Decoder, RetryPolicy, Secret, Target};
use crate::names::{ToolNames, to_wire};
use crate::provider::{
    CallBudget, Provider, ProviderStream, assemble_tool_call, object_schema, request_chars,
    rough_tokens,
};
use crate::sse::SseEvent;

const NAME: &str = "openai";
const ENV_VAR: &str = "OPENAI_API_KEY";
const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Build the Chat Completions request body. Pure.
pub fn request_body(req: &CompletionRequest, model: &str) -> Result<Value, ProviderError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in &req.messages {
        messages.push(match m.role {
            Role::User => json!({"role": "user", "content": m.content}),
            Role::Assistant => {
                let mut msg = json!({
                    "role": "assistant",
                    // `null` content is how the API spells "only tool calls".
                    "content": if m.content.is_empty() && !m.tool_calls.is_empty() { Value::Null } else { Value::String(m.content.clone()) },
                });
                if !m.tool_calls.is_empty() {
                    let calls = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            Ok(json!({
                                "id": c.id,
                                "type": "function",
                                "function": {"name": to_wire(&c.name)?, "arguments": c.args.to_string()},
                            }))
                        })
                        .collect::<Result<Vec<_>, ProviderError>>()?;
                    msg["tool_calls"] = Value::Array(calls);
                }
                msg
            }
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            }),
        });
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                Ok(json!({
                    "type": "function",
                    "function": {
                        "name": to_wire(&t.name)?,
                        "description": t.description,
                        "parameters": object_schema(&t.schema),
                    },
                }))
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        body["tools"] = Value::Array(tools);
    }
    if req.max_tokens > 0 {
        body["max_tokens"] = json!(req.max_tokens);
    }
    Ok(body)
}

/// Normalise OpenAI finish reasons to the shared vocabulary.
fn stop_reason(finish: &str) -> String {
    match finish {
        "stop" => "end_turn".into(),
        "tool_calls" | "function_call" => "tool_use".into(),
        "length" => "max_tokens".into(),
        other => other.into(),
    }
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    args: String,
}

/// Decoder of the streamed chunks. Pure.
#[derive(Debug)]
pub struct OpenAiDecoder {
    name: &'static str,
    names: ToolNames,
    model: String,
    started: Instant,
    calls: BTreeMap<u64, PartialCall>,
    budget: CallBudget,
    stop: Option<String>,
    usage: Option<(u64, u64)>,
    /// Characters of the request, for an estimate when the server reports
    /// no usage.
    prompt_chars: usize,
    /// Characters of text and tool calls received, likewise.
    output_chars: usize,
    emitted_calls: bool,
    done: bool,
}

impl OpenAiDecoder {
    /// A decoder for one response; `model` is reported in usage unless the
    /// server names its own.
    pub fn new(names: ToolNames, model: String, started: Instant) -> Self {
        OpenAiDecoder {
            name: NAME,
            names,
            model,
            started,
            calls: BTreeMap::new(),
            budget: CallBudget::new(NAME),
            stop: None,
            usage: None,
            prompt_chars: 0,
            output_chars: 0,
            emitted_calls: false,
            done: false,
        }
    }

    /// The request had `chars` characters: the basis of a token estimate
    /// when the server reports no usage (llama-cpp-python does not).
    pub fn with_prompt_chars(mut self, chars: usize) -> Self {
        self.prompt_chars = chars;
        self
    }

    /// One element of `delta.tool_calls`, at position `pos` in its chunk.
    ///
    /// Servers differ (fixtures in `tests/fixtures/`): OpenAI, vLLM and
    /// llama-server send `id` and `function.name` once, then argument
    /// pieces; llama-cpp-python repeats the whole name and id in every
    /// chunk; Ollama sends each call whole, sometimes without `index` and
    /// with arguments as an object. So a repeated name or id is not a
    /// continuation, and a call without `index` joins the call with its id.
    fn tool_delta(&mut self, pos: usize, call: &Value) -> Result<(), ProviderError> {
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let index = match call.get("index").and_then(Value::as_u64) {
            Some(i) => i,
            None => match id
                .and_then(|id| self.calls.iter().find(|(_, c)| c.id == id).map(|(k, _)| *k))
            {
                Some(k) => k,
                None => {
                    let next = self.calls.keys().next_back().map_or(0, |k| k + 1);
                    next + u64::try_from(pos).unwrap_or(0)
                }
            },
        };
        if !self.calls.contains_key(&index) {
            self.budget.call()?;
        }
        let slot = self.calls.entry(index).or_default();
        if let Some(id) = id
            && slot.id != id
        {
            self.budget.bytes(id.len())?;
            slot.id = id.to_string();
        }
        let Some(f) = call.get("function") else {
            return Ok(());
        };
        if let Some(n) = f
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            if slot.name.is_empty() || n.starts_with(slot.name.as_str()) {
                // First sight, a repeat (llama-cpp-python) or a cumulative name.
                if n != slot.name {
                    self.budget.bytes(n.len())?;
                    slot.name = n.to_string();
                }
            } else {
                self.budget.bytes(n.len())?;
                slot.name.push_str(n);
            }
        }
        let piece = match f.get("arguments") {
            Some(Value::String(a)) => a.clone(),
            // Ollama has been seen sending arguments as an object.
            Some(v @ Value::Object(_)) => v.to_string(),
            _ => String::new(),
        };
        self.budget.bytes(piece.len())?;
        self.output_chars += piece.chars().count();
        slot.args.push_str(&piece);
        Ok(())
    }

    /// Report errors and usage under the instance `name`.
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self.budget = CallBudget::new(name);
        self
    }

    fn flush_calls(&mut self, out: &mut Vec<CompletionEvent>) {
        for (index, c) in std::mem::take(&mut self.calls) {
            self.emitted_calls = true;
            let id = if c.id.is_empty() {
                format!("call_{index}")
            } else {
                c.id
            };
            out.push(assemble_tool_call(id, self.names.dotted(&c.name), &c.args));
        }
    }

    fn finish(&mut self, out: &mut Vec<CompletionEvent>) {
        self.flush_calls(out);
        // Unknown is not zero: without a usage chunk, estimate and say so.
        let (input_tokens, output_tokens, tokens_estimated) = match self.usage {
            Some((i, o)) => (i, o, false),
            None => (
                rough_tokens(self.prompt_chars),
                rough_tokens(self.output_chars),
                true,
            ),
        };
        out.push(CompletionEvent::Usage(Usage {
            input_tokens,
            output_tokens,
            cost_usd: None,
            provider: self.name.into(),
            model: self.model.clone(),
            latency_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            tokens_estimated,
            ..Usage::default()
        }));
        let mut stop = self.stop.take().unwrap_or_else(|| "end_turn".into());
        // Some compatible servers say "stop" even when they called tools.
        if self.emitted_calls && stop == "end_turn" {
            stop = "tool_use".into();
        }
        out.push(CompletionEvent::Done { stop_reason: stop });
        self.done = true;
    }
}

fn bad(provider: &'static str, detail: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse {
        provider,
        detail: detail.into(),
    }
}

impl Decoder for OpenAiDecoder {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<CompletionEvent>) -> Result<(), ProviderError> {
        let name = self.name;
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.finish(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            bad(
                name,
                format!(
                    "a stream chunk is not JSON ({e}): {}",
                    http::excerpt(data, None)
                ),
            )
        })?;
        if let Some(err) = chunk.get("error") {
            return Err(ProviderError::Remote {
                provider: name,
                kind: err
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| err.to_string()),
            });
        }
        if let Some(m) = chunk
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            self.model = m.to_string();
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.usage = Some((get("prompt_tokens"), get("completion_tokens")));
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(());
        };
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.output_chars += text.chars().count();
                out.push(CompletionEvent::TextDelta(text.to_string()));
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (pos, call) in calls.iter().enumerate() {
                    self.tool_delta(pos, call)?;
                }
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop = Some(stop_reason(finish));
            // Calls are complete once the choice finished; emit them now
            // rather than after the usage chunk.
            self.flush_calls(out);
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn eof(&mut self, out: &mut Vec<CompletionEvent>) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        // A server that finished the choice but omitted `[DONE]` gave a
        // complete answer; anything else was cut off.
        if self.stop.is_some() {
            self.finish(out);
            return Ok(());
        }
        Err(ProviderError::StreamDropped {
            provider: self.name,
            detail: "the connection closed before the response was complete (no finish_reason or [DONE])".into(),
        })
    }
}

/// The OpenAI-compatible provider.
pub struct OpenAiProvider {
    name: &'static str,
    env_var: &'static str,
    config: OpenAiConfig,
    key: Result<Option<Secret>, String>,
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl OpenAiProvider {
    /// A provider for `config`. `key` is the API key, `Ok(None)` when there
    /// is none (fine for local servers), or `Err(why)` when reading it
    /// failed (reported on use).
    pub fn new(
        config: &OpenAiConfig,
        key: Result<Option<String>, String>,
    ) -> Result<Self, GatewayError> {
        Ok(OpenAiProvider {
            name: NAME,
            env_var: ENV_VAR,
            client: http::client(NAME, &config.base_url)?,
            retry: RetryPolicy::new(config.max_retries),
            config: config.clone(),
            key: key.map(|k| k.map(Secret::new)),
        })
    }

    /// Name this instance (errors, logs and usage say `name`) and read
    /// its key from `env_var` in messages.
    pub fn named(mut self, name: &'static str, env_var: &'static str) -> Self {
        self.name = name;
        self.env_var = env_var;
        self
    }

    /// Replace the retry policy (tests use short backoffs).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn target(&self) -> Result<Target, ProviderError> {
        match &self.key {
            Ok(key) => Ok(Target {
                provider: self.name,
                env_var: self.env_var,
                key: key.clone(),
            }),
            Err(why) => Err(ProviderError::Unauthorized {
                provider: self.name,
                env_var: self.env_var,
                reason: format!("the key file could not be used: {why}"),
            }),
        }
    }

    fn with_auth(&self, b: reqwest::RequestBuilder, target: &Target) -> reqwest::RequestBuilder {
        match &target.key {
            Some(k) => b.bearer_auth(k.expose()),
            None => b,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }
}

#[async_trait::async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn default_model(&self) -> String {
        self.config.model.clone()
    }

    fn status(&self) -> ProviderStatus {
        let official = self.config.base_url.trim_end_matches('/') == DEFAULT_BASE_URL;
        let (configured, detail) = match &self.key {
            Err(why) => (false, format!("cannot read the API key: {why}")),
            Ok(Some(_)) => (true, "API key set".to_string()),
            Ok(None) if official => (false, format!("no API key: set {}", self.env_var)),
            Ok(None) => (
                true,
                format!(
                    "no API key (fine for local servers; set {} if yours needs one)",
                    self.env_var
                ),
            ),
        };
        ProviderStatus {
            name: self.name.into(),
            model: self.config.model.clone(),
            base_url: self.config.base_url.clone(),
            configured,
            reachable: false,
            detail,
            is_default: false,
        }
    }

    async fn probe(&self) -> Result<String, ProviderError> {
        let target = self.target()?;
        let url = self.url("models");
        let req = self.with_auth(self.client.get(&url), &target);
        let resp = http::send_once(&target, &url, http::PROBE_TIMEOUT, req).await?;
        let body = http::read_capped(resp, http::PROBE_BODY_BYTES, http::PROBE_TIMEOUT).await;
        let models = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("data").and_then(Value::as_array).map(Vec::len));
        Ok(match models {
            Some(n) => format!("reachable at {url} ({n} models listed)"),
            None => format!("reachable at {url}"),
        })
    }

    async fn complete(&self, req: CompletionRequest) -> Result<ProviderStream, ProviderError> {
        let target = self.target()?;
        let model = req
            .model
            .clone()
            .unwrap_or_else(|| self.config.model.clone());
        let names = ToolNames::for_tools(&req.tools)?;
        let body = request_body(&req, &model)?;
        let url = self.url("chat/completions");
        let started = Instant::now();
        tracing::info!(provider = self.name, %model, %url, messages = req.messages.len(), tools = req.tools.len(), "completion");
        let resp = http::send_with_retries(&target, &url, &self.retry, self.timeout(), || {
            self.with_auth(self.client.post(&url), &target).json(&body)
        })
        .await
        .map_err(|e| e.redacted(target.key.as_ref()))?;
        Ok(http::scrub(
            http::sse_stream(
                self.name,
                resp,
                self.timeout(),
                OpenAiDecoder::new(names, model, started)
                    .named(self.name)
                    .with_prompt_chars(request_chars(&req)),
            ),
            target.key.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::{ChatMessage, ModelTool, ToolCall};

    fn decode(chunks: &[&str]) -> (Vec<CompletionEvent>, Result<(), ProviderError>) {
        let tools = vec![ModelTool {
            name: "fs.usage".into(),
            description: String::new(),
            schema: json!({}),
            examples: vec![],
        }];
        let mut d = OpenAiDecoder::new(
            ToolNames::for_tools(&tools).unwrap(),
            "m".into(),
            Instant::now(),
        );
        let mut out = Vec::new();
        for c in chunks {
            if let Err(e) = d.event(
                SseEvent {
                    event: String::new(),
                    data: (*c).into(),
                },
                &mut out,
            ) {
                return (out, Err(e));
            }
            if d.finished() {
                return (out, Ok(()));
            }
        }
        let r = d.eof(&mut out);
        (out, r)
    }

    #[test]
    fn text_usage_and_done() {
        let (out, r) = decode(&[
            r#"{"model":"gpt-x","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#,
            "[DONE]",
        ]);
        r.unwrap();
        assert_eq!(out[0], CompletionEvent::TextDelta("Hel".into()));
        assert_eq!(out[1], CompletionEvent::TextDelta("lo".into()));
        match &out[2] {
            CompletionEvent::Usage(u) => {
                assert_eq!((u.input_tokens, u.output_tokens), (12, 3));
                assert_eq!(u.model, "gpt-x");
                assert_eq!(u.provider, "openai");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out[3],
            CompletionEvent::Done {
                stop_reason: "end_turn".into()
            }
        );
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn tool_calls_assembled_by_index() {
        let (out, r) = decode(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"fs__usage","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"sys__overview","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"/\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        r.unwrap();
        assert_eq!(
            out[0],
            CompletionEvent::ToolCall(ToolCall {
                id: "call_a".into(),
                name: "fs.usage".into(),
                args: json!({"path": "/"})
            })
        );
        assert_eq!(
            out[1],
            CompletionEvent::ToolCall(ToolCall {
                id: "call_b".into(),
                name: "sys.overview".into(),
                args: json!({})
            })
        );
        assert_eq!(
            out.last(),
            Some(&CompletionEvent::Done {
                stop_reason: "tool_use".into()
            })
        );
    }

    #[test]
    fn malformed_arguments_become_an_event() {
        let (out, r) = decode(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"fs__usage","arguments":"{\"path\": "}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ]);
        r.unwrap();
        assert!(
            matches!(&out[0], CompletionEvent::MalformedToolCall { name, raw_args, .. } if name == "fs.usage" && raw_args == "{\"path\": ")
        );
    }

    #[test]
    fn eof_before_finish_is_a_dropped_stream_but_missing_done_is_tolerated() {
        let (_, r) = decode(&[r#"{"choices":[{"delta":{"content":"Hel"}}]}"#]);
        assert!(matches!(r, Err(ProviderError::StreamDropped { .. })));
        let (out, r) = decode(&[
            r#"{"choices":[{"delta":{"content":"Hi"}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
        ]);
        r.unwrap();
        assert_eq!(
            out.last(),
            Some(&CompletionEvent::Done {
                stop_reason: "max_tokens".into()
            })
        );
    }

    #[test]
    fn error_chunks_and_garbage_are_errors() {
        let (_, r) = decode(&[r#"{"error":{"message":"model overloaded","type":"server_error"}}"#]);
        assert!(
            matches!(r, Err(ProviderError::Remote { ref message, .. }) if message == "model overloaded")
        );
        let (_, r) = decode(&["not json"]);
        assert!(matches!(r, Err(ProviderError::BadResponse { .. })));
    }

    #[test]
    fn body_shape() {
        let req = CompletionRequest {
            system: "be brief".into(),
            messages: vec![
                ChatMessage {
                    role: Role::User,
                    content: "disk?".into(),
                    tool_calls: vec![],
                    tool_call_id: None,
                },
                ChatMessage {
                    role: Role::Assistant,
                    content: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "fs.usage".into(),
                        args: json!({"path": "/"}),
                    }],
                    tool_call_id: None,
                },
                ChatMessage {
                    role: Role::Tool,
                    content: "{\"used\":1}".into(),
                    tool_calls: vec![],
                    tool_call_id: Some("c1".into()),
                },
            ],
            tools: vec![ModelTool {
                name: "fs.usage".into(),
                description: "Disk usage".into(),
                schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
                examples: vec![],
            }],
            max_tokens: 100,
            ..Default::default()
        };
        let b = request_body(&req, "gpt-x").unwrap();
        assert_eq!(b["model"], "gpt-x");
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(
            b["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(b["messages"][2]["content"], Value::Null);
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["name"],
            "fs__usage"
        );
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"/\"}"
        );
        assert_eq!(
            b["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "{\"used\":1}"})
        );
        assert_eq!(b["tools"][0]["type"], "function");
        assert_eq!(b["tools"][0]["function"]["name"], "fs__usage");
        assert_eq!(b["max_tokens"], 100);
    }
}

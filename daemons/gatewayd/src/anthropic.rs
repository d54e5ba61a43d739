//! The Anthropic Messages API: the request body, the streamed-event
//! decoder, and the provider.
//!
//! Wire facts this module relies on:
//! - `POST {base_url}/v1/messages` with `stream: true`, headers
//!   `x-api-key` and `anthropic-version: 2023-06-01`;
//! - the system prompt is the top-level `system`; assistant tool calls are
//!   `tool_use` blocks; tool results are `tool_result` blocks inside a
//!   *user* message (all results answering one assistant turn together);
//! - events: `message_start` (input usage), `content_block_start` (text or
//!   `tool_use` with id and name), `content_block_delta` (`text_delta`, or
//!   `input_json_delta` whose `partial_json` is split arbitrarily),
//!   `content_block_stop`, `message_delta` (stop reason, output usage),
//!   `message_stop`, `ping`, and `error` (e.g. `overloaded_error`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aios_config::AnthropicConfig;
use aios_proto::{CompletionEvent, CompletionRequest, ProviderStatus, Role, Usage};
use serde_json::{Value, json};

use crate::error::{GatewayError, ProviderError};
use crate::http::{self, Decoder, RetryPolicy, Secret, Target};
use crate::names::{ToolNames, to_wire};
use crate::provider::{CallBudget, Provider, ProviderStream, assemble_tool_call, object_schema};
use crate::sse::SseEvent;

const NAME: &str = "anthropic";
/// Most content blocks open at once in one reply (each holds a little
/// state until its `content_block_stop`).
const MAX_OPEN_BLOCKS: usize = 256;
const ENV_VAR: &str = "ANTHROPIC_API_KEY";
/// The API version this module speaks.
pub const API_VERSION: &str = "2023-06-01";

/// Tool-use ids must match `^[a-zA-Z0-9_-]+$`; ids minted by another
/// provider are made to fit the same way on both sides of a call/result
/// pair, so the pairing survives.
fn wire_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "call".into() } else { s }
}

/// Build the Messages request body. Pure.
pub fn request_body(
    req: &CompletionRequest,
    model: &str,
    max_tokens: u32,
) -> Result<Value, ProviderError> {
    // (role, content blocks); consecutive same-role turns are merged, since
    // the API expects alternation and all results of one turn together.
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::User => (
                "user",
                vec![json!({"type": "text", "text": non_empty(&m.content)})],
            ),
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": wire_id(m.tool_call_id.as_deref().unwrap_or_default()),
                    "content": non_empty(&m.content),
                })],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": wire_id(&c.id),
                        "name": to_wire(&c.name)?,
                        "input": if c.args.is_object() { c.args.clone() } else { json!({}) },
                    }));
                }
                if blocks.is_empty() {
                    // The API refuses empty content; keep the turn so roles alternate.
                    blocks.push(json!({"type": "text", "text": "(no response)"}));
                }
                ("assistant", blocks)
            }
        };
        match turns.last_mut() {
            Some((r, existing)) if *r == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, mut content)| {
            // Tool results must lead a user turn's content.
            content.sort_by_key(|b| b.get("type").and_then(Value::as_str) != Some("tool_result"));
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = json!({
        "model": model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": true,
    });
    if !req.system.is_empty() {
        body["system"] = json!(req.system);
    }
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                Ok(json!({
                    "name": to_wire(&t.name)?,
                    "description": t.description,
                    "input_schema": object_schema(&t.schema),
                }))
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        body["tools"] = Value::Array(tools);
    }
    Ok(body)
}

/// The API rejects empty text blocks.
fn non_empty(s: &str) -> &str {
    if s.is_empty() { "(empty)" } else { s }
}

#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
        initial: Value,
    },
    Other,
}

/// Decoder of the streamed events. Pure.
#[derive(Debug)]
pub struct AnthropicDecoder {
    name: &'static str,
    names: ToolNames,
    model: String,
    started: Instant,
    blocks: HashMap<u64, Block>,
    budget: CallBudget,
    input_tokens: u64,
    output_tokens: u64,
    stop: Option<String>,
    done: bool,
}

impl AnthropicDecoder {
    /// A decoder for one response.
    pub fn new(names: ToolNames, model: String, started: Instant) -> Self {
        AnthropicDecoder {
            name: NAME,
            names,
            model,
            started,
            blocks: HashMap::new(),
            budget: CallBudget::new(NAME),
            input_tokens: 0,
            output_tokens: 0,
            stop: None,
            done: false,
        }
    }

    /// Report errors and usage under the instance `name`.
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self.budget = CallBudget::new(name);
        self
    }
}

fn u64_at(v: &Value, ptr: &str) -> Option<u64> {
    v.pointer(ptr).and_then(Value::as_u64)
}

fn bad(provider: &'static str, detail: impl Into<String>) -> ProviderError {
    ProviderError::BadResponse {
        provider,
        detail: detail.into(),
    }
}

impl Decoder for AnthropicDecoder {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<CompletionEvent>) -> Result<(), ProviderError> {
        let name = self.name;
        let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
            bad(
                name,
                format!(
                    "an event is not JSON ({e}): {}",
                    http::excerpt(&ev.data, None)
                ),
            )
        })?;
        // The JSON `type` is authoritative; the SSE event name is a fallback.
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(ev.event.as_str())
            .to_string();
        match kind.as_str() {
            "message_start" => {
                let usage = v.pointer("/message/usage");
                if let Some(u) = usage {
                    // Cached prompt tokens are still prompt tokens.
                    self.input_tokens = [
                        "/input_tokens",
                        "/cache_creation_input_tokens",
                        "/cache_read_input_tokens",
                    ]
                    .iter()
                    .filter_map(|p| u64_at(u, p))
                    .sum();
                    self.output_tokens = u64_at(u, "/output_tokens").unwrap_or(0);
                }
                if let Some(m) = v.pointer("/message/model").and_then(Value::as_str) {
                    self.model = m.to_string();
                }
            }
            "content_block_start" => {
                let index = u64_at(&v, "/index")
                    .ok_or_else(|| bad(name, "content_block_start without index"))?;
                if !self.blocks.contains_key(&index) && self.blocks.len() >= MAX_OPEN_BLOCKS {
                    return Err(bad(
                        name,
                        format!("more than {MAX_OPEN_BLOCKS} content blocks were open at once"),
                    ));
                }
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                let b = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(CompletionEvent::TextDelta(t.to_string()));
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        self.budget.call()?;
                        // The start carries the name and, sometimes, the whole input.
                        self.budget.bytes(ev.data.len())?;
                        Block::Tool {
                            id: block
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            name: block
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            json: String::new(),
                            initial: block.get("input").cloned().unwrap_or(Value::Null),
                        }
                    }
                    // Thinking and server-tool blocks carry nothing we act on.
                    _ => Block::Other,
                };
                self.blocks.insert(index, b);
            }
            "content_block_delta" => {
                let index = u64_at(&v, "/index")
                    .ok_or_else(|| bad(name, "content_block_delta without index"))?;
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = delta
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(CompletionEvent::TextDelta(t.to_string()));
                        }
                    }
                    Some("input_json_delta") => match self.blocks.get_mut(&index) {
                        Some(Block::Tool { json, .. }) => {
                            let part = delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            self.budget.bytes(part.len())?;
                            json.push_str(part);
                        }
                        _ => {
                            return Err(bad(
                                name,
                                format!(
                                    "input_json_delta for block {index}, which is not a tool_use"
                                ),
                            ));
                        }
                    },
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = u64_at(&v, "/index")
                    .ok_or_else(|| bad(name, "content_block_stop without index"))?;
                if let Some(Block::Tool {
                    id,
                    name,
                    json,
                    initial,
                }) = self.blocks.remove(&index)
                {
                    // With no deltas, the start event's `input` is the input.
                    let raw =
                        if json.is_empty() && initial.as_object().is_some_and(|o| !o.is_empty()) {
                            initial.to_string()
                        } else {
                            json
                        };
                    let id = if id.is_empty() {
                        format!("toolu_{index}")
                    } else {
                        id
                    };
                    out.push(assemble_tool_call(id, self.names.dotted(&name), &raw));
                }
            }
            "message_delta" => {
                if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(s.to_string());
                }
                if let Some(n) = u64_at(&v, "/usage/output_tokens") {
                    self.output_tokens = n;
                }
                if let Some(n) = u64_at(&v, "/usage/input_tokens").filter(|n| *n > 0) {
                    self.input_tokens = n;
                }
            }
            "message_stop" => {
                out.push(CompletionEvent::Usage(Usage {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                    cost_usd: None,
                    provider: self.name.into(),
                    model: self.model.clone(),
                    latency_ms: u64::try_from(self.started.elapsed().as_millis())
                        .unwrap_or(u64::MAX),
                    ..Usage::default()
                }));
                out.push(CompletionEvent::Done {
                    stop_reason: self.stop.take().unwrap_or_else(|| "end_turn".into()),
                });
                self.done = true;
            }
            "error" => {
                return Err(ProviderError::Remote {
                    provider: name,
                    kind: v
                        .pointer("/error/type")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_string(),
                    message: v
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or("(no message)")
                        .to_string(),
                });
            }
            // `ping` and event types added after this was written.
            _ => {}
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn eof(&mut self, _out: &mut Vec<CompletionEvent>) -> Result<(), ProviderError> {
        if self.done {
            return Ok(());
        }
        Err(ProviderError::StreamDropped {
            provider: self.name,
            detail: "the connection closed before message_stop".into(),
        })
    }
}

/// The Anthropic provider.
pub struct AnthropicProvider {
    name: &'static str,
    env_var: &'static str,
    config: AnthropicConfig,
    key: Result<Option<Secret>, String>,
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl AnthropicProvider {
    /// A provider for `config`; `key` as for
    /// [`crate::OpenAiProvider::new`]. Without a key every call fails
    /// with a message naming `ANTHROPIC_API_KEY`.
    pub fn new(
        config: &AnthropicConfig,
        key: Result<Option<String>, String>,
    ) -> Result<Self, GatewayError> {
        Ok(AnthropicProvider {
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

    fn target(&self) -> Result<(Target, Secret), ProviderError> {
        let unauthorized = |reason: String| ProviderError::Unauthorized {
            provider: self.name,
            env_var: self.env_var,
            reason,
        };
        match &self.key {
            Ok(Some(k)) => Ok((
                Target {
                    provider: self.name,
                    env_var: self.env_var,
                    key: Some(k.clone()),
                },
                k.clone(),
            )),
            Ok(None) => Err(unauthorized("no API key is configured".into())),
            Err(why) => Err(unauthorized(format!(
                "the key file could not be used: {why}"
            ))),
        }
    }

    fn headers(b: reqwest::RequestBuilder, key: &Secret) -> reqwest::RequestBuilder {
        b.header("x-api-key", key.expose())
            .header("anthropic-version", API_VERSION)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }
}

#[async_trait::async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn default_model(&self) -> String {
        self.config.model.clone()
    }

    fn status(&self) -> ProviderStatus {
        let (configured, detail) = match &self.key {
            Ok(Some(_)) => (true, "API key set".to_string()),
            Ok(None) => (false, format!("no API key: set {}", self.env_var)),
            Err(why) => (false, format!("cannot read the API key: {why}")),
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
        let (target, key) = self.target()?;
        let url = self.url("v1/models");
        let req = Self::headers(self.client.get(&url), &key);
        http::send_once(&target, &url, http::PROBE_TIMEOUT, req).await?;
        Ok(format!("reachable at {url}, key accepted"))
    }

    async fn complete(&self, req: CompletionRequest) -> Result<ProviderStream, ProviderError> {
        let (target, key) = self.target()?;
        let model = req
            .model
            .clone()
            .unwrap_or_else(|| self.config.model.clone());
        let max_tokens = if req.max_tokens > 0 {
            req.max_tokens
        } else {
            self.config.max_tokens.max(1)
        };
        let names = ToolNames::for_tools(&req.tools)?;
        let body = request_body(&req, &model, max_tokens)?;
        let url = self.url("v1/messages");
        let started = Instant::now();
        tracing::info!(provider = self.name, %model, %url, messages = req.messages.len(), tools = req.tools.len(), "completion");
        let resp = http::send_with_retries(&target, &url, &self.retry, self.timeout(), || {
            Self::headers(self.client.post(&url), &key).json(&body)
        })
        .await
        .map_err(|e| e.redacted(target.key.as_ref()))?;
        Ok(http::scrub(
            http::sse_stream(
                self.name,
                resp,
                self.timeout(),
                AnthropicDecoder::new(names, model, started).named(self.name),
            ),
            target.key.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::{ChatMessage, ToolCall};

    fn decode(events: &[&str]) -> (Vec<CompletionEvent>, Result<(), ProviderError>) {
        let mut d = AnthropicDecoder::new(ToolNames::default(), "m".into(), Instant::now());
        let mut out = Vec::new();
        for e in events {
            if let Err(err) = d.event(
                SseEvent {
                    event: String::new(),
                    data: (*e).into(),
                },
                &mut out,
            ) {
                return (out, Err(err));
            }
            if d.finished() {
                return (out, Ok(()));
            }
        }
        let r = d.eof(&mut out);
        (out, r)
    }

    #[test]
    fn text_tool_use_usage_done() {
        let (out, r) = decode(&[
            r#"{"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":20,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" disk."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"fs__usage","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"pa"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"th\": \"/\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        r.unwrap();
        assert_eq!(out[0], CompletionEvent::TextDelta("Checking".into()));
        assert_eq!(out[1], CompletionEvent::TextDelta(" disk.".into()));
        assert_eq!(
            out[2],
            CompletionEvent::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "fs.usage".into(),
                args: json!({"path": "/"})
            })
        );
        match &out[3] {
            CompletionEvent::Usage(u) => {
                assert_eq!((u.input_tokens, u.output_tokens), (20, 42));
                assert_eq!(u.model, "claude-x");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out[4],
            CompletionEvent::Done {
                stop_reason: "tool_use".into()
            }
        );
    }

    #[test]
    fn tool_use_without_deltas_uses_start_input() {
        let (out, _) = decode(&[
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"sys__overview","input":{"a":1}}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
        ]);
        assert!(
            matches!(&out[0], CompletionEvent::ToolCall(t) if t.args == json!({"a": 1}) && t.name == "sys.overview")
        );
    }

    #[test]
    fn malformed_input_error_event_and_drop() {
        let (out, r) = decode(&[
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"x","input":{}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
        ]);
        assert!(
            matches!(&out[0], CompletionEvent::MalformedToolCall { raw_args, .. } if raw_args == "{\"a\":")
        );
        assert!(matches!(r, Err(ProviderError::StreamDropped { .. })));
        let (_, r) = decode(&[
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ]);
        let e = r.unwrap_err();
        assert!(
            e.to_string().contains("overloaded_error") && e.to_string().contains("Overloaded"),
            "{e}"
        );
    }

    #[test]
    fn body_shape_merges_tool_results_into_one_user_turn() {
        let msg = |role, content: &str, calls: Vec<ToolCall>, id: Option<&str>| ChatMessage {
            role,
            content: content.into(),
            tool_calls: calls,
            tool_call_id: id.map(str::to_string),
        };
        let req = CompletionRequest {
            system: "sys".into(),
            messages: vec![
                msg(Role::User, "hi", vec![], None),
                msg(
                    Role::Assistant,
                    "",
                    vec![
                        ToolCall {
                            id: "call.1".into(),
                            name: "fs.usage".into(),
                            args: json!({"path": "/"}),
                        },
                        ToolCall {
                            id: "call_2".into(),
                            name: "sys.overview".into(),
                            args: json!({}),
                        },
                    ],
                    None,
                ),
                msg(Role::Tool, "r1", vec![], Some("call.1")),
                msg(Role::Tool, "r2", vec![], Some("call_2")),
            ],
            ..Default::default()
        };
        let b = request_body(&req, "claude-x", 1000).unwrap();
        assert_eq!(b["system"], "sys");
        assert_eq!(b["max_tokens"], 1000);
        assert_eq!(b["stream"], true);
        let msgs = b["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
        assert_eq!(msgs[1]["content"][0]["id"], "call_1");
        assert_eq!(msgs[1]["content"][0]["name"], "fs__usage");
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(msgs[2]["content"][0]["tool_use_id"], "call_1");
        assert_eq!(msgs[2]["content"][1]["tool_use_id"], "call_2");
        assert_eq!(msgs[2]["content"][1]["content"], "r2");
    }
}

//! The Anthropic provider against a local server speaking the exact
//! Messages API SSE wire format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aios_config::AnthropicConfig;
use aios_gatewayd::{AnthropicProvider, Provider, ProviderError, RetryPolicy};
use aios_proto::{
    ApiError, ApiErrorKind, ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role,
    ToolCall,
};
use common::{Framing, MockServer, Part, Reply, collect, within};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

const KEY: &str = "sk-ant-test-987654";

fn config(server: &MockServer, max_retries: u32) -> AnthropicConfig {
    AnthropicConfig {
        base_url: server.base.clone(),
        model: "claude-test".into(),
        timeout_secs: 10,
        max_retries,
        max_tokens: 1024,
    }
}

fn provider(server: &MockServer, key: Option<&str>, max_retries: u32) -> AnthropicProvider {
    AnthropicProvider::new(&config(server, max_retries), Ok(key.map(str::to_string)))
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_retries,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        })
}

/// Events in the documented framing: `event: <type>` then `data: <json>`.
fn sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

fn message_start() -> Value {
    json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-2025", "content": [], "stop_reason": null, "usage": {"input_tokens": 120, "output_tokens": 1}}})
}

fn text_start(index: u64) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
}

fn text_delta(index: u64, t: &str) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}})
}

fn tool_start(index: u64, id: &str, name: &str) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})
}

fn json_delta(index: u64, partial: &str) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": partial}})
}

fn stop(index: u64) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

fn message_end(reason: &str) -> Vec<Value> {
    vec![
        json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": 33}}),
        json!({"type": "message_stop"}),
    ]
}

fn request() -> CompletionRequest {
    CompletionRequest {
        system: "You are aiOS.".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "why is the disk full?".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: vec![ModelTool {
            name: "fs.usage".into(),
            description: "Disk usage of a path".into(),
            schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            examples: vec![],
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn streams_text_deltas_in_order_as_they_arrive() {
    let gate = Arc::new(Notify::new());
    let head = sse(&[message_start(), text_start(0), text_delta(0, "The disk")]);
    let mut tail_events = vec![
        json!({"type": "ping"}),
        text_delta(0, " is "),
        text_delta(0, "93% full."),
        stop(0),
    ];
    tail_events.extend(message_end("end_turn"));
    let tail = sse(&tail_events);
    let mut parts = common::split(head.as_bytes(), 9);
    parts.push(Part::Gate(gate.clone()));
    parts.extend(common::split(tail.as_bytes(), 4));
    let mut server = MockServer::start(vec![Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        parts,
        framing: Framing::Chunked,
    }])
    .await;
    let p = provider(&server, Some(KEY), 0);
    let mut stream = within("response", p.complete(request())).await.unwrap();
    let first = within("first delta", stream.next()).await.unwrap().unwrap();
    assert_eq!(first, CompletionEvent::TextDelta("The disk".into()));
    gate.notify_one();
    let (rest, err) = collect(stream).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rest[0], CompletionEvent::TextDelta(" is ".into()));
    assert_eq!(rest[1], CompletionEvent::TextDelta("93% full.".into()));
    match &rest[2] {
        CompletionEvent::Usage(u) => {
            assert_eq!((u.input_tokens, u.output_tokens), (120, 33));
            assert_eq!(u.provider, "anthropic");
            assert_eq!(u.model, "claude-test-2025");
        }
        other => panic!("expected usage, got {other:?}"),
    }
    assert_eq!(
        rest[3],
        CompletionEvent::Done {
            stop_reason: "end_turn".into()
        }
    );
    assert_eq!(rest.len(), 4);

    let req = server.next_request().await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.header("authorization"), None);
    let b = req.json();
    assert_eq!(b["model"], "claude-test");
    assert_eq!(b["stream"], true);
    assert_eq!(b["max_tokens"], 1024);
    assert_eq!(b["system"], "You are aiOS.");
    assert_eq!(
        b["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "why is the disk full?"}]}])
    );
    assert_eq!(
        b["tools"],
        json!([{"name": "fs__usage", "description": "Disk usage of a path", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}])
    );
}

#[tokio::test]
async fn tool_use_with_partial_json_split_across_events_and_writes() {
    let input = r#"{"path": "/var/log", "top": 20}"#;
    let mut events = vec![
        message_start(),
        text_start(0),
        text_delta(0, "Checking."),
        stop(0),
        tool_start(1, "toolu_01", "fs__usage"),
    ];
    let chars: Vec<char> = input.chars().collect();
    events.push(json_delta(1, ""));
    for piece in chars.chunks(3) {
        events.push(json_delta(1, &piece.iter().collect::<String>()));
    }
    events.push(stop(1));
    events.push(tool_start(2, "toolu_02", "sys__overview"));
    events.push(stop(2));
    events.extend(message_end("tool_use"));
    let body = sse(&events).replace('\n', "\r\n");
    let server = MockServer::start(vec![Reply::sse(&body, 5, Framing::Chunked)]).await;
    let p = provider(&server, Some(KEY), 0);
    let (out, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out[0], CompletionEvent::TextDelta("Checking.".into()));
    assert_eq!(
        out[1],
        CompletionEvent::ToolCall(ToolCall {
            id: "toolu_01".into(),
            name: "fs.usage".into(),
            args: json!({"path": "/var/log", "top": 20}),
        })
    );
    assert_eq!(
        out[2],
        CompletionEvent::ToolCall(ToolCall {
            id: "toolu_02".into(),
            name: "sys.overview".into(),
            args: json!({}),
        })
    );
    assert!(matches!(out[3], CompletionEvent::Usage(_)));
    assert_eq!(
        out[4],
        CompletionEvent::Done {
            stop_reason: "tool_use".into()
        }
    );
}

#[tokio::test]
async fn malformed_tool_input_becomes_an_event_not_a_crash() {
    let mut events = vec![
        message_start(),
        tool_start(0, "toolu_01", "fs__usage"),
        json_delta(0, "{\"path\":"),
        json_delta(0, " /var}"),
        stop(0),
    ];
    events.extend(message_end("tool_use"));
    let server = MockServer::start(vec![Reply::sse(&sse(&events), 13, Framing::Close)]).await;
    let p = provider(&server, Some(KEY), 0);
    let (out, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    match &out[0] {
        CompletionEvent::MalformedToolCall {
            id,
            name,
            raw_args,
            error,
        } => {
            assert_eq!(id, "toolu_01");
            assert_eq!(name, "fs.usage");
            assert_eq!(raw_args, "{\"path\": /var}");
            assert!(error.contains("not valid JSON"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        out.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "tool_use".into()
        })
    );
}

#[tokio::test]
async fn dropped_connection_mid_stream_is_a_clear_error_and_is_not_retried() {
    for framing in [Framing::ChunkedDropped, Framing::Close] {
        let partial = format!(
            "{}event: content_block_delta\ndata: {{\"type\":\"content_block_del",
            sse(&[message_start(), text_start(0), text_delta(0, "Hel")])
        );
        let server = MockServer::start(vec![
            Reply::sse(&partial, 6, framing),
            Reply::sse(&sse(&[message_start()]), 100, Framing::Chunked),
        ])
        .await;
        let p = provider(&server, Some(KEY), 3);
        let (out, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
        assert_eq!(out, vec![CompletionEvent::TextDelta("Hel".into())]);
        let err = err.expect("a dropped stream must be an error");
        assert!(
            matches!(err, ProviderError::StreamDropped { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("anthropic stream dropped"),
            "{err}"
        );
        assert_eq!(server.count(), 1, "a started stream must never be retried");
    }
}

#[tokio::test]
async fn overloaded_error_event_mid_stream_ends_the_stream_with_that_error() {
    let events = vec![
        message_start(),
        text_start(0),
        text_delta(0, "Hi"),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ];
    let server = MockServer::start(vec![Reply::sse(&sse(&events), 20, Framing::Chunked)]).await;
    let p = provider(&server, Some(KEY), 0);
    let (out, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert_eq!(out, vec![CompletionEvent::TextDelta("Hi".into())]);
    let err = err.unwrap();
    assert_eq!(
        err.to_string(),
        "anthropic reported an error mid-stream (overloaded_error): Overloaded"
    );
    assert_eq!(ApiError::from(err).kind, ApiErrorKind::Unavailable);
}

#[tokio::test]
async fn rate_limit_is_retried_honouring_retry_after() {
    let mut events = vec![message_start(), text_start(0), text_delta(0, "ok"), stop(0)];
    events.extend(message_end("end_turn"));
    let server = MockServer::start(vec![
        Reply::error(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
            &[("retry-after", "1")],
        ),
        Reply::sse(&sse(&events), 40, Framing::Chunked),
    ])
    .await;
    // Production backoff policy: the wait is the server's 1 s retry-after.
    let p = AnthropicProvider::new(&config(&server, 2), Ok(Some(KEY.into()))).unwrap();
    let started = std::time::Instant::now();
    let (out, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out[0], CompletionEvent::TextDelta("ok".into()));
    assert_eq!(server.count(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retry-after was not honoured"
    );
}

#[tokio::test]
async fn rate_limit_with_a_long_retry_after_is_reported_not_waited_out() {
    let server = MockServer::start(vec![Reply::error(
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        &[("retry-after", "600")],
    )])
    .await;
    let p = provider(&server, Some(KEY), 3);
    let err = within("response", p.complete(request()))
        .await
        .err()
        .unwrap();
    assert_eq!(server.count(), 1);
    let msg = err.to_string();
    assert!(
        msg.contains("429") && msg.contains("wait 600 s") && msg.contains("slow down"),
        "{msg}"
    );
    assert_eq!(ApiError::from(err).kind, ApiErrorKind::ResourceExhausted);
}

#[tokio::test]
async fn unauthorized_names_the_env_var_and_never_the_key() {
    let server = MockServer::start(vec![Reply::error(
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        &[],
    )])
    .await;
    let p = provider(&server, Some(KEY), 3);
    let err = within("response", p.complete(request()))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("ANTHROPIC_API_KEY")
            && msg.contains("401")
            && msg.contains("invalid x-api-key"),
        "{msg}"
    );
    assert!(!msg.contains(KEY));
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn missing_key_fails_before_any_request() {
    let server = MockServer::start(vec![]).await;
    let p = provider(&server, None, 0);
    let err = within("response", p.complete(request()))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
    assert_eq!(server.count(), 0);
    assert!(!p.status().configured);
}

#[tokio::test]
async fn history_with_tool_use_and_results_is_sent_in_wire_form() {
    let mut events = vec![
        message_start(),
        text_start(0),
        text_delta(0, "done"),
        stop(0),
    ];
    events.extend(message_end("end_turn"));
    let mut server = MockServer::start(vec![Reply::sse(&sse(&events), 64, Framing::Chunked)]).await;
    let p = provider(&server, Some(KEY), 0);
    let mut req = request();
    req.model = Some("claude-other".into());
    req.messages.push(ChatMessage {
        role: Role::Assistant,
        content: "Checking.".into(),
        tool_calls: vec![ToolCall {
            id: "toolu_01".into(),
            name: "fs.usage".into(),
            args: json!({"path": "/"}),
        }],
        tool_call_id: None,
    });
    req.messages.push(ChatMessage {
        role: Role::Tool,
        content: r#"{"used_pct": 93}"#.into(),
        tool_calls: vec![],
        tool_call_id: Some("toolu_01".into()),
    });
    collect(within("response", p.complete(req)).await.unwrap()).await;
    let b = server.next_request().await.json();
    assert_eq!(b["model"], "claude-other");
    assert_eq!(
        b["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "fs__usage", "input": {"path": "/"}}
        ]})
    );
    assert_eq!(
        b["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "{\"used_pct\": 93}"}]})
    );
}

#[tokio::test]
async fn probe_checks_the_key_against_the_models_endpoint() {
    let mut server = MockServer::start(vec![Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        parts: vec![Part::Bytes(br#"{"data":[]}"#.to_vec())],
        framing: Framing::Chunked,
    }])
    .await;
    let p = provider(&server, Some(KEY), 0);
    let ok = within("probe", p.probe()).await.unwrap();
    assert!(ok.contains("reachable"), "{ok}");
    let req = server.next_request().await;
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(req.header("x-api-key"), Some(KEY));
}

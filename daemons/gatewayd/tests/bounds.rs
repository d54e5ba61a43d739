//! Every input the gateway reads from the network is bounded: SSE lines
//! and events, the tool calls of one reply, a probe's body, and the wait a
//! server asks for with `retry-after`. Each test sends one past a bound
//! over a raw local HTTP server and expects a clear error, promptly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aios_config::{AnthropicConfig, OpenAiConfig};
use aios_gatewayd::sse::{MAX_EVENT_BYTES, MAX_LINE_BYTES};
use aios_gatewayd::{
    AnthropicProvider, MAX_TOOL_CALL_BYTES, MAX_TOOL_CALLS_PER_REPLY, OpenAiProvider, Provider,
    ProviderError, ProviderStream, RetryPolicy,
};
use aios_proto::{ApiError, ApiErrorKind, ChatMessage, CompletionEvent, CompletionRequest, Role};
use common::{Framing, MockServer, Part, Reply, collect, within};
use serde_json::{Value, json};
use tokio::sync::Notify;

fn openai(server: &MockServer, max_retries: u32) -> OpenAiProvider {
    let cfg = OpenAiConfig {
        base_url: format!("{}/v1", server.base),
        model: "gpt-test".into(),
        timeout_secs: 10,
        max_retries,
    };
    OpenAiProvider::new(&cfg, Ok(Some("sk-test-key-123456".into())))
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_retries,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        })
}

fn anthropic(server: &MockServer) -> AnthropicProvider {
    let cfg = AnthropicConfig {
        base_url: server.base.clone(),
        model: "claude-test".into(),
        timeout_secs: 10,
        max_retries: 0,
        max_tokens: 1024,
    };
    AnthropicProvider::new(&cfg, Ok(Some("sk-ant-test-987654".into()))).unwrap()
}

fn request() -> CompletionRequest {
    CompletionRequest {
        system: String::new(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hi".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        ..Default::default()
    }
}

/// A 200 `text/event-stream` reply: `body` in 64 KiB writes, then the
/// connection stays open (a server that would go on for ever).
fn endless(body: Vec<u8>) -> Reply {
    let mut parts = common::split(&body, 64 * 1024);
    parts.push(Part::Gate(Arc::new(Notify::new())));
    Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        parts,
        framing: Framing::Chunked,
    }
}

async fn run(p: &dyn Provider) -> (Vec<CompletionEvent>, ProviderError) {
    let stream: ProviderStream = within("the response", p.complete(request())).await.unwrap();
    let (events, err) = collect(stream).await;
    (events, err.expect("the stream must end with an error"))
}

fn assert_bad_response(err: &ProviderError, needle: &str) {
    assert!(
        matches!(err, ProviderError::BadResponse { .. }),
        "expected a BadResponse, got {err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(needle), "{msg}");
    assert!(msg.contains("stopped reading"), "{msg}");
}

#[tokio::test]
async fn an_endless_line_without_a_newline_is_refused_not_buffered() {
    // One byte past the line bound, then the server stalls for ever: the
    // gateway must stop on its own, not wait for a newline or the timeout.
    let mut body = format!(
        "data: {}\n\n",
        json!({"choices": [{"delta": {"content": "hi"}}]})
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
    let server = MockServer::start(vec![endless(body)]).await;
    let p = openai(&server, 0);
    let (events, err) = run(&p).await;
    assert_bad_response(&err, "without ending");
    // What came before the bad line was delivered.
    assert_eq!(events, vec![CompletionEvent::TextDelta("hi".into())]);
    assert_eq!(server.count(), 1, "a started stream is never retried");
}

#[tokio::test]
async fn an_event_whose_data_passes_the_bound_is_refused() {
    // Many short `data:` lines that never end the event.
    let line = format!("data: {}\n", "y".repeat(1000));
    let lines = MAX_EVENT_BYTES / 1000 + 1;
    let body = line.repeat(lines).into_bytes();
    let server = MockServer::start(vec![endless(body)]).await;
    let p = openai(&server, 0);
    let (_, err) = run(&p).await;
    assert_bad_response(&err, "KiB of data");
}

#[tokio::test]
async fn one_tool_call_past_the_bound_ends_an_openai_reply() {
    let mut body = String::new();
    for i in 0..=MAX_TOOL_CALLS_PER_REPLY {
        let c = json!({"choices": [{"delta": {"tool_calls": [{"index": i, "id": format!("c{i}"), "function": {"name": "sys__overview", "arguments": "{}"}}]}}]});
        body.push_str(&format!("data: {c}\n\n"));
    }
    let server = MockServer::start(vec![endless(body.into_bytes())]).await;
    let (events, err) = run(&openai(&server, 0)).await;
    assert_bad_response(
        &err,
        &format!("more than {MAX_TOOL_CALLS_PER_REPLY} tool calls"),
    );
    assert!(
        events.is_empty(),
        "no call is emitted before the reply finished"
    );
    assert_eq!(ApiError::from(err).kind, ApiErrorKind::Unavailable);
}

#[tokio::test]
async fn tool_arguments_past_the_bound_end_an_openai_reply() {
    // Arguments streamed in pieces that are each small.
    let piece = "a".repeat(16 * 1024);
    let mut body = format!(
        "data: {}\n\n",
        json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "fs__read", "arguments": "{\"path\":\""}}]}}]})
    );
    for _ in 0..=MAX_TOOL_CALL_BYTES / piece.len() {
        let c = json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}]});
        body.push_str(&format!("data: {c}\n\n"));
    }
    let server = MockServer::start(vec![endless(body.into_bytes())]).await;
    let (_, err) = run(&openai(&server, 0)).await;
    assert_bad_response(&err, "KiB of arguments");
}

fn anthropic_event(v: Value) -> String {
    format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap())
}

#[tokio::test]
async fn one_tool_call_past_the_bound_ends_an_anthropic_reply() {
    let mut body = anthropic_event(
        json!({"type": "message_start", "message": {"model": "claude-test", "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    );
    for i in 0..=MAX_TOOL_CALLS_PER_REPLY {
        body.push_str(&anthropic_event(json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": format!("toolu_{i}"), "name": "sys__overview", "input": {}}})));
        body.push_str(&anthropic_event(
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    let server = MockServer::start(vec![endless(body.into_bytes())]).await;
    let (events, err) = run(&anthropic(&server)).await;
    assert_bad_response(
        &err,
        &format!("more than {MAX_TOOL_CALLS_PER_REPLY} tool calls"),
    );
    let calls = events
        .iter()
        .filter(|e| matches!(e, CompletionEvent::ToolCall(_)))
        .count();
    assert_eq!(calls, MAX_TOOL_CALLS_PER_REPLY);
}

#[tokio::test]
async fn blocks_that_never_stop_are_bounded_in_an_anthropic_reply() {
    let mut body = String::new();
    for i in 0..=256 {
        body.push_str(&anthropic_event(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})));
    }
    let server = MockServer::start(vec![endless(body.into_bytes())]).await;
    let (_, err) = run(&anthropic(&server)).await;
    assert!(
        err.to_string().contains("more than 256 content blocks"),
        "{err}"
    );
}

#[tokio::test]
async fn a_huge_retry_after_is_reported_at_once_not_waited_out() {
    for wait in [
        "99999999999999999999999",
        "18446744073709551616",
        "1e300",
        "86401",
    ] {
        let server = MockServer::start(vec![Reply::error(
            429,
            r#"{"error":{"message":"slow down","type":"requests"}}"#,
            &[("retry-after", wait)],
        )])
        .await;
        let p = openai(&server, 3);
        let err = within("the refusal", p.complete(request()))
            .await
            .err()
            .unwrap();
        assert_eq!(server.count(), 1, "retry-after {wait}: not retried");
        let msg = err.to_string();
        // The wait is capped at a day when quoted.
        assert!(msg.contains("wait 86400 s"), "retry-after {wait}: {msg}");
        assert_eq!(ApiError::from(err).kind, ApiErrorKind::ResourceExhausted);
    }
}

#[tokio::test]
async fn a_probe_answer_past_the_bound_is_not_read_whole() {
    // A valid model list one byte longer than the probe reads.
    let head = r#"{"object":"list","data":[{"id":"a"}],"pad":""#;
    let tail = r#""}"#;
    let pad = aios_gatewayd::http::PROBE_BODY_BYTES + 1 - head.len() - tail.len();
    let body = format!("{head}{}{tail}", " ".repeat(pad));
    let fits = format!("{head}{}{tail}", " ".repeat(pad - 1));
    let json_reply = |b: String| Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        parts: common::split(b.as_bytes(), 64 * 1024),
        framing: Framing::Chunked,
    };
    let server = MockServer::start(vec![json_reply(fits), json_reply(body)]).await;
    let p = openai(&server, 0);
    let ok = within("probe", p.probe()).await.unwrap();
    assert!(ok.contains("1 models listed"), "{ok}");
    let cut = within("probe", p.probe()).await.unwrap();
    assert!(!cut.contains("models listed"), "{cut}");
    assert!(cut.contains("reachable"), "{cut}");
}

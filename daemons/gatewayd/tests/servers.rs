//! What real servers send: each captured stream in `tests/fixtures/` is
//! served over real HTTP, cut into small writes, through our providers,
//! and must assemble into exactly one correct tool call with honest usage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aios_config::{AnthropicConfig, OpenAiConfig};
use aios_gatewayd::{AnthropicProvider, OpenAiProvider, Provider, RetryPolicy};
use aios_proto::{ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role, Usage};
use common::{Framing, MockServer, Reply, collect, within};
use serde_json::json;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request() -> CompletionRequest {
    CompletionRequest {
        system: "You are aiOS.".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "how full is /?".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: vec![ModelTool {
            name: "fs.usage".into(),
            description: "Disk usage of a path".into(),
            schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            examples: vec![],
        }],
        ..Default::default()
    }
}

fn no_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 0,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    }
}

async fn through_openai(file: &str, piece: usize) -> Vec<CompletionEvent> {
    let server = MockServer::start(vec![Reply::sse(&fixture(file), piece, Framing::Chunked)]).await;
    let cfg = OpenAiConfig {
        base_url: format!("{}/v1", server.base),
        model: "m".into(),
        timeout_secs: 10,
        max_retries: 0,
    };
    let p = OpenAiProvider::new(&cfg, Ok(None))
        .unwrap()
        .named("lab", "LAB_KEY")
        .with_retry_policy(no_retry());
    let stream = within("response", p.complete(request())).await.unwrap();
    let (events, err) = collect(stream).await;
    assert!(err.is_none(), "{file}: {err:?}");
    events
}

fn calls(events: &[CompletionEvent]) -> Vec<(String, String, serde_json::Value)> {
    events
        .iter()
        .filter_map(|e| match e {
            CompletionEvent::ToolCall(c) => Some((c.id.clone(), c.name.clone(), c.args.clone())),
            CompletionEvent::MalformedToolCall { name, raw_args, .. } => {
                panic!("malformed call {name}: {raw_args}")
            }
            _ => None,
        })
        .collect()
}

fn usage(events: &[CompletionEvent]) -> Usage {
    events
        .iter()
        .find_map(|e| match e {
            CompletionEvent::Usage(u) => Some(u.clone()),
            _ => None,
        })
        .expect("a usage event")
}

#[tokio::test]
async fn every_chat_completions_server_assembles_one_correct_call() {
    // (fixture, the path argument, usage the server reported or None)
    let servers = [
        ("openai.sse", "/", Some((83, 15))),
        ("llama-server.sse", "/", Some((96, 14))),
        ("ollama.sse", "/", Some((151, 21))),
        ("vllm.sse", "/", Some((210, 21))),
        // Captured from SmolLM2-135M, which chose its own path.
        ("llama-cpp-python.sse", "my_function.js", None),
    ];
    for (file, path, reported) in servers {
        for piece in [7, 64, 4096] {
            let events = through_openai(file, piece).await;
            let calls = calls(&events);
            assert_eq!(calls.len(), 1, "{file} in {piece}-byte writes: {events:?}");
            let (id, name, args) = &calls[0];
            assert_eq!(name, "fs.usage", "{file}");
            assert_eq!(args, &json!({ "path": path }), "{file}");
            // A repeated id is the same id, not a concatenation.
            assert!(!id.is_empty() && id.len() < 80, "{file}: id {id:?}");
            let u = usage(&events);
            assert_eq!(u.provider, "lab");
            match reported {
                Some((i, o)) => {
                    assert_eq!((u.input_tokens, u.output_tokens), (i, o), "{file}");
                    assert!(!u.tokens_estimated, "{file}");
                }
                // Unknown is not zero: estimated, and marked so.
                None => {
                    assert!(u.tokens_estimated, "{file}");
                    assert!(u.input_tokens > 0 && u.output_tokens > 0, "{file}: {u:?}");
                }
            }
            assert_eq!(
                events.last(),
                Some(&CompletionEvent::Done {
                    stop_reason: "tool_use".into()
                }),
                "{file}"
            );
        }
    }
}

#[tokio::test]
async fn the_anthropic_stream_assembles_text_and_one_call() {
    let server = MockServer::start(vec![Reply::sse(
        &fixture("anthropic.sse"),
        11,
        Framing::Chunked,
    )])
    .await;
    let cfg = AnthropicConfig {
        base_url: server.base.clone(),
        max_retries: 0,
        ..AnthropicConfig::default()
    };
    let p = AnthropicProvider::new(&cfg, Ok(Some("k-test".into())))
        .unwrap()
        .named("claude", "ANTHROPIC_API_KEY")
        .with_retry_policy(no_retry());
    let stream = within("response", p.complete(request())).await.unwrap();
    let (events, err) = collect(stream).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events[0],
        CompletionEvent::TextDelta("Checking the disk.".into())
    );
    let calls = calls(&events);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, "fs.usage");
    assert_eq!(calls[0].2, json!({"path": "/"}));
    let u = usage(&events);
    assert_eq!((u.input_tokens, u.output_tokens), (472, 89));
    assert_eq!(u.provider, "claude");
    assert!(!u.tokens_estimated);
}

//! The OpenAI-compatible provider against a local server speaking the
//! exact Chat Completions SSE wire format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aios_config::OpenAiConfig;
use aios_gatewayd::{OpenAiProvider, Provider, ProviderError, RetryPolicy};
use aios_proto::{ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role, ToolCall};
use common::{Framing, MockServer, Part, Reply, collect, within};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

const KEY: &str = "sk-test-key-123456";

fn provider(server: &MockServer, key: Option<&str>, max_retries: u32) -> OpenAiProvider {
    let cfg = OpenAiConfig {
        base_url: format!("{}/v1", server.base),
        model: "gpt-test".into(),
        timeout_secs: 10,
        max_retries,
    };
    OpenAiProvider::new(&cfg, Ok(key.map(str::to_string)))
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_retries,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        })
}

fn sse(chunks: &[Value]) -> String {
    let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    s.push_str("data: [DONE]\n\n");
    s
}

fn text_chunk(t: &str) -> Value {
    json!({"id": "x", "object": "chat.completion.chunk", "model": "gpt-test-2024", "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]})
}

fn finish(reason: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn usage() -> Value {
    json!({"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57}})
}

fn call_delta(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut f = json!({"arguments": args});
    if let Some(n) = name {
        f["name"] = json!(n);
    }
    let mut c = json!({"index": index, "function": f});
    if let Some(id) = id {
        c["id"] = json!(id);
        c["type"] = json!("function");
    }
    json!({"choices": [{"index": 0, "delta": {"tool_calls": [c]}, "finish_reason": null}]})
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
        tools: vec![
            ModelTool {
                name: "fs.usage".into(),
                description: "Disk usage of a path".into(),
                schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
                examples: vec![],
            },
            ModelTool {
                name: "fs.list_dir".into(),
                description: "List".into(),
                schema: json!({}),
                examples: vec![],
            },
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn streams_text_deltas_in_order_as_they_arrive() {
    let gate = Arc::new(Notify::new());
    let body = sse(&[
        text_chunk("The disk"),
        text_chunk(" is "),
        text_chunk("93% full."),
        finish("stop"),
        usage(),
    ]);
    // Hold the rest of the body until the test has seen the first delta:
    // this proves deltas are delivered while the response is still open.
    let first_event_end = body.find("\n\n").unwrap() + 2;
    let mut parts = vec![
        Part::Bytes(body.as_bytes()[..first_event_end].to_vec()),
        Part::Gate(gate.clone()),
    ];
    parts.extend(common::split(&body.as_bytes()[first_event_end..], 5));
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
            assert_eq!((u.input_tokens, u.output_tokens), (50, 7));
            assert_eq!(u.provider, "openai");
            assert_eq!(u.model, "gpt-test-2024");
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

    // The request had the documented shape.
    let req = server.next_request().await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let b = req.json();
    assert_eq!(b["model"], "gpt-test");
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        b["messages"][0],
        json!({"role": "system", "content": "You are aiOS."})
    );
    assert_eq!(
        b["messages"][1],
        json!({"role": "user", "content": "why is the disk full?"})
    );
    assert_eq!(b["tools"][0]["type"], "function");
    assert_eq!(b["tools"][0]["function"]["name"], "fs__usage");
    assert_eq!(
        b["tools"][0]["function"]["description"],
        "Disk usage of a path"
    );
    assert_eq!(
        b["tools"][0]["function"]["parameters"]["required"],
        json!(["path"])
    );
    assert_eq!(b["tools"][1]["function"]["name"], "fs__list_dir");
    assert_eq!(
        b["tools"][1]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );
}

#[tokio::test]
async fn tool_calls_with_arguments_split_across_chunks_events_and_writes() {
    let args0 = r#"{"path": "/var/log", "depth": 2}"#;
    let args1 = r#"{}"#;
    let mut chunks = vec![
        text_chunk("Let me look."),
        call_delta(0, Some("call_abc"), Some("fs__usage"), ""),
    ];
    // Arguments one or two characters per chunk, interleaved with the
    // second call, as real servers do for parallel calls.
    let a0: Vec<char> = args0.chars().collect();
    for (i, piece) in a0.chunks(2).enumerate() {
        chunks.push(call_delta(0, None, None, &piece.iter().collect::<String>()));
        if i == 3 {
            chunks.push(call_delta(1, Some("call_def"), Some("fs__list_dir"), ""));
        }
    }
    chunks.push(call_delta(1, None, None, args1));
    chunks.push(finish("tool_calls"));
    chunks.push(usage());
    // \r\n line endings and 3-byte writes: event boundaries and `data:`
    // prefixes are split across TCP writes.
    let body = sse(&chunks).replace('\n', "\r\n");
    let mut server = MockServer::start(vec![Reply::sse(&body, 3, Framing::Chunked)]).await;
    let p = provider(&server, Some(KEY), 0);
    let (events, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events[0], CompletionEvent::TextDelta("Let me look.".into()));
    assert_eq!(
        events[1],
        CompletionEvent::ToolCall(ToolCall {
            id: "call_abc".into(),
            name: "fs.usage".into(),
            args: json!({"path": "/var/log", "depth": 2}),
        })
    );
    assert_eq!(
        events[2],
        CompletionEvent::ToolCall(ToolCall {
            id: "call_def".into(),
            name: "fs.list_dir".into(),
            args: json!({}),
        })
    );
    assert!(matches!(events[3], CompletionEvent::Usage(_)));
    assert_eq!(
        events[4],
        CompletionEvent::Done {
            stop_reason: "tool_use".into()
        }
    );
    server.next_request().await;
}

#[tokio::test]
async fn malformed_tool_arguments_become_an_event_not_a_crash() {
    let chunks = vec![
        call_delta(0, Some("call_1"), Some("fs__usage"), "{\"path\": "),
        call_delta(0, None, None, "\"/\""),
        finish("tool_calls"),
        usage(),
    ];
    let server = MockServer::start(vec![Reply::sse(&sse(&chunks), 11, Framing::Chunked)]).await;
    let p = provider(&server, None, 0);
    let (events, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    match &events[0] {
        CompletionEvent::MalformedToolCall {
            id,
            name,
            raw_args,
            error,
        } => {
            assert_eq!(id, "call_1");
            assert_eq!(name, "fs.usage");
            assert_eq!(raw_args, "{\"path\": \"/\"");
            assert!(error.contains("not valid JSON"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "tool_use".into()
        })
    );
}

#[tokio::test]
async fn dropped_connection_mid_stream_is_a_clear_error_and_is_not_retried() {
    for framing in [Framing::ChunkedDropped, Framing::Close] {
        // Two events, then half of a third; no finish_reason, no [DONE].
        let partial = format!(
            "data: {}\n\ndata: {}\n\ndata: {{\"choi",
            text_chunk("The disk"),
            text_chunk(" is")
        );
        let good = sse(&[text_chunk("never sent"), finish("stop")]);
        let server = MockServer::start(vec![
            Reply::sse(&partial, 7, framing),
            Reply::sse(&good, 100, Framing::Chunked),
        ])
        .await;
        let p = provider(&server, Some(KEY), 3);
        let (events, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
        assert_eq!(
            events,
            vec![
                CompletionEvent::TextDelta("The disk".into()),
                CompletionEvent::TextDelta(" is".into())
            ]
        );
        let err = err.expect("a dropped stream must be an error");
        assert!(
            matches!(err, ProviderError::StreamDropped { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("stream dropped"), "{err}");
        assert_eq!(server.count(), 1, "a started stream must never be retried");
    }
}

#[tokio::test]
async fn rate_limit_is_retried_honouring_retry_after() {
    let body = sse(&[text_chunk("ok"), finish("stop"), usage()]);
    let mut server = MockServer::start(vec![
        Reply::error(
            429,
            r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
            &[("retry-after", "0")],
        ),
        Reply::sse(&body, 50, Framing::Chunked),
    ])
    .await;
    // Production backoff: only retry-after: 0 keeps this test fast.
    let cfg = OpenAiConfig {
        base_url: format!("{}/v1", server.base),
        max_retries: 2,
        ..OpenAiConfig::default()
    };
    let p = OpenAiProvider::new(&cfg, Ok(Some(KEY.into()))).unwrap();
    let (events, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events[0], CompletionEvent::TextDelta("ok".into()));
    assert_eq!(server.count(), 2);
    let first = server.next_request().await;
    let second = server.next_request().await;
    assert_eq!(
        first.body, second.body,
        "the retry resends the same request"
    );
}

#[tokio::test]
async fn server_errors_exhaust_retries_with_status_and_body() {
    let server = MockServer::start(vec![
        Reply::error(503, r#"{"error":{"message":"upstream busy"}}"#, &[]),
        Reply::error(502, "<html>bad gateway</html>", &[]),
    ])
    .await;
    let p = provider(&server, Some(KEY), 1);
    let err = within("response", p.complete(request()))
        .await
        .err()
        .unwrap();
    assert_eq!(server.count(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 502") && msg.contains("bad gateway"),
        "{msg}"
    );
    assert_eq!(
        aios_proto::ApiError::from(err).kind,
        aios_proto::ApiErrorKind::Unavailable
    );
}

#[tokio::test]
async fn unauthorized_names_the_env_var_and_never_the_key() {
    let server = MockServer::start(vec![Reply::error(
        401,
        &format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}.","type":"invalid_request_error"}}}}"#),
        &[],
    )])
    .await;
    let p = provider(&server, Some(KEY), 3);
    let err = within("response", p.complete(request()))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("OPENAI_API_KEY"), "{msg}");
    assert!(msg.contains("401"), "{msg}");
    assert!(!msg.contains(KEY), "key leaked: {msg}");
    assert_eq!(server.count(), 1, "401 is not retried");
    assert_eq!(
        aios_proto::ApiError::from(err).kind,
        aios_proto::ApiErrorKind::PermissionDenied
    );
}

#[tokio::test]
async fn no_key_sends_no_authorization_header() {
    let body = sse(&[text_chunk("hi"), finish("stop")]);
    let mut server = MockServer::start(vec![Reply::sse(&body, 64, Framing::Close)]).await;
    let p = provider(&server, None, 0);
    let (events, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "end_turn".into()
        })
    );
    let req = server.next_request().await;
    assert_eq!(req.header("authorization"), None);
    assert!(p.status().configured, "a local server needs no key");
}

#[tokio::test]
async fn history_with_tool_calls_and_results_is_sent_in_wire_form() {
    let body = sse(&[text_chunk("done"), finish("stop")]);
    let mut server = MockServer::start(vec![Reply::sse(&body, 64, Framing::Chunked)]).await;
    let p = provider(&server, Some(KEY), 0);
    let mut req = request();
    req.model = Some("other-model".into());
    req.max_tokens = 256;
    req.messages.push(ChatMessage {
        role: Role::Assistant,
        content: "Checking.".into(),
        tool_calls: vec![ToolCall {
            id: "call_1".into(),
            name: "fs.usage".into(),
            args: json!({"path": "/"}),
        }],
        tool_call_id: None,
    });
    req.messages.push(ChatMessage {
        role: Role::Tool,
        content: r#"{"used_pct": 93}"#.into(),
        tool_calls: vec![],
        tool_call_id: Some("call_1".into()),
    });
    collect(within("response", p.complete(req)).await.unwrap()).await;
    let b = server.next_request().await.json();
    assert_eq!(b["model"], "other-model");
    assert_eq!(b["max_tokens"], 256);
    let m = &b["messages"];
    assert_eq!(m[2]["role"], "assistant");
    assert_eq!(m[2]["content"], "Checking.");
    assert_eq!(
        m[2]["tool_calls"],
        json!([{"id": "call_1", "type": "function", "function": {"name": "fs__usage", "arguments": "{\"path\":\"/\"}"}}])
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"used_pct\": 93}"})
    );
}

#[tokio::test]
async fn connection_refused_names_the_url_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        ..OpenAiConfig::default()
    };
    let p = OpenAiProvider::new(&cfg, Ok(None))
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_retries: 2,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        });
    let err = within("response", p.complete(request()))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("http://{addr}/v1/chat/completions")),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_instead_of_hanging() {
    let never = Arc::new(Notify::new());
    let server = MockServer::start(vec![Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        parts: vec![
            Part::Bytes(format!("data: {}\n\n", text_chunk("a")).into_bytes()),
            Part::Gate(never),
        ],
        framing: Framing::Chunked,
    }])
    .await;
    let cfg = OpenAiConfig {
        base_url: format!("{}/v1", server.base),
        timeout_secs: 1,
        ..OpenAiConfig::default()
    };
    let p = OpenAiProvider::new(&cfg, Ok(None)).unwrap();
    let (events, err) = collect(within("response", p.complete(request())).await.unwrap()).await;
    assert_eq!(events, vec![CompletionEvent::TextDelta("a".into())]);
    let err = err.unwrap();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert_eq!(
        aios_proto::ApiError::from(err).kind,
        aios_proto::ApiErrorKind::DeadlineExceeded
    );
}

#[tokio::test]
async fn probe_lists_models_and_reports_a_rejected_key() {
    let server = MockServer::start(vec![
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            parts: vec![Part::Bytes(
                br#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#.to_vec(),
            )],
            framing: Framing::Chunked,
        },
        Reply::error(401, r#"{"error":{"message":"bad key"}}"#, &[]),
    ])
    .await;
    let p = provider(&server, Some(KEY), 0);
    let ok = within("probe", p.probe()).await.unwrap();
    assert!(ok.contains("2 models"), "{ok}");
    let err = within("probe", p.probe()).await.unwrap_err();
    assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
}

//! API keys never leak: with a recognisable fake key, requests that fail
//! in every way a server can make them fail (401 and 500 bodies echoing
//! the key, a malformed stream echoing it, a stream dropped mid-way), and
//! one that succeeds, leave no trace of the key in any event, any error,
//! any status, or the log file of everything the gateway logged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use aios_config::{Config, ProviderConfig, ProviderKind};
use aios_gatewayd::Gateway;
use aios_proto::{ChatMessage, CompletionRequest, Role};
use common::{Framing, MockServer, Reply, collect, within};
use serde_json::json;

const KEY: &str = "sk-LEAKCANARY-7f3a9c1e5b2d4f6a8c0e";

/// A log writer into a file, shared with the test.
#[derive(Clone)]
struct LogFile(Arc<Mutex<std::fs::File>>);

impl std::io::Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

fn echo(status: u16) -> Reply {
    Reply::error(
        status,
        &format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {KEY}. You can find your API key at …","type":"invalid_request_error"}}}}"#
        ),
        &[],
    )
}

fn request() -> CompletionRequest {
    CompletionRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hello".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn the_key_appears_in_no_event_error_status_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("gatewayd.log");
    let log = LogFile(Arc::new(Mutex::new(
        std::fs::File::create(&log_path).unwrap(),
    )));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || log.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let openai = MockServer::start(vec![
        echo(401),
        echo(500),
        Reply::sse(&format!("data: {{not json {KEY}\n\n"), 16, Framing::Chunked),
        Reply::sse(
            &format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": "partial"}}]})
            ),
            16,
            Framing::ChunkedDropped,
        ),
        Reply::sse(
            &format!(
                "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": "ok"}}]}),
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            ),
            16,
            Framing::Chunked,
        ),
    ])
    .await;
    let anthropic = MockServer::start(vec![Reply::sse(
        &format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"bad key {KEY}\"}}}}\n\n"
        ),
        16,
        Framing::Chunked,
    )])
    .await;
    let mut c = Config::default();
    c.providers.0.insert(
        "lab".into(),
        ProviderConfig {
            kind: Some(ProviderKind::OpenaiCompatible),
            base_url: Some(format!("{}/v1", openai.base)),
            max_retries: Some(0),
            ..Default::default()
        },
    );
    c.providers.0.insert(
        "claude".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Anthropic),
            base_url: Some(anthropic.base.clone()),
            max_retries: Some(0),
            ..Default::default()
        },
    );
    c.model.provider = "lab".into();
    let gw = Gateway::with_key_lookup(&c, |_| Ok(Some(KEY.into()))).unwrap();

    let mut seen = String::new();
    for provider in ["lab", "lab", "lab", "lab", "lab", "claude"] {
        let mut req = request();
        req.provider = Some(provider.into());
        match within("start", gw.start(req)).await {
            Err(e) => seen.push_str(&format!("{e:?} {e}\n")),
            Ok(stream) => {
                let (events, err) = collect(stream).await;
                for e in &events {
                    seen.push_str(&format!("{e:?} {}\n", serde_json::to_string(e).unwrap()));
                }
                if let Some(e) = err {
                    seen.push_str(&format!("{e:?} {e}\n"));
                }
            }
        }
    }
    for s in gw.statuses(true).await {
        seen.push_str(&format!("{s:?}\n"));
    }
    drop(_guard);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    // The failures really happened and were logged (the check is not vacuous).
    assert!(
        seen.contains("HTTP 401") && seen.contains("HTTP 500"),
        "{seen}"
    );
    assert!(
        seen.contains("cannot read") && seen.contains("stream dropped"),
        "{seen}"
    );
    assert!(
        seen.contains("overloaded_error") && seen.contains("ok"),
        "{seen}"
    );
    assert!(logged.contains("completion failed"), "{logged}");
    assert!(
        seen.contains("[redacted]"),
        "the echoed keys were scrubbed: {seen}"
    );
    for (what, text) in [("events and errors", &seen), ("the log", &logged)] {
        assert!(!text.contains(KEY), "the key leaked into {what}:\n{text}");
        assert!(
            !text.contains("LEAKCANARY"),
            "part of the key leaked into {what}:\n{text}"
        );
    }
}

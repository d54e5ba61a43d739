//! gatewayd's `local` provider end to end: the real `runtimed` binary with
//! the tiny model, and the provider talking to it over its socket as
//! gatewayd does (tools narrowed, events streamed, real token usage).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aios_config::LocalConfig;
use aios_gatewayd::{LocalProvider, Provider};
use aios_proto::{ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role};
use futures::StreamExt;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(120);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tiny_model() -> PathBuf {
    let dir = std::env::var_os("AIOS_MODEL_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aios/models"),
        PathBuf::from,
    );
    let path = dir.join("smollm2-135m.gguf");
    assert!(
        path.is_file(),
        "this test needs the tiny model at {}: run `cargo xtask model fetch smollm2-135m`",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_provider_streams_from_a_real_runtimed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let notify = root.join("notify");
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(DEADLINE)).unwrap();
    let _daemon = Killed(
        Command::new(env!("CARGO_BIN_EXE_runtimed"))
            .env("AIOS_STATE_DIR", root.join("state"))
            .env("AIOS_RUNTIME_DIR", root.join("run"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("AIOS_LOCAL_MODEL", tiny_model())
            .env("NOTIFY_SOCKET", &notify)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 16];
    rx.recv(&mut buf).expect("runtimed did not become ready");

    let provider = LocalProvider::new(&LocalConfig {
        model_path: Some(tiny_model()),
    })
    .with_socket(root.join("run/runtimed.sock"));
    assert!(provider.status().configured);
    let probe = provider.probe().await.unwrap();
    assert!(probe.contains("smollm2-135m"), "{probe}");

    // Ten tools: the provider narrows them to six before the model sees
    // them; whatever the tiny model does, a call names an offered tool.
    let tools: Vec<ModelTool> = (0..10)
        .map(|i| ModelTool {
            name: format!("ns.tool{i}"),
            description: format!("Tool number {i}"),
            schema: json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
            examples: vec![],
        })
        .collect();
    let req = CompletionRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "Say hello.".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: tools.clone(),
        max_tokens: 48,
        ..Default::default()
    };
    let events: Vec<CompletionEvent> = tokio::time::timeout(
        DEADLINE,
        provider.complete(req).await.unwrap().collect::<Vec<_>>(),
    )
    .await
    .expect("the completion did not end in time")
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let n = events.len();
    assert!(n >= 2, "{events:?}");
    let CompletionEvent::Usage(u) = &events[n - 2] else {
        panic!("{events:?}")
    };
    assert_eq!(u.provider, "local");
    assert!(u.input_tokens > 0 && u.output_tokens > 0, "{u:?}");
    let CompletionEvent::Done { stop_reason } = &events[n - 1] else {
        panic!("{events:?}")
    };
    for e in &events {
        if let CompletionEvent::ToolCall(c) = e {
            assert!(tools[..6].iter().any(|t| t.name == c.name), "{c:?}");
            assert_eq!(stop_reason, "tool_use");
        }
    }
    assert!(
        ["end_turn", "tool_use", "max_tokens", "stop_sequence"].contains(&stop_reason.as_str()),
        "{stop_reason}"
    );
}

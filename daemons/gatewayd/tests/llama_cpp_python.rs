//! A real OpenAI-compatible peer: llama-cpp-python's server (llama.cpp
//! built by pip) serving the tiny test model, reached through an
//! `openai-compatible` instance of the gateway built from configuration.
//!
//! `cargo xtask test` installs the server (`prepare_tool_tests`) and sets
//! `AIOS_LLAMA_CPP_PYTHON`; without that variable this test says so and
//! skips. With it, a missing package or model is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aios_config::{Config, ProviderConfig, ProviderKind};
use aios_gatewayd::Gateway;
use aios_proto::{ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role};
use common::collect;
use serde_json::json;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn model() -> PathBuf {
    let dir = std::env::var_os("AIOS_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/aios/models")
        });
    dir.join("smollm2-135m.gguf")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start the server and wait (bounded) until it answers `/v1/models`.
fn start(python: &str, port: u16) -> Server {
    let mut child = Command::new(python)
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(model())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--n_ctx",
            "2048",
            "--n_threads",
            "1",
            "--chat_format",
            "chatml-function-calling",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python} -m llama_cpp.server: {e}"));
    // Keep its log for a failure message, on a thread of its own.
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("rror") {
                eprintln!("llama_cpp.server: {line}");
            }
        }
    });
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "llama_cpp.server did not listen on port {port} within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_llama_cpp_python_server_through_the_openai_compatible_kind() {
    let Some(python) = std::env::var_os("AIOS_LLAMA_CPP_PYTHON") else {
        eprintln!(
            "SKIP: AIOS_LLAMA_CPP_PYTHON is not set, so llama-cpp-python[server] was not installed \
             by `cargo xtask test` (prepare_tool_tests); run this test through it"
        );
        return;
    };
    let python = python.to_string_lossy().into_owned();
    assert!(
        model().is_file(),
        "{} is missing: run `cargo xtask model fetch smollm2-135m`",
        model().display()
    );
    let port = free_port();
    let _server = start(&python, port);

    let mut c = Config::default();
    c.providers.0.insert(
        "peer".into(),
        ProviderConfig {
            kind: Some(ProviderKind::OpenaiCompatible),
            base_url: Some(format!("http://127.0.0.1:{port}/v1")),
            model: Some("smollm2-135m".into()),
            timeout_secs: Some(300),
            max_retries: Some(2),
            ..Default::default()
        },
    );
    c.model.provider = "peer".into();
    let gw = Gateway::with_key_lookup(&c, |_| Ok(None)).unwrap();
    let req = CompletionRequest {
        system: "You call tools to answer.".into(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: "How full is the disk at /? Use fs.usage.".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: vec![ModelTool {
            name: "fs.usage".into(),
            description: "Disk usage of the filesystem holding a path".into(),
            schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            examples: vec![],
        }],
        max_tokens: 48,
        session: Some("real-peer".into()),
        ..Default::default()
    };
    let stream = tokio::time::timeout(Duration::from_secs(300), gw.start(req))
        .await
        .expect("the server answered within 300 s")
        .unwrap();
    let (events, err) = tokio::time::timeout(Duration::from_secs(300), collect(stream))
        .await
        .expect("the stream ended within 300 s");
    assert!(err.is_none(), "{err:?}");
    // Whatever the tiny model chose, the stream is assembled as the
    // server sent it: a tool call is one call named as offered (never the
    // name repeated per chunk), and usage is marked as estimated since
    // llama-cpp-python's stream carries none.
    for e in &events {
        match e {
            CompletionEvent::ToolCall(t) => assert_eq!(t.name, "fs.usage", "{events:?}"),
            CompletionEvent::MalformedToolCall { name, .. } => {
                assert_eq!(name, "fs.usage", "{events:?}")
            }
            _ => {}
        }
    }
    let usage = events
        .iter()
        .find_map(|e| match e {
            CompletionEvent::Usage(u) => Some(u.clone()),
            _ => None,
        })
        .expect("a usage event");
    assert_eq!(usage.provider, "peer");
    assert_eq!(usage.route_reason, "configured default");
    assert!(usage.tokens_estimated, "{usage:?}");
    assert!(usage.input_tokens > 0, "{usage:?}");
    assert_eq!(
        usage.cost_usd,
        Some(0.0),
        "an openai-compatible peer is free unless priced"
    );
    assert!(
        matches!(events.last(), Some(CompletionEvent::Done { .. })),
        "{events:?}"
    );
}

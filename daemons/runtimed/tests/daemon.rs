//! The real `runtimed` binary serving the tiny real model (SmolLM2-135M,
//! `cargo xtask model fetch smollm2-135m`) over a real socket: Info,
//! streamed text, a grammar-constrained tool call among candidates,
//! embeddings, cancellation by dropping the stream, a missing and a corrupt
//! model (clear errors, the daemon stays up), and the peer-credential check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aios_proto::{
    ApiErrorKind, ChatMessage, GenerateEvent, GenerateRequest, ModelTool, Role, RuntimeClient,
};
use futures::StreamExt;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(120);

fn tiny_model() -> PathBuf {
    let dir = match std::env::var_os("AIOS_MODEL_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aios/models")
        }
    };
    let path = dir.join("smollm2-135m.gguf");
    assert!(
        path.is_file(),
        "these tests need the tiny model at {}: run `cargo xtask model fetch smollm2-135m`",
        path.display()
    );
    path
}

struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start runtimed on `model` and wait for its `READY=1`.
fn start(root: &Path, model: &Path) -> Daemon {
    let notify = root.join("notify");
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(DEADLINE)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_runtimed"))
        .env("AIOS_STATE_DIR", root.join("state"))
        .env("AIOS_RUNTIME_DIR", root.join("run"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("AIOS_LOCAL_MODEL", model)
        .env("AIOS_LOG", "info")
        .env("NOTIFY_SOCKET", &notify)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let len = rx
        .recv(&mut buf)
        .expect("runtimed did not report READY=1 in time");
    assert_eq!(&buf[..len], b"READY=1");
    Daemon {
        child,
        socket: root.join("run/runtimed.sock"),
        log: root.join("state/log/runtimed.log"),
    }
}

async fn client(d: &Daemon) -> RuntimeClient {
    RuntimeClient::new(aios_proto::connect(&d.socket).await.unwrap())
}

fn user(text: &str) -> ChatMessage {
    ChatMessage {
        role: Role::User,
        content: text.into(),
        tool_calls: vec![],
        tool_call_id: None,
    }
}

fn tools() -> Vec<ModelTool> {
    let tool = |name: &str, description: &str, schema| ModelTool {
        name: name.into(),
        description: description.into(),
        schema,
        examples: vec![],
    };
    vec![
        tool(
            "fs.usage",
            "Disk usage of a path",
            json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        ),
        tool(
            "service.status",
            "Status of a service",
            json!({"type": "object", "properties": {"unit": {"type": "string"}}, "required": ["unit"]}),
        ),
        tool(
            "net.ports",
            "Listening ports",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

/// Every event of a stream, failing the test past the deadline.
async fn collect(
    stream: aios_proto::BoxStream<GenerateEvent>,
) -> Vec<Result<GenerateEvent, aios_proto::ApiError>> {
    tokio::time::timeout(DEADLINE, stream.collect::<Vec<_>>())
        .await
        .expect("the generation did not end in time")
}

/// Wait until `f` holds, polling, failing past the deadline.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_info_text_a_tool_call_and_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let d = start(dir.path(), &model);
    let mut c = client(&d).await;

    let info = c.info().await.unwrap();
    assert_eq!(info.model_name, "smollm2-135m");
    assert_eq!(info.model_path, model.display().to_string());
    assert!(info.n_ctx > 0 && info.n_ctx_train > 0, "{info:?}");
    assert!(info.resident_bytes > 10 << 20, "{info:?}");
    assert!(info.threads >= 1, "{info:?}");

    // Plain text: deltas, then usage, then done.
    let events = collect(
        c.generate(GenerateRequest {
            messages: vec![user("Say hello.")],
            max_tokens: 12,
            ..Default::default()
        })
        .await
        .unwrap(),
    )
    .await;
    let events: Vec<GenerateEvent> = events.into_iter().map(Result::unwrap).collect();
    assert!(
        matches!(events[0], GenerateEvent::TextDelta(_)),
        "{events:?}"
    );
    let n = events.len();
    let GenerateEvent::Usage(u) = &events[n - 2] else {
        panic!("{events:?}")
    };
    assert!(u.prompt_tokens > 0 && u.generated_tokens > 0, "{u:?}");
    assert!(
        matches!(&events[n - 1], GenerateEvent::Done { .. }),
        "{events:?}"
    );

    // A required call: exactly one call, to a candidate, with its own keys.
    let events = collect(
        c.generate(GenerateRequest {
            messages: vec![user("How full is the disk at /var?")],
            tools: tools(),
            max_tokens: 64,
            require_tool: true,
            ..Default::default()
        })
        .await
        .unwrap(),
    )
    .await;
    let events: Vec<GenerateEvent> = events.into_iter().map(Result::unwrap).collect();
    let calls: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GenerateEvent::ToolCall(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1, "{events:?}");
    let call = calls[0];
    // Chosen among three: how sure the model was, just before the call.
    let at = |f: fn(&GenerateEvent) -> bool| events.iter().position(f);
    let choice = at(|e| matches!(e, GenerateEvent::NameChoice { .. }));
    assert!(
        choice.is_some() && choice < at(|e| matches!(e, GenerateEvent::ToolCall(_))),
        "{events:?}"
    );
    let Some(GenerateEvent::NameChoice {
        confidence,
        runner_up,
    }) = choice.map(|i| &events[i])
    else {
        unreachable!()
    };
    assert!(*confidence > 0.0 && *confidence <= 1.0, "{events:?}");
    assert!(
        *runner_up != call.name && tools().iter().any(|t| t.name == *runner_up),
        "{events:?}"
    );
    let spec = tools().into_iter().find(|t| t.name == call.name).unwrap();
    let props = spec.schema["properties"].as_object().unwrap();
    for k in call.args.as_object().unwrap().keys() {
        assert!(props.contains_key(k), "{call:?}");
    }
    for k in spec.schema["required"].as_array().into_iter().flatten() {
        assert!(call.args[k.as_str().unwrap()].is_string(), "{call:?}");
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, GenerateEvent::TextDelta(_)))
    );
    assert_eq!(
        events.last(),
        Some(&GenerateEvent::Done {
            finish: "tool_call".into()
        })
    );

    let v = c
        .embed(vec!["disk full".into(), "restart nginx".into()])
        .await
        .unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].len(), v[1].len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_cancels_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &tiny_model());
    let mut c = client(&d).await;
    let mut stream = c
        .generate(GenerateRequest {
            messages: vec![user("Write a very long story about a lighthouse keeper.")],
            max_tokens: 4000,
            ..Default::default()
        })
        .await
        .unwrap();
    let first = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, GenerateEvent::TextDelta(_)), "{first:?}");
    drop(stream);
    let log = d.log.clone();
    until("runtimed to log the cancellation", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("generation was cancelled"))
    })
    .await;
    // The worker is free again: the next request is served.
    let events = collect(
        c.generate(GenerateRequest {
            messages: vec![user("Hi")],
            max_tokens: 4,
            ..Default::default()
        })
        .await
        .unwrap(),
    )
    .await;
    assert!(matches!(
        events.last(),
        Some(Ok(GenerateEvent::Done { .. }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_says_how_to_get_it_and_the_daemon_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("models/qwen2.5-coder-0.5b.gguf");
    let d = start(dir.path(), &absent);
    let mut c = client(&d).await;
    for _ in 0..2 {
        let e = c.info().await.unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::FailedPrecondition, "{e:?}");
        assert!(
            e.message.contains("aios model pull qwen2.5-coder-0.5b"),
            "{e}"
        );
        assert!(e.message.contains(&absent.display().to_string()), "{e}");
    }
    let e = c
        .generate(GenerateRequest {
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .err()
        .unwrap();
    assert!(
        e.message.contains("aios model pull qwen2.5-coder-0.5b"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_model_is_a_clear_error_and_the_daemon_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&[0xff; 64]);
    std::fs::write(&bad, bytes).unwrap();
    let d = start(dir.path(), &bad);
    let mut c = client(&d).await;
    for _ in 0..2 {
        let e = c.info().await.unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::FailedPrecondition, "{e:?}");
        assert!(e.message.contains("broken.gguf"), "{e}");
    }
    let mut d = d;
    assert!(d.child.try_wait().unwrap().is_none(), "runtimed exited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_may_ask_what_is_loaded_but_not_generate() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to connect as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &tiny_model());
    // Let the other uid reach the socket at all: its mode (0660) and its
    // directory (0700) would refuse it before the server's own check.
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [
        (dir.path().to_path_buf(), 0o755),
        (dir.path().join("run"), 0o755),
        (d.socket.clone(), 0o666),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let sock = d.socket.clone();
    let std_stream = std::thread::spawn(move || {
        // SAFETY: a raw syscall on this thread only; it exits right after.
        let r = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        std::os::unix::net::UnixStream::connect(sock).unwrap()
    })
    .join()
    .unwrap();
    std_stream.set_nonblocking(true).unwrap();
    let held = Mutex::new(Some(tokio::net::UnixStream::from_std(std_stream).unwrap()));
    let channel = tonic::transport::Endpoint::from_static("http://aios.local")
        .connect_with_connector(tower::service_fn(move |_| {
            let s = held.lock().unwrap().take();
            async move {
                s.map(hyper_util::rt::TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("used already"))
            }
        }))
        .await
        .unwrap();
    let mut nobody = RuntimeClient::new(channel);
    nobody.info().await.unwrap();
    let e = nobody
        .generate(GenerateRequest {
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied, "{e:?}");
    let e = nobody.embed(vec!["x".into()]).await.unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied, "{e:?}");
}

//! The scripted provider (script files and the embedded demo), the
//! gateway's routing and rights, and one completion through the real gRPC
//! path on a Unix socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use aios_config::Config;
use aios_gatewayd::demo::DEMO_NOTE;
use aios_gatewayd::{Gateway, Provider, ProviderError, ScriptedProvider};
use aios_proto::{
    ApiErrorKind, ChatMessage, CompletionEvent, CompletionRequest, ModelApi, ModelClient,
    ModelTool, Principal, Role, Services, ToolCall,
};
use common::{collect, within};
use serde_json::json;

const SCRIPT: &str = r#"{"turns": [
  {"text": "Checking the disk now.", "tool_calls": [
     {"name": "fs.usage", "args": {"path": "/"}},
     {"name": "sys.overview"},
     {"name": "x.bad", "raw_args": "{bad"}
  ]},
  {"chunks": ["The disk ", "is 93% ", "full."], "delay_ms": 1},
  {"error": "simulated outage"},
  {"text": "partial answer", "error": "stream broke"}
]}"#;

fn write_script(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("script.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn user(text: &str) -> ChatMessage {
    ChatMessage {
        role: Role::User,
        content: text.into(),
        tool_calls: vec![],
        tool_call_id: None,
    }
}

fn assistant(calls: Vec<ToolCall>) -> ChatMessage {
    ChatMessage {
        role: Role::Assistant,
        content: "ok".into(),
        tool_calls: calls,
        tool_call_id: None,
    }
}

fn tools(names: &[&str]) -> Vec<ModelTool> {
    names
        .iter()
        .map(|n| ModelTool {
            name: (*n).into(),
            description: format!("{n} tool"),
            schema: json!({"type": "object"}),
            examples: vec![],
        })
        .collect()
}

/// A request whose history holds `assistant_turns` assistant messages.
fn request_at_turn(assistant_turns: usize) -> CompletionRequest {
    let mut messages = vec![user("disk?")];
    for _ in 0..assistant_turns {
        messages.push(assistant(vec![]));
        messages.push(user("and?"));
    }
    CompletionRequest {
        messages,
        ..Default::default()
    }
}

#[tokio::test]
async fn script_file_replays_turns_by_assistant_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = ScriptedProvider::from_file(&write_script(dir.path(), SCRIPT));
    assert!(p.status().configured);
    assert!(
        p.status().detail.contains("4 turns"),
        "{}",
        p.status().detail
    );

    // Turn 0: text split into deltas, three tool calls with deterministic ids.
    let (ev, err) = collect(
        within("turn 0", p.complete(request_at_turn(0)))
            .await
            .unwrap(),
    )
    .await;
    assert!(err.is_none());
    let text: String = ev
        .iter()
        .filter_map(|e| match e {
            CompletionEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Checking the disk now.");
    assert!(
        ev.iter()
            .filter(|e| matches!(e, CompletionEvent::TextDelta(_)))
            .count()
            > 1
    );
    let calls: Vec<&CompletionEvent> = ev
        .iter()
        .filter(|e| {
            matches!(
                e,
                CompletionEvent::ToolCall(_) | CompletionEvent::MalformedToolCall { .. }
            )
        })
        .collect();
    assert_eq!(
        calls[0],
        &CompletionEvent::ToolCall(ToolCall {
            id: "call_0_0".into(),
            name: "fs.usage".into(),
            args: json!({"path": "/"})
        })
    );
    assert_eq!(
        calls[1],
        &CompletionEvent::ToolCall(ToolCall {
            id: "call_0_1".into(),
            name: "sys.overview".into(),
            args: json!({})
        })
    );
    assert!(
        matches!(calls[2], CompletionEvent::MalformedToolCall { id, raw_args, .. } if id == "call_0_2" && raw_args == "{bad")
    );
    assert!(
        matches!(&ev[ev.len() - 2], CompletionEvent::Usage(u) if u.provider == "scripted" && u.input_tokens > 0)
    );
    assert_eq!(
        ev.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "tool_use".into()
        })
    );

    // Turn 1: exact chunks, end_turn.
    let (ev, _) = collect(
        within("turn 1", p.complete(request_at_turn(1)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        &ev[..3],
        &[
            CompletionEvent::TextDelta("The disk ".into()),
            CompletionEvent::TextDelta("is 93% ".into()),
            CompletionEvent::TextDelta("full.".into()),
        ]
    );
    assert_eq!(
        ev.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "end_turn".into()
        })
    );

    // Turn 2: an error with no text fails before the stream.
    let err = within("turn 2", p.complete(request_at_turn(2)))
        .await
        .err()
        .unwrap();
    assert_eq!(err, ProviderError::Scripted("simulated outage".into()));

    // Turn 3: text, then the error mid-stream.
    let (ev, err) = collect(
        within("turn 3", p.complete(request_at_turn(3)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ev.len(), 2);
    assert_eq!(err, Some(ProviderError::Scripted("stream broke".into())));

    // Past the end: a clear error.
    let err = within("turn 4", p.complete(request_at_turn(4)))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("script exhausted after 4 turns"),
        "{err}"
    );
    assert_eq!(
        aios_proto::ApiError::from(err).kind,
        ApiErrorKind::FailedPrecondition
    );
}

#[tokio::test]
async fn broken_or_missing_script_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let bad =
        ScriptedProvider::from_file(&write_script(dir.path(), "{\"turns\": [ {\"text\": 1} ]}"));
    let st = bad.status();
    assert!(!st.configured);
    assert!(
        st.detail.contains("script.json") && st.detail.contains("line 1"),
        "{}",
        st.detail
    );
    let err = within("complete", bad.complete(request_at_turn(0)))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("script.json"), "{err}");
    assert_eq!(
        aios_proto::ApiError::from(err).kind,
        ApiErrorKind::Unavailable
    );

    let missing = ScriptedProvider::from_file(&dir.path().join("nope.json"));
    assert!(
        missing.status().detail.contains("nope.json"),
        "{}",
        missing.status().detail
    );
}

#[tokio::test]
async fn demo_mode_plans_calls_tools_then_summarises_results() {
    let p = ScriptedProvider::demo();
    let all = tools(&["fs.usage", "sys.overview", "process.list", "log.tail"]);
    let req = CompletionRequest {
        messages: vec![user("why is the disk almost full?")],
        tools: all.clone(),
        ..Default::default()
    };
    let (ev, err) = collect(within("plan", p.complete(req.clone())).await.unwrap()).await;
    assert!(err.is_none());
    assert!(matches!(&ev[0], CompletionEvent::TextDelta(t) if t.starts_with("I'll")));
    let call = ev
        .iter()
        .find_map(|e| match e {
            CompletionEvent::ToolCall(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(call.name, "fs.usage");
    assert_eq!(call.args, json!({"path": "/"}));
    assert_eq!(call.id, "call_0_0");
    assert_eq!(
        ev.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "tool_use".into()
        })
    );

    let mut follow = req;
    follow.messages.push(assistant(vec![call.clone()]));
    follow.messages.push(ChatMessage {
        role: Role::Tool,
        content: json!({"path": "/", "used_bytes": 9_000_000_000u64, "percent_used": 93})
            .to_string(),
        tool_calls: vec![],
        tool_call_id: Some(call.id.clone()),
    });
    let (ev, _) = collect(within("summary", p.complete(follow)).await.unwrap()).await;
    let text: String = ev
        .iter()
        .filter_map(|e| match e {
            CompletionEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        text.contains("fs.usage") && text.contains("percent_used: 93") && text.contains("GiB"),
        "{text}"
    );
    assert!(text.contains(DEMO_NOTE), "{text}");
    assert!(!ev.iter().any(|e| matches!(e, CompletionEvent::ToolCall(_))));
    assert_eq!(
        ev.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "end_turn".into()
        })
    );
}

/// The scripted instance as the default (the built-in default is `local`,
/// which needs runtimed).
fn config_with_script(script: Option<&Path>) -> Config {
    let mut c = Config::default();
    c.model.provider = "scripted".into();
    c.providers.entry("scripted").script = script.map(Path::to_path_buf);
    c
}

fn untrusted() -> Principal {
    Principal::ordinary(4242)
}

#[tokio::test]
async fn gateway_routes_reports_and_checks_rights() {
    let mut config = config_with_script(None);
    // No runtimed listens here: the local provider must say so.
    let run = tempfile::tempdir().unwrap();
    config.paths.runtime_dir = Some(run.path().to_path_buf());
    config.model.model = Some("demo-override".into());
    let gw = Gateway::with_keys(&config, Ok(None), Ok(None)).unwrap();
    assert_eq!(
        gw.provider_names(),
        ["anthropic", "local", "openai", "scripted"]
    );

    // Any user may list providers; the default is flagged with its model.
    let list = within("providers", gw.providers(untrusted(), false))
        .await
        .unwrap();
    let scripted = list.iter().find(|s| s.name == "scripted").unwrap();
    assert!(scripted.is_default && scripted.configured);
    assert_eq!(scripted.model, "demo-override");
    let local = list.iter().find(|s| s.name == "local").unwrap();
    assert!(!local.configured, "{local:?}");
    assert!(
        local.detail.contains("runtimed is not running"),
        "{local:?}"
    );
    let anthropic = list.iter().find(|s| s.name == "anthropic").unwrap();
    assert!(!anthropic.configured && anthropic.detail.contains("ANTHROPIC_API_KEY"));
    let probed = within("probe", gw.providers(untrusted(), true))
        .await
        .unwrap();
    assert!(
        probed
            .iter()
            .find(|s| s.name == "scripted")
            .unwrap()
            .reachable
    );
    assert!(!probed.iter().find(|s| s.name == "local").unwrap().reachable);

    // Only a trusted peer may spend completions.
    let err = within("complete", gw.complete(untrusted(), request_at_turn(0)))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ApiErrorKind::PermissionDenied);

    let me = aios_proto::current_principal();
    let mut req = request_at_turn(0);
    req.provider = Some("nope".into());
    let err = within("complete", gw.complete(me.clone(), req))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ApiErrorKind::InvalidArgument);
    assert!(
        err.message.contains("anthropic, local, openai, scripted"),
        "{}",
        err.message
    );

    let mut req = request_at_turn(0);
    req.provider = Some("local".into());
    let err = within("complete", gw.complete(me.clone(), req))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ApiErrorKind::Unavailable);
    assert!(err.message.contains("runtimed"), "{}", err.message);

    // Default route and the model override reach the provider.
    let (ev, _) = collect(
        within("complete", gw.complete(me, request_at_turn(0)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, CompletionEvent::Usage(u) if u.model == "demo-override"))
    );
}

#[tokio::test]
async fn scripted_completion_streams_over_the_real_grpc_path() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), SCRIPT);
    let gw = Gateway::with_keys(&config_with_script(Some(&script)), Ok(None), Ok(None)).unwrap();
    let sock = dir.path().join("run/gatewayd.sock");
    let listener = aios_proto::bind(&sock).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Services::new("gatewayd").model(Arc::new(gw)).serve(
        listener,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let channel = within("connect", aios_proto::connect(&sock)).await.unwrap();
    let mut client = ModelClient::new(channel);

    let list = within("providers", client.providers(false)).await.unwrap();
    assert_eq!(list.len(), 4);
    assert!(list.iter().any(|s| s.name == "scripted" && s.is_default));

    let (ev, err) = collect(
        within("complete", client.complete(request_at_turn(0)))
            .await
            .unwrap(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert!(ev.iter().any(|e| matches!(e, CompletionEvent::ToolCall(c) if c.id == "call_0_0" && c.args == json!({"path": "/"}))));
    assert!(ev.iter().any(
        |e| matches!(e, CompletionEvent::MalformedToolCall { raw_args, .. } if raw_args == "{bad")
    ));
    assert_eq!(
        ev.last(),
        Some(&CompletionEvent::Done {
            stop_reason: "tool_use".into()
        })
    );

    // A failure before the stream arrives as the call's error, with its kind.
    let err = within("complete", client.complete(request_at_turn(2)))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ApiErrorKind::Unavailable);
    assert!(err.message.contains("simulated outage"), "{}", err.message);

    // A failure mid-stream arrives as the stream's last item.
    let (ev, err) = collect(
        within("complete", client.complete(request_at_turn(3)))
            .await
            .unwrap(),
    )
    .await;
    assert!(!ev.is_empty());
    let err = err.unwrap();
    assert_eq!(err.kind, ApiErrorKind::Unavailable);
    assert!(err.message.contains("stream broke"), "{}", err.message);

    stop_tx.send(()).unwrap();
    within("server shutdown", server).await.unwrap().unwrap();
}

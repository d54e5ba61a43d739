//! gatewayd's `local` provider end to end: the real `runtimed` binary with
//! the tiny model, and the provider talking to it over its socket as
//! gatewayd does (tools narrowed, events streamed, real token usage).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_config::LocalConfig;
use aios_gatewayd::local::Listing;
use aios_gatewayd::{LocalProvider, Provider};
use aios_proto::{ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role};
use futures::StreamExt;
use serde_json::json;

mod support;

use std::time::Duration;

use support::{DEADLINE, start_runtimed, tiny_model};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_provider_streams_from_a_real_runtimed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _daemon = start_runtimed(root);

    let provider = LocalProvider::new(&LocalConfig {
        model_path: Some(tiny_model()),
        ..LocalConfig::default()
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
    let events = complete(&provider, req).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsure_pick_becomes_a_question_naming_two_tools() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _daemon = start_runtimed(root);
    // `clarify_below = 1`: ask whenever the model chose among several.
    let provider = LocalProvider::new(&LocalConfig {
        model_path: Some(tiny_model()),
        clarify_below: Some(1.0),
        ..LocalConfig::default()
    })
    .with_socket(root.join("run/runtimed.sock"));
    let tool = |name: &str, description: &str| ModelTool {
        name: name.into(),
        description: description.into(),
        schema: json!({"type": "object", "properties": {}}),
        examples: vec![],
    };
    let tools = vec![
        tool("fs.usage", "Disk usage of a path."),
        tool("service.status", "Status of a service."),
        tool("net.ports", "Listening ports."),
    ];
    // Every tool shares a word with the request: all three are offered.
    let req = CompletionRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "disk usage, service status or listening ports?".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: tools.clone(),
        max_tokens: 48,
        ..Default::default()
    };
    let events = complete(&provider, req).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, CompletionEvent::ToolCall(_))),
        "{events:?}"
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            CompletionEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(text.starts_with("I'm not sure which you mean"), "{text}");
    let named = tools
        .iter()
        .filter(|t| text.contains(&format!("`{}`", t.name)))
        .count();
    assert_eq!(named, 2, "{text}");
    assert!(
        matches!(events.last(), Some(CompletionEvent::Done { stop_reason }) if stop_reason == "end_turn"),
        "{events:?}"
    );

    // "the second one": that tool alone is offered, so it is called (no
    // choice left to be unsure of), its arguments from the conversation.
    let second = text
        .lines()
        .nth(2)
        .and_then(|l| l.strip_prefix("- `")?.split_once('`'))
        .map(|(name, _)| name.to_string())
        .unwrap();
    let say = |role: Role, content: &str| ChatMessage {
        role,
        content: content.into(),
        tool_calls: vec![],
        tool_call_id: None,
    };
    let req = CompletionRequest {
        messages: vec![
            say(Role::User, "disk usage, service status or listening ports?"),
            say(Role::Assistant, &text),
            say(Role::User, "the second one"),
        ],
        tools,
        max_tokens: 48,
        ..Default::default()
    };
    let events = complete(&provider, req).await;
    let calls: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            CompletionEvent::ToolCall(c) => Some(c.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, [second.as_str()], "{events:?}");
}

/// A request's completion, every event, within the deadline.
async fn complete(provider: &LocalProvider, req: CompletionRequest) -> Vec<CompletionEvent> {
    tokio::time::timeout(
        DEADLINE,
        provider.complete(req).await.unwrap().collect::<Vec<_>>(),
    )
    .await
    .expect("the completion did not end in time")
    .into_iter()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_listings_are_saved_at_start_and_requests_load_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _daemon = start_runtimed(root);
    // As `[providers.local] listing = "group"` configures it.
    let provider = LocalProvider::new(&LocalConfig {
        model_path: Some(tiny_model()),
        listing: Listing::Group,
        // The tiny model is unsure of everything; this test wants calls.
        clarify_below: Some(0.0),
    })
    .with_socket(root.join("run/runtimed.sock"));
    let tool = |name: &str, description: &str| ModelTool {
        name: name.into(),
        description: description.into(),
        schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        examples: vec![],
    };
    let tools = vec![
        tool("fs.usage", "Disk usage of the filesystem holding a path."),
        tool("fs.list", "List a directory."),
        tool("fs.read", "Read a text file."),
        tool("net.dns", "The resolver configuration."),
        tool("net.ping", "Ping a host."),
    ];
    // At start the provider has every group's prompt saved.
    provider.prepare("", &tools).await.unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let probe = provider.probe().await.unwrap();
        if probe.contains("saved") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{probe}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let saved = || -> Vec<std::time::SystemTime> {
        std::fs::read_dir(root.join("state/runtime/prefixes"))
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(root.join("state/log/runtimed.log"))
                    .unwrap_or_default();
                panic!("{e}: {log}")
            })
            .flatten()
            .map(|e| e.metadata().unwrap().modified().unwrap())
            .collect()
    };
    let before = saved();
    assert_eq!(before.len(), 2, "one saved prompt per group");

    // A disk request is shown the whole files group, loaded, not evaluated.
    let req = CompletionRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "How full is the disk at /var?".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: tools.clone(),
        max_tokens: 48,
        ..Default::default()
    };
    let events = complete(&provider, req).await;
    let call = events
        .iter()
        .find_map(|e| match e {
            CompletionEvent::ToolCall(c) => Some(c),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a required call: {events:?}"));
    assert!(call.name.starts_with("fs."), "{call:?}");
    // Loading a saved prompt marks it used (its modification time), and
    // saves nothing new.
    let after = saved();
    assert_eq!(after.len(), 2);
    let mut used = after.iter().filter(|t| !before.contains(t));
    assert!(
        used.next().is_some() && used.next().is_none(),
        "{before:?} → {after:?}"
    );
}

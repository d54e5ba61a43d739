//! Routing through the gateway built from configuration, against local
//! servers speaking the real wire formats: the fallback chain after 429,
//! 500 and a malformed stream, no fallback once output reached the user,
//! the circuit breaker, cost accounting, budgets that route to a free
//! instance with the reason, and day totals that survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use aios_config::{Config, Price, ProviderConfig, ProviderKind};
use aios_gatewayd::Gateway;
use aios_proto::{
    ApiErrorKind, ChatMessage, CompletionEvent, CompletionRequest, ModelTool, Role, Usage,
};
use common::{Framing, MockServer, Reply, collect, within};
use serde_json::{Value, json};

const KEY: &str = "sk-routing-test-0123456789";

fn openai_ok(text: &str) -> Reply {
    let chunks = [
        json!({"model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}),
    ];
    let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    s.push_str("data: [DONE]\n\n");
    Reply::sse(&s, 64, Framing::Chunked)
}

fn anthropic_error(status: u16, kind: &str) -> Reply {
    Reply::error(
        status,
        &format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"try later"}}}}"#),
        &[("retry-after", "0")],
    )
}

fn script(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("backup.json");
    std::fs::write(
        &p,
        json!({"turns": [{"text": "from the backup"}, {"text": "again"}, {"text": "and again"}, {"text": "once more"}]}).to_string(),
    )
    .unwrap();
    p
}

/// claude (anthropic) → gpt (openai) → backup (scripted).
fn config(claude: &MockServer, gpt: &MockServer, backup: &Path) -> Config {
    let mut c = Config::default();
    c.providers.0.insert(
        "claude".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Anthropic),
            base_url: Some(claude.base.clone()),
            max_retries: Some(0),
            ..Default::default()
        },
    );
    c.providers.0.insert(
        "gpt".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Openai),
            base_url: Some(format!("{}/v1", gpt.base)),
            model: Some("gpt-4o-mini".into()),
            max_retries: Some(0),
            ..Default::default()
        },
    );
    c.providers.0.insert(
        "backup".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Scripted),
            script: Some(backup.to_path_buf()),
            ..Default::default()
        },
    );
    c.model.provider = "claude".into();
    c.model.fallback = vec!["gpt".into(), "backup".into()];
    c.budget.fallback = "backup".into();
    c
}

fn gateway(c: &Config) -> Gateway {
    Gateway::with_key_lookup(c, |_| Ok(Some(KEY.into()))).unwrap()
}

fn request(session: &str) -> CompletionRequest {
    CompletionRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: "hello".into(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        tools: vec![ModelTool {
            name: "fs.usage".into(),
            description: "Disk usage".into(),
            schema: json!({}),
            examples: vec![],
        }],
        session: Some(session.into()),
        ..Default::default()
    }
}

async fn run(gw: &Gateway, session: &str) -> (Vec<CompletionEvent>, Usage) {
    let stream = within("start", gw.start(request(session))).await.unwrap();
    let (events, err) = collect(stream).await;
    assert!(err.is_none(), "{err:?}");
    let usage = events
        .iter()
        .find_map(|e| match e {
            CompletionEvent::Usage(u) => Some(u.clone()),
            _ => None,
        })
        .unwrap();
    (events, usage)
}

fn text(events: &[CompletionEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            CompletionEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn fallback_after_429_names_the_instance_and_prices_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![anthropic_error(429, "rate_limit_error")]).await;
    let gpt = MockServer::start(vec![openai_ok("hi from gpt")]).await;
    let gw = gateway(&config(&claude, &gpt, &script(dir.path())));
    let (events, u) = run(&gw, "s1").await;
    assert_eq!(text(&events), "hi from gpt");
    assert_eq!(u.provider, "gpt");
    assert_eq!(u.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(u.route_reason, "fallback after 429 from claude");
    // gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
    let want = (1000.0 * 0.15 + 500.0 * 0.6) / 1e6;
    assert!((u.cost_usd.unwrap() - want).abs() < 1e-12, "{u:?}");
    assert!((u.session_cost_usd.unwrap() - want).abs() < 1e-12);
    assert!((u.day_cost_usd.unwrap() - want).abs() < 1e-12);
    assert_eq!((claude.count(), gpt.count()), (1, 1));
}

#[tokio::test]
async fn fallback_after_500_then_a_malformed_stream_reaches_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![anthropic_error(500, "api_error")]).await;
    let gpt = MockServer::start(vec![Reply::sse(
        "data: {this is not json\n\n",
        64,
        Framing::Chunked,
    )])
    .await;
    let gw = gateway(&config(&claude, &gpt, &script(dir.path())));
    let (events, u) = run(&gw, "s1").await;
    assert_eq!(text(&events), "from the backup");
    assert_eq!(u.provider, "backup");
    assert_eq!(
        u.route_reason,
        "fallback after HTTP 500 from claude, then malformed stream from gpt"
    );
    // A scripted instance is free, and its counts are estimates.
    assert_eq!(u.cost_usd, Some(0.0));
    assert!(u.tokens_estimated);
}

#[tokio::test]
async fn no_fallback_once_output_reached_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![Reply::sse(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":5}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Partial\"}}\n\n",
        4096,
        Framing::ChunkedDropped,
    )])
    .await;
    let gpt = MockServer::start(vec![openai_ok("never")]).await;
    let gw = gateway(&config(&claude, &gpt, &script(dir.path())));
    let stream = within("start", gw.start(request("s1"))).await.unwrap();
    let (events, err) = collect(stream).await;
    assert_eq!(events, [CompletionEvent::TextDelta("Partial".into())]);
    let err = err.expect("the drop is reported");
    assert!(err.message.contains("claude"), "{}", err.message);
    assert_eq!(
        gpt.count(),
        0,
        "nothing may be retried elsewhere after output"
    );
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_skips_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![
        anthropic_error(500, "api_error"),
        anthropic_error(529, "overloaded_error"),
    ])
    .await;
    let gpt = MockServer::start(vec![openai_ok("a"), openai_ok("b"), openai_ok("c")]).await;
    let mut c = config(&claude, &gpt, &script(dir.path()));
    c.model.breaker_failures = 2;
    let gw = gateway(&c);
    for _ in 0..2 {
        let (_, u) = run(&gw, "s1").await;
        assert_eq!(u.provider, "gpt");
    }
    assert_eq!(claude.count(), 2);
    let (_, u) = run(&gw, "s1").await;
    assert_eq!(u.provider, "gpt");
    assert_eq!(u.route_reason, "fallback after claude's circuit open");
    assert_eq!(claude.count(), 2, "an open circuit is not called");
    let statuses = gw.statuses(false).await;
    let st = statuses.iter().find(|s| s.name == "claude").unwrap();
    assert!(st.detail.contains("circuit open"), "{}", st.detail);
}

#[tokio::test]
async fn a_spent_budget_routes_to_the_free_instance_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![]).await;
    let gpt = MockServer::start(vec![openai_ok("paid"), openai_ok("other session")]).await;
    let mut c = config(&claude, &gpt, &script(dir.path()));
    c.model.provider = "gpt".into();
    c.model.fallback = vec![];
    c.budget.session_usd = Some(0.0001);
    let gw = gateway(&c);
    let (_, u) = run(&gw, "s1").await;
    assert_eq!(
        (u.provider.as_str(), u.route_reason.as_str()),
        ("gpt", "configured default")
    );
    // The session spent $0.00045 of $0.0001: its next call goes to backup.
    let (events, u) = run(&gw, "s1").await;
    assert_eq!(text(&events), "from the backup");
    assert_eq!(u.provider, "backup");
    assert!(
        u.route_reason
            .starts_with("budget exhausted → backup (session budget $0.00 spent"),
        "{}",
        u.route_reason
    );
    // Another session still has its own budget.
    let (_, u) = run(&gw, "s2").await;
    assert_eq!(u.provider, "gpt");
    assert_eq!(gpt.count(), 2);
}

#[tokio::test]
async fn a_paid_budget_target_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![]).await;
    let gpt = MockServer::start(vec![openai_ok("paid")]).await;
    let mut c = config(&claude, &gpt, &script(dir.path()));
    c.model.provider = "gpt".into();
    c.budget.day_usd = Some(0.0);
    c.budget.fallback = "claude".into();
    let gw = gateway(&c);
    let err = match within("start", gw.start(request("s1"))).await {
        Err(e) => e,
        Ok(_) => panic!("a spent budget with a paid target must refuse"),
    };
    assert_eq!(err.kind, ApiErrorKind::ResourceExhausted);
    assert!(
        err.message.contains("daily budget $0.00 spent"),
        "{}",
        err.message
    );
    assert_eq!(gpt.count(), 0);
}

#[tokio::test]
async fn day_totals_survive_a_restart_of_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spend.json");
    let claude = MockServer::start(vec![]).await;
    let gpt = MockServer::start(vec![openai_ok("one")]).await;
    let mut c = config(&claude, &gpt, &script(dir.path()));
    c.model.provider = "gpt".into();
    c.model.fallback = vec![];
    c.budget.day_usd = Some(0.0004);
    let gw = gateway(&c).with_spend_file(&file);
    let (_, u) = run(&gw, "s1").await;
    assert_eq!(u.provider, "gpt");
    drop(gw);
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["calls"], 1);
    // A new gateway (a restarted gatewayd) knows the day is spent.
    let gw = gateway(&c).with_spend_file(&file);
    let (_, u) = run(&gw, "s9").await;
    assert_eq!(u.provider, "backup");
    assert!(
        u.route_reason.contains("daily budget"),
        "{}",
        u.route_reason
    );
    assert!(u.day_cost_usd.unwrap() > 0.0004);
}

#[tokio::test]
async fn an_instance_price_overrides_the_built_in_table() {
    let dir = tempfile::tempdir().unwrap();
    let claude = MockServer::start(vec![]).await;
    let gpt = MockServer::start(vec![openai_ok("priced")]).await;
    let mut c = config(&claude, &gpt, &script(dir.path()));
    c.model.provider = "gpt".into();
    c.providers.0.get_mut("gpt").unwrap().price = Some(Price {
        input_per_mtok: 1.0,
        output_per_mtok: 2.0,
    });
    let (_, u) = run(&gateway(&c), "s1").await;
    assert!((u.cost_usd.unwrap() - 0.002).abs() < 1e-12, "{u:?}");
}

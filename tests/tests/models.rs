//! `aios model list | use | info | pull` on the real binary, over a real
//! model directory and configuration file (no network: pulls that must
//! fail do so before downloading anything).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aios_tests::Env;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn model_env() -> (Env, std::path::PathBuf) {
    let mut env = Env::empty();
    let models = env.dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    env.vars
        .push(("AIOS_MODEL_DIR".into(), models.display().to_string()));
    (env, models)
}

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn list_shows_the_catalogue_and_says_how_to_get_the_default() {
    let (env, _models) = model_env();
    let v = stdout_json(&env.aios(&["model", "list", "--json"], b"", LIMIT));
    let models = v["models"].as_array().unwrap();
    let default: Vec<&Value> = models.iter().filter(|m| m["default"] == true).collect();
    assert_eq!(default.len(), 1);
    assert_eq!(default[0]["name"], "qwen2.5-coder-0.5b");
    assert_eq!(default[0]["installed"], Value::Null);
    assert!(models.iter().all(|m| m["active"] == false));

    let text = env.aios(&["model", "list"], b"", LIMIT);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("aios model pull qwen2.5-coder-0.5b"),
        "{text}"
    );

    let info = env.aios(&["model", "info"], b"", LIMIT);
    assert_eq!(info.status.code(), Some(2));
    let err = String::from_utf8_lossy(&info.stderr);
    assert!(err.contains("aios model pull qwen2.5-coder-0.5b"), "{err}");
}

#[test]
fn use_writes_the_config_and_the_runtime_choice_follows() {
    let (env, models) = model_env();
    let custom = models.join("my-model.gguf");
    std::fs::write(&custom, b"GGUF-not-really").unwrap();
    // A user file with a comment and another setting, which must survive.
    let cfg = env.user_config();
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, "# my settings\n[turn]\nmax_iterations = 5\n").unwrap();

    let out = env.aios(&["model", "use", "my-model"], b"", LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(written.contains("# my settings"), "{written}");
    assert!(written.contains("max_iterations = 5"), "{written}");
    let table: toml::Table = written.parse().unwrap();
    assert_eq!(
        table["providers"]["local"]["model_path"].as_str(),
        Some(custom.canonicalize().unwrap().to_str().unwrap())
    );

    let v = stdout_json(&env.aios(&["model", "list", "--json"], b"", LIMIT));
    let mine = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "my-model")
        .cloned()
        .unwrap();
    assert_eq!(mine["active"], true);

    let info = stdout_json(&env.aios(&["model", "info", "--json"], b"", LIMIT));
    assert_eq!(info["name"], "my-model");
    assert_eq!(info["size"], 15);

    // A model that is not there is refused, and the config is unchanged.
    let before = std::fs::read_to_string(&cfg).unwrap();
    let out = env.aios(&["model", "use", "qwen2.5-coder-1.5b"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("aios model pull qwen2.5-coder-1.5b"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
}

#[test]
fn bad_pulls_fail_before_downloading() {
    let (env, models) = model_env();
    for (args, needle) in [
        (vec!["model", "pull", "gpt-7"], "known models"),
        (
            vec!["model", "pull", "https://example.invalid/x.gguf"],
            "--sha256",
        ),
        (
            vec!["model", "pull", "hf:a/b/c.gguf", "--sha256", "123"],
            "64 hexadecimal",
        ),
        (
            vec!["model", "pull", "smollm2-135m", "--sha256", &"a".repeat(64)],
            "pinned",
        ),
    ] {
        let out = env.aios(&args, b"", LIMIT);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&models).unwrap().count(), 0);
}

/// The tiny real model (`cargo xtask model fetch smollm2-135m`), found
/// where the developer's models are, not in the test's own home.
fn tiny_model() -> std::path::PathBuf {
    let dir = std::env::var_os("AIOS_MODEL_DIR").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/aios/models")
        },
        std::path::PathBuf::from,
    );
    let path = dir.join("smollm2-135m.gguf");
    assert!(
        path.is_file(),
        "this test needs the tiny model at {}: run `cargo xtask model fetch smollm2-135m`",
        path.display()
    );
    path
}

#[test]
fn the_embedded_default_is_the_local_model_and_it_calls_a_tool() {
    let model = tiny_model();
    // No provider named anywhere: the built-in default decides.
    let mut env = Env::empty();
    env.vars
        .push(("AIOS_LOCAL_MODEL".into(), model.display().to_string()));
    // The tiny model is unsure of every pick, and an unsure pick becomes a
    // question (`clarify_below`); this test is about the call.
    let config = env.user_config();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[providers.local]\nclarify_below = 0\n").unwrap();
    let out = env.aios(
        &["-p", "how full is the disk?", "--json"],
        b"",
        Duration::from_secs(180),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let started = events
        .iter()
        .find(|e| e["type"] == "session_started")
        .unwrap_or_else(|| {
            panic!(
                "no session: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(started["provider"], "local", "{text}");
    // The router judged the request to need a tool, so the model had to
    // call one of its candidates under that tool's grammar, and it ran.
    let call = events
        .iter()
        .find(|e| e["type"] == "tool_call_begin")
        .unwrap_or_else(|| panic!("no tool call: {text}"));
    assert!(
        call["tool"].as_str().is_some_and(|t| t.contains('.')),
        "{call}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "tool_call_end"),
        "{text}"
    );
    let usage = events
        .iter()
        .find(|e| e["type"] == "usage")
        .unwrap_or_else(|| panic!("no usage: {text}"));
    assert_eq!(usage["provider"], "local", "{usage}");
    assert!(
        events.iter().any(|e| e["type"] == "turn_completed"),
        "{text}"
    );
}

#[test]
fn the_routers_tool_vectors_are_built_at_start_before_any_request() {
    let model = tiny_model();
    let mut env = Env::empty();
    env.vars
        .push(("AIOS_LOCAL_MODEL".into(), model.display().to_string()));
    // The embedding model beside it (`cargo xtask test` fetches both).
    let models = model.parent().unwrap().display().to_string();
    env.vars.push(("AIOS_MODEL_DIR".into(), models));
    let out = env.aios(&["daemons", "start"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // aiosd hands toolsd's catalogue to the gateway at start, which embeds
    // the tools for the router in the background: no request has been made.
    let doctor = || String::from_utf8_lossy(&env.aios(&["doctor"], b"", LIMIT).stdout).into_owned();
    let line = aios_tests::wait_until(
        "the local provider to report hybrid routing",
        Duration::from_secs(240),
        doctor,
        || {
            doctor()
                .lines()
                .find(|l| l.contains("routing: hybrid"))
                .map(str::to_string)
        },
    );
    assert!(line.trim_start().starts_with("local"), "{line}");
}

#[test]
fn a_missing_local_model_says_how_to_get_it() {
    let (env, _models) = model_env();
    let out = env.aios(&["-p", "how full is the disk?"], b"", LIMIT);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aios model pull qwen2.5-coder-0.5b"), "{err}");
}

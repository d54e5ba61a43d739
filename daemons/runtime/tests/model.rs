//! The runtime against a real model: the tiny SmolLM2-135M that
//! `cargo xtask test` fetches (`cargo xtask model fetch smollm2-135m`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use aios_runtime::grammar::tool_call_grammar;
use aios_runtime::{Cancel, ChatMessage, ErrorKind, Finish, GenOptions, LoadOptions, Runtime};
use serde_json::{Value, json};

const TINY: &str = "smollm2-135m.gguf";

/// The tiny model's path; fails with the command that fetches it.
fn tiny_model() -> PathBuf {
    let dir = match std::env::var_os("AIOS_MODEL_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aios/models")
        }
    };
    let path = dir.join(TINY);
    assert!(
        path.is_file(),
        "the runtime tests need the tiny model at {}: run `cargo xtask model fetch smollm2-135m` \
         (or set AIOS_MODEL_DIR to the directory holding {TINY})",
        path.display()
    );
    path
}

fn load() -> Runtime {
    Runtime::load(
        tiny_model(),
        LoadOptions {
            n_ctx: 2048,
            n_threads: 1,
        },
    )
    .unwrap()
}

fn opts(max_tokens: u32) -> GenOptions {
    GenOptions {
        max_tokens,
        ..GenOptions::default()
    }
}

fn chat(rt: &Runtime, system: &str, user: &str) -> String {
    rt.chat_template_apply(&[
        ChatMessage::new("system", system),
        ChatMessage::new("user", user),
    ])
    .unwrap()
}

#[test]
fn loads_applies_its_template_and_generates() {
    let rt = load();
    assert!(rt.info().n_vocab > 1000);
    assert!(
        rt.info().chat_template.is_some(),
        "SmolLM2 ships a chat template"
    );
    let prompt = chat(&rt, "You are terse.", "Say hello.");
    // SmolLM2's template is ChatML: the assistant turn is opened for us.
    assert!(prompt.contains("Say hello."), "{prompt}");
    assert!(
        prompt.trim_end().ends_with("<|im_start|>assistant"),
        "{prompt}"
    );

    let mut streamed = String::new();
    let g = rt
        .generate(&prompt, &opts(8), &Cancel::new(), |t| streamed.push_str(t))
        .unwrap();
    assert!(g.generated_tokens > 0 && g.generated_tokens <= 8, "{g:?}");
    assert!(!g.text.is_empty(), "{g:?}");
    assert_eq!(streamed, g.text, "the stream is the text");
    assert_eq!(g.prompt_tokens, rt.token_count(&prompt).unwrap());
    assert_eq!(g.cached_tokens, 0, "first request has nothing cached");
}

#[test]
fn grammar_constrained_tool_call_is_valid_json_for_the_schema() {
    let rt = load();
    let params = json!({
        "type": "object",
        "properties": {
            "path": { "type": "string", "maxLength": 24 },
            "mode": { "enum": ["long", "short"] },
            "hidden": { "type": "boolean" },
            "limit": { "type": "integer" }
        },
        "required": ["path", "mode", "hidden"],
        "additionalProperties": false
    });
    let grammar = tool_call_grammar("fs.list", &params).unwrap();
    let prompt = chat(
        &rt,
        "Answer with one JSON tool call.",
        "List the files in /etc, long format, with hidden files.",
    );
    let o = GenOptions {
        max_tokens: 160,
        grammar: Some(grammar),
        stop: vec![],
        kept: None,
        steer: None,
        save_prefix: None,
    };
    let g = rt.generate(&prompt, &o, &Cancel::new(), |_| {}).unwrap();
    assert_eq!(g.finish, Finish::EndOfText, "the grammar completes: {g:?}");
    let v: Value = serde_json::from_str(&g.text).unwrap_or_else(|e| panic!("{e}: {}", g.text));
    assert_eq!(v["name"], "fs.list", "{v}");
    let (name_at, args_at) = (g.text.find("\"name\""), g.text.find("\"arguments\""));
    assert!(
        name_at < args_at,
        "the tool is chosen before its arguments: {}",
        g.text
    );
    let args = v["arguments"].as_object().unwrap();
    assert!(
        args["path"]
            .as_str()
            .is_some_and(|p| p.chars().count() <= 24),
        "{v}"
    );
    assert!(
        ["long", "short"].contains(&args["mode"].as_str().unwrap()),
        "{v}"
    );
    assert!(args["hidden"].is_boolean(), "{v}");
    if let Some(l) = args.get("limit") {
        assert!(l.is_i64(), "{v}");
    }
    assert!(
        args.keys()
            .all(|k| ["path", "mode", "hidden", "limit"].contains(&k.as_str())),
        "{v}"
    );
}

#[test]
fn bad_grammar_is_a_clear_error_and_the_runtime_stays_usable() {
    let rt = load();
    let o = GenOptions {
        max_tokens: 4,
        grammar: Some("root ::= ( unclosed".into()),
        stop: vec![],
        kept: None,
        steer: None,
        save_prefix: None,
    };
    let e = rt
        .generate("Hello", &o, &Cancel::new(), |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Grammar, "{e}");
    rt.generate("Hello", &opts(2), &Cancel::new(), |_| {})
        .unwrap();
}

#[test]
fn prefix_cache_reuses_the_shared_instructions() {
    let rt = load();
    let system = "You are the aiOS assistant. You answer questions about the system. \
                  Tools: fs.list lists a directory; proc.list lists processes; \
                  net.addresses shows addresses. Be brief and exact.";
    let first = chat(&rt, system, "What is in /etc?");
    let a = rt
        .generate(&first, &opts(4), &Cancel::new(), |_| {})
        .unwrap();
    assert_eq!(a.cached_tokens, 0);

    let second = chat(&rt, system, "Which processes use the most memory?");
    let b = rt
        .generate(&second, &opts(4), &Cancel::new(), |_| {})
        .unwrap();
    assert!(b.cached_tokens > 20, "the system prompt is reused: {b:?}");
    assert!(
        b.cached_tokens < b.prompt_tokens,
        "the new question is evaluated: {b:?}"
    );

    // The same prompt again: everything but the last token (whose logits
    // sampling needs) comes from the cache.
    let c = rt
        .generate(&second, &opts(4), &Cancel::new(), |_| {})
        .unwrap();
    assert_eq!(c.cached_tokens, c.prompt_tokens - 1, "{c:?}");
    assert_eq!(
        c.text, b.text,
        "greedy decoding from the cache gives the same answer"
    );
}

#[test]
fn stop_strings_end_generation_and_are_not_returned() {
    let rt = load();
    let prompt = chat(
        &rt,
        "You count.",
        "Count from 1 to 20, separated by commas.",
    );
    let full = rt
        .generate(&prompt, &opts(40), &Cancel::new(), |_| {})
        .unwrap();
    // Stop at the second character the model actually produced, whatever it is.
    let stop: String = full.text.chars().skip(1).take(1).collect();
    assert!(!stop.is_empty(), "{full:?}");
    let o = GenOptions {
        max_tokens: 40,
        grammar: None,
        stop: vec![stop.clone()],
        kept: None,
        steer: None,
        save_prefix: None,
    };
    let mut streamed = String::new();
    let g = rt
        .generate(&prompt, &o, &Cancel::new(), |t| streamed.push_str(t))
        .unwrap();
    assert_eq!(g.finish, Finish::Stop, "{g:?}");
    assert!(!g.text.contains(&stop), "{g:?} stop {stop:?}");
    assert_eq!(streamed, g.text);
    assert!(full.text.starts_with(&g.text));
}

#[test]
fn cancellation_stops_within_a_token_and_the_runtime_goes_on() {
    let rt = load();
    let prompt = chat(
        &rt,
        "You are verbose.",
        "Tell me a long story about a lighthouse.",
    );
    let cancel = Cancel::new();
    let mut pieces = 0;
    let e = rt
        .generate(&prompt, &opts(200), &cancel, |_| {
            pieces += 1;
            cancel.cancel();
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    // The worker checks the flag before every token; at most the token in
    // flight when we cancelled may still stream.
    assert!(
        (1..=2).contains(&pieces),
        "{pieces} pieces streamed after cancelling"
    );

    let already = Cancel::new();
    already.cancel();
    let e = rt
        .generate(&prompt, &opts(5), &already, |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);

    let g = rt
        .generate(&prompt, &opts(3), &Cancel::new(), |_| {})
        .unwrap();
    assert!(g.generated_tokens > 0);
}

#[test]
fn missing_truncated_and_corrupt_models_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = LoadOptions::default();

    let missing = dir.path().join("nope.gguf");
    let e = Runtime::load(&missing, o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("nope.gguf"), "{e}");
    assert!(e.to_string().contains("cargo xtask model fetch"), "{e}");

    let full = std::fs::read(tiny_model()).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let e = Runtime::load(&truncated, o).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Load | ErrorKind::InvalidModel),
        "{e}"
    );
    assert!(e.to_string().contains("truncated.gguf"), "{e}");

    let header_only = dir.path().join("header.gguf");
    std::fs::write(&header_only, &full[..16]).unwrap();
    let e = Runtime::load(&header_only, o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidModel, "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");

    // A valid header followed by garbage metadata.
    let mut corrupt = full[..24].to_vec();
    corrupt.extend(std::iter::repeat_n(0xA5u8, 1 << 16));
    let corrupt_path = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt_path, corrupt).unwrap();
    let e = Runtime::load(&corrupt_path, o).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Load | ErrorKind::InvalidModel),
        "{e}"
    );

    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, b"these are not the weights you are looking for").unwrap();
    let e = Runtime::load(&not_gguf, o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidModel, "{e}");
    assert!(e.to_string().contains("magic"), "{e}");
}

#[test]
fn grammar_overrides_what_the_model_would_say() {
    // The model's own first choice after this prompt is never "zebra": every
    // token here goes through the grammar's full-vocabulary fallback.
    let rt = load();
    let prompt = chat(&rt, "You are terse.", "Say hello.");
    let o = GenOptions {
        max_tokens: 32,
        grammar: Some(r#"root ::= "zebra-" [0-9] [0-9] " quartz""#.into()),
        stop: vec![],
        kept: None,
        steer: None,
        save_prefix: None,
    };
    let g = rt.generate(&prompt, &o, &Cancel::new(), |_| {}).unwrap();
    assert_eq!(g.finish, Finish::EndOfText, "{g:?}");
    let rest = g
        .text
        .strip_prefix("zebra-")
        .unwrap_or_else(|| panic!("{g:?}"));
    let (digits, tail) = rest.split_at(2);
    assert!(digits.chars().all(|c| c.is_ascii_digit()), "{g:?}");
    assert_eq!(tail, " quartz", "{g:?}");
}

#[test]
fn small_contexts_chunk_prompts_and_refuse_overlong_ones() {
    let rt = Runtime::load(
        tiny_model(),
        LoadOptions {
            n_ctx: 64,
            n_threads: 1,
        },
    )
    .unwrap();
    // llama.cpp may round the context up; it then also lowers n_batch, and a
    // prompt longer than n_batch must be evaluated in chunks (a single
    // oversized batch is a GGML_ASSERT abort, as this test once found).
    let n_ctx = rt.info().n_ctx as usize;
    assert!(n_ctx >= 64, "{:?}", rt.info());
    let fits = "word ".repeat(n_ctx * 3 / 4);
    let g = rt
        .generate(&fits, &opts(4), &Cancel::new(), |_| {})
        .unwrap();
    assert!(g.prompt_tokens as usize > 64, "{g:?}");

    let long = "word ".repeat(n_ctx + 10);
    let e = rt
        .generate(&long, &opts(4), &Cancel::new(), |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PromptTooLong, "{e}");
    assert!(e.to_string().contains("n_ctx"), "{e}");
    // Generation that reaches the end of the context stops cleanly.
    let near = "word ".repeat(n_ctx - 8);
    let g = rt
        .generate(&near, &opts(64), &Cancel::new(), |_| {})
        .unwrap();
    assert!(
        g.prompt_tokens as usize + g.generated_tokens as usize <= n_ctx + 1,
        "{g:?}"
    );
}

#[test]
fn a_panicking_callback_does_not_wedge_the_runtime() {
    let rt = load();
    let prompt = chat(&rt, "You are verbose.", "Describe the sea.");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.generate(&prompt, &opts(200), &Cancel::new(), |_| {
            panic!("the caller's callback fails")
        })
    }));
    assert!(r.is_err());
    // The worker notices nobody listens, stops, and serves the next request.
    let g = rt
        .generate(&prompt, &opts(3), &Cancel::new(), |_| {})
        .unwrap();
    assert!(g.generated_tokens > 0, "{g:?}");
}

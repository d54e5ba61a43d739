//! Tool choice and embeddings against the tiny real model (SmolLM2-135M,
//! `cargo xtask model fetch smollm2-135m`). It is too small to choose well,
//! so these tests assert structure: a reply is text or a grammar-valid call
//! to one of the candidates, with arguments of that tool's own schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use aios_runtime::tools::SYSTEM;
use aios_runtime::{Cancel, ChatRequest, LoadOptions, Reply, Runtime, ToolDef, Turn};
use serde_json::{Value, json};

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

fn load() -> Runtime {
    load_ctx(2048)
}

fn load_ctx(n_ctx: u32) -> Runtime {
    Runtime::load(
        tiny_model(),
        LoadOptions {
            n_ctx,
            n_threads: 1,
        },
    )
    .unwrap()
}

fn candidates() -> Vec<ToolDef> {
    vec![
        ToolDef {
            examples: Vec::new(),
            name: "fs.usage".into(),
            description: "Disk usage of a filesystem path.".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        },
        ToolDef {
            examples: Vec::new(),
            name: "service.status".into(),
            description: "Status of a system service.".into(),
            parameters: json!({"type": "object", "properties": {"unit": {"type": "string"}, "lines": {"type": "integer"}}, "required": ["unit", "lines"]}),
        },
        ToolDef {
            examples: Vec::new(),
            name: "net.ports".into(),
            description: "Listening network ports.".into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ]
}

/// The call names a candidate and its arguments carry exactly that
/// candidate's required keys with the right types (no key soup).
fn assert_valid_call(name: &str, args_json: &str, tools: &[ToolDef]) {
    let tool = tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} is not a candidate"));
    let args: Value = serde_json::from_str(args_json).unwrap();
    let obj = args.as_object().unwrap();
    let props = tool.parameters["properties"].as_object().unwrap();
    for k in obj.keys() {
        assert!(
            props.contains_key(k),
            "{name}: unknown key {k} in {args_json}"
        );
    }
    for req in tool.parameters["required"].as_array().into_iter().flatten() {
        let k = req.as_str().unwrap();
        let v = obj.get(k).unwrap_or_else(|| panic!("{name}: missing {k}"));
        match props[k]["type"].as_str() {
            Some("string") => assert!(v.is_string(), "{name}.{k}: {v}"),
            Some("integer") => assert!(v.is_i64() || v.is_u64(), "{name}.{k}: {v}"),
            _ => {}
        }
    }
}

/// A request that must be answered with a call to one of `tools`.
fn required<'a>(tools: &'a [ToolDef], turns: &'a [Turn]) -> ChatRequest<'a> {
    ChatRequest {
        system: SYSTEM,
        tools,
        catalog: &[],
        turns,
        max_tokens: 96,
        require_tool: true,
    }
}

#[test]
fn a_required_call_is_one_grammar_valid_call_to_a_candidate() {
    let rt = load();
    let tools = candidates();
    let turns = [Turn::User("How full is the disk at /var?".into())];
    let mut streamed = String::new();
    let r = rt
        .chat(&required(&tools, &turns), &Cancel::new(), |t| {
            streamed.push_str(t)
        })
        .unwrap();
    match &r.reply {
        Reply::ToolCall { name, args_json } => assert_valid_call(name, args_json, &tools),
        other => panic!("a required call came back as {other:?}: {:?}", r.generated),
    }
    assert_eq!(streamed, "", "a tool call is not streamed as text");
    assert!(r.generated.text.trim_start().starts_with("<tool_call>"));
}

#[test]
fn a_required_calls_frame_is_written_without_sampling() {
    let rt = load();
    let tools = candidates();
    let turns = [Turn::User("Is the nginx service running?".into())];
    let r = rt
        .chat(&required(&tools, &turns), &Cancel::new(), |_| {})
        .unwrap();
    let Reply::ToolCall { name, args_json } = &r.reply else {
        panic!("a required call came back as {:?}", r.generated);
    };
    assert_valid_call(name, args_json, &tools);
    let g = &r.generated;
    // The canonical frame: written by the steering, not by the model.
    assert!(
        g.text.starts_with(&format!(
            "<tool_call>\n{{\"name\": \"{name}\", \"arguments\":"
        )),
        "{g:?}"
    );
    assert!(g.text.ends_with("}\n</tool_call>"), "{g:?}");
    // Its start and its end (what joins the name to the arguments is
    // forced too, but may merge with the name's last token).
    let frame = rt.token_count("<tool_call>\n{\"name\": \"").unwrap() as usize
        + rt.token_count("}\n</tool_call>").unwrap() as usize;
    assert!(
        g.forced_tokens as usize >= frame.saturating_sub(2) && g.forced_tokens < g.generated_tokens,
        "forced {} of {} tokens; the frame alone is {frame}: {g:?}",
        g.forced_tokens,
        g.generated_tokens
    );
    assert_eq!(g.finish, aios_runtime::Finish::EndOfText, "{g:?}");
}

fn open<'a>(tools: &'a [ToolDef], turns: &'a [Turn]) -> ChatRequest<'a> {
    ChatRequest {
        system: SYSTEM,
        tools,
        catalog: &[],
        turns,
        max_tokens: 64,
        require_tool: false,
    }
}

#[test]
fn an_open_reply_is_text_or_a_valid_call_and_a_tool_result_is_answered() {
    let rt = load();
    let tools = candidates();
    let mut turns = vec![Turn::User("Is the nginx service running?".into())];
    let mut streamed = String::new();
    let r = rt
        .chat(&open(&tools, &turns), &Cancel::new(), |t| {
            streamed.push_str(t)
        })
        .unwrap();
    match &r.reply {
        Reply::Text(t) => assert_eq!(t.as_str(), streamed.trim(), "text streams"),
        Reply::ToolCall { name, args_json } => {
            assert_valid_call(name, args_json, &tools);
            assert_eq!(streamed, "");
        }
    }
    // After a tool result the model replies again, under the same grammar.
    turns.push(Turn::ToolCall {
        name: "service.status".into(),
        args_json: r#"{"unit":"nginx","lines":5}"#.into(),
    });
    turns.push(Turn::ToolResult {
        name: "service.status".into(),
        content: "nginx.service: active (running) since 09:12".into(),
    });
    let second = rt
        .chat(&open(&tools, &turns), &Cancel::new(), |_| {})
        .unwrap();
    match &second.reply {
        Reply::Text(_) => {}
        Reply::ToolCall { name, args_json } => assert_valid_call(name, args_json, &tools),
    }
    // The fixed instructions and the same candidates were cached.
    assert!(
        second.generated.cached_tokens > 0,
        "no prefix reuse: {:?}",
        second.generated
    );
}

#[test]
fn cancelling_a_tool_choice_is_an_error_of_kind_cancelled() {
    let rt = load();
    let tools = candidates();
    let turns = [Turn::User("Which ports are open?".into())];
    let cancel = Cancel::new();
    cancel.cancel();
    let e = rt
        .chat(
            &ChatRequest {
                system: SYSTEM,
                tools: &tools,
                catalog: &[],
                turns: &turns,
                max_tokens: 32,
                require_tool: false,
            },
            &cancel,
            |_| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), aios_runtime::ErrorKind::Cancelled);
}

#[test]
fn embeddings_are_unit_vectors_and_deterministic() {
    let rt = load();
    let texts = vec![
        "the disk is full".to_string(),
        "restart the web server".to_string(),
    ];
    let a = rt.embed(&texts).unwrap();
    let b = rt.embed(&texts[..1]).unwrap();
    assert_eq!(a.len(), 2);
    assert!(a[0].len() > 16);
    assert_eq!(a[0].len(), a[1].len());
    for v in &a {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    assert_eq!(
        a[0], b[0],
        "one text at a time: the same text, the same vector"
    );
    let e = rt.embed(&[String::new()]).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
}

/// A catalogue of `n` more tools around the candidates, as the gateway
/// sends the whole tool list beside the router's few candidates.
fn catalog(n: usize) -> Vec<ToolDef> {
    let mut all = candidates();
    all.extend((0..n).map(|i| ToolDef {
        examples: Vec::new(),
        name: format!("extra.tool{i:02}"),
        description: format!("Extra tool number {i}. It is never a candidate."),
        parameters: json!({"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}),
    }));
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Wait until the runtime holds the whole kept prefix (it fills it while
/// idle), or fail after a generous deadline.
fn wait_until_kept(rt: &Runtime) -> aios_runtime::KeptStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let s = rt.kept_status();
        if s.ready() {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the catalogue was not kept in time: {s:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_catalogue_kept_before_any_request_serves_the_first_one() {
    let rt = load_ctx(4096);
    let tools = candidates();
    let all = catalog(12);
    // What a daemon does at start (aiosd → gatewayd → runtimed's `Keep`).
    assert!(rt.keep_catalog(SYSTEM, &all).unwrap());
    // The target is visible as soon as the call returns (runtimed answers
    // `Keep` with this status).
    assert!(rt.kept_status().target > 0, "{:?}", rt.kept_status());
    let kept = wait_until_kept(&rt);
    assert!(kept.target > 0, "{kept:?}");
    let turns = [Turn::User("How full is the disk at /var?".into())];
    let first = rt
        .chat(
            &ChatRequest {
                system: SYSTEM,
                tools: &tools,
                catalog: &all,
                turns: &turns,
                max_tokens: 48,
                require_tool: true,
            },
            &Cancel::new(),
            |_| {},
        )
        .unwrap();
    // The very first request lists the whole catalogue and evaluates only
    // what follows it.
    assert!(first.generated.used_kept, "{:?}", first.generated);
    assert!(
        first.generated.cached_tokens >= kept.target - 1,
        "{:?} with {kept:?}",
        first.generated
    );
    match &first.reply {
        Reply::ToolCall { name, args_json } => assert_valid_call(name, args_json, &tools),
        other => panic!("a required call came back as {other:?}"),
    }
    // A catalogue too long for this context is refused, and the one kept
    // stays.
    assert!(!rt.keep_catalog(SYSTEM, &catalog(400)).unwrap());
    assert_eq!(rt.kept_status(), kept);
}

#[test]
fn a_catalogue_whose_examples_would_not_fit_is_kept_without_them() {
    let rt = load_ctx(4096);
    let mut all = catalog(40);
    let mut example_tokens = 0;
    for (i, t) in all.iter_mut().enumerate() {
        let e = aios_runtime::Example {
            request: format!(
                "please look very carefully at thing number {i} and tell me all about it"
            ),
            args: json!({"x": format!("/var/lib/tool-{i}/data/with/a/long/path")}),
        };
        example_tokens += rt
            .token_count(&format!(" E.g. {:?} → {}", e.request, e.args))
            .unwrap();
        t.examples = vec![e];
    }
    // Kept all the same: the listing leaves the examples out.
    assert!(rt.keep_catalog(SYSTEM, &all).unwrap());
    let kept = wait_until_kept(&rt);
    // With them it could not have been kept beside the 2048 tokens
    // reserved for requests.
    assert!(
        kept.target + example_tokens > 4096 - 2048,
        "{kept:?}, examples {example_tokens} tokens"
    );
    let tools = candidates();
    let turns = [Turn::User("How full is the disk at /var?".into())];
    let r = rt
        .chat(
            &ChatRequest {
                catalog: &all,
                ..required(&tools, &turns)
            },
            &Cancel::new(),
            |_| {},
        )
        .unwrap();
    assert!(r.generated.used_kept, "{:?}", r.generated);
}

#[test]
fn the_catalogue_is_kept_while_idle_and_then_listed_at_no_cost_per_request() {
    // Room for the catalogue beside the reserve for requests.
    let rt = load_ctx(4096);
    let tools = candidates();
    let all = catalog(12);
    let ask = |text: &str, offered: &[ToolDef]| {
        let turns = [Turn::User(text.into())];
        rt.chat(
            &ChatRequest {
                system: SYSTEM,
                tools: offered,
                catalog: &all,
                turns: &turns,
                max_tokens: 48,
                require_tool: true,
            },
            &Cancel::new(),
            |_| {},
        )
        .unwrap()
    };
    // Nothing is kept yet: the first request lists only its candidates.
    let first = ask("How full is the disk at /var?", &tools);
    assert!(!first.generated.used_kept, "{:?}", first.generated);
    let kept = wait_until_kept(&rt);
    // The kept prefix lists every tool: longer than the whole first
    // prompt, which listed only the three candidates.
    assert!(
        kept.target > first.generated.prompt_tokens,
        "{kept:?} vs {:?}",
        first.generated
    );

    // Now the prompt lists the whole catalogue, and the kept part of it is
    // reused rather than evaluated.
    let second = ask("Is the nginx service running?", &tools);
    assert!(second.generated.used_kept, "{:?}", second.generated);
    assert!(
        second.generated.cached_tokens >= kept.target - 1,
        "the catalogue was evaluated again: {:?} with {kept:?}",
        second.generated
    );
    assert!(second.generated.prompt_tokens > first.generated.prompt_tokens);
    // The model sees every tool but may call only a candidate.
    match &second.reply {
        Reply::ToolCall { name, args_json } => assert_valid_call(name, args_json, &tools),
        other => panic!("a required call came back as {other:?}"),
    }
    let only = &tools[..1];
    let third = ask("Run extra tool number 3 with x=1", only);
    assert!(third.generated.used_kept);
    match &third.reply {
        Reply::ToolCall { name, .. } => assert_eq!(name, "fs.usage"),
        other => panic!("a required call came back as {other:?}"),
    }
}

#[test]
fn a_catalogue_too_long_for_the_context_is_not_kept_and_requests_still_work() {
    let rt = load_ctx(2048);
    // Far more than 2048 tokens less the reserve: never kept.
    let all = catalog(120);
    let tools = candidates();
    let turns = [Turn::User("Which ports are open?".into())];
    for _ in 0..2 {
        let r = rt
            .chat(
                &ChatRequest {
                    system: SYSTEM,
                    tools: &tools,
                    catalog: &all,
                    turns: &turns,
                    max_tokens: 48,
                    require_tool: true,
                },
                &Cancel::new(),
                |_| {},
            )
            .unwrap();
        assert!(!r.generated.used_kept);
        assert_eq!(rt.kept_status().target, 0, "{:?}", rt.kept_status());
        match &r.reply {
            Reply::ToolCall { name, args_json } => assert_valid_call(name, args_json, &tools),
            other => panic!("a required call came back as {other:?}"),
        }
    }
}

#[test]
fn a_kept_catalogue_is_saved_and_a_restarted_runtime_reuses_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tools = candidates();
    let all = catalog(8);
    let turns = [Turn::User("How full is the disk at /var?".into())];
    let request = ChatRequest {
        system: SYSTEM,
        tools: &tools,
        catalog: &all,
        turns: &turns,
        max_tokens: 48,
        require_tool: true,
    };
    let saved = {
        let rt = load_ctx(4096);
        rt.keep_in(dir.path()).unwrap();
        rt.chat(&request, &Cancel::new(), |_| {}).unwrap();
        let kept = wait_until_kept(&rt);
        // Saving follows the last step; the file appears whole (renamed).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "kv"))
        {
            assert!(std::time::Instant::now() < deadline, "nothing saved");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        kept
    };
    // A new runtime (a daemon restart) holds it before any request.
    let rt = load_ctx(4096);
    rt.keep_in(dir.path()).unwrap();
    // `keep_in` is an instruction to the worker: the next request runs
    // after it, so its result shows the restored prefix in use.
    let r = rt.chat(&request, &Cancel::new(), |_| {}).unwrap();
    assert!(r.generated.used_kept, "{:?}", r.generated);
    assert!(
        r.generated.cached_tokens >= saved.target - 1,
        "{:?}",
        r.generated
    );
    assert_eq!(rt.kept_status(), saved);

    // A damaged file is dropped and rebuilt, never trusted.
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::write(e.path(), b"not a kv cache").unwrap();
        }
    }
    let rt = load_ctx(4096);
    rt.keep_in(dir.path()).unwrap();
    let r = rt.chat(&request, &Cancel::new(), |_| {}).unwrap();
    assert!(!r.generated.used_kept, "{:?}", r.generated);
    assert!(matches!(r.reply, Reply::ToolCall { .. }));
}

/// The files of saved prompt prefixes under a runtime's state directory.
fn saved_prefixes(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("prefixes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "kv"))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until the runtime has warmed every prefix it was given.
fn wait_until_warm(rt: &Runtime) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while rt.kept_status().warm_pending > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the tool lists were not warmed in time: {:?}",
            rt.kept_status()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_warmed_tool_list_is_saved_once_and_loaded_by_requests() {
    let dir = tempfile::tempdir().unwrap();
    let tools = candidates();
    let turns = [Turn::User("How full is the disk at /var?".into())];
    // Not warmed: a request's own tool list is not saved (it would only
    // churn the disk).
    let evaluated = {
        let rt = load();
        rt.keep_in(dir.path()).unwrap();
        let r = rt
            .chat(&required(&tools, &turns), &Cancel::new(), |_| {})
            .unwrap();
        assert_eq!(r.generated.cached_tokens, 0, "{:?}", r.generated);
        assert!(saved_prefixes(dir.path()).is_empty());
        // Warmed while idle: saved, and dropped from the cache.
        assert_eq!(
            rt.warm_tool_lists(SYSTEM, std::slice::from_ref(&tools))
                .unwrap(),
            1
        );
        wait_until_warm(&rt);
        assert_eq!(saved_prefixes(dir.path()).len(), 1);
        r.generated.prompt_tokens
    };
    // A new runtime (a restart, or a cache that has since held other
    // prompts) loads it for a different request listing the same tools.
    let rt = load();
    rt.keep_in(dir.path()).unwrap();
    let second = [Turn::User("Is the ssh service running?".into())];
    let r = rt
        .chat(&required(&tools, &second), &Cancel::new(), |_| {})
        .unwrap();
    assert!(
        r.generated.cached_tokens > evaluated / 2,
        "the tool list was evaluated again: {:?}",
        r.generated
    );
    let Reply::ToolCall { name, args_json } = &r.reply else {
        panic!("a required call, got {:?}", r.reply);
    };
    assert_valid_call(name, args_json, &tools);
    // Warming what is saved already does nothing.
    rt.warm_tool_lists(SYSTEM, std::slice::from_ref(&tools))
        .unwrap();
    wait_until_warm(&rt);
    assert_eq!(saved_prefixes(dir.path()).len(), 1, "saved twice");
}

#[test]
fn a_damaged_saved_prefix_is_evaluated_again_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let tools = candidates();
    let turns = [Turn::User("How full is the disk at /var?".into())];
    {
        let rt = load();
        rt.keep_in(dir.path()).unwrap();
        rt.warm_tool_lists(SYSTEM, std::slice::from_ref(&tools))
            .unwrap();
        wait_until_warm(&rt);
    }
    let files = saved_prefixes(dir.path());
    assert_eq!(files.len(), 1);
    std::fs::write(&files[0], b"not a kv cache").unwrap();
    let rt = load();
    rt.keep_in(dir.path()).unwrap();
    // Warmed again (as gatewayd does at every start): the damaged file is
    // not trusted, and the request that finds it saves a good one.
    rt.warm_tool_lists(SYSTEM, std::slice::from_ref(&tools))
        .unwrap();
    let r = rt
        .chat(&required(&tools, &turns), &Cancel::new(), |_| {})
        .unwrap();
    assert_eq!(r.generated.cached_tokens, 0, "{:?}", r.generated);
    assert!(matches!(r.reply, Reply::ToolCall { .. }), "{:?}", r.reply);
    assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000);
    let rt = load();
    rt.keep_in(dir.path()).unwrap();
    let r = rt
        .chat(&required(&tools, &turns), &Cancel::new(), |_| {})
        .unwrap();
    assert!(r.generated.cached_tokens > 0, "{:?}", r.generated);
}

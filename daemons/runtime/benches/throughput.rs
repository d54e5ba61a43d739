//! Prompt processing (pp) and generation (tg) throughput of the runtime,
//! llama-bench style: medians over runs, tokens per second.
//!
//! `cargo bench -p aios-runtime --bench throughput` (it re-executes itself
//! with `OMP_WAIT_POLICY=passive`; `AIOS_BENCH_SPIN=1` to compare without).
//! Environment: `AIOS_BENCH_MODEL` (a GGUF path; default the tiny model in
//! the model directory), `AIOS_BENCH_THREADS` (default 1),
//! `AIOS_BENCH_PP` (prompt tokens, default 512), `AIOS_BENCH_TG` (generated
//! tokens, default 128), `AIOS_BENCH_RUNS` (default 5).
//!
//! The peer, measured in the same run on the same file, threads and token
//! counts: llama-cpp-python (`benches/llama_cpp_python.py`), when python3
//! can import it (`cargo xtask test` installs it; `AIOS_BENCH_PEER=0`
//! skips it). Its pp and tg are printed with our ratio to them.

use std::path::PathBuf;
use std::time::Duration;

use aios_runtime::{Cancel, GenOptions, LoadOptions, Runtime};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn per_sec(tokens: u32, d: Duration) -> f64 {
    f64::from(tokens) / d.as_secs_f64().max(1e-9)
}

fn main() {
    // `AIOS_BENCH_SPIN=1` keeps OpenMP's default busy-waiting, to compare.
    if std::env::var_os("AIOS_BENCH_SPIN").is_none()
        && let Err(e) = aios_runtime::reexec_with_passive_openmp()
    {
        eprintln!("bench: cannot re-exec with OMP_WAIT_POLICY=passive: {e}");
        std::process::exit(1);
    }
    let model = std::env::var_os("AIOS_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let dir = std::env::var_os("AIOS_MODEL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/aios/models")
                });
            dir.join("smollm2-135m.gguf")
        });
    let threads = env_u32("AIOS_BENCH_THREADS", 1);
    let pp = env_u32("AIOS_BENCH_PP", 512);
    let tg = env_u32("AIOS_BENCH_TG", 128);
    let runs = env_u32("AIOS_BENCH_RUNS", 5).max(1);
    let started = std::time::Instant::now();
    let rt = match Runtime::load(
        &model,
        LoadOptions {
            n_ctx: pp + tg + 64,
            n_threads: threads,
        },
    ) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    };
    let load = started.elapsed();

    let mut pps = Vec::new();
    let mut tgs = Vec::new();
    for run in 0..runs {
        // A distinct first word per run defeats the prefix cache, so the
        // whole prompt is evaluated; the filler is sized to `pp` tokens.
        let mut prompt = format!("Run {run}.");
        while rt.token_count(&prompt).unwrap_or(u32::MAX) < pp {
            prompt.push_str(" the quick brown fox jumps over the lazy dog");
        }
        let opts = GenOptions {
            max_tokens: tg,
            ..GenOptions::default()
        };
        let g = match rt.generate(&prompt, &opts, &Cancel::new(), |_| {}) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::exit(1);
            }
        };
        pps.push(per_sec(g.prompt_tokens - g.cached_tokens, g.prompt_time));
        tgs.push(per_sec(g.generated_tokens, g.generation_time));
    }
    // Grammar-constrained generation: a tool call under its own schema's
    // grammar (the cost that grows with the vocabulary).
    let params = serde_json::json!({
        "type": "object",
        "properties": {
            "path": { "type": "string" },
            "recursive": { "type": "boolean" },
            "limit": { "type": "integer" }
        },
        "required": ["path", "recursive", "limit"]
    });
    let grammar = match aios_runtime::grammar::tool_call_grammar("fs.list", &params) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    };
    let mut gtgs = Vec::new();
    for run in 0..runs {
        let prompt = format!("Run {run}. Call fs.list on /var/log as JSON:");
        let opts = GenOptions {
            max_tokens: 64,
            grammar: Some(grammar.clone()),
            stop: vec![],
            kept: None,
            steer: None,
            save_prefix: None,
        };
        match rt.generate(&prompt, &opts, &Cancel::new(), |_| {}) {
            Ok(g) => gtgs.push(per_sec(g.generated_tokens, g.generation_time)),
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::exit(1);
            }
        }
    }
    // A warm tool call: fixed instructions (cached after the first request),
    // a new question, a grammar-constrained call; request to complete call.
    let system = "You are the aiOS assistant. Answer with exactly one JSON tool call. \
                  fs.list lists a directory: path, recursive, limit.";
    let questions = [
        "what's in /var/log",
        "list my home directory",
        "show the files under /etc recursively, at most 20",
        "which files are in /tmp",
        "list /usr/bin, first 5 only",
    ];
    let mut calls = Vec::new();
    for (i, q) in questions.iter().cycle().take(runs as usize + 1).enumerate() {
        let prompt = match rt.chat_template_apply(&[
            aios_runtime::ChatMessage::new("system", system),
            aios_runtime::ChatMessage::new("user", *q),
        ]) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::exit(1);
            }
        };
        let opts = GenOptions {
            max_tokens: 64,
            grammar: Some(grammar.clone()),
            stop: vec![],
            kept: None,
            steer: None,
            save_prefix: None,
        };
        let started = std::time::Instant::now();
        if let Err(e) = rt.generate(&prompt, &opts, &Cancel::new(), |_| {}) {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
        // The first request fills the cache; it is the cold one.
        if i > 0 {
            calls.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("model   {}", model.display());
    println!(
        "threads {threads}  runs {runs}  load {:.0} ms",
        load.as_secs_f64() * 1e3
    );
    let (pp_median, tg_median) = (median(pps), median(tgs));
    println!("pp{pp}   {pp_median:8.1} tok/s (median)");
    println!("tg{tg}   {tg_median:8.1} tok/s (median)");
    println!(
        "tg+gbnf {:8.1} tok/s (median, tool-call grammar)",
        median(gtgs)
    );
    println!(
        "call    {:8.0} ms (median, warm tool call: request to complete JSON)",
        median(calls)
    );
    drop(rt);
    if std::env::var("AIOS_BENCH_PEER").as_deref() != Ok("0") {
        peer(&model, threads, pp, tg, runs, pp_median, tg_median);
    }
}

/// llama-cpp-python on the same workload, and our ratio to it.
fn peer(
    model: &std::path::Path,
    threads: u32,
    pp: u32,
    tg: u32,
    runs: u32,
    ours_pp: f64,
    ours_tg: f64,
) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/llama_cpp_python.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(model)
        .args([threads, pp, tg, runs].map(|n| n.to_string()))
        // The same OpenMP setting as ours, so the comparison is fair.
        .env("OMP_WAIT_POLICY", "passive")
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            println!(
                "peer    llama-cpp-python not measured: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("failed")
            );
            return;
        }
        Err(e) => {
            println!("peer    llama-cpp-python not measured: python3: {e}");
            return;
        }
    };
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            println!("peer    llama-cpp-python printed no result: {e}");
            return;
        }
    };
    let (p, t) = (
        v["pp"].as_f64().unwrap_or(0.0),
        v["tg"].as_f64().unwrap_or(0.0),
    );
    println!("peer    llama-cpp-python: pp{pp} {p:.1} tok/s, tg{tg} {t:.1} tok/s (median)");
    println!(
        "ratio   ours / peer: pp {:.2}x, tg {:.2}x",
        ours_pp / p.max(1e-9),
        ours_tg / t.max(1e-9)
    );
}

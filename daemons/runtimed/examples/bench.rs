//! Measures a running runtimed: model load, time to first token, tokens/s,
//! resident memory, and time from request to tool call (warm).
//!
//! ```text
//! AIOS_LOCAL_MODEL=~/.cache/aios/models/qwen2.5-coder-0.5b.gguf runtimed --socket /tmp/rt.sock &
//! cargo run --release -p aios-runtimed --example bench -- /tmp/rt.sock [runs]
//! ```
#![allow(clippy::print_stdout)]

use std::time::Instant;

use aios_proto::{ChatMessage, GenerateEvent, GenerateRequest, ModelTool, Role, RuntimeClient};
use anyhow::Context as _;
use futures::StreamExt;
use serde_json::json;

fn user(text: &str) -> ChatMessage {
    ChatMessage {
        role: Role::User,
        content: text.into(),
        tool_calls: vec![],
        tool_call_id: None,
    }
}

fn tools() -> Vec<ModelTool> {
    let t = |name: &str, description: &str, schema| ModelTool {
        name: name.into(),
        description: description.into(),
        schema,
        examples: vec![],
    };
    let path =
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]});
    vec![
        t(
            "fs.usage",
            "Disk usage of the filesystem holding a path.",
            path.clone(),
        ),
        t(
            "fs.largest",
            "The largest files under a directory.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "top": {"type": "integer"}}, "required": ["path"]}),
        ),
        t("fs.list", "List the entries of a directory.", path),
        t(
            "service.status",
            "Status of a system service.",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        ),
        t(
            "process.top",
            "Processes using the most CPU or memory.",
            json!({"type": "object", "properties": {"by": {"type": "string", "enum": ["cpu", "memory"]}}}),
        ),
        t(
            "net.ports",
            "Listening network ports.",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let socket = args.next().context("usage: bench SOCKET [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let mut c = RuntimeClient::new(aios_proto::connect(std::path::Path::new(&socket)).await?);
    let info = c.info().await?;
    println!(
        "model {} load {} ms, n_ctx {}, threads {}, rss {} MiB",
        info.model_name,
        info.load_ms,
        info.n_ctx,
        info.threads,
        info.resident_bytes >> 20
    );

    let (mut ttft, mut tps) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let start = Instant::now();
        let mut s = c
            .generate(GenerateRequest {
                messages: vec![user(&format!(
                    "Explain in a few sentences what a Linux inode is. ({i})"
                ))],
                max_tokens: 64,
                ..Default::default()
            })
            .await?;
        let mut first = None;
        while let Some(e) = s.next().await {
            match e? {
                GenerateEvent::TextDelta(_) if first.is_none() => {
                    first = Some(start.elapsed().as_secs_f64() * 1000.0)
                }
                GenerateEvent::Usage(u) => {
                    tps.push(f64::from(u.generated_tokens) * 1000.0 / u.generation_ms.max(1) as f64)
                }
                _ => {}
            }
        }
        ttft.extend(first);
    }
    println!(
        "text: time to first token p50 {:.0} ms, generation p50 {:.1} tok/s",
        median(ttft),
        median(tps)
    );

    let requests = [
        "how full is the disk at /var?",
        "what are the biggest files in /var/log?",
        "is nginx running?",
        "which ports are listening?",
        "what is using all the cpu?",
    ];
    let mut to_call = Vec::new();
    for (i, r) in requests
        .iter()
        .cycle()
        .take(runs.max(requests.len()))
        .enumerate()
    {
        let start = Instant::now();
        let mut s = c
            .generate(GenerateRequest {
                messages: vec![user(r)],
                tools: tools(),
                max_tokens: 64,
                ..Default::default()
            })
            .await?;
        let mut call = None;
        let mut usage = None;
        while let Some(e) = s.next().await {
            match e? {
                GenerateEvent::ToolCall(c) => {
                    call = Some((start.elapsed().as_secs_f64() * 1000.0, c.name, c.args))
                }
                GenerateEvent::Usage(u) => usage = Some(u),
                _ => {}
            }
        }
        match call {
            Some((ms, name, args)) => {
                // The first is cold for the tool list; the rest reuse it.
                if i > 0 {
                    to_call.push(ms);
                }
                println!("  {r:45} → {name} {args} in {ms:.0} ms {usage:?}");
            }
            None => println!("  {r:45} → text {usage:?}"),
        }
    }
    if !to_call.is_empty() {
        println!(
            "request to tool call (warm) p50 {:.0} ms over {}",
            median(to_call.clone()),
            to_call.len()
        );
    }
    let info = c.info().await?;
    println!("rss after {} MiB", info.resident_bytes >> 20);
    Ok(())
}

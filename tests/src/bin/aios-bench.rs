//! `aios-bench`: the benchmark table of issue #2, run by `cargo xtask bench`
//! against release binaries in an isolated environment.
//!
//! 1. Overhead of one tool call from the orchestrator's client code
//!    (`aiosd::GrpcBackends`) to `toolsd` and back over Unix sockets,
//!    excluding the tool itself (round trip − the executor's `duration_us`):
//!    p50 and p99. Run as root, the calls act for uid 65534, so the tool
//!    runs with that user's kernel credentials.
//! 2. `aios -p` cold start to first event with the daemons already running:
//!    median wall time from spawn to the first JSON line on stdout.
//! 3. The full-screen TUI in tmux (issue #10), daemons running: from
//!    spawning the pane to the first drawn frame (the input box is on
//!    screen) and to ready (the session's provider is in the status bar).
//!    Polled with `capture-pane`, so each figure carries the poll's
//!    granularity (about a millisecond).
//! 4. Frame render time of the TUI with a 10,000-entry transcript at
//!    200×50 on ratatui's `TestBackend`: the layout and drawing cost of one
//!    frame, without the terminal's I/O.
//! 5. Long-term memory (issue #11): memoryd's `Search` service with 10,000
//!    documents, ingest rate and query p50/p99 (`bench/memory.rs`).
//!    `cargo xtask bench memory` runs only these rows.
//! 6. Durable sessions (issue #10 §7): memoryd's `AppendEvents` p50/p99 and
//!    events per second through a session's journal, with and without the
//!    durable write (`bench/sessions.rs`); `aios-bench sessions` runs only these.
//! 7. The first Rust code block's cost to the TUI's UI thread, highlighted
//!    at once versus warmed in the background, each sample a fresh process
//!    (`bench/code.rs`); `aios-bench code` runs only these.
//! 8. Memory retrieval quality (issue #11): nDCG@10 and recall@10 of BM25 only,
//!    vectors only and hybrid on the committed evaluation set with the real
//!    all-MiniLM-L6-v2 (`aios_tests::memory_eval`); `aios-bench memory-eval`.
//! 9. aios-search and ChromaDB side by side at 10k and 100k documents
//!    (`bench/sidebyside.rs`, `tests/bench/chroma_side.py`); `aios-bench chroma`
//!    (`AIOS_BENCH_CHROMA_SIZES=10000,100000` to choose the sizes,
//!    `AIOS_BENCH_CHROMA_VECTORS=latent,random` the synthetic vectors; default `latent`).
//!
//! 10. A streamed 2,000-token answer through the line mode's text stream
//!     (`bench/stream.rs`, in process): the whole answer's cost, the last
//!     delta plus the turn's end, and the bytes written; `aios-bench stream`.
//!     The same answer through the TUI's state and view with a frame per
//!     delta (`bench/tui_stream.rs`): the whole answer and last byte → fully
//!     on screen.
//! 11. The shell's resident memory: the real TUI's VmRSS once ready in
//!     tmux (row 3's runs), and what a 10,000-entry transcript adds, laid
//!     out and drawn (row 4's transcript, in process).
//!
//! 12. aios beside aichat and the Codex CLI, all on one local OpenAI-compatible
//!     server (`bench/peers.rs`): first paint, ready, a streamed 2,000-token
//!     answer's last byte → on screen, its CPU, and resident memory;
//!     `aios-bench peers` (not part of the default run).
//!
//! `memory` runs 5, 8 and 9: `cargo xtask bench memory`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios_proto::{ExecuteEvent, ExecuteRequest};
use aios_tests::{Env, bin};
use aiosd::Backends;
use futures::StreamExt;

#[path = "../bench/code.rs"]
mod code;
#[path = "../bench/memory.rs"]
mod memory;
#[path = "../bench/peers.rs"]
mod peers;
#[path = "../bench/sessions.rs"]
mod sessions;
#[path = "../bench/sidebyside.rs"]
mod sidebyside;
#[path = "../bench/stream.rs"]
mod stream;
#[path = "../bench/tui_stream.rs"]
mod tui_stream;

const TOOL_CALLS: usize = 2000;
const WARMUP: usize = 200;
const COLD_STARTS: usize = 30;
const TUI_STARTS: usize = 15;
const FRAMES: usize = 500;
const CODE_STARTS: usize = 10;

fn main() -> anyhow::Result<()> {
    // `aios-bench [tools] [cold] [tui] [frame] [code] [memory] [sessions]`: only those (default all),
    // e.g. `cargo run -p aios-tests --bin aios-bench -- tui` for a quick
    // look without the release build `cargo xtask bench` makes.
    let only: Vec<String> = std::env::args().skip(1).collect();
    if let [child, mode] = only.as_slice()
        && child == code::CHILD
    {
        return code::child(mode);
    }
    // `aios-bench chroma-corpus DIR N [latent|random]`: writes the side by side's corpus
    // only, so `chroma-ours DIR` (and `tests/bench/chroma_side.py corpus DIR`) can be run
    // on it by hand, e.g. with other `AIOS_BENCH_ANN` parameters.
    if only.first().map(String::as_str) == Some("chroma-corpus") {
        let [_, dir, n, rest @ ..] = only.as_slice() else {
            anyhow::bail!("usage: aios-bench chroma-corpus DIR N [latent|random]");
        };
        let source = match rest.first() {
            Some(s) => aios_search::synthetic::VectorSource::parse(s)
                .ok_or_else(|| anyhow::anyhow!("{s:?} is not latent or random"))?,
            None => aios_search::synthetic::VectorSource::Latent,
        };
        sidebyside::write_corpus(std::path::Path::new(dir), n.parse()?, source)?;
        return Ok(());
    }
    // Internal: our side of the ChromaDB comparison, in a process of its own.
    if only.first().map(String::as_str) == Some("chroma-ours") {
        let dir = only
            .get(1)
            .ok_or_else(|| anyhow::anyhow!("chroma-ours needs the corpus directory"))?;
        println!("{}", sidebyside::ours(std::path::Path::new(dir))?);
        return Ok(());
    }
    // Named only: it needs aichat and the Codex CLI installed to mean much.
    // `peers aios` (any of aios, aichat, codex) runs only those.
    if only.first().map(String::as_str) == Some("peers") {
        return peers::run(&only[1..]);
    }
    const ALL: [&str; 10] = [
        "stream",
        "tools",
        "cold",
        "tui",
        "frame",
        "memory",
        "sessions",
        "code",
        "memory-eval",
        "chroma",
    ];
    for o in &only {
        anyhow::ensure!(
            ALL.contains(&o.as_str()),
            "unknown benchmark {o:?}: give any of {} (or peers, alone)",
            ALL.join(", ")
        );
    }
    let want = |name: &str| {
        only.is_empty()
            || only.iter().any(|o| o == name)
            // `memory` is every memory row.
            || (matches!(name, "memory-eval" | "chroma") && only.iter().any(|o| o == "memory"))
    };
    let mut rows_early: Vec<String> = Vec::new();
    let mut memory_tables: Vec<String> = Vec::new();
    if want("memory-eval") || want("chroma") {
        memory_tables = memory_quality(want("memory-eval"), want("chroma"))?;
    }
    if want("stream") {
        let (mut whole, mut last, bytes) = stream::run();
        whole.sort_unstable();
        last.sort_unstable();
        let (mut tui_whole, mut tui_last, deltas) = tui_stream::run()?;
        tui_whole.sort_unstable();
        tui_last.sort_unstable();
        let rows = [
            format!(
                "| TUI: 2,000-token answer, a 120×40 frame after each of its {deltas} deltas, whole | {} | {} | {} |",
                tui_stream::RUNS,
                fmt(pct(&tui_whole, 50)),
                fmt(pct(&tui_whole, 99))
            ),
            format!(
                "| TUI: last delta + turn end + frame → fully on screen | {} | {} | {} |",
                tui_stream::RUNS,
                fmt(pct(&tui_last, 50)),
                fmt(pct(&tui_last, 99))
            ),
            format!(
                "| line mode: 2,000-token answer through the text stream, whole (CPU) | {} | {} | {} |",
                stream::RUNS,
                fmt(pct(&whole, 50)),
                fmt(pct(&whole, 99))
            ),
            format!(
                "| line mode: last delta + turn end → fully written ({bytes} bytes written) | {} | {} | {} |",
                stream::RUNS,
                fmt(pct(&last, 50)),
                fmt(pct(&last, 99))
            ),
        ];
        if only.iter().all(|o| o == "stream") {
            println!("| benchmark | n | p50 | p99 |");
            println!("|---|---|---|---|");
            for r in rows {
                println!("{r}");
            }
            return Ok(());
        }
        rows_early.extend(rows);
    }
    if !["tools", "cold", "tui", "frame", "memory", "sessions"]
        .iter()
        .any(|b| want(b))
    {
        if !rows_early.is_empty() {
            println!("| benchmark | n | p50 | p99 |");
            println!("|---|---|---|---|");
            for r in rows_early {
                println!("{r}");
            }
        }
        for r in memory_tables {
            println!("{r}");
        }
        return Ok(());
    }
    let mut rows = rows_early;
    let env = Env::scripted(&serde_json::json!({"turns": [{"text": "ok"}]}));
    let out = env.aios(&["daemons", "start"], b"", Duration::from_secs(60));
    anyhow::ensure!(
        out.status.success(),
        "cannot start daemons: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    if want("tools") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        // Lazy channels spawn their connection task on the current runtime.
        let _guard = rt.enter();
        let run = env.runtime_dir();
        let backends: Arc<dyn Backends> = Arc::new(aiosd::GrpcBackends::with_sockets(
            &run.join("toolsd.sock"),
            &run.join("memoryd.sock"),
            &run.join("gatewayd.sock"),
        ));
        let (mut overhead, mut total) = rt.block_on(tool_overhead(backends))?;
        overhead.sort_unstable();
        total.sort_unstable();
        rows.push(format!(
            "| tool call overhead aiosd→toolsd→aiosd (excl. tool) | {TOOL_CALLS} | {} | {} |",
            fmt(pct(&overhead, 50)),
            fmt(pct(&overhead, 99))
        ));
        rows.push(format!(
            "| tool call round trip incl. tool (fs.list of an empty dir) | {TOOL_CALLS} | {} | {} |",
            fmt(pct(&total, 50)),
            fmt(pct(&total, 99))
        ));
    }

    if want("cold") {
        let mut cold = Vec::with_capacity(COLD_STARTS);
        for _ in 0..COLD_STARTS {
            cold.push(first_event(&env)?);
        }
        cold.sort_unstable();
        rows.push(format!(
            "| `aios -p` spawn → first event (daemons running) | {COLD_STARTS} | {} | {} |",
            fmt(pct(&cold, 50)),
            fmt(pct(&cold, 99))
        ));
    }

    if want("tui") {
        let (mut paint, mut ready, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..TUI_STARTS {
            let (p, r, kib) = tui_start(&env, i)?;
            paint.push(p);
            ready.push(r);
            rss.push(kib);
        }
        rss.sort_unstable();
        paint.sort_unstable();
        ready.sort_unstable();
        rows.push(format!(
            "| TUI in tmux: spawn → first drawn frame (daemons running) | {TUI_STARTS} | {} | {} |",
            fmt(pct(&paint, 50)),
            fmt(pct(&paint, 99))
        ));
        rows.push(format!(
            "| TUI in tmux: spawn → ready (session attached, status bar filled) | {TUI_STARTS} | {} | {} |",
            fmt(pct(&ready, 50)),
            fmt(pct(&ready, 99))
        ));
        rows.push(format!(
            "| TUI in tmux: shell VmRSS once ready | {TUI_STARTS} | {} | {} |",
            mib(rss[rss.len() / 2]),
            mib(rss[(rss.len() - 1) * 99 / 100])
        ));
    }

    if want("frame") {
        let (mut warm, cold_frame, grown) = frame_render()?;
        warm.sort_unstable();
        rows.push(format!(
            "| TUI: VmRSS a 10,000-entry transcript adds, laid out and drawn at 200×50 | 1 | {} | |",
            mib(grown)
        ));
        rows.push(format!(
            "| TUI frame render, 10,000-entry transcript, 200×50 (first frame: {}) | {FRAMES} | {} | {} |",
            fmt(cold_frame),
            fmt(pct(&warm, 50)),
            fmt(pct(&warm, 99))
        ));
    }

    if want("code") {
        rows.extend(code::run(CODE_STARTS, pct, fmt)?);
    }

    if want("memory") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        for r in rt.block_on(memory::run(
            &env.runtime_dir().join("memoryd.sock"),
            pct,
            fmt,
        ))? {
            rows.push(format!("| {} | {} | {} | {} |", r.name, r.n, r.p50, r.p99));
        }
    }

    if want("sessions") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        for r in rt.block_on(sessions::run(&env.runtime_dir(), pct, fmt))? {
            rows.push(format!("| {} | {} | {} | {} |", r.name, r.n, r.p50, r.p99));
        }
    }

    println!("| benchmark | n | p50 | p99 |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    for r in memory_tables {
        println!("{r}");
    }
    Ok(())
}

/// The evaluation set's nDCG@10 table, and (when `chroma`) the side by side with ChromaDB.
/// Without the model only the side by side runs (its synthetic corpus needs no model), and
/// its nDCG row is left out.
fn memory_quality(eval: bool, chroma: bool) -> anyhow::Result<Vec<String>> {
    use aios_tests::memory_eval::{self, Mode};
    let set = memory_eval::load(&memory_eval::set_dir())?;
    let embedder = match aios_embed::MiniLm::load_default() {
        Ok(e) => e,
        Err(e) if chroma && !eval => {
            eprintln!(
                "aios-bench: all-MiniLM-L6-v2 not loaded ({e}): the side by side runs without its nDCG@10 row"
            );
            return chroma_rows(None);
        }
        Err(e) => anyhow::bail!("{e}; fetch it with `cargo xtask model fetch all-minilm-l6-v2`"),
    };
    let started = Instant::now();
    let vectors = memory_eval::embed(&set, &embedder)?;
    let embed_time = started.elapsed();
    let evaluator = memory_eval::Evaluator::new(&set, &vectors)?;
    let report = evaluator.report(aios_search::DEFAULT_SEMANTIC_RATIO)?;
    let mut out = vec![
        String::new(),
        format!(
            "Memory evaluation set v{} ({} documents, {} queries, {} in the tuning half; all-MiniLM-L6-v2 embedded them in {:.1} s)",
            set.version,
            report.docs,
            report.queries,
            report.tuning_queries,
            embed_time.as_secs_f64()
        ),
        String::new(),
        "Semantic ratio sweep, hybrid, tuning half only (the default is chosen here):".into(),
        String::new(),
        "| semantic ratio | nDCG@10 | recall@10 |".into(),
        "|---|---|---|".into(),
    ];
    let ratios: Vec<f32> = (0..=20).map(|i| i as f32 / 20.0).collect();
    let sweep = evaluator.sweep(&ratios)?;
    for (r, f) in &sweep {
        out.push(format!("| {r:.2} | {:.4} | {:.4} |", f.ndcg, f.recall));
    }
    out.push(String::new());
    if let Some(r) = memory_eval::choose_ratio(&sweep) {
        out.push(format!(
            "The tuning half chooses {r:.2} (best nDCG@10 at 3 decimals, ties to the lower ratio); the default is {:.2}.",
            aios_search::DEFAULT_SEMANTIC_RATIO
        ));
        out.push(String::new());
    }
    out.push(format!(
        "Every mode, hybrid at the default semantic ratio {:.2}:",
        report.ratio
    ));
    out.push(String::new());
    out.push(
        "| mode | queries | nDCG@10 | recall@10 | nDCG@10 paraphrase | nDCG@10 exact term |".into(),
    );
    out.push("|---|---|---|---|---|---|".into());
    for (rows, which) in [
        (&report.tuning, "tuning half"),
        (&report.held_out, "held-out half"),
        (&report.modes, "whole set"),
    ] {
        for (mode, f) in rows {
            out.push(format!(
                "| {} | {which} | {:.3} | {:.3} | {:.3} | {:.3} |",
                mode.name(),
                f.ndcg,
                f.recall,
                f.ndcg_paraphrase,
                f.ndcg_exact
            ));
        }
    }
    if chroma {
        let export = tempfile::NamedTempFile::new()?;
        memory_eval::export(&set, &vectors, export.path())?;
        let figures = [
            report.of(Mode::Bm25).ndcg,
            report.of(Mode::Vector).ndcg,
            report.of(Mode::Hybrid).ndcg,
        ];
        out.push(String::new());
        out.extend(chroma_rows(Some((export.path(), figures)))?);
    }
    Ok(out)
}

/// The side by side with ChromaDB at `AIOS_BENCH_CHROMA_SIZES` (default 10k and 100k) with
/// `AIOS_BENCH_CHROMA_VECTORS` (default `latent`); `eval` as [`sidebyside::run`] takes it.
fn chroma_rows(eval: Option<(&std::path::Path, [f64; 3])>) -> anyhow::Result<Vec<String>> {
    let sizes: Vec<usize> = match std::env::var("AIOS_BENCH_CHROMA_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|x| x.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("AIOS_BENCH_CHROMA_SIZES={v:?}: {e}"))?,
        Err(_) => vec![10_000, 100_000],
    };
    let sources = sidebyside::sources_from_env()?;
    sidebyside::run(&sizes, &sources, eval)
}

/// One TUI start in a fresh tmux server: (first frame, ready, the shell's
/// VmRSS in KiB once ready).
fn tui_start(env: &Env, i: usize) -> anyhow::Result<(Duration, Duration, u64)> {
    let mut argv: Vec<String> = env.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    argv.push(bin("aios").display().to_string());
    argv.push("--no-autostart".into());
    let (pane, started) = peers::Pane::start(&format!("tui-{i}"), env.dir.path(), &argv)?;
    let mut paint = None;
    loop {
        let screen = pane.screen()?;
        if paint.is_none() && screen.contains("request") {
            paint = Some(started.elapsed());
        }
        if screen.contains("scripted") {
            let ready = started.elapsed();
            let rss = tui_stream::rss_kib(&pane.pid()?.to_string())?;
            return Ok((paint.unwrap_or(ready), ready, rss));
        }
        if started.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the TUI did not come up:\n{screen}");
        }
    }
}

/// Frame times with a 10,000-entry transcript at 200×50: every frame
/// after the first, the first (which lays out the visible cells), and the
/// resident memory (KiB) the transcript added once drawn.
fn frame_render() -> anyhow::Result<(Vec<Duration>, Duration, u64)> {
    let before = tui_stream::rss_kib("self")?;
    use aios_shell::transcript::{Cell, Level, Theme};
    use aios_shell::tui::{app::App, view};
    use ratatui::{Terminal, backend::TestBackend};
    let mut app = App::new(Theme::default(), "bench@host".into());
    for i in 0..10_000 {
        let cell = match i % 3 {
            0 => Cell::User {
                text: format!("request number {i}: why is the disk almost full?"),
            },
            1 => Cell::Assistant {
                lines: vec![
                    format!("## Answer {i}"),
                    "The disk is **93%** full; `/var/log` is the largest directory, \
                     followed by the apt cache and old kernels."
                        .into(),
                    "- journal: 4 GiB".into(),
                    "- apt cache: 1 GiB".into(),
                ],
            },
            _ => Cell::Notice {
                level: Level::Info,
                text: format!("notification {i}"),
            },
        };
        app.transcript.push(cell);
    }
    let mut term = Terminal::new(TestBackend::new(200, 50))?;
    let t = Instant::now();
    let _ = term.draw(|f| view::draw(f, &mut app));
    let first = t.elapsed();
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Scroll a little each frame so some frames lay out new cells.
        app.scroll = (i % 20) * 5;
        let t = Instant::now();
        let _ = term.draw(|f| view::draw(f, &mut app));
        times.push(t.elapsed());
    }
    // Every cell laid out once, as scrolling through the whole session would.
    let all = app.transcript.all_rows(200).len();
    let grown = tui_stream::rss_kib("self")?.saturating_sub(before);
    anyhow::ensure!(all > 10_000, "the transcript laid out only {all} rows");
    Ok((times, first, grown))
}

/// KiB as MiB, for the table.
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Cheapest real read tool: a listing of an empty directory.
async fn tool_overhead(
    backends: Arc<dyn Backends>,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let empty = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .tempdir()?;
    let args = serde_json::json!({"path": empty.path()});
    let mut overhead = Vec::with_capacity(TOOL_CALLS);
    let mut total = Vec::with_capacity(TOOL_CALLS);
    for i in 0..WARMUP + TOOL_CALLS {
        let started = Instant::now();
        let mut stream = backends
            .execute(ExecuteRequest {
                session_id: "bench".into(),
                call_id: format!("c{i}"),
                tool: "fs.list".into(),
                args: args.clone(),
                // As root, act for uid 65534: the tool runs with its kernel credentials.
                on_behalf_of_uid: if nix::unistd::getuid().is_root() {
                    65534
                } else {
                    nix::unistd::getuid().as_raw()
                },
                timeout_ms: 10_000,
                rationale: String::new(),
                ..Default::default()
            })
            .await?;
        let mut tool_us = None;
        while let Some(ev) = stream.next().await {
            if let ExecuteEvent::End(end) = ev? {
                anyhow::ensure!(
                    end.status == aios_proto::ToolStatus::Ok,
                    "fs.list failed: {}",
                    end.result
                );
                tool_us = Some(end.duration_us);
            }
        }
        let rtt = started.elapsed();
        let tool = Duration::from_micros(tool_us.ok_or_else(|| anyhow::anyhow!("no result"))?);
        if i >= WARMUP {
            total.push(rtt);
            overhead.push(rtt.saturating_sub(tool));
        }
    }
    Ok((overhead, total))
}

fn first_event(env: &Env) -> anyhow::Result<Duration> {
    let mut c = env.cmd("aios");
    c.args(["-p", "hi", "--json", "--no-autostart"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let _ = bin("aios");
    let started = Instant::now();
    let mut child = c.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let took = started.elapsed();
    anyhow::ensure!(
        line.contains("session_started"),
        "unexpected first line {line:?}"
    );
    child.wait()?;
    Ok(took)
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) * p) / 100;
    sorted[idx]
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

//! `aios-bench peers`: the shell beside aichat and the Codex CLI, in the same harness and
//! run, all pointed at one local OpenAI-compatible server (issue #10, Benchmarks).
//!
//! The server is ours, in this process: it answers every chat request (OpenAI chat
//! completions for aios and aichat, the Responses API for Codex, which speaks nothing
//! else) with the same 2,000-token answer, written as fast as the socket takes it, and
//! notes when it wrote the answer's last byte. Each program runs in a fresh tmux server
//! at 120×40, with its own throwaway configuration, and is measured the same way:
//!
//! - **first paint**: spawn → the first screen with anything on it;
//! - **ready**: spawn → the program's own "ready for input" sign (aios: the provider in
//!   its status bar; aichat: its REPL prompt; Codex: its composer's placeholder);
//! - **answer on screen**: the server's last byte → the answer's last word on the screen;
//! - **CPU for the answer**: user + system time of the program's process tree from sending
//!   the request to the last word on screen (clock ticks, so 10 ms steps);
//! - **RSS**: the resident memory of the program's process tree, once ready and after
//!   the answer;
//! - **daemons' RSS**: the resident memory, after the answer, of the processes outside
//!   that tree that work for the program: every process whose environment names the
//!   peer's private directory. For aios these are its daemons (started before the run,
//!   as a login would find them); Codex starts an `app-server` daemon that detaches from
//!   its TUI. They are stopped when the peer's runs end.
//!
//! The screen is polled with `tmux capture-pane` in a tight loop, so every on-screen
//! figure carries the poll's granularity (a few milliseconds, printed with the table).
//! aichat and Codex are used when installed (`cargo install aichat`, `npm install -g
//! @openai/codex`); a missing one is reported and left out.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios_tests::{Env, bin};
use anyhow::Context as _;
use serde_json::json;

/// Runs of each program.
pub const RUNS: usize = 5;
/// Words (tokens) in the answer.
const TOKENS: usize = 2000;
/// The answer's last word: its appearance means the whole answer is on screen.
const LAST: &str = "END2000";
/// What the user types.
const REQUEST: &str = "write the long answer";
/// The longest any step may take.
const LIMIT: Duration = Duration::from_secs(60);

/// The answer: `TOKENS - 1` numbered words, then [`LAST`].
fn words() -> Vec<String> {
    let mut w: Vec<String> = (1..TOKENS).map(|i| format!("w{i:04} ")).collect();
    w.push(LAST.to_string());
    w
}

/// The fake OpenAI-compatible server.
struct Server {
    port: u16,
    /// When the last byte of the most recent answer was written.
    last_byte: Arc<Mutex<Option<Instant>>>,
}

impl Server {
    fn start() -> anyhow::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let last_byte = Arc::new(Mutex::new(None));
        let shared = last_byte.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Ok(Server { port, last_byte })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn last_byte(&self) -> Option<Instant> {
        *self.last_byte.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self) {
        *self.last_byte.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// One HTTP/1.1 request, answered, then the connection closes.
fn serve(stream: TcpStream, last_byte: &Mutex<Option<Instant>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length.min(64 << 20)];
    reader.read_exact(&mut body)?;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let mut out = stream;
    if path.ends_with("/models") {
        let list = json!({"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "bench"}], "models": []});
        return respond_json(&mut out, &list);
    }
    let streamed = body["stream"].as_bool().unwrap_or(false);
    let events: Vec<String> = if path.ends_with("/responses") {
        responses_events()
    } else if path.ends_with("/chat/completions") && streamed {
        chat_events()
    } else if path.ends_with("/chat/completions") {
        let done = json!({"id": "c", "object": "chat.completion", "created": 0, "model": "bench",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": words().concat()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": TOKENS, "total_tokens": TOKENS + 10}});
        return respond_json(&mut out, &done);
    } else {
        return out.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    };
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )?;
    for e in &events {
        out.write_all(e.as_bytes())?;
    }
    out.flush()?;
    *last_byte.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    Ok(())
}

fn respond_json(out: &mut TcpStream, v: &serde_json::Value) -> std::io::Result<()> {
    let body = v.to_string();
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The answer as OpenAI chat-completion chunks, one word each.
fn chat_events() -> Vec<String> {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let c = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    events.extend(
        words()
            .into_iter()
            .map(|w| chunk(json!({"content": w}), None)),
    );
    let end = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": TOKENS, "total_tokens": TOKENS + 10}});
    events.push(format!("data: {end}\n\n"));
    events.push("data: [DONE]\n\n".into());
    events
}

/// The answer as Responses API events (what Codex reads), one word each.
fn responses_events() -> Vec<String> {
    let event = |v: serde_json::Value| {
        format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""))
    };
    let mut events = vec![
        event(json!({"type": "response.created", "response": {"id": "resp_bench"}})),
        event(
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "message", "id": "msg_bench", "role": "assistant", "content": []}}),
        ),
    ];
    events.extend(words().into_iter().map(|w| {
        event(
            json!({"type": "response.output_text.delta", "item_id": "msg_bench",
            "output_index": 0, "content_index": 0, "delta": w}),
        )
    }));
    events.push(event(
        json!({"type": "response.output_item.done", "output_index": 0,
        "item": {"type": "message", "id": "msg_bench", "role": "assistant",
            "content": [{"type": "output_text", "text": words().concat(), "annotations": []}]}}),
    ));
    events.push(event(
        json!({"type": "response.completed", "response": {"id": "resp_bench",
        "usage": {"input_tokens": 10, "input_tokens_details": null, "output_tokens": TOKENS,
            "output_tokens_details": null, "total_tokens": TOKENS + 10}}}),
    ));
    events
}

/// One program under test.
struct Peer {
    name: &'static str,
    /// The command, run through `env` in the pane.
    argv: Vec<String>,
    vars: Vec<(String, String)>,
    cwd: PathBuf,
    /// Shown once the program takes input (any of them: a program's
    /// versions draw their prompt differently).
    ready: &'static [&'static str],
    /// The peer's private directory: named in the environment of every
    /// process that works for it.
    marker: String,
    /// Kept alive for the peer's runs (its configuration, its daemons).
    _keep: Box<dyn std::any::Any>,
}

impl Drop for Peer {
    /// Daemons that detached from the program (Codex's `app-server`)
    /// outlive its tmux server: stop them with the peer.
    fn drop(&mut self) {
        for pid in working_for(&self.marker, &[]) {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Processes, other than `except`, whose environment contains `marker`.
fn working_for(marker: &str, except: &[u32]) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| *pid != me && !except.contains(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .collect()
}

/// A program in its own tmux server; the server is killed on drop.
pub struct Pane {
    socket: String,
}

impl Pane {
    fn tmux(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `peer`'s program in a fresh pane ([`Pane::start`]).
    fn spawn(peer: &Peer, run: usize) -> anyhow::Result<(Pane, Instant)> {
        let mut argv: Vec<String> = peer.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        argv.extend(peer.argv.iter().cloned());
        Pane::start(&format!("{}-{run}", peer.name), &peer.cwd, &argv)
    }

    /// `env ARGV` (variables, then the command) in the pane of a fresh
    /// tmux server at 120×40, with `TERM=tmux-256color`. An idle pane comes
    /// first, so the figures are the program's alone; then the program
    /// replaces it. Returns the pane and when the program was spawned.
    pub fn start(
        tag: &str,
        cwd: &std::path::Path,
        argv: &[String],
    ) -> anyhow::Result<(Pane, Instant)> {
        let pane = Pane {
            socket: format!("aios-bench-{}-{tag}", std::process::id()),
        };
        let cwd = cwd.display().to_string();
        pane.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            &cwd,
            "cat",
        ])?;
        let mut cmd: Vec<String> = ["respawn-pane", "-k", "-t", "b", "-c", &cwd, "env"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        cmd.push("TERM=tmux-256color".into());
        cmd.extend(argv.iter().cloned());
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let started = Instant::now();
        pane.tmux(&refs)?;
        Ok((pane, started))
    }

    /// The visible screen.
    pub fn screen(&self) -> anyhow::Result<String> {
        self.tmux(&["capture-pane", "-p", "-t", "b"])
    }

    /// The pane's process (the program: `env` execs it).
    pub fn pid(&self) -> anyhow::Result<u32> {
        Ok(self
            .tmux(&["display-message", "-p", "-t", "b", "#{pane_pid}"])?
            .trim()
            .parse()?)
    }

    /// Poll the screen until `done` holds; returns when it was first seen.
    fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> anyhow::Result<Instant> {
        let start = Instant::now();
        loop {
            let screen = self.screen()?;
            if done(&screen) {
                return Ok(Instant::now());
            }
            anyhow::ensure!(
                start.elapsed() < LIMIT,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The pids of `root` and all its descendants.
fn tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// `/proc/PID/stat` after the command name: field 3 (state) onwards.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// User + system CPU of the tree, in clock ticks.
fn cpu_ticks(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(stat_fields)
        // utime and stime are fields 14 and 15, so 11 and 12 here.
        .map(|f| {
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

/// Resident memory of the tree, KiB.
fn rss_kib(root: u32) -> u64 {
    sum_rss(tree(root))
}

/// Resident memory of `pids`, KiB.
fn sum_rss(pids: Vec<u32>) -> u64 {
    pids.into_iter()
        .filter_map(|p| super::tui_stream::rss_kib(&p.to_string()).ok())
        .sum()
}

/// One run's figures.
struct Run {
    paint: Duration,
    ready: Duration,
    rss_ready: u64,
    answer: Duration,
    cpu_ms: u64,
    rss_after: u64,
    /// The daemons working for the program, after the answer.
    daemons_after: u64,
}

fn run_once(peer: &Peer, server: &Server, i: usize) -> anyhow::Result<Run> {
    let (pane, started) = Pane::spawn(peer, i)?;
    let painted = pane.until("the first paint", |s| !s.trim().is_empty())?;
    let ready = pane.until(&format!("{:?}", peer.ready), |s| {
        peer.ready.iter().any(|r| s.contains(r))
    })?;
    let pid = pane.pid()?;
    let rss_ready = rss_kib(pid);
    server.forget();
    pane.tmux(&["send-keys", "-t", "b", "-l", REQUEST])?;
    pane.until("the typed request", |s| s.contains(REQUEST))?;
    // Codex takes keys that come faster than a person types, followed by
    // Enter, for a paste and inserts a newline; typing pauses before Enter.
    // Outside every measured interval.
    std::thread::sleep(Duration::from_millis(300));
    let cpu_before = cpu_ticks(pid);
    pane.tmux(&["send-keys", "-t", "b", "Enter"])?;
    // aichat breaks a word that reaches the last column onto the next row.
    let seen = pane.until("the answer's last word", |s| {
        s.contains(LAST) || s.replace('\n', "").contains(LAST)
    })?;
    let cpu_after = cpu_ticks(pid);
    let last_byte = server
        .last_byte()
        .context("the answer's last word is on screen, but the server sent no answer")?;
    let tick_ms = 1000 / aios_catalog::procfs::clock_ticks();
    Ok(Run {
        paint: painted - started,
        ready: ready - started,
        rss_ready,
        answer: seen.saturating_duration_since(last_byte),
        cpu_ms: cpu_after.saturating_sub(cpu_before) * tick_ms,
        rss_after: rss_kib(pid),
        daemons_after: sum_rss(working_for(&peer.marker, &tree(pid))),
    })
}

/// aios's TUI on the openai provider, its daemons running.
fn aios_peer(server: &Server) -> anyhow::Result<Peer> {
    let mut env = Env::empty();
    env.vars.extend([
        ("AIOS_PROVIDER".to_string(), "openai".to_string()),
        ("AIOS_MODEL".to_string(), "bench".to_string()),
        ("OPENAI_BASE_URL".to_string(), server.base()),
        ("OPENAI_API_KEY".to_string(), "bench".to_string()),
    ]);
    let out = env.aios(&["daemons", "start"], b"", LIMIT);
    anyhow::ensure!(
        out.status.success(),
        "cannot start aios's daemons: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Peer {
        name: "aios",
        argv: vec![bin("aios").display().to_string(), "--no-autostart".into()],
        vars: env.vars.clone(),
        cwd: env.dir.path().to_path_buf(),
        ready: &["openai"],
        marker: env.dir.path().display().to_string(),
        _keep: Box::new(env),
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// aichat's REPL on an `openai-compatible` client.
fn aichat_peer(server: &Server) -> anyhow::Result<Option<Peer>> {
    let Some(exe) = on_path("aichat") else {
        return Ok(None);
    };
    let dir = tempfile::Builder::new()
        .prefix("aios-peer-aichat")
        .tempdir()?;
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "model: fake:bench\nstream: true\nsave: false\nhighlight: true\nclients:\n- type: openai-compatible\n  name: fake\n  api_base: {}\n  api_key: bench\n  models:\n  - name: bench\n",
            server.base()
        ),
    )?;
    Ok(Some(Peer {
        name: "aichat",
        argv: vec![exe.display().to_string()],
        vars: vec![
            ("AICHAT_CONFIG_DIR".into(), dir.path().display().to_string()),
            ("HOME".into(), dir.path().display().to_string()),
        ],
        cwd: dir.path().to_path_buf(),
        // `〉` in earlier releases; 0.30 starts its prompt row with `>`.
        ready: &["〉", "\n>"],
        marker: dir.path().display().to_string(),
        _keep: Box::new(dir),
    }))
}

/// The Codex CLI's TUI on a custom Responses API provider.
fn codex_peer(server: &Server) -> anyhow::Result<Option<Peer>> {
    let Some(exe) = on_path("codex") else {
        return Ok(None);
    };
    // Codex refuses to put its helpers under /tmp.
    let dir = tempfile::Builder::new()
        .prefix("aios-peer-codex")
        .tempdir_in("/var/tmp")?;
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&home)?;
    std::fs::create_dir_all(&work)?;
    std::fs::write(
        home.join("config.toml"),
        format!(
            "model = \"bench\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\nname = \"fake\"\nbase_url = \"{}\"\nenv_key = \"BENCH_KEY\"\nwire_api = \"responses\"\n",
            server.base()
        ),
    )?;
    Ok(Some(Peer {
        name: "codex",
        argv: vec![exe.display().to_string()],
        vars: vec![
            ("CODEX_HOME".into(), home.display().to_string()),
            ("BENCH_KEY".into(), "bench".into()),
        ],
        cwd: work,
        ready: &["Ask Codex"],
        marker: dir.path().display().to_string(),
        _keep: Box::new(dir),
    }))
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Run every installed peer named in `only` (all when empty) [`RUNS`]
/// times and print the table.
pub fn run(only: &[String]) -> anyhow::Result<()> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let server = Server::start()?;
    let mut peers = vec![aios_peer(&server)?];
    for (name, found) in [
        ("aichat", aichat_peer(&server)?),
        ("codex", codex_peer(&server)?),
    ] {
        match found {
            Some(p) => peers.push(p),
            None => eprintln!("{name} is not on PATH: left out"),
        }
    }
    // aios's pane also measures the poll, so it is made in any case.
    peers.retain(|p| p.name == "aios" || wanted(p.name));
    let aios_wanted = wanted("aios");
    // The poll's own cost: one capture of an idle pane.
    let probe = Pane::spawn(&peers[0], usize::MAX)?.0;
    let t = Instant::now();
    for _ in 0..20 {
        probe.screen()?;
    }
    let poll = t.elapsed() / 20;
    drop(probe);

    println!(
        "| program | first paint | ready | last byte → answer on screen | CPU for the answer | RSS ready | RSS after | daemons' RSS after |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for peer in peers.iter().filter(|p| p.name != "aios" || aios_wanted) {
        let mut runs = Vec::new();
        for i in 0..RUNS {
            match run_once(peer, &server, i) {
                Ok(r) => runs.push(r),
                Err(e) => eprintln!("{} run {i}: {e:#}", peer.name),
            }
        }
        if runs.is_empty() {
            println!("| {} | failed (see above) | | | | | | |", peer.name);
            continue;
        }
        println!(
            "| {} | {} | {} | {} | {} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            peer.name,
            ms(median(runs.iter().map(|r| r.paint).collect())),
            ms(median(runs.iter().map(|r| r.ready).collect())),
            ms(median(runs.iter().map(|r| r.answer).collect())),
            median(runs.iter().map(|r| r.cpu_ms).collect()),
            median(runs.iter().map(|r| r.rss_ready).collect()) as f64 / 1024.0,
            median(runs.iter().map(|r| r.rss_after).collect()) as f64 / 1024.0,
            median(runs.iter().map(|r| r.daemons_after).collect()) as f64 / 1024.0,
        );
    }
    println!(
        "\nMedians of {RUNS} runs each, 120×40 panes; one screen poll (`tmux capture-pane`) costs {}, the granularity of every on-screen figure.",
        ms(poll)
    );
    Ok(())
}

//! The local model as the evaluation's [`Chooser`]: a real `runtimed`
//! process (the binary built next to this one) serving the real model over
//! its socket, asked exactly as the gateway's `local` provider asks it:
//! aiosd's system prompt, the request, the router's candidates with their
//! own schemas, and a required call (the router judged the request to need
//! a tool). The time of one choice is request in → tool call out, IPC and
//! prompt processing included.
//!
//! By default it sends the whole catalogue (sorted by name) for runtimed to
//! keep in its KV cache; requests list only their candidates today
//! (`--cold`; `aios_config::ToolListing` says why), and `--group` lists the best
//! candidate's group, whose prompts runtimed saves first (`Warm`). Before
//! timing, it offers the catalogue
//! as aiosd does at start (`Keep`) and waits until it is held, and reports
//! how long that took: the steady state is what is measured. runtimed's
//! state directory is `~/.cache/aios-eval/state`, kept between runs, so the
//! saved catalogue is restored rather than evaluated again. `--cold` sends
//! no catalogue (the prompt lists only the candidates), for comparison.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aios_proto::{
    ChatMessage, GenerateEvent, GenerateRequest, GenerateUsage, ModelTool, Role, RuntimeClient,
};
use aios_router::Candidate;
use aios_router::eval::{Choice, Chooser};
use anyhow::{Context, bail};
use futures::StreamExt;

/// How long the daemon may take to start and load the model.
const LOAD_LIMIT: Duration = Duration::from_secs(300);
/// Output limit of one choice: a call is a few dozen tokens.
const MAX_TOKENS: u32 = 256;

/// How long the catalogue may take to be kept (evaluated while idle: about
/// a minute on an idle 2-core machine, far longer on a loaded one).
const KEEP_LIMIT: Duration = Duration::from_secs(3600);

/// A `runtimed` child and a client of it.
pub struct LocalChooser {
    rt: tokio::runtime::Runtime,
    client: RuntimeClient,
    tools: HashMap<String, ModelTool>,
    /// Sent with every request; empty with `--cold`.
    catalog: Vec<ModelTool>,
    /// Token counts of each choice.
    usage: Vec<GenerateUsage>,
    label: String,
    child: Child,
    // Holds the daemon's socket and state until the chooser is dropped.
    _dir: tempfile::TempDir,
    listing: Listing,
    /// Ask instead of calling below this name confidence, as gatewayd does.
    clarify_below: f32,
}

/// What each request's prompt lists, as `[providers.local] listing`
/// configures gatewayd: `--cold` lists the candidates, `--group` the best
/// candidate's group, and the default keeps the catalogue.
pub use aios_config::ToolListing as Listing;

impl Drop for LocalChooser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalChooser {
    /// Start `runtimed` on `model` (else the catalogue's default model, as
    /// a user's daemon finds it) and wait until the model is loaded.
    pub fn start(
        tools: Vec<ModelTool>,
        model: Option<&Path>,
        listing: Listing,
    ) -> anyhow::Result<LocalChooser> {
        let keep_catalog = listing == Listing::Catalogue;
        let exe = std::env::current_exe().context("cannot find this program's path")?;
        let runtimed = exe.with_file_name("runtimed");
        if !runtimed.is_file() {
            bail!(
                "{} is missing: build it with the same profile (`cargo build --release -p aios-runtimed`)",
                runtimed.display()
            );
        }
        let dir = tempfile::Builder::new().prefix("aios-eval").tempdir()?;
        let notify = dir.path().join("notify");
        let ready = UnixDatagram::bind(&notify)?;
        ready.set_read_timeout(Some(LOAD_LIMIT))?;
        let mut cmd = Command::new(&runtimed);
        cmd.env("AIOS_STATE_DIR", state_dir()?)
            .env("AIOS_RUNTIME_DIR", dir.path().join("run"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("NOTIFY_SOCKET", &notify)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("runtimed.log"))?);
        if let Some(m) = model {
            cmd.env("AIOS_LOCAL_MODEL", m);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", runtimed.display()))?;
        let mut buf = [0u8; 64];
        if let Err(e) = ready.recv(&mut buf) {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("runtimed.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "runtimed did not report ready: {e}; its last words:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let socket: PathBuf = dir.path().join("run/runtimed.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let started = (|| -> anyhow::Result<(RuntimeClient, String)> {
            let mut client = rt.block_on(async {
                aios_proto::connect(&socket)
                    .await
                    .map(RuntimeClient::new)
                    .map_err(|e| anyhow::anyhow!("cannot reach runtimed: {e}"))
            })?;
            // Info waits for the background load, and says why it failed.
            let info = rt
                .block_on(client.info())
                .map_err(|e| anyhow::anyhow!("runtimed has no model: {e}"))?;
            let label = format!(
                "{}, local (runtimed, {} threads, loaded in {} ms)",
                info.model_name, info.threads, info.load_ms
            );
            Ok((client, label))
        })();
        let (client, label) = match started {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut catalog = if keep_catalog {
            tools.clone()
        } else {
            Vec::new()
        };
        catalog.sort_by(|a, b| a.name.cmp(&b.name));
        let mut chooser = LocalChooser {
            rt,
            client,
            tools: tools.into_iter().map(|t| (t.name.clone(), t)).collect(),
            catalog,
            usage: Vec::new(),
            label,
            child,
            _dir: dir,
            listing,
            clarify_below: aios_router::CLARIFY_BELOW,
        };
        if listing == Listing::Group {
            let (lists, took) = chooser.warm()?;
            chooser.label = format!(
                "{}; --group: the best candidate's group listed ({lists} groups' prompts saved in {:.1} s)",
                chooser.label,
                took.as_secs_f64()
            );
        } else if keep_catalog {
            let (tokens, took) = chooser.prime()?;
            chooser.label = format!(
                "{}; catalogue of {} tools kept ({tokens} tokens, held {:.1} s after the first request)",
                chooser.label,
                chooser.catalog.len(),
                took.as_secs_f64()
            );
        } else {
            chooser.label = format!(
                "{}; --cold: only the candidates in the prompt",
                chooser.label
            );
        }
        Ok(chooser)
    }

    /// Ask instead of calling below `below` (`--clarify-below`; 0 never
    /// asks, above 1 asks whenever the model chose among several, which
    /// shows every such choice's confidence in the misses).
    pub fn clarify_below(mut self, below: f32) -> Self {
        self.clarify_below = below;
        self
    }

    /// Every tool by name, in the catalogue's order.
    fn sorted_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The tools named, in that order.
    fn named(&self, names: &[&str]) -> Vec<ModelTool> {
        names
            .iter()
            .filter_map(|n| self.tools.get(*n).cloned())
            .collect()
    }

    /// Have runtimed save every group's prompt, as gatewayd does at start
    /// with group listings, and wait until it has: the number of groups
    /// and the time it took.
    fn warm(&mut self) -> anyhow::Result<(usize, Duration)> {
        let started = Instant::now();
        let lists: Vec<Vec<ModelTool>> = aios_router::groups::split(self.sorted_names())
            .iter()
            .map(|names| self.named(names))
            .collect();
        let n = lists.len();
        self.rt
            .block_on(self.client.warm(aiosd::SYSTEM_PROMPT.to_string(), lists))
            .map_err(|e| anyhow::anyhow!("runtimed refused the tool groups: {e}"))?;
        loop {
            let info = self
                .rt
                .block_on(self.client.info())
                .map_err(|e| anyhow::anyhow!("runtimed: {e}"))?;
            if info.warm_pending == 0 {
                return Ok((n, started.elapsed()));
            }
            if started.elapsed() > KEEP_LIMIT {
                bail!(
                    "runtimed still had {} of {n} groups to save after {} s",
                    info.warm_pending,
                    KEEP_LIMIT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Offer the catalogue as aiosd does at start, then wait until runtimed
    /// holds it: the catalogue's length in tokens and the time it took.
    fn prime(&mut self) -> anyhow::Result<(u32, Duration)> {
        let started = Instant::now();
        let catalog = self.catalog.clone();
        self.rt
            .block_on(self.client.keep(aiosd::SYSTEM_PROMPT.to_string(), catalog))
            .map_err(|e| anyhow::anyhow!("runtimed refused the catalogue: {e}"))?;
        loop {
            let info = self
                .rt
                .block_on(self.client.info())
                .map_err(|e| anyhow::anyhow!("runtimed: {e}"))?;
            if info.kept_target > 0 && info.kept_tokens >= info.kept_target {
                return Ok((info.kept_target, started.elapsed()));
            }
            // No target: the catalogue is too long to keep beside requests
            // in this context.
            if info.kept_target == 0 {
                bail!(
                    "runtimed keeps no catalogue: it is too long for n_ctx {} (run with --cold)",
                    info.n_ctx
                );
            }
            if started.elapsed() > KEEP_LIMIT {
                bail!(
                    "runtimed held {} of {} catalogue tokens after {} s",
                    info.kept_tokens,
                    info.kept_target,
                    KEEP_LIMIT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Prompt tokens, of which reused, and generated tokens per choice,
    /// and where the time of a choice went (prompt, generation, per token).
    pub fn token_report(&self) -> String {
        let j = self.token_json();
        format!(
            "  tokens per choice (median): prompt {}, reused {}, evaluated {}, generated {} (forced {})\n\
             \x20 time per choice (median): prompt {} ms, generation {} ms ({} ms per generated token)\n",
            j["prompt"],
            j["reused"],
            j["evaluated"],
            j["generated"],
            j["forced"],
            j["prompt_ms"],
            j["generation_ms"],
            j["ms_per_generated_token"],
        )
    }

    /// [`LocalChooser::token_report`] as JSON.
    pub fn token_json(&self) -> serde_json::Value {
        let med = |f: &dyn Fn(&GenerateUsage) -> u64| median(self.usage.iter().map(f).collect());
        serde_json::json!({
            "prompt": med(&|u| u64::from(u.prompt_tokens)),
            "reused": med(&|u| u64::from(u.cached_tokens)),
            "evaluated": med(&|u| u64::from(u.prompt_tokens.saturating_sub(u.cached_tokens))),
            "generated": med(&|u| u64::from(u.generated_tokens)),
            // Of those, written without sampling (the call's fixed frame).
            "forced": med(&|u| u64::from(u.forced_tokens)),
            "prompt_ms": med(&|u| u.prompt_ms),
            "generation_ms": med(&|u| u.generation_ms),
            "ms_per_generated_token": med(&|u| u.generation_ms / u64::from(u.generated_tokens.max(1))),
        })
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// One choice: the request and its candidates, as the local provider sends
/// them; a call, or what the model said instead.
async fn ask(
    client: &mut RuntimeClient,
    request: &str,
    candidates: Vec<ModelTool>,
    catalog: Vec<ModelTool>,
    clarify_below: f32,
) -> (Choice, Option<GenerateUsage>) {
    let req = GenerateRequest {
        system: aiosd::SYSTEM_PROMPT.to_string(),
        messages: vec![ChatMessage {
            role: Role::User,
            content: request.to_string(),
            tool_calls: vec![],
            tool_call_id: None,
        }],
        require_tool: !candidates.is_empty(),
        catalog: if candidates.is_empty() {
            Vec::new()
        } else {
            catalog
        },
        tools: candidates,
        max_tokens: MAX_TOKENS,
    };
    let failed = |e: &dyn std::fmt::Display| Choice::Clarify {
        question: format!("(runtime error: {e})"),
    };
    let mut stream = match client.generate(req).await {
        Ok(s) => s,
        Err(e) => return (failed(&e), None),
    };
    let mut text = String::new();
    let mut call = None;
    let mut usage = None;
    let mut unsure = None;
    // Read to the end: the usage follows the call.
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(GenerateEvent::NameChoice {
                confidence,
                runner_up,
            }) if confidence < clarify_below => unsure = Some((confidence, runner_up)),
            Ok(GenerateEvent::ToolCall(c)) => {
                call = Some(Choice::Tool {
                    name: c.name,
                    args: c.args,
                });
            }
            Ok(GenerateEvent::TextDelta(t)) => text.push_str(&t),
            Ok(GenerateEvent::Usage(u)) => usage = Some(u),
            Ok(_) => {}
            Err(e) => return (failed(&e), usage),
        }
    }
    // As gatewayd's clarifier: an unsure call becomes a question. The
    // question says what would have been called, so a run can be scored
    // at any threshold afterwards.
    if let (Some((confidence, other)), Some(Choice::Tool { name, args })) = (&unsure, &call) {
        let question = format!("({confidence:.3}) {name} or {other}? would call {name} {args}");
        return (Choice::Clarify { question }, usage);
    }
    let choice = call.unwrap_or_else(|| {
        if text.trim().is_empty() {
            Choice::NoTool
        } else {
            Choice::Clarify {
                question: text.trim().chars().take(120).collect(),
            }
        }
    });
    (choice, usage)
}

impl Chooser for LocalChooser {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn choose(&mut self, request: &str, candidates: &[Candidate]) -> Choice {
        let offered: Vec<ModelTool> = match (self.listing, candidates.first()) {
            (Listing::Group, Some(best)) => {
                let names = aios_router::groups::members(&best.name, self.sorted_names());
                self.named(&names)
            }
            _ => candidates
                .iter()
                .filter_map(|c| self.tools.get(&c.name).cloned())
                .collect(),
        };
        let catalog = self.catalog.clone();
        let (choice, usage) = self.rt.block_on(ask(
            &mut self.client,
            request,
            offered,
            catalog,
            self.clarify_below,
        ));
        self.usage.extend(usage);
        choice
    }
}

/// runtimed's state directory for evaluations: kept between runs, so a
/// catalogue kept once is restored from its saved file.
fn state_dir() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set")?;
    let dir = cache.join("aios-eval/state");
    // runtimed refuses a state directory others may use.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(dir)
}

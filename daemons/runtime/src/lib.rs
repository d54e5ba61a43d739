//! `aios-runtime`: the local model runtime. It hosts llama.cpp (through the
//! pinned `llama-cpp-2`) behind a small, safe API:
//!
//! - [`Runtime::load`] checks the GGUF header ([`gguf`]) and memory-maps the
//!   model, so a missing, truncated or corrupt file is an error, not an abort;
//! - [`Runtime::chat_template_apply`] renders messages with the model's own
//!   chat template;
//! - [`Runtime::generate`] streams tokens to a callback, optionally under a
//!   GBNF grammar ([`grammar`]), stops at stop strings, honours a
//!   [`Cancel`] within one token, and reuses the KV cache of the longest
//!   common token prefix with the previous request (prefix caching).
//!
//! - [`Runtime::chat`] answers a conversation with candidate tools: the
//!   model's reply is plain text or exactly one call to one of them, under
//!   one grammar built from each tool's own schema ([`tools`]), the call's
//!   fixed parts written without sampling ([`steer`]);
//! - [`Runtime::embed`] gives mean-pooled, normalised embeddings.
//!
//! llama.cpp's model and context are owned by one worker thread per
//! [`Runtime`] ([`engine`]); callers talk to it through typed instructions,
//! so requests to one model run one at a time, in order.

mod catalog;
mod chat;
mod engine;
mod error;
pub mod gguf;
pub mod grammar;
pub mod steer;
pub mod tools;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

pub use chat::{ChatRequest, ChatResult};
pub use error::{ErrorKind, RuntimeError};
pub use tools::{Example, Reply, ToolDef, Turn};

/// The OpenMP setting the runtime's process needs: busy-waiting OpenMP
/// workers made 2-thread generation 2.5–4× slower on a loaded 2-core
/// machine. libgomp reads it once, when it is loaded (before `main`), so it
/// cannot be set from inside the process: the daemon's service definition
/// (or a re-exec at start, see [`passive_openmp`]) must set it.
pub const OMP_WAIT_POLICY: (&str, &str) = ("OMP_WAIT_POLICY", "passive");

/// Whether this process was started with [`OMP_WAIT_POLICY`] in effect.
pub fn passive_openmp() -> bool {
    std::env::var(OMP_WAIT_POLICY.0).is_ok_and(|v| v.eq_ignore_ascii_case(OMP_WAIT_POLICY.1))
}

/// Make [`OMP_WAIT_POLICY`] effective: when this process was not started
/// with it, re-execute the same executable with the same arguments and the
/// variable set. Returns `Ok` when already in effect; otherwise returns
/// only if the re-exec failed.
///
/// A binary hosting the runtime calls this first thing in `main`, before
/// any thread starts. Measured here (tiny model, 2 threads, a loaded 2-core
/// machine): generation 4 tok/s with OpenMP's default spinning, 80 tok/s
/// passive; setting the variable in-process changes nothing.
pub fn reexec_with_passive_openmp() -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    if passive_openmp() {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    Err(cmd
        .args(args)
        .env(OMP_WAIT_POLICY.0, OMP_WAIT_POLICY.1)
        .exec())
}

/// The default context window. The tool catalogue is kept (see
/// [`KeptPrompt`]) only when it fits beside 2048 tokens for requests: the
/// 91 tools of today's catalogue, one signature line each, take about 4,500
/// tokens.
pub const DEFAULT_N_CTX: u32 = 8192;

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Context window in tokens (prompt plus generated text).
    pub n_ctx: u32,
    /// CPU threads for prompt processing and generation.
    pub n_threads: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            n_ctx: DEFAULT_N_CTX,
            n_threads: 2,
        }
    }
}

/// How to generate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenOptions {
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
    /// A GBNF grammar (root rule `root`) the output must follow.
    pub grammar: Option<String>,
    /// Generation stops before the first occurrence of any of these.
    pub stop: Vec<String>,
    /// A longer prompt to use instead of the given one once its fixed
    /// prefix is held in the KV cache (see [`KeptPrompt`]).
    pub kept: Option<KeptPrompt>,
    /// Text the reply's grammar fixes, written without sampling (a tool
    /// call's frame): forced text is evaluated in one batch, and the reply
    /// ends without decoding its closing text. It must agree with
    /// `grammar`; a forced token the grammar rejects ends the forcing.
    pub steer: Option<steer::CallSteer>,
    /// The prompt's fixed part (the prompt starts with it): the
    /// instructions and the tool list. When its KV cache has been saved
    /// ([`Runtime::warm`]; a request evaluating a warmed prefix first saves
    /// it too), it is loaded instead of evaluated (needs a state directory,
    /// [`Runtime::keep_in`]).
    pub save_prefix: Option<String>,
}

/// A prompt whose fixed prefix is worth keeping in the KV cache across
/// requests, even while other prompts run: the whole tool catalogue, say,
/// which is far too long to evaluate per request but costs nothing once
/// kept.
///
/// The runtime holds one such prefix in a sequence of its own and fills it
/// while idle, a few dozen tokens at a time, so a request never waits for
/// more than one small batch. Until the whole prefix is held (or when the
/// prompt would not fit), a request runs its ordinary prompt; once it is
/// held, it runs `prompt` and evaluates only what follows the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPrompt {
    /// The fixed part; `prompt` starts with it.
    pub prefix: String,
    /// The prompt to run once `prefix` is held.
    pub prompt: String,
}

/// How much of the kept prefix ([`KeptPrompt`]) the cache holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptStatus {
    /// Tokens of it evaluated so far.
    pub held: u32,
    /// Its length in tokens; 0 = no prefix is kept.
    pub target: u32,
    /// Prefixes given to [`Runtime::warm`] not yet evaluated and saved.
    pub warm_pending: u32,
}

impl KeptStatus {
    /// Whether requests now run with the whole prefix reused.
    pub fn ready(&self) -> bool {
        self.target > 0 && self.held >= self.target
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model produced an end-of-generation token (or the grammar completed).
    EndOfText,
    /// A stop string appeared (it is not part of the text).
    Stop,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
}

/// The result of one [`Runtime::generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The generated text (without any stop string).
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens of the reply (sampled and forced).
    pub generated_tokens: u32,
    /// Of those, written by [`GenOptions::steer`] without sampling.
    pub forced_tokens: u32,
    /// Prompt tokens whose KV cache was reused from the previous request
    /// (so only `prompt_tokens - cached_tokens` were evaluated).
    pub cached_tokens: u32,
    /// Whether the kept prefix was used ([`GenOptions::kept`]).
    pub used_kept: bool,
    /// Why it ended.
    pub finish: Finish,
    /// Wall time evaluating the uncached part of the prompt.
    pub prompt_time: std::time::Duration,
    /// Wall time generating (sampling and evaluating the generated tokens).
    pub generation_time: std::time::Duration,
    /// How sure the model was of the tool it named, from its own logits
    /// at the tokens where candidate names part (product of the taken
    /// branches' probabilities among those open); 1 when nothing was to
    /// choose (no call, or one candidate).
    pub name_confidence: f32,
    /// The likeliest other tool at the least certain of those steps.
    pub runner_up: Option<String>,
}

/// One chat message for [`Runtime::chat_template_apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A cancellation flag shared between a request and whoever may cancel it.
/// Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the request to stop; it stops before evaluating another token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The context window actually allocated.
    pub n_ctx: u32,
    /// The context length the model was trained with.
    pub n_ctx_train: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// The model's own chat template (Jinja source), if it has one.
    pub chat_template: Option<String>,
}

/// A loaded model with its context, served by one worker thread.
#[derive(Debug)]
pub struct Runtime {
    tx: Option<mpsc::Sender<engine::Instruction>>,
    worker: Option<JoinHandle<()>>,
    info: ModelInfo,
    kept: Arc<engine::KeptCounters>,
}

impl Runtime {
    /// Load the GGUF at `path` (memory-mapped) and allocate its context.
    ///
    /// A missing file, a file that is not GGUF, a truncated or corrupt file
    /// are [`ErrorKind::NotFound`] / [`ErrorKind::InvalidModel`] /
    /// [`ErrorKind::Load`] errors naming the file.
    pub fn load(path: impl AsRef<Path>, opts: LoadOptions) -> Result<Runtime, RuntimeError> {
        let path = path.as_ref();
        gguf::check_file(path)?;
        let kept = Arc::new(engine::KeptCounters::default());
        let (tx, worker, info) = engine::spawn(path.to_path_buf(), opts, Arc::clone(&kept))?;
        Ok(Runtime {
            tx: Some(tx),
            worker: Some(worker),
            info,
            kept,
        })
    }

    /// Facts about the loaded model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn send(&self, ins: engine::Instruction) -> Result<(), RuntimeError> {
        let gone = || {
            RuntimeError::new(
                ErrorKind::WorkerGone,
                "the model runtime's worker thread has stopped; load the model again",
            )
        };
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(ins)
            .map_err(|_| gone())
    }

    /// Render `messages` with the model's own chat template, ending with the
    /// opening of the assistant's turn.
    pub fn chat_template_apply(&self, messages: &[ChatMessage]) -> Result<String, RuntimeError> {
        let (reply, rx) = mpsc::channel();
        self.send(engine::Instruction::ApplyTemplate {
            messages: messages.to_vec(),
            reply,
        })?;
        rx.recv().map_err(|_| engine::worker_gone())?
    }

    /// Count the tokens of `text` as the model tokenizes a prompt.
    pub fn token_count(&self, text: &str) -> Result<u32, RuntimeError> {
        let counts = self.tokenize(vec![text.to_string()], true)?;
        Ok(counts.first().copied().unwrap_or(0))
    }

    /// Count the tokens of each of `texts` as a part of a prompt: no BOS,
    /// chat markers as the special tokens the template's text becomes.
    /// Runs on the worker, between generations.
    pub fn count_tokens(&self, texts: &[String]) -> Result<Vec<u32>, RuntimeError> {
        self.tokenize(texts.to_vec(), false)
    }

    fn tokenize(&self, texts: Vec<String>, bos: bool) -> Result<Vec<u32>, RuntimeError> {
        let (reply, rx) = mpsc::channel();
        self.send(engine::Instruction::Tokenize { texts, bos, reply })?;
        rx.recv().map_err(|_| engine::worker_gone())
    }

    /// Mean-pooled, L2-normalised embeddings of `texts`, computed one text
    /// at a time (batched pooling aborted inside llama.cpp); each text is
    /// truncated to 512 tokens.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        let (reply, rx) = mpsc::channel();
        self.send(engine::Instruction::Embed {
            texts: texts.to_vec(),
            reply,
        })?;
        rx.recv().map_err(|_| engine::worker_gone())?
    }

    /// Save the complete kept prefix ([`KeptPrompt`]) under `dir`, and
    /// restore the one saved there for this model now: after a restart,
    /// requests reuse the tool catalogue without evaluating it again.
    pub fn keep_in(&self, dir: &Path) -> Result<(), RuntimeError> {
        self.send(engine::Instruction::KeepIn {
            dir: dir.to_path_buf(),
        })
    }

    /// Make `prefix` the kept prefix now, rather than at the first request
    /// that offers it ([`GenOptions::kept`]): it is filled while idle, so
    /// the first request already finds it. `false` when it is too long to
    /// keep beside requests in this context.
    pub fn keep(&self, prefix: &str) -> Result<bool, RuntimeError> {
        let (reply, rx) = mpsc::channel();
        self.send(engine::Instruction::Keep {
            prefix: prefix.to_string(),
            reply,
        })?;
        rx.recv().map_err(|_| engine::worker_gone())
    }

    /// Evaluate each of `prefixes` while idle and save its KV cache under
    /// the state directory ([`Runtime::keep_in`]), so that a later request
    /// whose fixed part ([`GenOptions::save_prefix`]) is one of them loads
    /// it instead of evaluating it. Prefixes already saved are skipped.
    /// Returns at once; [`KeptStatus::warm_pending`] counts what is left.
    /// A kept prefix ([`Runtime::keep`]) takes precedence: nothing is
    /// warmed while one is kept.
    pub fn warm(&self, prefixes: Vec<String>) -> Result<(), RuntimeError> {
        let (reply, rx) = mpsc::channel();
        self.send(engine::Instruction::Warm { prefixes, reply })?;
        // After the reply, the next status read sees the queue.
        rx.recv().map_err(|_| engine::worker_gone())
    }

    /// How much of the kept prefix the cache holds (it is filled while no
    /// request runs), and how many prefixes are still to warm. Never waits
    /// for a running request.
    pub fn kept_status(&self) -> KeptStatus {
        KeptStatus {
            held: self.kept.held.load(Ordering::Relaxed),
            target: self.kept.target.load(Ordering::Relaxed),
            warm_pending: self.kept.warm_pending.load(Ordering::Relaxed),
        }
    }

    /// Generate a continuation of `prompt` (already templated), calling
    /// `on_token` with each piece of text as it is produced.
    ///
    /// Stops at end of text, a stop string, `max_tokens`, a full context, or
    /// `cancel` (then [`ErrorKind::Cancelled`], checked before every token).
    pub fn generate(
        &self,
        prompt: &str,
        opts: &GenOptions,
        cancel: &Cancel,
        mut on_token: impl FnMut(&str),
    ) -> Result<Generated, RuntimeError> {
        let (events, rx) = mpsc::channel();
        self.send(engine::Instruction::Generate {
            prompt: prompt.to_string(),
            opts: opts.clone(),
            cancel: cancel.clone(),
            events,
        })?;
        loop {
            match rx.recv().map_err(|_| engine::worker_gone())? {
                engine::Event::Token(piece) => on_token(&piece),
                engine::Event::Done(result) => return result,
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop; join so the model's
        // memory is released before `drop` returns.
        drop(self.tx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

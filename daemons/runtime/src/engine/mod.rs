//! The worker thread that owns llama.cpp's model and context.
//!
//! `LlamaContext` borrows `LlamaModel`, so both live on this thread's stack
//! for the runtime's whole life, and [`crate::Runtime`] reaches them only
//! through [`Instruction`]s. One thread per model also makes requests run
//! one at a time, in arrival order, which the KV cache needs anyway.
//!
//! Invariant of prefix caching: `seqs[s]` is exactly the token sequence
//! whose keys and values are in sequence `s` of the KV cache, position by
//! position. Every path that decodes, copies or removes cache entries
//! updates it, and a failed decode clears all of them with the cache.
//!
//! Sequence [`WORK`] runs requests; sequence [`KEPT`] holds one long fixed
//! prefix that requests copy instead of evaluating ([`kept`]), filled a
//! little at a time while no request waits.

mod choice;
mod kept;
mod output;
mod sampler;
mod saved;

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::error::{ErrorKind, RuntimeError};
use crate::steer::Steer;
use crate::{Cancel, ChatMessage, Finish, GenOptions, Generated, LoadOptions, ModelInfo};
use kept::{Plan, State};
use output::Output;
use sampler::Sampler;
use saved::SavedPrefixes;

/// The KV sequence requests run in.
const WORK: usize = 0;
/// The KV sequence holding the kept prefix.
const KEPT: usize = 1;

/// Tokens evaluated per `decode` call while processing a prompt.
const N_BATCH: u32 = 512;

/// Tokens per embedded text (longer texts are truncated), and the size of
/// the embedding context.
pub(crate) const EMBED_CTX: u32 = 512;

/// What a [`crate::Runtime`] asks of its worker.
pub(crate) enum Instruction {
    ApplyTemplate {
        messages: Vec<ChatMessage>,
        reply: Sender<Result<String, RuntimeError>>,
    },
    /// Count each text's tokens, as a whole prompt (`bos`) or a part of one.
    Tokenize {
        texts: Vec<String>,
        bos: bool,
        reply: Sender<Vec<u32>>,
    },
    Generate {
        prompt: String,
        opts: GenOptions,
        cancel: Cancel,
        events: Sender<Event>,
    },
    Embed {
        texts: Vec<String>,
        reply: Sender<Result<Vec<Vec<f32>>, RuntimeError>>,
    },
    KeepIn {
        dir: PathBuf,
    },
    /// Make this text the kept prefix; the reply says whether it fits.
    Keep {
        prefix: String,
        reply: Sender<bool>,
    },
    /// Evaluate and save these prefixes while idle ([`saved`]).
    Warm {
        prefixes: Vec<String>,
        reply: Sender<()>,
    },
}

/// How much of the kept prefix is held: written by the worker, read by
/// anyone without waiting for it.
#[derive(Debug, Default)]
pub(crate) struct KeptCounters {
    pub(crate) held: AtomicU32,
    pub(crate) target: AtomicU32,
    pub(crate) warm_pending: AtomicU32,
}

/// What the worker streams back during a generation.
pub(crate) enum Event {
    Token(String),
    Done(Result<Generated, RuntimeError>),
}

/// Whether a prefix of `len` tokens may be kept in a context of `n_ctx`
/// (room stays for requests beside it).
pub(crate) fn keepable(len: usize, n_ctx: usize) -> bool {
    kept::keepable(len, n_ctx)
}

pub(crate) fn worker_gone() -> RuntimeError {
    RuntimeError::new(
        ErrorKind::WorkerGone,
        "the model runtime's worker thread stopped (llama.cpp failed); load the model again",
    )
}

/// llama.cpp's backend is process-global and may be initialised once.
fn backend() -> Result<&'static LlamaBackend, RuntimeError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
            // llama.cpp logs every tensor to stderr; our errors say what
            // matters. `AIOS_LLAMA_LOG=1` keeps its log for debugging.
            if std::env::var_os("AIOS_LLAMA_LOG").is_none() {
                b.void_logs();
            }
            Ok(b)
        })
        .as_ref()
        .map_err(|e| {
            RuntimeError::new(ErrorKind::Load, format!("cannot initialise llama.cpp: {e}"))
        })
}

type Spawned = (Sender<Instruction>, JoinHandle<()>, ModelInfo);

/// Start the worker, which loads the model; returns once it is loaded.
pub(crate) fn spawn(
    path: PathBuf,
    opts: LoadOptions,
    kept_status: Arc<KeptCounters>,
) -> Result<Spawned, RuntimeError> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("aios-runtime".into())
        .spawn(move || serve(path, opts, rx, ready_tx, &kept_status))
        .map_err(|e| {
            RuntimeError::new(
                ErrorKind::Load,
                format!("cannot start the runtime thread: {e}"),
            )
        })?;
    match ready_rx.recv() {
        Ok(Ok(info)) => Ok((tx, worker, info)),
        Ok(Err(e)) => {
            let _ = worker.join();
            Err(e)
        }
        Err(_) => {
            let _ = worker.join();
            Err(worker_gone())
        }
    }
}

fn serve(
    path: PathBuf,
    opts: LoadOptions,
    rx: Receiver<Instruction>,
    ready: Sender<Result<ModelInfo, RuntimeError>>,
    kept_status: &KeptCounters,
) {
    let loaded = (|| {
        let backend = backend()?;
        let shown = path.display();
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .map_err(|e| {
                RuntimeError::new(
                    ErrorKind::Load,
                    format!(
                        "llama.cpp could not load model {shown} ({e}): the file is corrupt \
                         or truncated, or not a model llama.cpp supports; fetch it again"
                    ),
                )
            })?;
        Ok::<_, RuntimeError>(model)
    })();
    let model = match loaded {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let threads = i32::try_from(opts.n_threads.max(1)).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(opts.n_ctx.max(64)))
        .with_n_batch(N_BATCH)
        .with_n_ubatch(N_BATCH)
        // Two sequences in one cache: a prefix copied from the kept
        // sequence shares its cells instead of taking a second copy.
        .with_n_seq_max(2)
        .with_kv_unified(true)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let ctx = match backend().and_then(|b| {
        model.new_context(b, params).map_err(|e| {
            RuntimeError::new(
                ErrorKind::Load,
                format!(
                    "cannot create a context of {} tokens for {}: {e}; try a smaller n_ctx",
                    opts.n_ctx,
                    path.display()
                ),
            )
        })
    }) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let template = model.chat_template(None).ok();
    let info = ModelInfo {
        n_ctx: ctx.n_ctx(),
        n_ctx_train: model.n_ctx_train(),
        n_vocab: u32::try_from(model.n_vocab()).unwrap_or(0),
        chat_template: template.as_ref().and_then(|t| t.to_string().ok()),
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    let mut engine = Engine {
        model: &model,
        ctx,
        embed_ctx: None,
        n_threads: threads,
        template,
        seqs: [Vec::new(), Vec::new()],
        kept_target: Vec::new(),
        kept_file: None,
        saved: None,
        warm_queue: VecDeque::new(),
        warm_set: HashSet::new(),
        warm_file: None,
        batch: LlamaBatch::new(N_BATCH as usize, 1),
    };
    // The loop ends when the `Runtime` drops its sender. While the kept
    // prefix is incomplete and nothing waits, it is filled step by step.
    loop {
        let ins = if engine.warming() {
            match rx.try_recv() {
                Ok(ins) => ins,
                Err(TryRecvError::Empty) => {
                    engine.warm_step();
                    engine.publish(kept_status);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(ins) => ins,
                Err(_) => break,
            }
        };
        match ins {
            Instruction::ApplyTemplate { messages, reply } => {
                let _ = reply.send(engine.apply_template(&messages));
            }
            Instruction::Tokenize { texts, bos, reply } => {
                let count = |t: &String| match bos {
                    true => engine.tokenize(t).len(),
                    false => engine.tokenize_reply(t).len(),
                };
                let n = texts
                    .iter()
                    .map(|t| u32::try_from(count(t)).unwrap_or(u32::MAX));
                let _ = reply.send(n.collect());
            }
            Instruction::Generate {
                prompt,
                opts,
                cancel,
                events,
            } => {
                let result = engine.generate(&prompt, &opts, &cancel, &events);
                // The caller may have stopped listening; nothing to do then.
                let _ = events.send(Event::Done(result));
            }
            Instruction::Embed { texts, reply } => {
                let _ = reply.send(engine.embed(&texts));
            }
            Instruction::KeepIn { dir } => engine.keep_in(&dir, &path),
            Instruction::Keep { prefix, reply } => {
                let tokens = engine.tokenize(&prefix);
                let kept = engine.keep(tokens);
                // Before the reply: the caller's next status read must see
                // the new target.
                engine.publish(kept_status);
                let _ = reply.send(kept);
            }
            Instruction::Warm { prefixes, reply } => {
                for p in prefixes {
                    let tokens = engine.tokenize(&p);
                    let ids: Vec<i32> = tokens.iter().map(|t| t.0).collect();
                    engine.warm_set.insert(saved::fingerprint(&ids));
                    engine.warm_queue.push_back(tokens);
                }
                engine.publish(kept_status);
                let _ = reply.send(());
            }
        }
        engine.publish(kept_status);
    }
}

struct Engine<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// A second, small context for embeddings (mean pooling, one
    /// sequence), made on first use: generation's context keeps its cache.
    embed_ctx: Option<LlamaContext<'m>>,
    n_threads: i32,
    template: Option<LlamaChatTemplate>,
    /// Per KV sequence ([`WORK`], [`KEPT`]), the tokens whose entries it
    /// holds, in position order.
    seqs: [Vec<LlamaToken>; 2],
    /// The prefix the kept sequence should hold; empty = none.
    kept_target: Vec<LlamaToken>,
    /// Where the complete kept prefix is saved, and restored from at start.
    kept_file: Option<PathBuf>,
    /// Where prompts' fixed parts are saved ([`saved`]); none until the
    /// runtime is given a state directory.
    saved: Option<SavedPrefixes>,
    /// Prefixes to evaluate in the kept sequence while idle and save.
    warm_queue: VecDeque<Vec<LlamaToken>>,
    /// Fingerprints of every prefix given to warm: only these are saved
    /// by a request that evaluates them (a per-request list would only
    /// churn the disk).
    warm_set: HashSet<u64>,
    /// Where the prefix being warmed in the kept sequence goes when
    /// complete; `None` while the kept sequence holds a kept prefix.
    warm_file: Option<PathBuf>,
    batch: LlamaBatch<'static>,
}

impl Engine<'_> {
    fn apply_template(&self, messages: &[ChatMessage]) -> Result<String, RuntimeError> {
        let tmpl = self.template.as_ref().ok_or_else(|| {
            RuntimeError::new(
                ErrorKind::Template,
                "the model has no chat template in its GGUF metadata; render the prompt yourself",
            )
        })?;
        let msgs = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                LlamaChatMessage::new(m.role.clone(), m.content.clone()).map_err(|_| {
                    RuntimeError::new(
                        ErrorKind::Template,
                        format!("message {i} ({}) contains a NUL byte; remove it", m.role),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.model
            .apply_chat_template(tmpl, &msgs, true)
            .map_err(|e| {
                RuntimeError::new(
                    ErrorKind::Template,
                    format!("llama.cpp cannot apply this model's chat template: {e}"),
                )
            })
    }

    /// Mean-pooled, L2-normalised embeddings, one text at a time: batched
    /// pooling with `n_seq_max > 1` hit a GGML_ASSERT abort in llama.cpp.
    /// Texts longer than [`EMBED_CTX`] tokens are truncated.
    fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        if self.embed_ctx.is_none() {
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(EMBED_CTX))
                .with_n_batch(EMBED_CTX)
                .with_n_ubatch(EMBED_CTX)
                .with_n_seq_max(1)
                .with_embeddings(true)
                .with_pooling_type(LlamaPoolingType::Mean)
                .with_n_threads(self.n_threads)
                .with_n_threads_batch(self.n_threads);
            let ctx = self.model.new_context(backend()?, params).map_err(|e| {
                RuntimeError::new(
                    ErrorKind::Load,
                    format!("cannot create the embedding context: {e}"),
                )
            })?;
            self.embed_ctx = Some(ctx);
        }
        let model = self.model;
        let Some(ctx) = self.embed_ctx.as_mut() else {
            return Err(worker_gone());
        };
        let mut out = Vec::with_capacity(texts.len());
        let mut batch = LlamaBatch::new(EMBED_CTX as usize, 1);
        for (i, text) in texts.iter().enumerate() {
            let mut tokens = model.vocab().tokenize(text.as_bytes(), true, false);
            tokens.truncate(EMBED_CTX as usize);
            if text.trim().is_empty() || tokens.is_empty() {
                return Err(RuntimeError::new(
                    ErrorKind::PromptTooLong,
                    format!("text {i} is empty; there is nothing to embed"),
                ));
            }
            ctx.clear_kv_cache();
            batch.clear();
            for (pos, t) in tokens.iter().enumerate() {
                let pos = i32::try_from(pos).unwrap_or(i32::MAX);
                batch
                    .add(*t, pos, &[0], true)
                    .map_err(|e| RuntimeError::new(ErrorKind::Decode, format!("batch: {e}")))?;
            }
            ctx.decode(&mut batch).map_err(|e| {
                RuntimeError::new(
                    ErrorKind::Decode,
                    format!("llama.cpp failed to embed text {i}: {e}"),
                )
            })?;
            let v = ctx.embeddings_seq_ith(0).map_err(|e| {
                RuntimeError::new(
                    ErrorKind::Decode,
                    format!("llama.cpp gave no pooled embedding for text {i}: {e}"),
                )
            })?;
            out.push(normalise(v));
        }
        Ok(out)
    }

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        // `parse_special`: the chat template's markers (`<|im_start|>`) are
        // single special tokens, not text.
        self.model.vocab().tokenize(text.as_bytes(), true, true)
    }

    /// Text that continues a reply: no BOS, but the chat format's markers
    /// (`<tool_call>`) as their own tokens, as the model writes them.
    fn tokenize_reply(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), false, true)
    }

    fn reset_cache(&mut self) {
        self.ctx.clear_kv_cache();
        for s in &mut self.seqs {
            s.clear();
        }
    }

    /// Keep only the first `len` tokens of sequence `seq`.
    fn truncate_seq(&mut self, seq: usize, len: usize) {
        if len >= self.seqs[seq].len() {
            return;
        }
        let removed = self
            .ctx
            .clear_kv_cache_seq(u32::try_from(seq).ok(), u32::try_from(len).ok(), None)
            .unwrap_or(false);
        if removed {
            self.seqs[seq].truncate(len);
        } else {
            self.reset_cache();
        }
    }

    /// Show how much of the kept prefix is held, for readers on other
    /// threads ([`crate::Runtime::kept_status`]).
    fn publish(&self, to: &KeptCounters) {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        to.held.store(n(self.seqs[KEPT].len()), Ordering::Relaxed);
        to.target
            .store(n(self.kept_target.len()), Ordering::Relaxed);
        let pending = self.warm_queue.len() + usize::from(self.warm_file.is_some());
        to.warm_pending.store(n(pending), Ordering::Relaxed);
    }

    /// Whether the kept prefix is still being filled, or prefixes wait to
    /// be warmed and saved.
    fn warming(&self) -> bool {
        self.seqs[KEPT].len() < self.kept_target.len()
            || (self.kept_target.is_empty() && !self.warm_queue.is_empty())
    }

    /// Whether the kept sequence holds a prefix requests may use whole (a
    /// kept prefix, not one being warmed for saving).
    fn kept_complete(&self) -> bool {
        !self.kept_target.is_empty() && self.warm_file.is_none() && !self.warming()
    }

    /// Evaluate the next few tokens of the kept prefix (or of the prefix
    /// being warmed). A failure gives the prefix up (requests run their
    /// ordinary prompts) rather than retry.
    fn warm_step(&mut self) {
        if self.kept_target.is_empty() {
            self.next_warm();
            if self.kept_target.is_empty() {
                return;
            }
        }
        let have = self.seqs[KEPT].len();
        let end = (have + kept::WARM_STEP).min(self.kept_target.len());
        let next = self.kept_target[have..end].to_vec();
        if let Err(e) = self.eval(KEPT, &next, &Cancel::new()) {
            tracing::warn!("giving up the kept prompt prefix: {e}");
            self.kept_target.clear();
            self.warm_file = None;
            self.truncate_seq(KEPT, 0);
        } else if end == self.kept_target.len() {
            if self.warm_file.is_some() {
                self.finish_warm();
            } else {
                tracing::info!(tokens = end, "the kept prompt prefix is ready");
                self.save_kept();
            }
        }
    }

    /// Save the kept prefix under `dir` from now on, and restore the one
    /// saved there for this model, if any. The file is named after the
    /// model file and its size: another model's cache would be garbage.
    fn keep_in(&mut self, dir: &std::path::Path, model: &std::path::Path) {
        let size = std::fs::metadata(model).map_or(0, |m| m.len());
        let stem = model
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        let file = dir.join(format!("kept-{stem}-{size}.kv"));
        self.kept_file = Some(file.clone());
        self.saved = Some(SavedPrefixes::new(dir, model));
        if !file.is_file() || !self.kept_target.is_empty() {
            return;
        }
        let n_ctx = self.ctx.n_ctx() as usize;
        let id = i32::try_from(KEPT).unwrap_or(1);
        match self.ctx.state_seq_load_file(&file, id, n_ctx) {
            Ok((tokens, bytes)) if kept::keepable(tokens.len(), n_ctx) => {
                tracing::info!(tokens = tokens.len(), bytes, file = %file.display(), "restored the kept prompt prefix");
                self.seqs[KEPT] = tokens.clone();
                self.kept_target = tokens;
            }
            Ok(_) | Err(_) => {
                // A file from another build or context size: start over.
                tracing::warn!(file = %file.display(), "cannot restore the kept prompt prefix; it will be rebuilt");
                let _ = self
                    .ctx
                    .clear_kv_cache_seq(u32::try_from(KEPT).ok(), None, None);
                self.seqs[KEPT].clear();
                let _ = std::fs::remove_file(&file);
            }
        }
    }

    /// Write the complete kept prefix to its file (a temporary file renamed
    /// over it, so a crash or a full disk never leaves half a cache).
    fn save_kept(&self) {
        let Some(file) = &self.kept_file else {
            return;
        };
        let tmp = file.with_extension("kv.tmp");
        let id = i32::try_from(KEPT).unwrap_or(1);
        let saved = std::fs::create_dir_all(file.parent().unwrap_or(file))
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.ctx
                    .state_seq_save_file(&tmp, id, &self.seqs[KEPT])
                    .map_err(|e| e.to_string())
            })
            .and_then(|_| std::fs::rename(&tmp, file).map_err(|e| e.to_string()));
        match saved {
            Ok(()) => tracing::info!(file = %file.display(), "saved the kept prompt prefix"),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!(file = %file.display(), "cannot save the kept prompt prefix: {e}");
            }
        }
    }

    /// Make `target` the kept prefix (when it fits), keeping what the kept
    /// sequence already holds of it. Returns whether it is kept.
    fn keep(&mut self, target: Vec<LlamaToken>) -> bool {
        if target == self.kept_target {
            return true;
        }
        if !kept::keepable(target.len(), self.ctx.n_ctx() as usize) {
            tracing::info!(
                tokens = target.len(),
                n_ctx = self.ctx.n_ctx(),
                "the prompt prefix is too long to keep beside requests"
            );
            return false;
        }
        let common = kept::common_prefix(&self.seqs[KEPT], &target);
        self.truncate_seq(KEPT, common);
        self.kept_target = target;
        // A prefix being warmed for saving gives way (it is saved later,
        // by the first request that lists it).
        self.warm_file = None;
        true
    }

    /// Evaluate `tokens` in sequence `seq` at positions from its length,
    /// logits only for the last; keeps `seqs` in step with the KV cache.
    fn eval(
        &mut self,
        seq: usize,
        tokens: &[LlamaToken],
        cancel: &Cancel,
    ) -> Result<(), RuntimeError> {
        let n = tokens.len();
        // llama.cpp may lower n_batch (to n_ctx); a larger batch is a
        // GGML_ASSERT abort, so chunk by what the context reports.
        let step = (self.ctx.n_batch() as usize).clamp(1, N_BATCH as usize);
        for (c, chunk) in tokens.chunks(step).enumerate() {
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            self.batch.clear();
            let start = self.seqs[seq].len();
            let id = i32::try_from(seq).unwrap_or(0);
            for (i, t) in chunk.iter().enumerate() {
                let last = c * step + i + 1 == n;
                let pos = i32::try_from(start + i).unwrap_or(i32::MAX);
                self.batch
                    .add(*t, pos, &[id], last)
                    .map_err(|e| RuntimeError::new(ErrorKind::Decode, format!("batch: {e}")))?;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                self.reset_cache();
                return Err(RuntimeError::new(
                    ErrorKind::Decode,
                    format!("llama.cpp failed to evaluate the prompt: {e}"),
                ));
            }
            self.seqs[seq].extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Bring the work sequence to the plan's reused prefix of `tokens`:
    /// cut what differs, or copy the prefix from the kept sequence.
    fn prepare(&mut self, plan: &Plan, tokens: &[LlamaToken]) {
        if plan.drop_kept {
            tracing::info!("dropping the kept prompt prefix to make room for a long prompt");
            self.kept_target.clear();
            self.warm_file = None;
            self.truncate_seq(KEPT, 0);
        }
        if !plan.from_kept {
            self.truncate_seq(WORK, plan.reuse);
            return;
        }
        self.truncate_seq(WORK, 0);
        let copied = self.ctx.copy_kv_cache_seq(
            i32::try_from(KEPT).unwrap_or(1),
            i32::try_from(WORK).unwrap_or(0),
            None,
            u32::try_from(plan.reuse).ok(),
        );
        if copied.is_ok() {
            self.seqs[WORK].extend_from_slice(&tokens[..plan.reuse]);
        }
    }

    fn generate(
        &mut self,
        prompt: &str,
        opts: &GenOptions,
        cancel: &Cancel,
        events: &Sender<Event>,
    ) -> Result<Generated, RuntimeError> {
        let n_ctx = self.ctx.n_ctx() as usize;
        let mut tokens = self.tokenize(prompt);
        let with_kept = opts.kept.as_ref().map(|k| {
            let _kept = self.keep(self.tokenize(&k.prefix));
            self.tokenize(&k.prompt)
        });
        let plan = kept::plan(
            State {
                work: &self.seqs[WORK],
                kept: &self.seqs[KEPT],
                kept_complete: self.kept_complete(),
                n_ctx,
                max_tokens: opts.max_tokens as usize,
            },
            &tokens,
            with_kept.as_deref(),
        );
        if plan.use_kept
            && let Some(t) = with_kept
        {
            tokens = t;
        }
        if tokens.is_empty() {
            return Err(RuntimeError::new(
                ErrorKind::PromptTooLong,
                "the prompt is empty; give the model something to continue",
            ));
        }
        if tokens.len() >= n_ctx {
            return Err(RuntimeError::new(
                ErrorKind::PromptTooLong,
                format!(
                    "the prompt is {} tokens but the context holds {n_ctx}; shorten it or load \
                     the model with a larger n_ctx",
                    tokens.len()
                ),
            ));
        }
        let mut sampler = match &opts.grammar {
            None => Sampler::Greedy(LlamaSampler::greedy()),
            Some(g) => {
                Sampler::Grammar(LlamaSampler::grammar(self.model, g, "root").map_err(|e| {
                    RuntimeError::new(
                        ErrorKind::Grammar,
                        format!(
                            "llama.cpp rejected the grammar ({e}); its root rule must be `root`"
                        ),
                    )
                })?)
            }
        };

        // A reply whose start is fixed (a required call's frame) begins
        // with it: evaluated in the prompt's batch, not token by token.
        let prompt_tokens = tokens.len();
        let mut out = Output::new(&opts.stop);
        let mut forced = 0u32;
        if let Some(Steer::Force(text)) = opts.steer.as_ref().map(|s| s.next("")) {
            for t in self.tokenize_reply(&text) {
                // The context's last place is for the first sampled token.
                if tokens.len() + 1 >= n_ctx || !sampler.admit(t) {
                    break;
                }
                tokens.push(t);
                forced += 1;
                out.push(&self.model.vocab().token_to_piece(t, false, None), events);
            }
        }

        self.prepare(&plan, &tokens);
        let started = Instant::now();
        let mut cached_tokens = self.seqs[WORK].len();
        if !plan.use_kept
            && let Some(fixed) = opts.save_prefix.as_deref()
        {
            cached_tokens = cached_tokens.max(self.through_saved(fixed, &tokens, cancel)?);
        }
        let done = self.seqs[WORK].len();
        self.eval(WORK, &tokens[done..], cancel)?;
        let prompt_time = started.elapsed();
        let started = Instant::now();

        let mut generated = forced;
        let mut choice = choice::NameChoice::default();
        let mut finish = Finish::MaxTokens;
        let mut logits_idx = self.batch.n_tokens() - 1;
        let model = self.model;
        let vocab = model.vocab();
        while generated < opts.max_tokens {
            // A caller that stopped listening (its callback panicked) is a
            // cancellation too: no point generating for nobody.
            if cancel.is_cancelled() || out.gone {
                return Err(cancelled());
            }
            if self.seqs[WORK].len() >= n_ctx {
                finish = Finish::ContextFull;
                break;
            }
            let step = match opts.steer.as_ref() {
                Some(s) => self.name_step(s, &out.text, logits_idx),
                None => None,
            };
            let token = sampler.pick(&self.ctx, logits_idx);
            if let Some(step) = &step {
                choice.record(step, token);
            }
            if vocab.is_eog(token) {
                finish = Finish::EndOfText;
                break;
            }
            generated += 1;
            let piece = vocab.token_to_piece(token, false, None);
            if out.push(&piece, events) {
                finish = Finish::Stop;
                break;
            }
            let mut batch = vec![token];
            match opts.steer.as_ref().map(|s| s.next(&out.text)) {
                None | Some(Steer::Sample) => {}
                Some(Steer::Force(text)) => {
                    for t in self.tokenize_reply(&text) {
                        if !sampler.admit(t) {
                            break;
                        }
                        batch.push(t);
                        forced += 1;
                        generated += 1;
                        out.push(&vocab.token_to_piece(t, false, None), events);
                    }
                }
                // Nothing can follow: no need to evaluate it.
                Some(Steer::Finish(text)) => {
                    let n = u32::try_from(self.tokenize_reply(&text).len()).unwrap_or(0);
                    forced += n;
                    generated += n;
                    out.push(text.as_bytes(), events);
                    finish = Finish::EndOfText;
                    break;
                }
            }
            self.eval(WORK, &batch, cancel)?;
            logits_idx = i32::try_from(batch.len() - 1).unwrap_or(0);
        }
        out.finish(events);
        Ok(Generated {
            text: out.text,
            prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
            generated_tokens: generated,
            forced_tokens: forced,
            cached_tokens: u32::try_from(cached_tokens).unwrap_or(u32::MAX),
            used_kept: plan.use_kept,
            finish,
            prompt_time,
            generation_time: started.elapsed(),
            name_confidence: choice.confidence,
            runner_up: choice.runner_up,
        })
    }
}

/// `v` scaled to unit length (a zero vector stays zero).
fn normalise(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

fn cancelled() -> RuntimeError {
    RuntimeError::new(ErrorKind::Cancelled, "generation was cancelled")
}

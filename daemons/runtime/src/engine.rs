//! The worker thread that owns llama.cpp's model and context.
//!
//! `LlamaContext` borrows `LlamaModel`, so both live on this thread's stack
//! for the runtime's whole life, and [`crate::Runtime`] reaches them only
//! through [`Instruction`]s. One thread per model also makes requests run
//! one at a time, in arrival order, which the KV cache needs anyway.
//!
//! Invariant of prefix caching: `cached` is exactly the token sequence whose
//! keys and values are in sequence 0 of the KV cache, position by position.
//! Every path that decodes or removes cache entries updates it, and a failed
//! decode clears both.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, Sender};
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
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use crate::error::{ErrorKind, RuntimeError};
use crate::{Cancel, ChatMessage, Finish, GenOptions, Generated, LoadOptions, ModelInfo};

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
    Tokenize {
        text: String,
        reply: Sender<Result<u32, RuntimeError>>,
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
}

/// What the worker streams back during a generation.
pub(crate) enum Event {
    Token(String),
    Done(Result<Generated, RuntimeError>),
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
pub(crate) fn spawn(path: PathBuf, opts: LoadOptions) -> Result<Spawned, RuntimeError> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("aios-runtime".into())
        .spawn(move || serve(path, opts, rx, ready_tx))
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
        cached: Vec::new(),
        batch: LlamaBatch::new(N_BATCH as usize, 1),
    };
    // The loop ends when the `Runtime` drops its sender.
    while let Ok(ins) = rx.recv() {
        match ins {
            Instruction::ApplyTemplate { messages, reply } => {
                let _ = reply.send(engine.apply_template(&messages));
            }
            Instruction::Tokenize { text, reply } => {
                let n = engine.tokenize(&text).len();
                let _ = reply.send(Ok(u32::try_from(n).unwrap_or(u32::MAX)));
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
        }
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
    /// Tokens whose KV entries are in sequence 0, in position order.
    cached: Vec<LlamaToken>,
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

    fn reset_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    /// Evaluate `tokens` at positions from `self.cached.len()`, logits only
    /// for the last; keeps `cached` in step with the KV cache.
    fn eval(&mut self, tokens: &[LlamaToken], cancel: &Cancel) -> Result<(), RuntimeError> {
        let n = tokens.len();
        // llama.cpp may lower n_batch (to n_ctx); a larger batch is a
        // GGML_ASSERT abort, so chunk by what the context reports.
        let step = (self.ctx.n_batch() as usize).clamp(1, N_BATCH as usize);
        for (c, chunk) in tokens.chunks(step).enumerate() {
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            self.batch.clear();
            let start = self.cached.len();
            for (i, t) in chunk.iter().enumerate() {
                let last = c * step + i + 1 == n;
                let pos = i32::try_from(start + i).unwrap_or(i32::MAX);
                self.batch
                    .add(*t, pos, &[0], last)
                    .map_err(|e| RuntimeError::new(ErrorKind::Decode, format!("batch: {e}")))?;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                self.reset_cache();
                return Err(RuntimeError::new(
                    ErrorKind::Decode,
                    format!("llama.cpp failed to evaluate the prompt: {e}"),
                ));
            }
            self.cached.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn generate(
        &mut self,
        prompt: &str,
        opts: &GenOptions,
        cancel: &Cancel,
        events: &Sender<Event>,
    ) -> Result<Generated, RuntimeError> {
        let tokens = self.tokenize(prompt);
        let n_ctx = self.ctx.n_ctx() as usize;
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

        // Prefix cache: keep what matches, evaluate the rest. At least one
        // token is always evaluated, as sampling needs its logits.
        let common = common_prefix(&self.cached, &tokens).min(tokens.len() - 1);
        if common < self.cached.len() {
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(0), u32::try_from(common).ok(), None)
                .unwrap_or(false);
            if removed {
                self.cached.truncate(common);
            } else {
                self.reset_cache();
            }
        }
        let cached_tokens = self.cached.len();
        let started = Instant::now();
        self.eval(&tokens[cached_tokens..], cancel)?;
        let prompt_time = started.elapsed();
        let started = Instant::now();

        let mut out = Output::new(&opts.stop);
        let mut generated = 0u32;
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
            if self.cached.len() >= n_ctx {
                finish = Finish::ContextFull;
                break;
            }
            let token = sampler.pick(&self.ctx, logits_idx);
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
            self.eval(&[token], cancel)?;
            logits_idx = 0;
        }
        out.finish(events);
        Ok(Generated {
            text: out.text,
            prompt_tokens: u32::try_from(tokens.len()).unwrap_or(u32::MAX),
            generated_tokens: generated,
            cached_tokens: u32::try_from(cached_tokens).unwrap_or(u32::MAX),
            finish,
            prompt_time,
            generation_time: started.elapsed(),
        })
    }
}

/// How the next token is chosen. Both are greedy (argmax).
enum Sampler {
    Greedy(LlamaSampler),
    /// Under a grammar: take the argmax and ask the grammar about that one
    /// token; only when it is rejected, run the grammar over the whole
    /// vocabulary. Tool calls are mostly what the model would say anyway,
    /// and a full pass costs tens of ms per token over Qwen's 151k tokens.
    Grammar(LlamaSampler),
}

impl Sampler {
    fn pick(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        match self {
            // `sample` also accepts the token into the sampler's state.
            Sampler::Greedy(s) => s.sample(ctx, idx),
            Sampler::Grammar(grammar) => {
                let logits = ctx.get_logits_ith(idx);
                let (best, logit) =
                    logits
                        .iter()
                        .enumerate()
                        .fold((0usize, f32::NEG_INFINITY), |acc, (i, &l)| {
                            if l > acc.1 { (i, l) } else { acc }
                        });
                let best = LlamaToken(i32::try_from(best).unwrap_or(0));
                let mut one =
                    LlamaTokenDataArray::new(vec![LlamaTokenData::new(best, logit, 0.0)], false);
                grammar.apply(&mut one);
                let allowed = one.data.first().is_some_and(|d| d.logit().is_finite());
                let token = if allowed {
                    best
                } else {
                    let mut all = ctx.token_data_array_ith(idx);
                    grammar.apply(&mut all);
                    all.sample_token_greedy()
                };
                grammar.accept(token);
                token
            }
        }
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

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Generated text as it streams: whole UTF-8 characters only (a token may
/// end mid-character), and a tail held back while it could still be the
/// start of a stop string, so a stop string is never streamed.
struct Output<'s> {
    stop: &'s [String],
    hold: usize,
    pending: Vec<u8>,
    text: String,
    sent: usize,
    /// The receiver of the stream is gone.
    gone: bool,
}

impl<'s> Output<'s> {
    fn new(stop: &'s [String]) -> Self {
        let hold = stop
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
            .saturating_sub(1);
        Self {
            stop,
            hold,
            pending: Vec::new(),
            text: String::new(),
            sent: 0,
            gone: false,
        }
    }

    /// Add a token's bytes; true when a stop string appeared (the text is
    /// cut before it).
    fn push(&mut self, bytes: &[u8], events: &Sender<Event>) -> bool {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            // An incomplete character at the end waits for the next token.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Invalid bytes: replace them rather than lose the stream.
            Err(_) => {
                let lossy = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending = lossy.into_bytes();
                self.pending.len()
            }
        };
        let rest = self.pending.split_off(valid);
        self.text
            .push_str(&String::from_utf8_lossy(&std::mem::replace(
                &mut self.pending,
                rest,
            )));
        if let Some(at) = self
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.text.find(s.as_str()))
            .min()
        {
            self.text.truncate(at);
            self.flush_to(self.text.len(), events);
            return true;
        }
        let mut safe = self.text.len().saturating_sub(self.hold);
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        self.flush_to(safe, events);
        false
    }

    fn flush_to(&mut self, end: usize, events: &Sender<Event>) {
        if end > self.sent {
            if events
                .send(Event::Token(self.text[self.sent..end].to_string()))
                .is_err()
            {
                self.gone = true;
            }
            self.sent = end;
        }
    }

    fn finish(&mut self, events: &Sender<Event>) {
        if !self.pending.is_empty() {
            let tail = String::from_utf8_lossy(&self.pending).into_owned();
            self.text.push_str(&tail);
            self.pending.clear();
        }
        self.flush_to(self.text.len(), events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&[u8]], stop: &[&str]) -> (String, Vec<String>, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let (tx, rx) = mpsc::channel();
        let mut out = Output::new(&stop);
        let mut stopped = false;
        for p in pieces {
            if out.push(p, &tx) {
                stopped = true;
                break;
            }
        }
        out.finish(&tx);
        drop(tx);
        let streamed = rx
            .iter()
            .map(|e| match e {
                Event::Token(t) => t,
                Event::Done(_) => unreachable!(),
            })
            .collect();
        (out.text, streamed, stopped)
    }

    #[test]
    fn split_utf8_is_joined_before_streaming() {
        let e = "é".as_bytes();
        let (text, streamed, _) = run(&[b"caf", &e[..1], &e[1..], b"!"], &[]);
        assert_eq!(text, "café!");
        assert_eq!(streamed.concat(), "café!");
        assert!(streamed.iter().all(|s| !s.contains('\u{fffd}')));
    }

    #[test]
    fn stop_string_across_tokens_is_never_streamed() {
        let (text, streamed, stopped) = run(&[b"ans", b"wer<", b"|end", b"|> more"], &["<|end|>"]);
        assert!(stopped);
        assert_eq!(text, "answer");
        assert_eq!(streamed.concat(), "answer");
    }

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        let t = |v: &[i32]| v.iter().map(|&x| LlamaToken(x)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
    }
}

//! # aios-runtimed: the local model runtime's daemon
//!
//! [`RuntimeService`] serves [`aios_proto::RuntimeApi`] over one model
//! loaded with [`aios_runtime`]: llama.cpp lives in this process only, so
//! a native abort is a restart by the supervisor, not a dead gateway.
//!
//! Design decisions:
//! - **Load at start, in the background.** The socket is served at once
//!   (the supervisor sees the daemon ready in milliseconds); the model
//!   loads on a blocking thread meanwhile, and requests that arrive before
//!   it is loaded wait for it. The first user request then does not pay
//!   the load (about a second for the 0.5B model), and a slow disk does not
//!   hold up the daemon set's start.
//! - **A missing or bad model is an answer, not a crash.** `Info`,
//!   `Generate` and `Embed` fail with a message saying how to get the model
//!   (`cargo xtask model fetch`); each later request tries to load again,
//!   so fetching the model while the daemon runs is enough.
//! - **One request at a time, with a bounded queue.** The runtime's worker
//!   thread runs requests in arrival order; at most [`QUEUE_MAX`] wait, and
//!   more are refused (`ResourceExhausted`) rather than piling up.
//! - **Cancellation by dropping the stream.** The stream a client holds
//!   owns a guard that cancels the generation when dropped; the runtime
//!   checks it before every token.
//! - **Rights.** Anyone local may ask what is loaded; generation and
//!   embeddings (CPU time) are for aiOS daemons only.
//! - **Token counts from the model's own tokenizer** (`CountTokens`), so
//!   aiosd sizes a conversation in this model's tokens; they run on the
//!   worker between generations, like every request.
#![deny(missing_docs)]

pub mod convert;
pub mod model_file;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aios_proto::{
    ApiError, BoxStream, GenerateEvent, GenerateRequest, ModelTool, Principal, Right, RuntimeApi,
    RuntimeInfo, ToolCall,
};
use aios_runtime::{Cancel, ChatRequest, LoadOptions, Reply, Runtime};
use futures::StreamExt;
use tokio::sync::{Mutex, Semaphore};

/// Most requests waiting or running at once.
pub const QUEUE_MAX: usize = 16;

/// Most texts counted by one `CountTokens` (the message size bounds their
/// bytes).
pub const MAX_COUNT_TEXTS: usize = 4096;

/// Output limit when a request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 512;

/// The runtime service over one model file.
#[derive(Clone)]
pub struct RuntimeService {
    inner: Arc<Inner>,
}

struct Inner {
    /// The configured model file; `None`: the catalogue's default, looked
    /// up in the model directories at every load attempt, so a model pulled
    /// after the daemon started is found without a restart.
    configured: Option<PathBuf>,
    opts: LoadOptions,
    /// Where the runtime saves its kept prompt prefix.
    kept_dir: Option<PathBuf>,
    loaded: Mutex<Option<Arc<Loaded>>>,
    queue: Arc<Semaphore>,
}

struct Loaded {
    rt: Runtime,
    info: RuntimeInfo,
}

impl RuntimeService {
    /// Serve the model at `configured`, else the default model of the
    /// model directories (not loaded yet: see [`Self::preload`]).
    pub fn new(configured: Option<PathBuf>, opts: LoadOptions) -> Self {
        RuntimeService {
            inner: Arc::new(Inner {
                configured,
                opts,
                kept_dir: None,
                loaded: Mutex::new(None),
                queue: Arc::new(Semaphore::new(QUEUE_MAX)),
            }),
        }
    }

    /// Save the kept prompt prefix (the tool catalogue's KV cache) in
    /// `dir`, and restore it from there when the model loads.
    pub fn with_kept_dir(mut self, dir: PathBuf) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.kept_dir = Some(dir);
        }
        self
    }

    /// Start loading the model in the background; requests wait for it.
    pub fn preload(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.model().await {
                tracing::warn!("model not loaded: {e}");
            }
        });
    }

    /// The loaded model, loading it now if it is not (yet).
    async fn model(&self) -> Result<Arc<Loaded>, ApiError> {
        let mut slot = self.inner.loaded.lock().await;
        if let Some(m) = slot.as_ref() {
            return Ok(Arc::clone(m));
        }
        let opts = self.inner.opts;
        let path =
            model_file::locate(self.inner.configured.as_deref()).map_err(ApiError::precondition)?;
        let started = Instant::now();
        let rt = tokio::task::spawn_blocking({
            let path = path.clone();
            move || Runtime::load(&path, opts)
        })
        .await
        .map_err(|e| ApiError::internal(format!("loading the model panicked: {e}")))?
        .map_err(|e| convert::api_error(&e))?;
        let load_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let info = RuntimeInfo {
            model_path: path.display().to_string(),
            model_name: model_file::model_name(&path),
            sha256: model_file::manifest_sha256(&path),
            n_ctx: rt.info().n_ctx,
            n_ctx_train: rt.info().n_ctx_train,
            load_ms,
            resident_bytes: 0,
            threads: opts.n_threads,
            kept_tokens: 0,
            kept_target: 0,
            warm_pending: 0,
        };
        tracing::info!(model = %path.display(), load_ms, n_ctx = info.n_ctx, "model loaded");
        if let Some(dir) = &self.inner.kept_dir
            && let Err(e) = rt.keep_in(dir)
        {
            tracing::warn!("the kept prompt prefix is not saved: {e}");
        }
        let loaded = Arc::new(Loaded { rt, info });
        *slot = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    fn enqueue(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.inner.queue)
            .try_acquire_owned()
            .map_err(|_| {
                ApiError::exhausted(format!(
                    "the local model is busy ({QUEUE_MAX} requests queued); try again shortly"
                ))
            })
    }
}

/// Resident memory of this process (`VmRSS` of `/proc/self/status`);
/// 0 when unknown.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| vm_rss(&s))
        .unwrap_or(0)
}

fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Cancels the generation when the stream that owns it is dropped.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[async_trait::async_trait]
impl RuntimeApi for RuntimeService {
    async fn info(&self, who: Principal) -> Result<RuntimeInfo, ApiError> {
        who.require(Right::AnyUser)?;
        let m = self.model().await?;
        let mut info = m.info.clone();
        info.resident_bytes = resident_bytes();
        let kept = m.rt.kept_status();
        info.kept_tokens = kept.held;
        info.kept_target = kept.target;
        info.warm_pending = kept.warm_pending;
        Ok(info)
    }

    async fn generate(
        &self,
        who: Principal,
        req: GenerateRequest,
    ) -> Result<BoxStream<GenerateEvent>, ApiError> {
        who.require(Right::Daemon)?;
        let permit = self.enqueue()?;
        if req.require_tool && req.tools.is_empty() {
            return Err(ApiError::invalid(
                "require_tool needs at least one candidate tool",
            ));
        }
        let turns = convert::turns(&req.messages)?;
        let tools = convert::tool_defs(&req.tools);
        let catalog = convert::tool_defs(&req.catalog);
        let model = self.model().await?;
        let cancel = Cancel::new();
        let guard = CancelOnDrop(cancel.clone());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let max_tokens = if req.max_tokens == 0 {
            DEFAULT_MAX_TOKENS
        } else {
            req.max_tokens
        };
        let system = if req.system.trim().is_empty() {
            aios_runtime::tools::SYSTEM.to_string()
        } else {
            req.system
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let chat = ChatRequest {
                system: &system,
                tools: &tools,
                catalog: &catalog,
                turns: &turns,
                max_tokens,
                require_tool: req.require_tool,
            };
            let result = model.rt.chat(&chat, &cancel, |text| {
                // Nobody listens any more: stop generating for nobody.
                if tx
                    .send(Ok(GenerateEvent::TextDelta(text.to_string())))
                    .is_err()
                {
                    cancel.cancel();
                }
            });
            let events = match result {
                Ok(r) => {
                    let mut events = Vec::with_capacity(3);
                    let call = matches!(r.reply, Reply::ToolCall { .. });
                    if let (Reply::ToolCall { .. }, Some(runner_up)) =
                        (&r.reply, r.generated.runner_up.clone())
                    {
                        events.push(Ok(GenerateEvent::NameChoice {
                            confidence: r.generated.name_confidence,
                            runner_up,
                        }));
                    }
                    if let Reply::ToolCall { name, args_json } = r.reply {
                        let args = serde_json::from_str(&args_json)
                            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()));
                        events.push(Ok(GenerateEvent::ToolCall(ToolCall {
                            id: format!("local-{}", uuid_like()),
                            name,
                            args,
                        })));
                    }
                    events.push(Ok(GenerateEvent::Usage(convert::usage(&r.generated))));
                    events.push(Ok(GenerateEvent::Done {
                        finish: convert::finish(r.generated.finish, call).to_string(),
                    }));
                    events
                }
                Err(e) => {
                    tracing::info!("generation ended: {e}");
                    vec![Err(convert::api_error(&e))]
                }
            };
            for e in events {
                let _ = tx.send(e);
            }
        });
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        // The guard lives as long as the stream: dropping it cancels.
        Ok(stream
            .map(move |e| {
                let _ = &guard;
                e
            })
            .boxed())
    }

    async fn keep(
        &self,
        who: Principal,
        system: String,
        catalog: Vec<ModelTool>,
    ) -> Result<RuntimeInfo, ApiError> {
        who.require(Right::Daemon)?;
        let model = self.model().await?;
        let catalog = convert::tool_defs(&catalog);
        let system = if system.trim().is_empty() {
            aios_runtime::tools::SYSTEM.to_string()
        } else {
            system
        };
        let tools = catalog.len();
        let kept = tokio::task::spawn_blocking(move || model.rt.keep_catalog(&system, &catalog))
            .await
            .map_err(|e| ApiError::internal(format!("keeping the catalogue panicked: {e}")))?
            .map_err(|e| convert::api_error(&e))?;
        tracing::info!(kept, tools, "asked to keep the tool catalogue");
        self.info(who).await
    }

    async fn warm(
        &self,
        who: Principal,
        system: String,
        lists: Vec<Vec<ModelTool>>,
    ) -> Result<RuntimeInfo, ApiError> {
        who.require(Right::Daemon)?;
        let model = self.model().await?;
        let lists: Vec<_> = lists.iter().map(|l| convert::tool_defs(l)).collect();
        let system = if system.trim().is_empty() {
            aios_runtime::tools::SYSTEM.to_string()
        } else {
            system
        };
        let queued = tokio::task::spawn_blocking(move || model.rt.warm_tool_lists(&system, &lists))
            .await
            .map_err(|e| ApiError::internal(format!("warming tool lists panicked: {e}")))?
            .map_err(|e| convert::api_error(&e))?;
        tracing::info!(queued, "asked to warm tool lists");
        self.info(who).await
    }

    async fn count_tokens(&self, who: Principal, texts: Vec<String>) -> Result<Vec<u32>, ApiError> {
        who.require(Right::Daemon)?;
        if texts.len() > MAX_COUNT_TEXTS {
            return Err(ApiError::invalid(format!(
                "{} texts to count; at most {MAX_COUNT_TEXTS} per request",
                texts.len()
            )));
        }
        let _permit = self.enqueue()?;
        let model = self.model().await?;
        tokio::task::spawn_blocking(move || model.rt.count_tokens(&texts))
            .await
            .map_err(|e| ApiError::internal(format!("counting tokens panicked: {e}")))?
            .map_err(|e| convert::api_error(&e))
    }

    async fn embed(&self, who: Principal, texts: Vec<String>) -> Result<Vec<Vec<f32>>, ApiError> {
        who.require(Right::Daemon)?;
        let _permit = self.enqueue()?;
        let model = self.model().await?;
        tokio::task::spawn_blocking(move || model.rt.embed(&texts))
            .await
            .map_err(|e| ApiError::internal(format!("embedding panicked: {e}")))?
            .map_err(|e| convert::api_error(&e))
    }
}

/// A call id unique within this process's life.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\truntimed\nVmRSS:\t  612345 kB\nThreads:\t5\n";
        assert_eq!(super::vm_rss(status), Some(612_345 * 1024));
        assert_eq!(super::vm_rss("Name: x\n"), None);
    }
}

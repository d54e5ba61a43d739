//! The [`Tool`] trait (one typed definition per tool) and the [`ToolCtx`]
//! a run receives: cancellation, live output and the effective user.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aios_domain::{Preview, Resource, ResourceKind, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{Access, Supervisor, ToolError};

/// One tool: its name, description, typed arguments, effect class,
/// resources, examples, assessment (effect, resources and preview of one
/// call) and implementation, all in one place. The LLM schema, policy
/// input, help text and docs are derived from it by the [`crate::Registry`].
pub trait Tool: Send + Sync + 'static {
    /// Arguments. Derive `Deserialize` (with `deny_unknown_fields`, so a
    /// misspelt field is an error rather than silently ignored),
    /// `Serialize` (the typed arguments serialised again are the call's
    /// canonical form: keys sorted, every field present) and `JsonSchema`;
    /// doc comments on fields become the schema descriptions. Put defaults
    /// in the arguments (`#[serde(default = …)]`), not in `run`, so the
    /// canonical form says what will really happen.
    type Args: DeserializeOwned + Serialize + JsonSchema + Send + Sync + 'static;

    /// Dotted name, `namespace.verb`.
    fn name(&self) -> &'static str;

    /// One paragraph for the model and the help.
    fn description(&self) -> &'static str;

    /// The most a call of this tool can do: the effect class in its spec.
    /// One call may do less ([`Tool::assess`]).
    fn effect(&self) -> Risk;

    /// Kinds of resources the tool touches, listed in its spec for policy.
    fn resource_kinds(&self) -> &'static [ResourceKind];

    /// A few natural requests this tool answers, with the arguments of the
    /// call for each (JSON text, checked against `Args` at registration).
    fn examples(&self) -> &'static [Example];

    /// Put arguments in canonical form before anything looks at them:
    /// expand `~` against the caller's `home`, normalise paths
    /// ([`crate::access::normalize_path`]), lower-case names that are
    /// case-insensitive. Policy, the approval hash and the ledger all see
    /// the result. Default: nothing to do.
    fn canonicalize(&self, args: &mut Self::Args, home: Option<&Path>) -> Result<(), ToolError> {
        let _ = (args, home);
        Ok(())
    }

    /// The resources one call touches, derived from its (canonical)
    /// arguments.
    fn resources(&self, args: &Self::Args) -> Vec<Resource>;

    /// One line: what this call will do.
    fn preview(&self, args: &Self::Args) -> String;

    /// Assess one call before it runs, with the caller's credentials and
    /// without changing anything: its effect (a write into a new file is a
    /// change, overwriting an existing one destructive), what it touches,
    /// and a preview (a diff, a dry run, the affected items). Default: the
    /// tool's effect class, [`Tool::resources`] and [`Tool::preview`].
    fn assess(
        &self,
        ctx: &ToolCtx,
        args: &Self::Args,
    ) -> impl Future<Output = Result<Assessment, ToolError>> + Send {
        let _ = ctx;
        std::future::ready(Ok(Assessment {
            effect: self.effect(),
            resources: self.resources(args),
            preview: Preview::text(self.preview(args)),
        }))
    }

    /// Run the call. Must stop promptly once `ctx` is cancelled (the
    /// executor also aborts the task after a grace period), and should do
    /// blocking I/O through [`ToolCtx::blocking`]. A change that can be
    /// reversed records how with [`ToolCtx::set_undo`] once it is done.
    fn run(
        &self,
        ctx: ToolCtx,
        args: Self::Args,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
}

/// One natural request and the call that answers it.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// What a user might say.
    pub request: &'static str,
    /// The call's arguments, as JSON text.
    pub args: &'static str,
}

/// A tool's assessment of one call, before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// What this call does. A tool that reports more than its class is
    /// believed (the stricter answer wins); less is the point of assessing.
    pub effect: Risk,
    /// What it touches.
    pub resources: Vec<Resource>,
    /// What it will do, shown before approval.
    pub preview: Preview,
}

/// Live output of a run, capped in total so a chatty tool cannot flood
/// the stream; the first chunk over the cap is replaced by one note.
#[derive(Clone)]
pub struct OutputSink {
    tx: Option<mpsc::UnboundedSender<String>>,
    sent: Arc<AtomicUsize>,
    cap: usize,
}

impl fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputSink")
            .field("connected", &self.tx.is_some())
            .field("sent", &self.sent.load(Ordering::Relaxed))
            .finish()
    }
}

impl OutputSink {
    /// Default cap on the bytes of live output per call.
    pub const DEFAULT_CAP: usize = 256 * 1024;

    /// A sink sending chunks to `tx`, up to `cap` bytes in total.
    pub fn channel(tx: mpsc::UnboundedSender<String>, cap: usize) -> OutputSink {
        OutputSink {
            tx: Some(tx),
            sent: Arc::new(AtomicUsize::new(0)),
            cap,
        }
    }

    /// A sink that drops everything (direct calls, tests).
    pub fn discard() -> OutputSink {
        OutputSink {
            tx: None,
            sent: Arc::new(AtomicUsize::new(0)),
            cap: 0,
        }
    }

    /// Send one chunk (usually a line ending in `\n`).
    pub fn emit(&self, chunk: impl Into<String>) {
        let Some(tx) = &self.tx else { return };
        let chunk = chunk.into();
        let before = self.sent.fetch_add(chunk.len(), Ordering::Relaxed);
        if before + chunk.len() <= self.cap {
            // A closed receiver means nobody is listening any more; the
            // executor cancels the run separately.
            let _ = tx.send(chunk);
        } else if before <= self.cap {
            let _ = tx.send(format!("[live output truncated at {} bytes]\n", self.cap));
        }
    }
}

/// What a running tool receives.
#[derive(Clone, Debug)]
pub struct ToolCtx {
    cancel: CancellationToken,
    output: OutputSink,
    access: Arc<Access>,
    supervisor: Option<Arc<dyn Supervisor>>,
    audit: Option<Arc<dyn crate::AuditReader>>,
    memory: Option<Arc<dyn crate::MemoryReader>>,
    state_dir: Option<Arc<PathBuf>>,
    undo: Arc<Mutex<Option<UndoRecord>>>,
}

impl ToolCtx {
    /// A context with the given parts.
    pub fn new(cancel: CancellationToken, output: OutputSink, access: Access) -> ToolCtx {
        ToolCtx {
            cancel,
            output,
            access: Arc::new(access),
            supervisor: None,
            audit: None,
            memory: None,
            state_dir: None,
            undo: Arc::new(Mutex::new(None)),
        }
    }

    /// The same context, with a private directory for state that outlives
    /// the call (file snapshots for undo). Tools without one cannot offer
    /// an undo that needs stored state, and say so.
    pub fn with_state_dir(mut self, dir: PathBuf) -> ToolCtx {
        self.state_dir = Some(Arc::new(dir));
        self
    }

    /// The executor's private state directory, when it gave one.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref().map(PathBuf::as_path)
    }

    /// Record how to reverse what this call did. Call it once the change
    /// has happened; the executor puts it in the ledger's outcome entry.
    pub fn set_undo(&self, undo: UndoRecord) {
        // A poisoned lock only means another clone panicked mid-set; the
        // value inside is still a whole Option.
        let mut slot = self.undo.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(undo);
    }

    /// The undo record the run left, if any (the executor, after the run).
    pub fn take_undo(&self) -> Option<UndoRecord> {
        let mut slot = self.undo.lock().unwrap_or_else(|e| e.into_inner());
        slot.take()
    }

    /// The same context, able to ask aiOS's supervisor about services.
    pub fn with_supervisor(mut self, supervisor: Arc<dyn Supervisor>) -> ToolCtx {
        self.supervisor = Some(supervisor);
        self
    }

    /// The same context, able to read the audit ledger.
    pub fn with_audit(mut self, audit: Arc<dyn crate::AuditReader>) -> ToolCtx {
        self.audit = Some(audit);
        self
    }

    /// The same context, able to search memoryd's collections.
    pub fn with_memory(mut self, memory: Arc<dyn crate::MemoryReader>) -> ToolCtx {
        self.memory = Some(memory);
        self
    }

    /// memoryd's search, when the executor provides it.
    pub fn memory(&self) -> Option<&dyn crate::MemoryReader> {
        self.memory.as_deref()
    }

    /// The audit ledger, when the executor provides one.
    pub fn audit(&self) -> Option<&dyn crate::AuditReader> {
        self.audit.as_deref()
    }

    /// aiOS's supervisor, when the executor provides one.
    pub fn supervisor(&self) -> Option<&dyn Supervisor> {
        self.supervisor.as_deref()
    }

    /// A context running as this process with no live output and a fresh
    /// cancellation token (direct calls and tests).
    pub fn local() -> ToolCtx {
        ToolCtx::new(
            CancellationToken::new(),
            OutputSink::discard(),
            Access::process(),
        )
    }

    /// The cancellation token of this run.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the run has been cancelled (poll this in long loops).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Fail with [`crate::ToolErrorKind::Cancelled`] once cancelled.
    pub fn check_cancelled(&self) -> Result<(), ToolError> {
        if self.cancel.is_cancelled() {
            Err(ToolError::cancelled())
        } else {
            Ok(())
        }
    }

    /// Resolves when the run is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Stream a chunk of live output.
    pub fn emit(&self, chunk: impl Into<String>) {
        self.output.emit(chunk);
    }

    /// Whose permissions this run has.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Run blocking work (filesystem walks, /proc scans) on the blocking
    /// pool, so a slow disk never stalls the async workers, and with the
    /// caller's kernel credentials when the call acts for another user than
    /// the process ([`crate::Credentials::run`]): every path the closure
    /// opens is checked by the kernel as that user. The closure gets a
    /// clone of this context and should poll [`ToolCtx::is_cancelled`].
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ToolError>
    where
        F: FnOnce(ToolCtx) -> Result<T, ToolError> + Send + 'static,
        T: Send + 'static,
    {
        let ctx = self.clone();
        let creds = self.access.shared_credentials();
        let work = move || match creds {
            None => f(ctx),
            Some(creds) => creds.run(move || f(ctx)).and_then(|r| r),
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r,
            // Re-raise a panic so the executor reports it like any other
            // panicking tool.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(ToolError::cancelled()),
        }
    }
}

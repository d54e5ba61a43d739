//! The [`Tool`] trait (one typed definition per tool) and the [`ToolCtx`]
//! a run receives: cancellation, live output and the effective user.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{Access, Supervisor, ToolError};

/// One tool: its name, description, typed arguments, effect class,
/// resources, preview and implementation, all in one place. The LLM schema,
/// policy input and help text are derived from it by the [`crate::Registry`].
pub trait Tool: Send + Sync + 'static {
    /// Arguments. Derive `Deserialize` (with `deny_unknown_fields`, so a
    /// misspelt field is an error rather than silently ignored),
    /// `Serialize` (the typed arguments serialised again are the call's
    /// canonical form: keys sorted, every field present) and `JsonSchema`;
    /// doc comments on fields become the schema descriptions.
    type Args: DeserializeOwned + Serialize + JsonSchema + Send + 'static;

    /// Dotted name, `namespace.verb`.
    fn name(&self) -> &'static str;

    /// One paragraph for the model and the help.
    fn description(&self) -> &'static str;

    /// What the tool can do to the system.
    fn effect(&self) -> Risk;

    /// Kinds of resources the tool touches (`path`, `process`, `service`…),
    /// listed in its spec for policy.
    fn resource_kinds(&self) -> &'static [&'static str];

    /// The resources one call touches, derived from its arguments.
    fn resources(&self, args: &Self::Args) -> Vec<Resource>;

    /// Human text of what this call will do, for approval cards.
    fn preview(&self, args: &Self::Args) -> String;

    /// Run the call. Must stop promptly once `ctx` is cancelled (the
    /// executor also aborts the task after a grace period), and should do
    /// blocking I/O through [`ToolCtx::blocking`].
    fn run(
        &self,
        ctx: ToolCtx,
        args: Self::Args,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
}

/// A resource one call touches, for policy and audit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// A filesystem path.
    Path(PathBuf),
    /// A service by name.
    Service(String),
    /// The process table.
    Processes,
    /// Network sockets.
    Network,
    /// System-wide state (memory, load, hostname…).
    System,
    /// A journald unit's log.
    Journal(String),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Path(p) => write!(f, "path:{}", p.display()),
            Resource::Service(s) => write!(f, "service:{s}"),
            Resource::Processes => f.write_str("processes"),
            Resource::Network => f.write_str("network"),
            Resource::System => f.write_str("system"),
            Resource::Journal(u) => write!(f, "journal:{u}"),
        }
    }
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
}

impl ToolCtx {
    /// A context with the given parts.
    pub fn new(cancel: CancellationToken, output: OutputSink, access: Access) -> ToolCtx {
        ToolCtx {
            cancel,
            output,
            access: Arc::new(access),
            supervisor: None,
        }
    }

    /// The same context, able to ask aiOS's supervisor about services.
    pub fn with_supervisor(mut self, supervisor: Arc<dyn Supervisor>) -> ToolCtx {
        self.supervisor = Some(supervisor);
        self
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

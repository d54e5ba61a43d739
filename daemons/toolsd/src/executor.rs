//! The [`Executor`]: the `ToolsApi` implementation. It resolves the tool,
//! validates arguments, decides with [`crate::authorize`], then runs the
//! call as its own task under a time limit, streaming live output and
//! ending with exactly one `End`.
//!
//! Failure containment: a panicking tool ends the call with `Error` (the
//! task's `JoinError`), never the daemon; a tool past its time limit or
//! whose client went away is cancelled through its token and aborted after
//! a short grace period; results over the cap are replaced by a truncation
//! note so one call cannot exhaust the stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aios_catalog::{
    Access, OutputSink, Prepared, Registry, Supervisor, ToolCtx, ToolError, ToolErrorKind,
};
use aios_proto::{
    ApiError, BoxStream, ExecuteEnd, ExecuteEvent, ExecuteRequest, Principal, Right, ToolSpec,
    ToolStatus, ToolsApi,
};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::authorize::{Decision, authorize};
use crate::identities::Identities;
use crate::supervisor::InitdSupervisor;

/// Limits of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Time limit when the request gives none.
    pub default_timeout: Duration,
    /// Largest time limit a request may ask for.
    pub max_timeout: Duration,
    /// Largest result (as JSON text) returned whole.
    pub max_result_bytes: usize,
    /// Largest total of live output per call.
    pub max_output_bytes: usize,
    /// How long a cancelled tool may take to stop before it is aborted.
    pub cancel_grace: Duration,
    /// aiOS's supervisor, asked by the `service.*` tools.
    pub supervisor: Arc<dyn Supervisor>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            max_result_bytes: 1024 * 1024,
            max_output_bytes: OutputSink::DEFAULT_CAP,
            cancel_grace: Duration::from_secs(2),
            supervisor: Arc::new(InitdSupervisor::from_env()),
        }
    }
}

/// Runs tool calls for authenticated callers.
#[derive(Debug, Clone)]
pub struct Executor {
    registry: Arc<Registry>,
    config: ExecutorConfig,
    /// This process's own access, looked up once (user database reads
    /// would otherwise cost every call).
    own: Access,
    /// Everyone else's, looked up at most once per uid per TTL.
    identities: Arc<Identities>,
}

type Events = mpsc::UnboundedSender<Result<ExecuteEvent, ApiError>>;

impl Executor {
    /// An executor over `registry` with default limits.
    pub fn new(registry: Registry) -> Executor {
        Executor::with_config(registry, ExecutorConfig::default())
    }

    /// An executor over `registry` with the given limits.
    pub fn with_config(registry: Registry, config: ExecutorConfig) -> Executor {
        Executor {
            registry: Arc::new(registry),
            config,
            own: Access::process(),
            identities: Arc::new(Identities::new(Identities::TTL)),
        }
    }

    /// The registry served.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The time limit of a request: its own (capped) or the default.
    fn timeout_of(&self, req: &ExecuteRequest) -> Duration {
        if req.timeout_ms == 0 {
            self.config.default_timeout
        } else {
            Duration::from_millis(req.timeout_ms).min(self.config.max_timeout)
        }
    }
}

/// A stream of exactly one `End`.
fn end_now(status: ToolStatus, message: String) -> BoxStream<ExecuteEvent> {
    let end = ExecuteEvent::End(ExecuteEnd {
        status,
        result: Value::String(message),
        duration_us: 0,
    });
    futures::stream::iter([Ok(end)]).boxed()
}

/// How a tool error ends a call.
fn status_of(e: &ToolError) -> ToolStatus {
    match e.kind() {
        ToolErrorKind::PermissionDenied => ToolStatus::Denied,
        ToolErrorKind::Cancelled => ToolStatus::Interrupted,
        _ => ToolStatus::Error,
    }
}

/// Replace a result over `cap` bytes of JSON by a note and a prefix.
pub fn cap_result(v: Value, cap: usize) -> Value {
    let text = v.to_string();
    if text.len() <= cap {
        return v;
    }
    let mut end = (cap / 2).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({
        "truncated": true,
        "note": format!(
            "the result was {} bytes, over the {cap}-byte cap; narrow the request (a smaller limit, path or max_bytes)",
            text.len()
        ),
        "partial_json": &text[..end],
    })
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[async_trait::async_trait]
impl ToolsApi for Executor {
    async fn list(&self, who: Principal) -> Result<Vec<ToolSpec>, ApiError> {
        who.require(Right::AnyUser)?;
        Ok(self.registry.specs())
    }

    async fn execute(
        &self,
        who: Principal,
        req: ExecuteRequest,
    ) -> Result<BoxStream<ExecuteEvent>, ApiError> {
        let spec = match self.registry.spec(&req.tool) {
            Ok(s) => s,
            Err(e) => return Ok(end_now(ToolStatus::Error, e.message().to_string())),
        };
        let run_as = match authorize(&who, req.on_behalf_of_uid, &spec) {
            Decision::Allow { run_as } => run_as,
            Decision::RefuseCaller(msg) => return Err(ApiError::denied(msg)),
            Decision::Deny(msg) => {
                tracing::info!(tool = %req.tool, uid = who.uid, call = %req.call_id, "denied: {msg}");
                return Ok(end_now(ToolStatus::Denied, msg));
            }
        };
        // For another uid than toolsd's own, the tool's blocking work runs
        // with that user's kernel credentials (see `aios_catalog::creds`).
        let access = if run_as == self.own.identity().uid {
            self.own.clone()
        } else {
            self.identities.access(run_as)
        };
        let home = access.identity().home.clone();
        let prepared = match self
            .registry
            .prepare_for(&req.tool, req.args.clone(), home.as_deref())
        {
            Ok(p) => p,
            Err(e) => return Ok(end_now(status_of(&e), e.message().to_string())),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let call = Call {
            tool: req.tool.clone(),
            call_id: req.call_id.clone(),
            uid: who.uid,
            run_as,
            timeout: self.timeout_of(&req),
            config: self.config.clone(),
        };
        tokio::spawn(call.drive(prepared, access, tx));
        Ok(tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed())
    }
}

/// One running call.
struct Call {
    tool: String,
    call_id: String,
    uid: u32,
    run_as: u32,
    timeout: Duration,
    config: ExecutorConfig,
}

enum Outcome {
    Finished(Result<Result<Value, ToolError>, tokio::task::JoinError>),
    TimedOut,
    ClientGone,
}

impl Call {
    async fn drive(self, prepared: Prepared, access: Access, tx: Events) {
        let cancel = CancellationToken::new();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let ctx = ToolCtx::new(
            cancel.clone(),
            OutputSink::channel(out_tx, self.config.max_output_bytes),
            access,
        )
        .with_supervisor(self.config.supervisor.clone());
        let started = Instant::now();
        let mut task = tokio::spawn(prepared.run(ctx));
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let outcome = loop {
            tokio::select! {
                _ = tx.closed() => break Outcome::ClientGone,
                Some(chunk) = out_rx.recv() => {
                    if tx.send(Ok(ExecuteEvent::Output(chunk))).is_err() {
                        break Outcome::ClientGone;
                    }
                }
                r = &mut task => break Outcome::Finished(r),
                _ = &mut deadline => break Outcome::TimedOut,
            }
        };
        let elapsed = started.elapsed();
        let (status, result) = match outcome {
            Outcome::ClientGone => {
                tracing::info!(tool = %self.tool, call = %self.call_id, "client went away: cancelling");
                self.stop(cancel, task);
                return;
            }
            Outcome::TimedOut => {
                self.stop(cancel, task);
                (
                    ToolStatus::TimedOut,
                    Value::String(format!(
                        "`{}` did not finish within its time limit of {} ms and was stopped",
                        self.tool,
                        self.timeout.as_millis()
                    )),
                )
            }
            Outcome::Finished(Ok(Ok(v))) => {
                (ToolStatus::Ok, cap_result(v, self.config.max_result_bytes))
            }
            Outcome::Finished(Ok(Err(e))) => {
                (status_of(&e), Value::String(e.message().to_string()))
            }
            Outcome::Finished(Err(e)) if e.is_panic() => {
                let msg = panic_message(&*e.into_panic());
                tracing::error!(tool = %self.tool, call = %self.call_id, "tool panicked: {msg}");
                (
                    ToolStatus::Error,
                    Value::String(format!(
                        "`{}` failed with an internal error: {msg}",
                        self.tool
                    )),
                )
            }
            Outcome::Finished(Err(_)) => (
                ToolStatus::Interrupted,
                Value::String("the call was cancelled".into()),
            ),
        };
        // Output emitted just before the tool returned is still queued.
        while let Ok(chunk) = out_rx.try_recv() {
            let _ = tx.send(Ok(ExecuteEvent::Output(chunk)));
        }
        let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            tool = %self.tool, call = %self.call_id, uid = self.uid, run_as = self.run_as,
            status = ?status, duration_us, "call ended"
        );
        // The client may have gone between the last check and now; nothing
        // is left to do for it then.
        let _ = tx.send(Ok(ExecuteEvent::End(ExecuteEnd {
            status,
            result,
            duration_us,
        })));
    }

    /// Cancel the tool, give it the grace period to stop, then abort it.
    fn stop(&self, cancel: CancellationToken, mut task: JoinHandle<Result<Value, ToolError>>) {
        cancel.cancel();
        let grace = self.config.cancel_grace;
        tokio::spawn(async move {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_results_pass_and_large_ones_are_replaced_by_a_note() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(cap_result(v.clone(), 100), v);
        let big = serde_json::json!({"content": "é".repeat(1000)});
        let c = cap_result(big, 100);
        assert_eq!(c["truncated"], true);
        assert!(
            c["note"]
                .as_str()
                .unwrap()
                .contains("over the 100-byte cap")
        );
        assert!(c["partial_json"].as_str().unwrap().len() <= 50);
    }

    #[test]
    fn timeouts_default_and_cap() {
        let ex = Executor::new(Registry::builtin());
        let mut req = ExecuteRequest {
            session_id: String::new(),
            call_id: String::new(),
            tool: "sys.overview".into(),
            args: Value::Null,
            on_behalf_of_uid: 0,
            timeout_ms: 0,
            rationale: String::new(),
        };
        assert_eq!(ex.timeout_of(&req), Duration::from_secs(30));
        req.timeout_ms = 10_000_000;
        assert_eq!(ex.timeout_of(&req), Duration::from_secs(300));
        req.timeout_ms = 5;
        assert_eq!(ex.timeout_of(&req), Duration::from_millis(5));
    }

    #[test]
    fn error_kinds_map_to_statuses() {
        assert_eq!(status_of(&ToolError::denied("x")), ToolStatus::Denied);
        assert_eq!(status_of(&ToolError::cancelled()), ToolStatus::Interrupted);
        assert_eq!(status_of(&ToolError::not_found("x")), ToolStatus::Error);
    }
}

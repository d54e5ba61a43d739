//! A turn taken up again after aiosd restarted while one of its calls
//! waited for the user's approval (issue 10 §7: "on Attach aiosd
//! rehydrates the session including any pending approval").
//!
//! toolsd keeps such a call waiting when aiosd's stream to it closes (see
//! toolsd's `parked` module). The rehydrated session finds it there
//! ([`crate::rehydrate::Waiting`]), and this turn re-attaches to it: the
//! approval request is shown again to the attached shells, the user
//! answers toolsd from their shell as before, and the call's result goes
//! to the conversation as any call's does. Then the model loop goes on. A
//! call that expired, or that toolsd no longer keeps, ends with a clear
//! result, and the turn ends cleanly.

use std::time::Duration;

use aios_proto::{ApiErrorKind, ExecuteEnd, ToolStatus, now_unix_ms};
use serde_json::Value;

use super::{Backend, Stop, Turn, backend_stop};
use crate::rehydrate::Waiting;

impl Turn {
    /// Take the turn up again on its own task, watched as
    /// [`Turn::spawn`]'s is. Returns the handle that aborts the task.
    pub fn spawn_resumed(self, waiting: Vec<Waiting>) -> tokio::task::AbortHandle {
        let session = self.session.clone();
        let turn_id = self.turn_id.clone();
        super::watched(session, turn_id, self.resume(waiting))
    }

    /// Finish the kept calls, then go on as the turn would have.
    async fn resume(mut self, waiting: Vec<Waiting>) {
        self.request = self.session.last_request();
        let outcome = self.drive_resumed(waiting).await;
        self.finish(outcome);
    }

    async fn drive_resumed(&self, waiting: Vec<Waiting>) -> Result<Vec<String>, Stop> {
        let (tools, specs, memories) = self.prepare().await?;
        let mut refused = Vec::new();
        for w in waiting {
            let end = self.take_up(&w).await?;
            self.ended(w.step, &end, &mut refused);
        }
        self.iterate(&tools, &specs, &memories, refused).await
    }

    /// Re-attach to one kept call and follow it to its end, which is
    /// recorded and reported as any call's end.
    async fn take_up(&self, w: &Waiting) -> Result<ExecuteEnd, Stop> {
        let id = &w.call.call_id;
        let name = &w.call.tool;
        let reattached = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stop::Interrupted),
            r = tokio::time::timeout(
                self.limits.rpc_timeout,
                self.backends.reattach(&self.session.info.id, id, self.session.info.uid),
            ) => match r {
                Ok(Ok(stream)) => Ok(Some(stream)),
                // It ended meanwhile and its end was read, or it expired.
                Ok(Err(e)) if e.kind == ApiErrorKind::NotFound => Ok(None),
                Ok(Err(e)) => Err(backend_stop(Backend::Tools, e)),
                Err(_) => Err(super::failed(
                    aios_proto::ErrorCode::Timeout,
                    format!("toolsd did not answer within {}s", self.limits.rpc_timeout.as_secs()),
                )),
            },
        };
        let outcome = match reattached {
            Ok(Some(stream)) => {
                // The approval request comes first and extends the wait.
                let deadline = until(w.call.expires_unix_ms)
                    .saturating_add(self.limits.tool_timeout)
                    .saturating_add(self.limits.tool_grace);
                self.follow(id, name, stream, deadline).await
            }
            Ok(None) => Ok(ExecuteEnd {
                status: ToolStatus::Interrupted,
                result: Value::String(format!(
                    "not run: {name} waited for your approval when aiosd restarted, and toolsd no \
                     longer keeps it (it expired or ended); ask again to run it"
                )),
                duration_us: 0,
            }),
            Err(stop) => Err(stop),
        };
        self.settle(id, name, &w.args, outcome).await
    }
}

/// Time from now until `unix_ms` (zero when it has passed).
fn until(unix_ms: i64) -> Duration {
    let left = unix_ms.saturating_sub(now_unix_ms());
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

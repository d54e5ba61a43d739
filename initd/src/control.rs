//! The control API: [`aios_proto::SupervisorApi`] over the event loop.
//! Reads (list, status, logs) are served from the shared snapshot and the
//! log files without involving the loop; changes go to the loop as
//! [`Event::Control`] and are answered once the service has settled.
//!
//! Rights: any local user may read; changes need `Right::Admin` in system
//! mode and `Right::Daemon` (same uid, or root) in user mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use aios_proto::{
    ApiError, PowerAction, Principal, Right, ServiceState, ServiceVerb, SupervisorApi,
};

use crate::runtime::{CONTROL_WAIT, ControlOp, ControlRequest, Event, Shared};
use crate::supervisor::{ControlError, ServiceStatus};
use crate::sys::logs::LogStore;
use crate::sys::{Mode, files};
use nix::sys::socket::{Backlog, SockType};

/// Lines returned when a caller asks for a tail of 0.
pub const DEFAULT_TAIL: usize = 200;
/// Most lines returned at once.
pub const MAX_TAIL: usize = 10_000;

/// The control API server object.
pub struct Control {
    tx: Sender<Event>,
    shared: Arc<Shared>,
    logs: Arc<LogStore>,
    change_right: Right,
}

impl Control {
    /// A control API for the loop fed by `tx`.
    pub fn new(tx: Sender<Event>, shared: Arc<Shared>, logs: Arc<LogStore>, mode: Mode) -> Control {
        Control {
            tx,
            shared,
            logs,
            change_right: match mode {
                Mode::System => Right::Admin,
                Mode::User => Right::Daemon,
            },
        }
    }

    fn find(&self, name: &str) -> Result<ServiceStatus, ApiError> {
        let list = self.shared.snapshot();
        let known = list
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        list.into_iter().find(|s| s.name == name).ok_or_else(|| {
            ApiError::not_found(format!(
                "no service named {name:?}; known services: {known}"
            ))
        })
    }

    async fn request(&self, op: ControlOp) -> Result<Option<ServiceStatus>, ApiError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Event::Control(ControlRequest { op, reply }))
            .map_err(|_| ApiError::unavailable("the supervisor loop has stopped"))?;
        match tokio::time::timeout(CONTROL_WAIT + std::time::Duration::from_secs(5), rx).await {
            Ok(Ok(Ok(s))) => Ok(s),
            Ok(Ok(Err(e))) => Err(api_error(e)),
            Ok(Err(_)) => Err(ApiError::unavailable(
                "the supervisor dropped the request (shutting down?)",
            )),
            Err(_) => Err(ApiError::deadline("the supervisor did not answer in time")),
        }
    }
}

fn api_error(e: ControlError) -> ApiError {
    match e {
        ControlError::UnknownService { .. } => ApiError::not_found(e.to_string()),
        ControlError::ShuttingDown => ApiError::precondition(e.to_string()),
    }
}

/// The wire-facing snapshot of a service.
pub fn service_state(s: &ServiceStatus) -> ServiceState {
    ServiceState {
        name: s.name.clone(),
        state: s.phase.api_name().to_string(),
        pid: s.pid.unwrap_or(0),
        enabled: s.enabled,
        restarts: s.restarts,
        status_text: s.status_text.clone(),
        last_exit_code: s.last_exit.map(|e| e.as_code()).unwrap_or(0),
        since_unix_ms: s.since_unix_ms,
    }
}

#[async_trait::async_trait]
impl SupervisorApi for Control {
    async fn list(&self, who: Principal) -> Result<Vec<ServiceState>, ApiError> {
        who.require(Right::AnyUser)?;
        Ok(self.shared.snapshot().iter().map(service_state).collect())
    }

    async fn act(
        &self,
        who: Principal,
        name: String,
        verb: ServiceVerb,
    ) -> Result<ServiceState, ApiError> {
        if verb == ServiceVerb::Status {
            who.require(Right::AnyUser)?;
            return Ok(service_state(&self.find(&name)?));
        }
        who.require(self.change_right)?;
        self.find(&name)?;
        tracing::info!(uid = who.uid, service = %name, ?verb, "control request");
        match self
            .request(ControlOp::Act {
                name: name.clone(),
                verb,
            })
            .await?
        {
            Some(s) => Ok(service_state(&s)),
            None => Err(ApiError::not_found(format!("no service named {name:?}"))),
        }
    }

    async fn logs(&self, who: Principal, name: String, tail: u32) -> Result<Vec<String>, ApiError> {
        who.require(Right::AnyUser)?;
        self.find(&name)?;
        let n = match tail as usize {
            0 => DEFAULT_TAIL,
            n => n.min(MAX_TAIL),
        };
        let logs = Arc::clone(&self.logs);
        tokio::task::spawn_blocking(move || logs.tail(&name, n))
            .await
            .map_err(|e| ApiError::internal(format!("log reader failed: {e}")))?
            .map_err(|e| ApiError::internal(format!("cannot read the log: {e}")))
    }

    async fn power(&self, who: Principal, action: PowerAction) -> Result<(), ApiError> {
        who.require(self.change_right)?;
        tracing::info!(uid = who.uid, ?action, "power request");
        self.request(ControlOp::Power(action)).await?;
        Ok(())
    }
}

/// The control server's thread; dropping the handle leaves it running.
pub struct ServerHandle {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl ServerHandle {
    /// Stop serving, wait for the thread, and remove the socket file.
    pub fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bind the control socket at `path`, mode 0660 (group `aios`, when that
/// group exists, in system mode). A live server there is an error, so two
/// supervisors never fight over one socket; a stale socket is replaced.
/// Call within a Tokio runtime.
fn bind(path: &Path, mode: Mode) -> Result<tokio::net::UnixListener, String> {
    let failed = |e: std::io::Error| format!("cannot listen on {}: {e}", path.display());
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        let dir_mode = match mode {
            Mode::System => 0o755,
            Mode::User => 0o700,
        };
        files::create_dirs(dir, dir_mode).map_err(failed)?;
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "{} is already served by a running initd",
            path.display()
        ));
    }
    let group = match mode {
        Mode::System => nix::unistd::Group::from_name("aios")
            .ok()
            .flatten()
            .map(|g| g.gid),
        Mode::User => None,
    };
    let fd = files::bind_unix(path, SockType::Stream, 0o660, group).map_err(failed)?;
    nix::sys::socket::listen(&fd, Backlog::MAXCONN).map_err(|e| failed(e.into()))?;
    let listener = std::os::unix::net::UnixListener::from(fd);
    listener.set_nonblocking(true).map_err(failed)?;
    tokio::net::UnixListener::from_std(listener).map_err(failed)
}

/// Bind `path` and serve `control` on a thread with its own runtime.
/// Returns once the socket is bound (or binding failed). In system mode
/// the socket's group becomes `aios` when that group exists, so members
/// can reach it.
pub fn serve(path: &Path, control: Control, mode: Mode) -> Result<ServerHandle, String> {
    let (bound_tx, bound_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let owned = path.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = bound_tx.send(Err(format!("cannot start the control runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match bind(&owned, mode) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                        return;
                    }
                };
                let _ = bound_tx.send(Ok(()));
                let services = aios_proto::Services::new("initd").supervisor(Arc::new(control));
                let mut graceful = stop_rx.clone();
                let shutdown = async move {
                    let _ = graceful.wait_for(|stop| *stop).await;
                };
                // Graceful shutdown waits for clients to hang up; a client
                // that keeps its connection open gets a short grace, then
                // the runtime (and the connection) is dropped.
                let mut forced = stop_rx;
                let deadline = async move {
                    let _ = forced.wait_for(|stop| *stop).await;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                };
                tokio::select! {
                    r = services.serve(listener, shutdown) => {
                        if let Err(e) = r {
                            tracing::error!("control API stopped: {e}");
                        }
                    }
                    () = deadline => tracing::debug!("control API: closing lingering connections"),
                }
            });
        })
        .map_err(|e| format!("cannot start the control thread: {e}"))?;
    match bound_rx.recv() {
        Ok(Ok(())) => Ok(ServerHandle {
            stop: Some(stop_tx),
            thread: Some(thread),
            path: path.to_path_buf(),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err("the control thread ended before binding".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::Phase;

    fn who(admin: bool, trusted_peer: bool) -> Principal {
        Principal {
            uid: 1000,
            gid: 1000,
            pid: None,
            admin,
            trusted_peer,
        }
    }

    fn control(mode: Mode) -> (Control, std::sync::mpsc::Receiver<Event>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(LogStore::new(dir.path(), 4096).unwrap());
        logs.append("web", "hello");
        let shared = Arc::new(Shared::default());
        *shared.services.write().unwrap() = vec![ServiceStatus {
            name: "web".into(),
            phase: Phase::Running,
            pid: Some(42),
            enabled: true,
            restarts: 1,
            runs: 2,
            status_text: "ok".into(),
            last_exit: Some(crate::supervisor::ExitStatus::Signal(9)),
            since_unix_ms: 5,
        }];
        let (tx, rx) = std::sync::mpsc::channel();
        (Control::new(tx, shared, logs, mode), rx, dir)
    }

    #[tokio::test]
    async fn anyone_reads_only_admins_change_in_system_mode() {
        let (c, rx, _d) = control(Mode::System);
        let user = who(false, true);
        let list = c.list(user.clone()).await.unwrap();
        assert_eq!(list[0].state, "running");
        assert_eq!(list[0].last_exit_code, 137);
        assert_eq!(
            c.act(user.clone(), "web".into(), ServiceVerb::Status)
                .await
                .unwrap()
                .pid,
            42
        );
        assert!(c.logs(user.clone(), "web".into(), 0).await.unwrap()[0].ends_with(" hello"));
        let e = c
            .act(user.clone(), "web".into(), ServiceVerb::Stop)
            .await
            .unwrap_err();
        assert_eq!(e.kind, aios_proto::ApiErrorKind::PermissionDenied);
        let e = c.power(user, PowerAction::Poweroff).await.unwrap_err();
        assert_eq!(e.kind, aios_proto::ApiErrorKind::PermissionDenied);
        assert!(rx.try_recv().is_err(), "nothing reached the loop");
    }

    #[tokio::test]
    async fn user_mode_changes_need_the_same_uid() {
        let (c, rx, _d) = control(Mode::User);
        let stranger = who(true, false);
        let e = c
            .act(stranger, "web".into(), ServiceVerb::Restart)
            .await
            .unwrap_err();
        assert_eq!(e.kind, aios_proto::ApiErrorKind::PermissionDenied);
        assert!(rx.try_recv().is_err());
        // The owner's request reaches the loop, which answers it.
        let owner = who(false, true);
        let answer = std::thread::spawn(move || match rx.recv().unwrap() {
            Event::Control(req) => {
                assert!(matches!(
                    req.op,
                    ControlOp::Act {
                        verb: ServiceVerb::Stop,
                        ..
                    }
                ));
                let _ = req.reply.send(Err(ControlError::ShuttingDown));
            }
            other => panic!("{other:?}"),
        });
        let e = c
            .act(owner, "web".into(), ServiceVerb::Stop)
            .await
            .unwrap_err();
        assert_eq!(e.kind, aios_proto::ApiErrorKind::FailedPrecondition);
        answer.join().unwrap();
    }

    #[tokio::test]
    async fn unknown_services_are_not_found() {
        let (c, _rx, _d) = control(Mode::User);
        let e = c
            .logs(who(false, true), "nope".into(), 5)
            .await
            .unwrap_err();
        assert_eq!(e.kind, aios_proto::ApiErrorKind::NotFound);
        assert!(e.message.contains("known services: web"), "{}", e.message);
    }
}

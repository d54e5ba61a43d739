//! The executor's answer to [`aios_catalog::Supervisor`]: aiOS `initd`'s
//! control API over its Unix socket, which the `service.*` tools consult
//! before any other service manager.
//!
//! "Not there" (no socket, nobody listening, a service initd does not
//! manage) is `Ok(None)`, so the tools fall back to systemd; an initd that
//! answered with a refusal or failure is an error in words for the user.

use std::path::PathBuf;

use aios_catalog::{ServiceAction, Supervisor, ToolError};
use aios_proto::{ApiError, ApiErrorKind, ServiceState, ServiceVerb, SupervisorClient};
use futures::future::BoxFuture;

/// `initd` (PID 1 on the image, `initd --user` in development) at its
/// control socket.
#[derive(Debug, Clone)]
pub struct InitdSupervisor {
    socket: PathBuf,
}

impl InitdSupervisor {
    /// The supervisor at `socket`.
    pub fn at(socket: PathBuf) -> InitdSupervisor {
        InitdSupervisor { socket }
    }

    /// The supervisor of this process: `$AIOS_RUNTIME_DIR/initd.sock` (set
    /// for every service `initd` starts), else the image's
    /// `/run/aios/initd.sock`.
    pub fn from_env() -> InitdSupervisor {
        let dir = std::env::var_os("AIOS_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/run/aios"));
        InitdSupervisor::at(dir.join("initd.sock"))
    }

    /// A client, or `None` when no initd listens on the socket.
    async fn client(&self) -> Option<SupervisorClient> {
        if !self.socket.exists() {
            return None;
        }
        let channel = aios_proto::connect(&self.socket).await.ok()?;
        Some(SupervisorClient::new(channel))
    }

    /// An initd refusal or failure as a tool error of the matching kind.
    fn tool_error(&self, what: &str, e: &ApiError) -> ToolError {
        let msg = format!("initd at {} {what}: {}", self.socket.display(), e.message);
        match e.kind {
            ApiErrorKind::PermissionDenied => ToolError::denied(format!(
                "{msg} (changing a service needs an administrator: approve it as one)"
            )),
            ApiErrorKind::NotFound => ToolError::not_found(msg),
            ApiErrorKind::InvalidArgument => ToolError::invalid(msg),
            _ => ToolError::failed(msg),
        }
    }
}

fn verb(action: ServiceAction) -> ServiceVerb {
    match action {
        ServiceAction::Start => ServiceVerb::Start,
        ServiceAction::Stop => ServiceVerb::Stop,
        ServiceAction::Restart => ServiceVerb::Restart,
        ServiceAction::Enable => ServiceVerb::Enable,
        ServiceAction::Disable => ServiceVerb::Disable,
    }
}

impl Supervisor for InitdSupervisor {
    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ServiceState>, String>> {
        Box::pin(async move {
            let Some(mut sup) = self.client().await else {
                return Ok(None);
            };
            match sup.act(name, ServiceVerb::Status).await {
                Ok(state) => Ok(Some(state)),
                Err(e) if e.kind == ApiErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!(
                    "initd at {} could not report {name}: {}",
                    self.socket.display(),
                    e.message
                )),
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Option<Vec<ServiceState>>, ToolError>> {
        Box::pin(async move {
            let Some(mut sup) = self.client().await else {
                return Ok(None);
            };
            match sup.list().await {
                Ok(list) => Ok(Some(list)),
                Err(e) if e.kind == ApiErrorKind::Transport => Ok(None),
                Err(e) => Err(self.tool_error("could not list its services", &e)),
            }
        })
    }

    fn act<'a>(
        &'a self,
        name: &'a str,
        action: ServiceAction,
    ) -> BoxFuture<'a, Result<Option<ServiceState>, ToolError>> {
        Box::pin(async move {
            let Some(mut sup) = self.client().await else {
                return Ok(None);
            };
            match sup.act(name, verb(action)).await {
                Ok(state) => Ok(Some(state)),
                Err(e) if matches!(e.kind, ApiErrorKind::NotFound | ApiErrorKind::Transport) => {
                    Ok(None)
                }
                Err(e) => Err(self.tool_error(&format!("could not {action} {name}"), &e)),
            }
        })
    }

    fn logs<'a>(
        &'a self,
        name: &'a str,
        lines: u32,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, ToolError>> {
        Box::pin(async move {
            let Some(mut sup) = self.client().await else {
                return Ok(None);
            };
            match sup.logs(name, lines).await {
                Ok(lines) => Ok(Some(lines)),
                Err(e) if matches!(e.kind, ApiErrorKind::NotFound | ApiErrorKind::Transport) => {
                    Ok(None)
                }
                Err(e) => Err(self.tool_error(&format!("could not read the log of {name}"), &e)),
            }
        })
    }

    fn power(&self, action: aios_proto::PowerAction) -> BoxFuture<'_, Result<bool, ToolError>> {
        Box::pin(async move {
            let Some(mut sup) = self.client().await else {
                return Ok(false);
            };
            match sup.power(action).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind == ApiErrorKind::Transport => Ok(false),
                Err(e) => Err(self.tool_error("could not ask initd to power off or reboot", &e)),
            }
        })
    }
}

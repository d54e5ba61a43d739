//! The service manager as the `service.*` tools see it: a narrow trait the
//! executor implements over its transport (aiOS `initd`'s control API), so
//! this crate asks about services without knowing gRPC or sockets.
//!
//! Every method answers `Ok(None)` when no supervisor answers or it does not
//! manage the service, so the tools fall back to another manager (systemd);
//! `Err` is a supervisor that answered with a failure.

use std::fmt;

use futures::future::BoxFuture;

use aios_domain::ServiceState;

use crate::ToolError;

/// A change of a service's lifecycle, as the `service.*` change tools ask
/// for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// Start it now.
    Start,
    /// Stop it now.
    Stop,
    /// Stop then start.
    Restart,
    /// Start it at boot.
    Enable,
    /// Do not start it at boot.
    Disable,
}

impl ServiceAction {
    /// The verb as `systemctl` and the tool names spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceAction::Start => "start",
            ServiceAction::Stop => "stop",
            ServiceAction::Restart => "restart",
            ServiceAction::Enable => "enable",
            ServiceAction::Disable => "disable",
        }
    }

    /// The action that reverses this one (restart has none).
    pub fn inverse(self) -> Option<ServiceAction> {
        match self {
            ServiceAction::Start => Some(ServiceAction::Stop),
            ServiceAction::Stop => Some(ServiceAction::Start),
            ServiceAction::Enable => Some(ServiceAction::Disable),
            ServiceAction::Disable => Some(ServiceAction::Enable),
            ServiceAction::Restart => None,
        }
    }
}

impl fmt::Display for ServiceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Asks aiOS's supervisor about services, and changes them.
pub trait Supervisor: Send + Sync + std::fmt::Debug {
    /// The state of `name`. `Ok(None)` when no supervisor answers or it does
    /// not manage that service (another manager may know it); `Err` is a
    /// supervisor that answered with a failure, in words for the user.
    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ServiceState>, String>>;

    /// Every service it manages. `Ok(None)` when no supervisor answers.
    fn list(&self) -> BoxFuture<'_, Result<Option<Vec<ServiceState>>, ToolError>>;

    /// Apply `action` to `name` and return the state after it settled.
    /// `Ok(None)` when no supervisor answers or it does not manage `name`;
    /// a refusal of the caller's rights is [`crate::ToolErrorKind::PermissionDenied`].
    fn act<'a>(
        &'a self,
        name: &'a str,
        action: ServiceAction,
    ) -> BoxFuture<'a, Result<Option<ServiceState>, ToolError>>;

    /// The last `lines` lines of the service's captured output, oldest
    /// first. `Ok(None)` when no supervisor answers or it does not manage
    /// `name`.
    fn logs<'a>(
        &'a self,
        name: &'a str,
        lines: u32,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, ToolError>>;

    /// Stop everything and power off or reboot. `Ok(false)` when no
    /// supervisor answers (another init may); a refusal of the caller's
    /// rights is [`crate::ToolErrorKind::PermissionDenied`].
    fn power(&self, action: aios_domain::PowerAction) -> BoxFuture<'_, Result<bool, ToolError>> {
        let _ = action;
        Box::pin(std::future::ready(Ok(false)))
    }
}

//! The executor's answer to [`aios_catalog::Supervisor`]: aiOS `initd`'s
//! control API over its Unix socket, which the `service.*` tools consult
//! before any other service manager.

use std::path::PathBuf;

use aios_catalog::Supervisor;
use aios_proto::{ApiErrorKind, ServiceState, ServiceVerb, SupervisorClient};
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
}

impl Supervisor for InitdSupervisor {
    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<ServiceState>, String>> {
        Box::pin(async move {
            if !self.socket.exists() {
                return Ok(None);
            }
            let Ok(channel) = aios_proto::connect(&self.socket).await else {
                return Ok(None);
            };
            let mut sup = SupervisorClient::new(channel);
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
}

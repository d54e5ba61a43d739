//! The `aiosd` binary: the orchestrator daemon.

use std::process::ExitCode;
use std::sync::Arc;

use aios_config::Daemon;
use aios_proto::Services;

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Aiosd, |ctx| async move {
        let backends = Arc::new(aiosd::GrpcBackends::new(&ctx.paths));
        Ok(Services::new("aiosd").session(aiosd::session_service(backends, &ctx.config)))
    })
}

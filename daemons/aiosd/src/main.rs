//! The `aiosd` binary: the orchestrator daemon.

use std::process::ExitCode;
use std::sync::Arc;

use aios_config::Daemon;
use aios_proto::Services;

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Aiosd, |ctx| async move {
        let backends = Arc::new(aiosd::GrpcBackends::new(&ctx.paths));
        // In the background: the first turn must not wait for it.
        tokio::spawn(aiosd::prepare_model(backends.clone()));
        Ok(Services::new("aiosd").session(aiosd::session_service(backends, &ctx.config)))
    })
}

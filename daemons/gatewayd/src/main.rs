//! The `gatewayd` binary: serves the model service of [`aios_gatewayd::Gateway`].

use std::process::ExitCode;
use std::sync::Arc;

use aios_config::Daemon;
use aios_gatewayd::Gateway;
use aios_proto::Services;

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Gatewayd, |ctx| async move {
        let gateway = Gateway::from_config(&ctx.config)?;
        Ok(Services::new("gatewayd").model(Arc::new(gateway)))
    })
}

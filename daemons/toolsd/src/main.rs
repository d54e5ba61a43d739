//! The `toolsd` binary: serves the tool executor on its socket.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aios_catalog::Registry;
use aios_config::Daemon;
use aios_toolsd::{Executor, ExecutorConfig};

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Toolsd, |ctx| async move {
        let config = ExecutorConfig {
            // The orchestrator's per-call deadline is also our default.
            default_timeout: Duration::from_secs(ctx.config.turn.tool_timeout_secs.clamp(1, 300)),
            ..ExecutorConfig::default()
        };
        let registry = Registry::builtin();
        tracing::info!(tools = registry.specs().len(), "tool registry built");
        Ok(aios_proto::Services::new("toolsd")
            .tools(Arc::new(Executor::with_config(registry, config))))
    })
}

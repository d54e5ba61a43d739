//! The `toolsd` binary: serves the tool executor on its socket.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aios_catalog::Registry;
use aios_config::Daemon;
use aios_toolsd::{Audit, Executor, ExecutorConfig, FilePolicy, LedgerBackend};

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Toolsd, |ctx| async move {
        let ledger_path = ctx.paths.ledger_db();
        let state_dir = ctx.paths.toolsd_state();
        let state_dir = match aios_config::private_dir(&state_dir) {
            Ok(()) => Some(state_dir),
            Err(e) => {
                tracing::warn!("no private state directory, so no file snapshots for undo: {e}");
                None
            }
        };
        let audit = open_ledger(&ledger_path);
        let config = ExecutorConfig {
            // The orchestrator's per-call deadline is also our default.
            default_timeout: Duration::from_secs(ctx.config.turn.tool_timeout_secs.clamp(1, 300)),
            approval_timeout: Duration::from_secs(ctx.config.turn.approval_timeout_secs),
            host: aios_toolsd::host::gather(&ledger_path),
            audit,
            state_dir,
            policy: Arc::new(
                FilePolicy::new(ctx.paths.system_policy.clone())
                    .with_own_file(aios_config::user_policy_file()),
            ),
            memory: Some(Arc::new(aios_toolsd::MemorydReader::at(
                ctx.paths.socket(Daemon::Memoryd),
            ))),
            // Every other daemon handles the model's text; none may approve.
            planner_sockets: Daemon::ALL
                .into_iter()
                .filter(|d| *d != Daemon::Toolsd)
                .map(|d| (d.name().to_string(), ctx.paths.socket(d)))
                .collect(),
            ..ExecutorConfig::default()
        };
        let registry = Registry::builtin();
        tracing::info!(tools = registry.specs().len(), "tool registry built");
        Ok(aios_proto::Services::new("toolsd")
            .tools(Arc::new(Executor::with_config(registry, config))))
    })
}

/// The audit ledger, or the reason changes will be refused (fail closed:
/// reads still work, and the reason is in every refusal and the log).
fn open_ledger(path: &std::path::Path) -> Audit {
    match <aios_ledger::Ledger as LedgerBackend>::open(path) {
        Ok(backend) => {
            tracing::info!(ledger = %path.display(), "audit ledger open");
            Audit::start(backend)
        }
        Err(e) => {
            tracing::error!("no audit ledger, so every change is refused: {e}");
            Audit::unavailable(format!("the audit ledger cannot be opened ({e})"))
        }
    }
}

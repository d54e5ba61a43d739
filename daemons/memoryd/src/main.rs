//! The `memoryd` binary: opens the episodic store under the state
//! directory and serves it on the memory socket.

use std::process::ExitCode;
use std::sync::Arc;

use aios_config::Daemon;
use aios_memoryd::MemoryService;
use aios_proto::Services;
use aios_store::Store;
use anyhow::Context as _;

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Memoryd, |ctx| async move {
        let state = ctx.paths.state_dir.clone();
        // It holds every user's conversations: ours alone, or refuse.
        aios_config::private_dir(&state).context("unsafe state directory")?;
        let path = ctx.paths.memory_db();
        // Opening may migrate the schema: blocking work.
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .context("opening the memory database panicked")??;
        tracing::info!(db = %store.path().display(), "memory database open");
        Ok(Services::new("memoryd").memory(Arc::new(MemoryService::new(store))))
    })
}

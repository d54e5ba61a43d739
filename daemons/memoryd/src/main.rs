//! The `memoryd` binary: opens the episodic store under the state
//! directory and serves it on the memory socket, together with long-term
//! search over the same file.

use std::process::ExitCode;
use std::sync::Arc;

use aios_config::Daemon;
use aios_memoryd::docs::{self, DocsSettings};
use aios_memoryd::instance::{self, InstanceLock};
use aios_memoryd::search::SearchHost;
use aios_memoryd::{MemoryService, SearchService};
use aios_proto::Services;
use aios_search::Embedder;
use aios_store::Store;
use anyhow::Context as _;

/// all-MiniLM-L6-v2 when its files are in the model directory; otherwise search runs with
/// BM25 and caller-given vectors only, and says so.
fn load_embedder() -> Option<Arc<dyn Embedder>> {
    match aios_embed::MiniLm::load_default() {
        Ok(m) => {
            tracing::info!(model = aios_embed::MODEL_NAME, "embedding model loaded");
            Some(Arc::new(m))
        }
        Err(e) => {
            tracing::warn!("no embedding model, search is BM25 plus given vectors only: {e}");
            None
        }
    }
}

fn main() -> ExitCode {
    aios_daemon::run(Daemon::Memoryd, |ctx| async move {
        let state = ctx.paths.state_dir.clone();
        // It holds every user's conversations: ours alone, or refuse.
        aios_config::private_dir(&state).context("unsafe state directory")?;
        // One writer per state directory, for the life of the process (the kernel releases
        // the lock when it ends, however it ends).
        let lock = instance::lock(&state)?;
        tracing::info!(lock = %lock.path().display(), "single-instance lock held");
        // Leaked on purpose: held until exit, and nothing else may release it.
        let _held: &'static InstanceLock = Box::leak(Box::new(lock));
        let path = ctx.paths.memory_db();
        // Opening may migrate the schema: blocking work.
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .context("opening the memory database panicked")??;
        tracing::info!(db = %store.path().display(), "memory database open");
        let store = Arc::new(store);
        let search_root = state.join("search");
        let s = Arc::clone(&store);
        // Replays the index queue and repairs indexes that disagree with SQLite.
        let host =
            tokio::task::spawn_blocking(move || SearchHost::open(s, &search_root, load_embedder()))
                .await
                .context("opening the search indexes panicked")?
                .context("cannot open the search indexes")?;
        let host = Arc::new(host);
        let mut search =
            SearchService::start(Arc::clone(&host)).context("cannot start the indexer")?;
        match DocsSettings::from_config(&ctx.config.memory) {
            Some(settings) => {
                let progress = docs::start(host, settings, search.waker())
                    .context("cannot start the documentation indexer")?;
                search = search.with_docs_progress(progress);
            }
            None => {
                tracing::info!("[memory] docs = false: the system documentation is not indexed")
            }
        }
        let memory = MemoryService::shared(store).with_indexer(search.waker());
        Ok(Services::new("memoryd")
            .memory(Arc::new(memory))
            .search(Arc::new(search)))
    })
}

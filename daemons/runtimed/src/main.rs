//! The `runtimed` binary: loads the local model (in the background) and
//! serves the runtime service on its socket.

use std::process::ExitCode;
use std::sync::Arc;

use aios_config::Daemon;
use aios_proto::Services;
use aios_runtime::LoadOptions;
use aios_runtimed::RuntimeService;

fn main() -> ExitCode {
    // Before anything else, and before any thread starts: libgomp reads
    // OMP_WAIT_POLICY when it is loaded, so the process re-executes itself
    // with it set (a no-op when the manifest already set it).
    if let Err(e) = aios_runtime::reexec_with_passive_openmp() {
        eprintln!("runtimed: cannot re-execute with OMP_WAIT_POLICY=passive: {e}");
        return ExitCode::FAILURE;
    }
    aios_daemon::run(Daemon::Runtimed, |ctx| async move {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| u32::try_from(n.get()).unwrap_or(2))
            .min(4);
        let service = RuntimeService::new(
            ctx.config.local_model_path(),
            LoadOptions {
                n_ctx: aios_runtime::DEFAULT_N_CTX,
                n_threads: threads,
            },
        )
        .with_kept_dir(ctx.paths.runtime_state());
        service.preload();
        Ok(Services::new("runtimed").runtime(Arc::new(service)))
    })
}

//! # aios-daemon: the shared skeleton of every daemon binary
//!
//! A daemon's `main.rs` is one call to [`run`] with a closure that builds its
//! [`aios_proto::Services`]. This crate then:
//! - parses the common flags (`--socket`, `--config`);
//! - loads the layered configuration;
//! - refuses a state directory that is not private to the daemon's user
//!   and a socket directory others could replace sockets in;
//! - confines itself with Landlock to the files it needs ([`confine`]),
//!   before any thread starts;
//! - logs with `tracing` to `<state>/log/<daemon>.log` (never to a terminal),
//!   rotated by size ([`LOG_MAX_BYTES`], [`LOG_KEEP`] old files kept);
//! - binds the daemon's socket (0660) and announces readiness with
//!   `sd_notify` (`READY=1`) when `$NOTIFY_SOCKET` is set, so the same
//!   binaries run under `initd` or as systemd `Type=notify` units;
//! - serves until SIGTERM or SIGINT, then shuts down gracefully.
#![deny(missing_docs)]

pub mod confine;
mod log_file;
mod notify;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aios_config::{Config, Daemon, Overrides, Paths};
use aios_proto::Services;
use anyhow::Context as _;
use clap::Parser;

pub use confine::Confinement;
pub use log_file::{LOG_KEEP, LOG_MAX_BYTES, RotatingFile};
pub use notify::{NotifyError, notify};

/// How long connected clients get to finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Flags every daemon accepts.
#[derive(Debug, Parser)]
struct Args {
    /// Serve on this socket instead of the one under the runtime directory.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Extra configuration file layered above the user's.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// What a daemon's builder gets.
pub struct Context {
    /// Which daemon this is.
    pub daemon: Daemon,
    /// The loaded configuration.
    pub config: Config,
    /// Resolved directories.
    pub paths: Paths,
}

/// Run a daemon to completion and return the process exit code.
pub fn run<F, Fut>(daemon: Daemon, build: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = anyhow::Result<Services>>,
{
    let args = Args::parse();
    match run_inner(daemon, args, build) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be up yet; stderr is captured by the supervisor.
            tracing::error!("{}: {e:#}", daemon.name());
            eprintln!("{}: {e:#}", daemon.name());
            ExitCode::FAILURE
        }
    }
}

fn run_inner<F, Fut>(daemon: Daemon, args: Args, build: F) -> anyhow::Result<()>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = anyhow::Result<Services>>,
{
    let config = aios_config::load(&Overrides {
        config_file: args.config,
        ..Default::default()
    })?;
    let paths = Paths::resolve(&config);
    // Conversations and logs: private to the daemon's user, or refuse.
    for d in [&paths.state_dir, &paths.log_dir()] {
        aios_config::private_dir(d).context("unsafe state directory")?;
    }
    // Confinement grants gatewayd and runtimed their state directories
    // only if they exist.
    if daemon == Daemon::Gatewayd {
        aios_config::private_dir(&paths.gateway_state()).context("unsafe state directory")?;
    }
    if daemon == Daemon::Runtimed {
        aios_config::private_dir(&paths.runtime_state()).context("unsafe state directory")?;
    }
    let socket = args.socket.unwrap_or_else(|| paths.socket(daemon));
    let socket_dir = socket_dir(&socket)?;
    // Before any thread exists (logging starts one): Landlock confines the
    // calling thread and what it starts, not threads already running.
    let confinement = confine::confine_daemon(
        daemon,
        &confine::allow_list(daemon, &config, &paths, &socket_dir),
    )?;
    let _guard = init_logging(daemon.name(), &paths, &config.logging.level)?;
    match &confinement {
        Confinement::Enforced => tracing::info!("landlock: {confinement}"),
        _ => tracing::warn!("landlock: {confinement}"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let services = build(Context {
            daemon,
            config,
            paths,
        })
        .await?;
        let listener = aios_proto::bind(&socket).await?;
        tracing::info!(socket = %socket.display(), pid = std::process::id(), "{} ready", daemon.name());
        if let Err(e) = notify("READY=1") {
            tracing::warn!("sd_notify failed: {e}");
        }
        // Graceful shutdown waits for connected clients to close; a client
        // that is stopped (SIGSTOP, a blocked test runtime) would hold the
        // daemon forever, so the drain is bounded.
        let stop = tokio_util::sync::CancellationToken::new();
        let trigger = stop.clone();
        let serve = tokio::spawn(services.serve(listener, async move { trigger.cancelled().await }));
        tokio::pin!(serve);
        tokio::select! {
            r = &mut serve => r.context("server task failed")??,
            _ = shutdown_signal() => {
                stop.cancel();
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut serve).await {
                    Ok(r) => r.context("server task failed")??,
                    Err(_) => tracing::warn!("clients did not disconnect within {}s; stopping anyway", SHUTDOWN_GRACE.as_secs()),
                }
            }
        }
        tracing::info!("{} stopped", daemon.name());
        // Leave no stale socket behind for the next start.
        let _ = std::fs::remove_file(&socket);
        Ok(())
    })
}

/// The directory of `socket`, created private (0700) when missing, else
/// checked: owned by this user or root, and if others may write to it the
/// sticky bit must keep them from replacing the socket.
fn socket_dir(socket: &Path) -> anyhow::Result<PathBuf> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::env::current_dir().context("cannot find the current directory")?,
    };
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => aios_config::private_dir(&dir),
        _ => aios_config::check_socket_dir(&dir),
    }
    .context("unsafe socket directory")?;
    Ok(dir)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers we can only run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Log to `<state>/log/<name>.log`, rotated by size (see [`RotatingFile`]),
/// creating the log directory private (0700) or refusing one that is not.
/// The returned guard flushes on drop.
pub fn init_logging(
    name: &str,
    paths: &Paths,
    level: &str,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let dir = paths.log_dir();
    // Private to the daemon's user. (The state directory above it was
    // checked by [`run`] before confinement, which may hide it.)
    aios_config::private_dir(&dir).context("unsafe log directory")?;
    let file = dir.join(format!("{name}.log"));
    let appender = RotatingFile::open(&file, LOG_MAX_BYTES, LOG_KEEP)
        .with_context(|| format!("cannot open the log file {}", file.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .with_context(|| format!("invalid log level {level:?} (logging.level / AIOS_LOG)"))?;
    // A second init in one process (tests) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(guard)
}

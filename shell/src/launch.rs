//! Finding the daemon set, or starting it (DESIGN.md §8): with no daemons
//! running, `aios` starts them under `$XDG_RUNTIME_DIR/aios` and later runs
//! reuse them.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aios_config::{Config, Daemon, Paths};
use aios_proto::{HealthClient, PingReply};

use crate::cli::{Cli, DaemonsAction};
use crate::exit::{Exit, Failure};

/// How long a started daemon may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Environment variables only the gateway may see.
const SECRET_VARS: &[&str] = &["OPENAI_API_KEY", "ANTHROPIC_API_KEY"];

/// Ping a daemon's socket; `None` when nobody answers.
pub async fn ping(socket: &Path) -> Option<PingReply> {
    let channel = aios_proto::connect(socket).await.ok()?;
    HealthClient::new(channel).ping().await.ok()
}

/// Make sure every daemon answers, starting the missing ones unless
/// `autostart` is off.
pub async fn ensure_running(cli: &Cli, config: &Config, paths: &Paths) -> Result<(), Failure> {
    if all_up(paths).await {
        return Ok(());
    }
    if cli.no_autostart {
        return Err(Failure::daemon(format!(
            "the aiOS daemons are not running (no answer on {}); start them with `aios daemons start`",
            paths.socket(Daemon::Aiosd).display()
        )));
    }
    start_missing(cli, config, paths).await
}

async fn all_up(paths: &Paths) -> bool {
    for d in Daemon::ALL {
        if ping(&paths.socket(d)).await.is_none() {
            return false;
        }
    }
    true
}

/// Start every daemon that does not answer, under a lock so two shells
/// starting at once do not race.
pub async fn start_missing(cli: &Cli, _config: &Config, paths: &Paths) -> Result<(), Failure> {
    let _lock = lock_runtime_dir(&paths.runtime_dir)?;
    for dir in [&paths.state_dir, &paths.log_dir()] {
        private_dir(dir)?;
    }
    for d in Daemon::ALL {
        let socket = paths.socket(d);
        if ping(&socket).await.is_some() {
            continue;
        }
        let child = spawn(cli, paths, d)?;
        wait_ready(d, &socket, child, paths).await?;
    }
    Ok(())
}

/// Create `dir` (and parents) private to this user when missing.
fn private_dir(dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::daemon(format!("cannot create {}: {e}", dir.display())))
}

fn lock_runtime_dir(dir: &Path) -> Result<nix::fcntl::Flock<File>, Failure> {
    private_dir(dir)?;
    let path = dir.join("launch.lock");
    let file = File::create(&path)
        .map_err(|e| Failure::daemon(format!("cannot create {}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Failure::daemon(format!("cannot lock {}: {e}", path.display())))
}

/// Where a daemon binary lives: `$AIOS_BIN_DIR`, next to this executable,
/// or on `PATH`.
pub fn find_binary(name: &str) -> Result<PathBuf, Failure> {
    let mut tried = Vec::new();
    if let Some(dir) = std::env::var_os("AIOS_BIN_DIR") {
        tried.push(PathBuf::from(dir).join(name));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        tried.push(dir.join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        tried.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    tried.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Failure::daemon(format!(
            "cannot find the `{name}` binary next to aios or on PATH; build the workspace with `cargo build --release`"
        ))
    })
}

fn spawn(cli: &Cli, paths: &Paths, d: Daemon) -> Result<Child, Failure> {
    let bin = find_binary(d.name())?;
    let log_path = paths.log_dir().join(format!("{}.stderr", d.name()));
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Failure::daemon(format!("cannot open {}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Failure::daemon(format!("cannot open {}: {e}", log_path.display())))?;
    let mut cmd = Command::new(&bin);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .env("AIOS_RUNTIME_DIR", &paths.runtime_dir)
        .env("AIOS_STATE_DIR", &paths.state_dir)
        .env_remove("NOTIFY_SOCKET");
    if let Some(c) = &cli.config {
        cmd.arg("--config").arg(c);
    }
    if d != Daemon::Gatewayd {
        for v in SECRET_VARS {
            cmd.env_remove(v);
        }
    }
    // SAFETY: setsid is async-signal-safe; the daemon leaves the terminal's
    // session so Ctrl-C and hangups of this shell do not reach it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Failure::daemon(format!("cannot start {}: {e}", bin.display())))
}

async fn wait_ready(
    d: Daemon,
    socket: &Path,
    mut child: Child,
    paths: &Paths,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(5);
    loop {
        if ping(socket).await.is_some() {
            // The daemon lives on after this shell exits (dropping a Child
            // neither kills nor waits; it is re-parented when we exit).
            drop(child);
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Failure::daemon(format!(
                "{} exited during start-up ({status}); see {}",
                d.name(),
                paths
                    .log_dir()
                    .join(format!("{}.stderr", d.name()))
                    .display()
            )));
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            return Err(Failure::daemon(format!(
                "{} did not answer on {} within {}s; see {}",
                d.name(),
                socket.display(),
                START_TIMEOUT.as_secs(),
                paths.log_dir().display()
            )));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
}

/// `aios daemons start|stop|status`.
pub async fn daemons_command(cli: &Cli, action: DaemonsAction) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    let mut out = std::io::stdout().lock();
    match action {
        DaemonsAction::Start => {
            start_missing(cli, &config, &paths).await?;
            let _ = writeln!(out, "daemons running under {}", paths.runtime_dir.display());
            Ok(Exit::Success)
        }
        DaemonsAction::Status => {
            let mut all = true;
            for d in Daemon::ALL {
                match ping(&paths.socket(d)).await {
                    Some(p) => {
                        let _ = writeln!(
                            out,
                            "{:<9} up    pid {:<7} uptime {}s",
                            d.name(),
                            p.pid,
                            p.uptime_ms / 1000
                        );
                    }
                    None => {
                        all = false;
                        let _ =
                            writeln!(out, "{:<9} down  ({})", d.name(), paths.socket(d).display());
                    }
                }
            }
            Ok(if all {
                Exit::Success
            } else {
                Exit::DaemonUnavailable
            })
        }
        DaemonsAction::Stop => {
            stop_all(&paths).await;
            let _ = writeln!(out, "daemons stopped");
            Ok(Exit::Success)
        }
    }
}

/// Stop the daemons serving under `paths` (reverse start order).
pub async fn stop_all(paths: &Paths) {
    let me = nix::unistd::getuid().as_raw();
    for d in Daemon::ALL.iter().rev() {
        let socket = paths.socket(*d);
        let Some(p) = ping(&socket).await else {
            continue;
        };
        // Only signal daemons running as this user (the socket's owner).
        let owner = std::fs::metadata(&socket)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap_or(u32::MAX);
        if owner != me && me != 0 {
            continue;
        }
        let Ok(pid) = i32::try_from(p.pid) else {
            continue;
        };
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && nix::sys::signal::kill(pid, None).is_ok() {
            if ping(&socket).await.is_none() && !socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if ping(&socket).await.is_some() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

//! Finding the daemon set, or starting it (DESIGN.md §8): with no daemons
//! running, `aios` starts them under `$XDG_RUNTIME_DIR/aios` and later runs
//! reuse them.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aios_config::{Config, Daemon, Paths};
use aios_proto::{PingReply, PowerAction, ServiceVerb, SupervisorClient};

use crate::cli::{Cli, DaemonsAction};
use crate::exit::{Exit, Failure};

/// How long a started daemon may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Ping a daemon's socket with the shell's one probe
/// ([`crate::probe::ping`]); `None` when nobody answers (why is not needed
/// here).
async fn ping(socket: &Path) -> Option<PingReply> {
    crate::probe::ping(socket).await.ok()
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

/// Start the daemon set under `initd --user` (DESIGN.md §8), or ask an
/// already running supervisor to start what is down. Serialised by a lock
/// so two shells starting at once do not race.
pub async fn start_missing(cli: &Cli, _config: &Config, paths: &Paths) -> Result<(), Failure> {
    system_daemons(paths)?;
    let _lock = lock_runtime_dir(&paths.runtime_dir)?;
    for dir in [&paths.state_dir, &paths.log_dir()] {
        private_dir(dir)?;
    }
    if all_up(paths).await {
        return Ok(());
    }
    let control = paths.runtime_dir.join("initd.sock");
    if ping(&control).await.is_some() {
        start_through_supervisor(&control, paths).await?;
    } else {
        spawn_supervisor(cli, paths).await?;
    }
    for d in Daemon::ALL {
        if ping(&paths.socket(d)).await.is_none() {
            return Err(Failure::daemon(format!(
                "{} did not come up; see {} and `aios daemons status`",
                d.name(),
                paths.log_dir().display()
            )));
        }
    }
    Ok(())
}

/// A supervisor runs but some daemon is down (e.g. it hit its start limit):
/// ask for a start, which answers once the service has settled.
async fn start_through_supervisor(control: &Path, paths: &Paths) -> Result<(), Failure> {
    let channel = aios_proto::connect(control)
        .await
        .map_err(|e| Failure::daemon(format!("initd is not reachable: {e}")))?;
    let mut sup = SupervisorClient::new(channel);
    for d in Daemon::ALL {
        if ping(&paths.socket(d)).await.is_some() {
            continue;
        }
        let state = sup.act(d.name(), ServiceVerb::Start).await.map_err(|e| {
            Failure::daemon(format!("initd cannot start {}: {}", d.name(), e.message))
        })?;
        if state.state != "running" {
            let tail = sup.logs(d.name(), 10).await.unwrap_or_default().join("\n");
            return Err(Failure::daemon(format!(
                "{} is {} after a start; its last log lines:\n{tail}",
                d.name(),
                state.state
            )));
        }
    }
    Ok(())
}

/// Write the development manifests and start `initd --user`, waiting for its
/// `READY=1` (sent once the enabled services have settled).
async fn spawn_supervisor(cli: &Cli, paths: &Paths) -> Result<(), Failure> {
    let initd = find_binary("initd")?;
    let bin_dir = initd.parent().map(Path::to_path_buf).unwrap_or_default();
    for d in Daemon::ALL {
        find_binary(d.name())?;
    }
    let services = paths.runtime_dir.join("services");
    // initd loads every manifest in it: ours alone.
    private_dir(&services)?;
    let generated = Command::new(&initd)
        .arg("daemon-set")
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg(&services)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::daemon(format!("cannot run {}: {e}", initd.display())))?;
    if !generated.status.success() {
        return Err(Failure::daemon(format!(
            "cannot write the daemon manifests: {}",
            String::from_utf8_lossy(&generated.stderr).trim()
        )));
    }
    let notify_path = paths.runtime_dir.join("launch.notify");
    let _ = std::fs::remove_file(&notify_path);
    let notify = tokio::net::UnixDatagram::bind(&notify_path)
        .map_err(|e| Failure::daemon(format!("cannot bind {}: {e}", notify_path.display())))?;
    let log_path = paths.log_dir().join("initd.log");
    let mut cmd = Command::new(&initd);
    cmd.arg("--user")
        .arg("--services")
        .arg(&services)
        .arg("--socket")
        .arg(paths.runtime_dir.join("initd.sock"))
        .arg("--log-dir")
        .arg(paths.log_dir())
        .arg("--state-dir")
        .arg(&paths.state_dir)
        .arg("--log-file")
        .arg(&log_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("AIOS_RUNTIME_DIR", &paths.runtime_dir)
        .env("AIOS_STATE_DIR", &paths.state_dir)
        .env("NOTIFY_SOCKET", &notify_path);
    if let Some(c) = &cli.config {
        let c = std::path::absolute(c).unwrap_or_else(|_| c.clone());
        cmd.env("AIOS_CONFIG", c);
    }
    // SAFETY: setsid is async-signal-safe; the supervisor leaves the
    // terminal's session so Ctrl-C and hangups of this shell do not reach it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::daemon(format!("cannot start {}: {e}", initd.display())))?;
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = START_TIMEOUT.saturating_sub(started.elapsed());
        tokio::select! {
            r = notify.recv(&mut buf) => {
                let n = r.map_err(|e| Failure::daemon(format!("cannot read {}: {e}", notify_path.display())))?;
                if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
                    break;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Failure::daemon(format!(
                        "initd exited during start-up ({status}); see {}",
                        log_path.display()
                    )));
                }
            }
            _ = tokio::time::sleep(left) => {
                return Err(Failure::daemon(format!(
                    "the daemons did not settle within {}s; see {}",
                    START_TIMEOUT.as_secs(),
                    paths.log_dir().display()
                )));
            }
        }
    }
    let _ = std::fs::remove_file(&notify_path);
    // The supervisor outlives this shell (dropping a Child neither kills
    // nor waits; it is re-parented when we exit).
    drop(child);
    Ok(())
}

/// Take the launch lock in the runtime directory, which must be a private
/// directory of this user (created 0700 when missing): the manifests the
/// supervisor loads are written there, so a directory another user made
/// (say `/tmp/aios-<uid>` created first) would let them run code as us.
/// The lock file is opened without following a link planted in its place.
fn lock_runtime_dir(dir: &Path) -> Result<nix::fcntl::Flock<File>, Failure> {
    private_dir(dir)?;
    let path = dir.join("launch.lock");
    let file = aios_config::open_private_file(&path, false)
        .map_err(|e| Failure::daemon(format!("cannot use the launch lock: {e}")))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Failure::daemon(format!("cannot lock {}: {e}", path.display())))
}

/// A runtime directory that belongs to root (the image's `/run/aios`) holds
/// the system's daemons, which the system's initd starts: say so rather than
/// start a private set there.
fn system_daemons(paths: &Paths) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let shared = aios_config::check_socket_dir(&paths.runtime_dir).is_ok();
    match std::fs::symlink_metadata(&paths.runtime_dir) {
        // Root's own private directory (mode 0700) is a development set;
        // an unsafe one is refused later, with the fix.
        Ok(m) if shared && m.uid() == 0 && (me != 0 || m.mode() & 0o077 != 0) => {
            Err(Failure::daemon(format!(
                "the daemons under {} belong to the system: its initd starts them, not aios (see `aios service status`)",
                paths.runtime_dir.display()
            )))
        }
        _ => Ok(()),
    }
}

/// `dir` private to this user (see [`aios_config::private_dir`]).
fn private_dir(dir: &Path) -> Result<(), Failure> {
    aios_config::private_dir(dir).map_err(|e| {
        Failure::daemon(format!(
            "not starting the daemons: the directory is not safe to use: {e}"
        ))
    })
}

/// Where a binary of the daemon set lives: `$AIOS_BIN_DIR`, next to this
/// executable, or on `PATH`.
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

/// `aios daemons start|stop|status`.
pub async fn daemons_command(cli: &Cli, action: DaemonsAction) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    let mut out = crate::printer::stdout();
    match action {
        DaemonsAction::Start => {
            start_missing(cli, &config, &paths).await?;
            let _ = writeln!(out, "daemons running under {}", paths.runtime_dir.display());
            Ok(Exit::Success)
        }
        DaemonsAction::Status => {
            let control = paths.runtime_dir.join("initd.sock");
            match ping(&control).await {
                Some(p) => {
                    let _ = writeln!(
                        out,
                        "{:<9} up    pid {:<7} uptime {}s (supervisor)",
                        "initd",
                        p.pid,
                        p.uptime_ms / 1000
                    );
                }
                None => {
                    let _ = writeln!(out, "{:<9} down  ({})", "initd", control.display());
                }
            }
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

/// Stop the daemon set: ask `initd --user` to power off (it stops the
/// services in reverse order and exits), then signal any daemon still
/// answering that runs as this user.
pub async fn stop_all(paths: &Paths) {
    let control = paths.runtime_dir.join("initd.sock");
    if let Some(p) = ping(&control).await {
        if let Ok(ch) = aios_proto::connect(&control).await {
            let _ = SupervisorClient::new(ch).power(PowerAction::Poweroff).await;
        }
        wait_gone(&control, p.pid).await;
    }
    stop_strays(paths).await;
}

/// Wait (bounded) until the process `pid` serving `socket` is gone.
async fn wait_gone(socket: &Path, pid: u32) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let pid = nix::unistd::Pid::from_raw(raw);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && nix::sys::signal::kill(pid, None).is_ok() {
        if !socket.exists() && ping(socket).await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Daemons not under a supervisor (started by hand): SIGTERM, then SIGKILL.
async fn stop_strays(paths: &Paths) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use clap::Parser;

    use super::*;

    fn paths(root: &Path) -> Paths {
        Paths {
            runtime_dir: root.join("run"),
            state_dir: root.join("state"),
            system_policy: std::path::PathBuf::from("/nonexistent/policy.toml"),
        }
    }

    async fn start(paths: &Paths) -> Failure {
        let cli = Cli::parse_from(["aios"]);
        start_missing(&cli, &Config::default(), paths)
            .await
            .unwrap_err()
    }

    /// A link planted at the lock's path is refused, not followed: the
    /// file it points to is neither created, truncated nor locked.
    #[tokio::test]
    async fn a_symlink_planted_at_the_launch_lock_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let p = paths(t.path());
        aios_config::private_dir(&p.runtime_dir).unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, p.runtime_dir.join("launch.lock")).unwrap();
        let f = start(&p).await;
        assert_eq!(f.code, Exit::DaemonUnavailable);
        assert!(f.message.contains("symbolic link"), "{}", f.message);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!p.runtime_dir.join("services").exists());
    }

    /// A runtime directory another user created first (the `/tmp/aios-<uid>`
    /// fallback) is refused before anything is written into it.
    #[tokio::test]
    async fn a_runtime_dir_of_another_user_is_refused_untouched() {
        let t = tempfile::tempdir().unwrap();
        let p = paths(t.path());
        std::fs::create_dir(&p.runtime_dir).unwrap();
        std::fs::set_permissions(&p.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(
            &p.runtime_dir,
            Some(nix::unistd::Uid::from_raw(65534)),
            Some(nix::unistd::Gid::from_raw(65534)),
        )
        .unwrap();
        let f = start(&p).await;
        assert!(f.message.contains("uid 65534"), "{}", f.message);
        assert_eq!(std::fs::read_dir(&p.runtime_dir).unwrap().count(), 0);
        assert!(!p.state_dir.exists());
    }

    /// The image's shared runtime directory (root's, sticky) holds the
    /// system's daemons: aios says so instead of starting its own there.
    #[tokio::test]
    async fn the_systems_runtime_dir_is_left_to_the_system() {
        let t = tempfile::tempdir().unwrap();
        let p = paths(t.path());
        std::fs::create_dir(&p.runtime_dir).unwrap();
        std::fs::set_permissions(&p.runtime_dir, std::fs::Permissions::from_mode(0o1771)).unwrap();
        let f = start(&p).await;
        assert!(f.message.contains("belong to the system"), "{}", f.message);
        assert_eq!(std::fs::read_dir(&p.runtime_dir).unwrap().count(), 0);
    }

    /// A world-writable runtime directory of our own is refused too.
    #[tokio::test]
    async fn an_open_runtime_dir_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let p = paths(t.path());
        std::fs::create_dir(&p.runtime_dir).unwrap();
        std::fs::set_permissions(&p.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let f = start(&p).await;
        assert!(f.message.contains("chmod 700"), "{}", f.message);
        assert_eq!(std::fs::read_dir(&p.runtime_dir).unwrap().count(), 0);
    }
}

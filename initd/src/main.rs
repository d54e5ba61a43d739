//! The `initd` binary: PID 1 on the aiOS image, `initd --user` as the
//! unprivileged supervisor of the daemon set, and two helpers (`check`,
//! `notify`). Only CLI definition and wiring live here; the work is in the
//! library.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aios_initd::control::{self, Control};
use aios_initd::runtime::{EnabledOverrides, Event, EventLoop, LoopConfig, Shared, load_services};
use aios_initd::supervisor::Supervisor;
use aios_initd::sys::cgroup::Cgroups;
use aios_initd::sys::logs::{DEFAULT_MAX_BYTES, LogStore};
use aios_initd::sys::notify::NotifySocket;
use aios_initd::sys::pid1::{self, Halt};
use aios_initd::sys::{Mode, RealOs, own_log, signals};
use anyhow::Context as _;
use clap::{Parser, Subcommand};

const LONG_ABOUT: &str = "\
initd starts, watches and restarts the aiOS daemons from TOML manifests.

Modes:
  initd
      PID 1 on the aiOS image: mounts /proc, /sys, /dev, /dev/pts, /dev/shm,
      /run and /sys/fs/cgroup, sets the hostname, reaps every process,
      starts /etc/aios/services/*.toml in dependency order, serves the
      control API on /run/aios/initd.sock, and on SIGTERM/SIGPWR (power off)
      or SIGINT (Ctrl-Alt-Del, reboot) stops everything in reverse order.
      Refuses to run unless it is PID 1; as PID 1 it ignores subcommands
      (words the kernel passed on). The console (the user's terminal)
      gets only warnings and errors; AIOS_LOG=info on the kernel command
      line shows everything there. The full log (info, or AIOS_LOG when more
      verbose) is /run/initd.log (at most 1 MiB, then rotated to .1).

  initd --user [--services DIR] [--socket PATH]
      The same supervisor, unprivileged: the development-mode launcher of
      the daemon set. Manifests from DIR (default
      $XDG_CONFIG_HOME/aios/services), control socket PATH (default
      <runtime_dir>/initd.sock, e.g. $XDG_RUNTIME_DIR/aios/initd.sock).
      Sends READY=1 to its own $NOTIFY_SOCKET once the enabled services have
      settled. SIGTERM or SIGINT stops the services and exits 0. SIGHUP
      reloads the manifests in both modes.

  initd check [DIR]
      Validate the manifests in DIR (default /etc/aios/services) and exit
      non-zero with every error (file:line:column and key). Owners and
      modes initd would refuse to load from are reported as warnings.

  initd daemon-set (--system | --bin-dir DIR) OUTDIR
      Write the manifests of memoryd, toolsd, runtimed, gatewayd and aiosd
      (aiosd requires memoryd, toolsd and gatewayd; all Type=notify) for the image or for a
      development build.

  initd notify STATE...
      Send sd_notify lines (READY=1, STATUS=..., WATCHDOG=1) to
      $NOTIFY_SOCKET, like systemd-notify, waiting until the supervisor has
      handled them.

Manifests are loaded only from a directory owned by root or by initd's
own user and writable by nobody else (no group or world write bit), and
only from files likewise; anything else is refused with the path and the
chmod/chown that fixes it.";

#[derive(Debug, Parser)]
#[command(name = "initd", version, about = "aiOS init and service supervisor", long_about = LONG_ABOUT)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Run as the unprivileged user-level supervisor instead of PID 1.
    #[arg(long)]
    user: bool,
    /// Directory of service manifests (*.toml).
    #[arg(long, value_name = "DIR")]
    services: Option<PathBuf>,
    /// Control API socket.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Directory of captured service logs.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Directory for initd's own state (enable/disable choices).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Name of initd's cgroup under its own (default `aios`, or
    /// `aios-initd.<pid>` with --user).
    #[arg(long, value_name = "NAME")]
    cgroup: Option<String>,
    /// Hostname to set as PID 1 (default: /etc/hostname, else `aios`).
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Append initd's own log here instead of standard error (as PID 1:
    /// the full log, instead of /run/initd.log; the console still shows
    /// warnings and errors).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Validate manifests and exit.
    Check {
        /// Manifest directory.
        #[arg(default_value = "/etc/aios/services")]
        dir: PathBuf,
    },
    /// Write the daemon-set manifests (memoryd, toolsd, runtimed, gatewayd, aiosd).
    DaemonSet {
        /// The image layout (/usr/bin, user aios) instead of --bin-dir.
        #[arg(long, conflicts_with = "bin_dir")]
        system: bool,
        /// Directory holding the daemon binaries (development layout).
        #[arg(long, value_name = "DIR", required_unless_present = "system")]
        bin_dir: Option<PathBuf>,
        /// Where to write the manifests.
        out: PathBuf,
    },
    /// Send sd_notify lines to $NOTIFY_SOCKET.
    Notify {
        /// Do not wait for the supervisor to handle the message.
        #[arg(long)]
        no_block: bool,
        /// After notifying, wait until a signal ends the process (a
        /// trivial notify service, for tests and benchmarks).
        #[arg(long, hide = true)]
        pause: bool,
        /// Lines such as READY=1, STATUS=text, WATCHDOG=1.
        #[arg(required = true)]
        state: Vec<String>,
    },
}

fn main() -> ExitCode {
    let pid1 = std::process::id() == 1;
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // The kernel hands init unknown boot parameters; PID 1 must not
        // die over them.
        Err(e) if pid1 => {
            pid1::console(&format!("ignoring arguments: {}", e.kind()));
            Cli::parse_from(["initd"])
        }
        Err(e) => e.exit(),
    };
    if pid1 {
        // The kernel hands init the words of its command line it does not
        // know: a stray `check` there must not make PID 1 run a helper and
        // exit (the kernel panics when init exits).
        let ignored = cli.cmd.as_ref().map(Cmd::name);
        if !cli.user {
            return system_main(&cli, ignored);
        }
        if let Some(sub) = ignored {
            pid1::console(&format!(
                "ignoring the `{sub}` subcommand: as PID 1 initd only supervises"
            ));
        }
        return user(&cli);
    }
    match &cli.cmd {
        Some(Cmd::Check { dir }) => return check(dir),
        Some(Cmd::Notify {
            no_block,
            pause,
            state,
        }) => return notify(state, !*no_block, *pause),
        Some(Cmd::DaemonSet {
            system,
            bin_dir,
            out,
        }) => return daemon_set(*system, bin_dir.as_deref(), out),
        None => {}
    }
    if cli.user {
        return user(&cli);
    }
    eprintln!(
        "initd: not PID 1 (pid {}): run `initd --user` for the user-level supervisor, or see `initd --help`",
        std::process::id()
    );
    ExitCode::from(2)
}

/// `initd --user` to its exit status.
fn user(cli: &Cli) -> ExitCode {
    match user_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("initd: {e:#}");
            ExitCode::from(2)
        }
    }
}

impl Cmd {
    /// The subcommand as typed.
    fn name(&self) -> &'static str {
        match self {
            Cmd::Check { .. } => "check",
            Cmd::DaemonSet { .. } => "daemon-set",
            Cmd::Notify { .. } => "notify",
        }
    }
}

fn check(dir: &Path) -> ExitCode {
    use aios_initd::manifest::{TrustPolicy, load_dir_with};
    // The text decides the exit status; owners and modes are reported (the
    // directory may be a staging copy whose owner is not the image's).
    let report = load_dir_with(dir, TrustPolicy::Report);
    for w in &report.warnings {
        eprintln!("warning: {w} (initd would not load it from here)");
    }
    match report.strict() {
        Ok(specs) => {
            let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
            println!(
                "{} service(s) OK, start order: {}",
                specs.len(),
                names.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn daemon_set(system: bool, bin_dir: Option<&Path>, out: &Path) -> ExitCode {
    use aios_initd::daemon_set::{Layout, write};
    let layout = match (system, bin_dir) {
        (true, _) => Layout::System,
        (false, Some(d)) => Layout::User {
            bin_dir: std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()),
        },
        (false, None) => {
            eprintln!("initd daemon-set: pass --system or --bin-dir DIR");
            return ExitCode::from(2);
        }
    };
    match write(out, &layout) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("initd daemon-set: cannot write to {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn notify(state: &[String], block: bool, pause: bool) -> ExitCode {
    let socket = std::env::var("NOTIFY_SOCKET").unwrap_or_default();
    let text = state.join("\n");
    if let Err(e) = aios_initd::sys::notify::send(&socket, &text, block, Duration::from_secs(10)) {
        eprintln!("initd notify: {e}");
        return ExitCode::FAILURE;
    }
    if pause {
        loop {
            nix::unistd::pause();
        }
    }
    ExitCode::SUCCESS
}

/// The pieces both modes wire together.
struct Wiring {
    mode: Mode,
    services_dir: PathBuf,
    socket: PathBuf,
    log_dir: PathBuf,
    state_file: PathBuf,
    cgroup_name: String,
    parent_notify: Option<String>,
}

/// What is left when the loop ends: for PID 1's final steps.
struct Ended {
    /// The loop (it reaps while everything left is killed).
    ev: EventLoop,
    /// What to do with the machine.
    halt: Halt,
    /// The services' cgroups, to remove.
    cgroups: Option<Cgroups>,
    /// The service logs, to close before / is remounted read-only.
    logs: Arc<LogStore>,
}

/// Start everything and run the loop to the end of shutdown.
fn run(w: &Wiring, specs: Vec<aios_initd::spec::ServiceSpec>) -> anyhow::Result<Ended> {
    let logs = match LogStore::new(&w.log_dir, DEFAULT_MAX_BYTES) {
        Ok(l) => l,
        Err(e) if w.mode == Mode::System => {
            let fallback = PathBuf::from("/run/aios/log");
            tracing::warn!(
                "cannot use {}: {e}; logging services to {}",
                w.log_dir.display(),
                fallback.display()
            );
            LogStore::new(&fallback, DEFAULT_MAX_BYTES)
                .context("cannot create a service log directory")?
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot create the log directory {}", w.log_dir.display())
            });
        }
    };
    let logs = Arc::new(logs);
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let shared = Arc::new(Shared::default());
    // Answer list/status before the loop exists (the socket comes first).
    *shared.services.write().unwrap_or_else(|p| p.into_inner()) =
        aios_initd::supervisor::initial_statuses(&specs, aios_proto::now_unix_ms());

    // The control socket first: a second `initd --user` must fail here,
    // before it starts a second copy of every daemon.
    let control = Control::new(tx.clone(), Arc::clone(&shared), Arc::clone(&logs), w.mode);
    let server = match control::serve(&w.socket, control, w.mode) {
        Ok(h) => Some(h),
        Err(e) if w.mode == Mode::System => {
            tracing::error!("control API unavailable: {e}");
            None
        }
        Err(e) => anyhow::bail!("cannot serve the control API: {e}"),
    };

    let notify_path = w.socket.with_extension("notify");
    let notify = NotifySocket::bind(&notify_path, w.mode == Mode::System)
        .with_context(|| format!("cannot bind the notify socket {}", notify_path.display()));
    match notify {
        Ok(sock) => {
            let ntx = tx.clone();
            std::thread::Builder::new()
                .name("notify".into())
                .spawn(move || {
                    loop {
                        match sock.recv() {
                            Ok(d) => {
                                if ntx.send(Event::Notify(d)).is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::error!("notify socket: {e}");
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                })
                .context("cannot start the notify thread")?;
        }
        Err(e) if w.mode == Mode::System => tracing::error!("{e:#}; notify services will time out"),
        Err(e) => return Err(e),
    }

    let stx = tx.clone();
    let ltx = tx.clone();
    let reader = signals::spawn_reader(
        move |sig| stx.send(Event::Signal(sig)).is_ok(),
        move |why| {
            let _ = ltx.send(Event::SignalsLost(why));
        },
    );
    if let Err(e) = reader {
        // Reaping must go on: the loop polls instead.
        let _ = tx.send(Event::SignalsLost(format!(
            "cannot start the signal thread: {e}"
        )));
    }
    drop(tx);

    let cgroups = match Cgroups::setup(&w.cgroup_name) {
        Ok(c) => {
            tracing::info!(
                base = %c.base().display(),
                memory = c.memory_available(),
                "services get their own cgroups"
            );
            Some(c)
        }
        Err(e) => {
            tracing::info!("no cgroups ({e}); services get their own process groups instead");
            None
        }
    };
    let os = RealOs::new(
        w.mode,
        notify_path.clone(),
        cgroups.clone(),
        Arc::clone(&logs),
    );
    let sup = Supervisor::new(os, specs);
    let mut ev = EventLoop::new(
        sup,
        rx,
        shared,
        EnabledOverrides::load(Some(w.state_file.clone())),
        LoopConfig {
            mode: w.mode,
            services_dir: w.services_dir.clone(),
            parent_notify: w.parent_notify.clone(),
        },
    );
    tracing::info!(socket = %w.socket.display(), services = %w.services_dir.display(), "initd running");
    // PID 1's panics end in the recovery console (system_main). The user
    // supervisor stops its services itself: its state is not trusted any
    // more, but it knows their processes.
    let halt = match w.mode {
        Mode::System => ev.run(),
        Mode::User => match std::panic::catch_unwind(AssertUnwindSafe(|| ev.run())) {
            Ok(halt) => halt,
            Err(panic) => {
                let msg = panic_message(panic.as_ref());
                tracing::error!("internal error (panic: {msg}); stopping every service");
                ev.abort_services(ABORT_GRACE);
                if let Some(s) = server {
                    s.stop();
                }
                let _ = std::fs::remove_file(&notify_path);
                if let Some(cg) = &cgroups {
                    cg.remove_all();
                }
                anyhow::bail!("internal error (panic: {msg}); the services were stopped");
            }
        },
    };
    tracing::info!("all services stopped");
    if let Some(s) = server {
        s.stop();
    }
    let _ = std::fs::remove_file(&notify_path);
    Ok(Ended {
        ev,
        halt,
        cgroups,
        logs,
    })
}

/// How long services get to stop after a panic of `initd --user`.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// `initd --user`, with panics caught: the reason goes to initd's log and
/// standard error, and the exit status is 2 like any other fatal error.
fn user_main(cli: &Cli) -> anyhow::Result<()> {
    std::panic::catch_unwind(AssertUnwindSafe(|| run_user(cli))).unwrap_or_else(|panic| {
        let msg = panic_message(panic.as_ref());
        tracing::error!("internal error (panic: {msg})");
        Err(anyhow::anyhow!("internal error (panic: {msg})"))
    })
}

fn run_user(cli: &Cli) -> anyhow::Result<()> {
    signals::block_handled().context("cannot block signals")?;
    own_log::init_user(
        std::env::var(own_log::ENV).ok().as_deref(),
        cli.log_file.as_deref(),
    )?;
    // Where the panic happened, in initd's log (standard error may be
    // /dev/null under the shell's launcher); the message follows from
    // whoever catches it.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            "panic in thread {}{at}: {}",
            thread.name().unwrap_or("?"),
            panic_message(info.payload())
        );
    }));
    let config = aios_config::load(&aios_config::Overrides::default())?;
    let paths = aios_config::Paths::resolve(&config);
    let services_dir = match &cli.services {
        Some(d) => d.clone(),
        None => aios_config::xdg_config_home()
            .map(|d| d.join("aios/services"))
            .context("neither $XDG_CONFIG_HOME nor $HOME is set; pass --services DIR")?,
    };
    let specs = load_services(&services_dir, true).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("invalid service manifests:\n  {}", all.join("\n  "))
    })?;
    // Orphans of our services are re-parented to us, not to the real init.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!("cannot become a child subreaper: {e}");
    }
    let w = Wiring {
        mode: Mode::User,
        services_dir,
        socket: cli
            .socket
            .clone()
            .unwrap_or_else(|| paths.runtime_dir.join("initd.sock")),
        log_dir: cli
            .log_dir
            .clone()
            .unwrap_or_else(|| paths.log_dir().join("services")),
        state_file: cli
            .state_dir
            .clone()
            .unwrap_or_else(|| paths.state_dir.join("initd"))
            .join("enabled.toml"),
        cgroup_name: cli
            .cgroup
            .clone()
            .unwrap_or_else(|| format!("aios-initd.{}", std::process::id())),
        parent_notify: std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty()),
    };
    let Ended { cgroups, .. } = run(&w, specs)?;
    if let Some(cg) = cgroups {
        cg.remove_all();
    }
    tracing::info!("initd --user exiting");
    Ok(())
}

/// `/run/aios`: root-owned, group `aios` (when it exists) may create the
/// daemons' sockets there; everyone may traverse to reach them.
/// The image's socket directory from the first moment: `root:aios-daemons`
/// 1771, so only root and the daemon users create sockets there and the
/// sticky bit keeps anyone from replacing a socket that is not theirs (the
/// `aios-setup` oneshot sets the same later). Without that group (a
/// foreign root file system) it is root's 0755.
fn prepare_socket_dir(dir: &Path) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
    {
        tracing::warn!("cannot create {}: {e}", dir.display());
        return;
    }
    let mode = match nix::unistd::Group::from_name(SOCKET_GROUP) {
        Ok(Some(g))
            if nix::unistd::chown(dir, Some(nix::unistd::Uid::from_raw(0)), Some(g.gid))
                .is_ok() =>
        {
            0o1771
        }
        _ => 0o755,
    };
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!("cannot set the mode of {}: {e}", dir.display());
    }
}

/// The group of the daemon users, who may create sockets in `/run/aios`.
const SOCKET_GROUP: &str = "aios-daemons";

fn system_main(cli: &Cli, ignored_subcommand: Option<&str>) -> ExitCode {
    let outcome =
        std::panic::catch_unwind(AssertUnwindSafe(|| run_system(cli, ignored_subcommand)));
    let reason = match outcome {
        Ok(Ok(never)) => match never {},
        Ok(Err(e)) => format!("{e:#}"),
        Err(panic) => format!("panic: {}", panic_message(panic.as_ref())),
    };
    pid1::recovery_console(&reason)
}

fn run_system(cli: &Cli, ignored_subcommand: Option<&str>) -> anyhow::Result<Infallible> {
    signals::block_handled().context("cannot block signals")?;
    let log_file = own_log::init_pid1(std::env::var(own_log::ENV).ok().as_deref());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "initd starting as PID 1"
    );
    if let Some(sub) = ignored_subcommand {
        tracing::warn!(
            "ignoring the `{sub}` subcommand (from the kernel command line?): as PID 1 initd always boots the system"
        );
    }
    for problem in pid1::mount_api_filesystems() {
        tracing::warn!("{problem}");
    }
    // The file lives on /run, which exists only now; what was logged so
    // far waited in memory.
    let log_path = cli
        .log_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(own_log::PID1_LOG_FILE));
    match log_file.attach(&log_path, own_log::PID1_LOG_MAX_BYTES) {
        Ok(()) => tracing::info!(file = %log_path.display(), "initd log"),
        Err(e) => tracing::warn!("{e}; initd's log is only on the console (warnings and errors)"),
    }
    let name = cli
        .hostname
        .clone()
        .unwrap_or_else(|| pid1::hostname_from(Path::new("/etc/hostname"), "aios"));
    if let Err(e) = pid1::set_hostname(&name) {
        tracing::warn!("{e}");
    }
    pid1::disable_ctrl_alt_del();
    // `AIOS_RECOVERY=1` on the kernel command line (the kernel hands
    // unknown `NAME=value` parameters to init as environment) boots straight
    // to the recovery console, through the same path as a fatal failure.
    if std::env::var_os("AIOS_RECOVERY").is_some_and(|v| v == "1") {
        anyhow::bail!("recovery requested: AIOS_RECOVERY=1 on the kernel command line");
    }
    let services_dir = cli
        .services
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/aios/services"));
    let specs = load_services(&services_dir, false).unwrap_or_default();
    let w = Wiring {
        mode: Mode::System,
        services_dir,
        socket: cli
            .socket
            .clone()
            .unwrap_or_else(|| PathBuf::from("/run/aios/initd.sock")),
        log_dir: cli
            .log_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/log/aios/services")),
        state_file: cli
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/aios-initd"))
            .join("enabled.toml"),
        cgroup_name: cli.cgroup.clone().unwrap_or_else(|| "aios".into()),
        parent_notify: None,
    };
    if let Some(dir) = w.socket.parent() {
        prepare_socket_dir(dir);
    }
    let Ended {
        mut ev,
        halt,
        cgroups,
        logs,
    } = run(&w, specs)?;
    ev.kill_everything(Duration::from_secs(5));
    if let Some(cg) = cgroups {
        cg.remove_all();
    }
    // Open log files would keep / from going read-only.
    logs.close();
    pid1::unmount_all();
    pid1::console(&format!("{halt:?}"));
    let err = pid1::reboot(halt);
    anyhow::bail!(err)
}

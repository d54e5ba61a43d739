//! Well-known directories and daemon socket paths.

use std::path::PathBuf;

use crate::Config;

/// The backend daemons and their socket names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Daemon {
    /// Orchestrator: sessions, turn loop.
    Aiosd,
    /// Tool executor.
    Toolsd,
    /// Episodic memory store.
    Memoryd,
    /// Local model runtime (llama.cpp in its own process).
    Runtimed,
    /// Model gateway.
    Gatewayd,
}

impl Daemon {
    /// All daemons in start order (dependencies first).
    pub const ALL: [Daemon; 5] = [
        Daemon::Memoryd,
        Daemon::Toolsd,
        Daemon::Runtimed,
        Daemon::Gatewayd,
        Daemon::Aiosd,
    ];

    /// Binary and socket name.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// One line saying what the daemon is (its manifest's `description`).
    pub fn description(self) -> &'static str {
        self.row().description
    }

    /// Whether it runs as root on the image: only the executor, the one
    /// daemon that changes the system (DESIGN.md §2). The others run as the
    /// unprivileged `aios` user.
    pub fn privileged(self) -> bool {
        self.row().privileged
    }

    /// Whether it may see the model API keys: only the gateway (DESIGN.md
    /// §2); the supervisor removes them from every other daemon's
    /// environment.
    pub fn reads_api_keys(self) -> bool {
        self.row().reads_api_keys
    }

    /// The daemons that must be ready before this one starts (each comes
    /// earlier in [`Daemon::ALL`]).
    pub fn requires(self) -> &'static [Daemon] {
        self.row().requires
    }

    /// Environment variables its manifest sets: the runtime needs
    /// `OMP_WAIT_POLICY=passive` (OpenMP workers busy-waiting made
    /// generation 2.5–4× slower on a loaded 2-core machine, and libgomp
    /// reads it before `main`).
    pub fn environment(self) -> &'static [(&'static str, &'static str)] {
        self.row().environment
    }

    /// The one table of the daemon set: `initd daemon-set` renders the
    /// manifests from it, the shell and clients find sockets by it.
    fn row(self) -> &'static DaemonRow {
        match self {
            Daemon::Memoryd => &DaemonRow {
                name: "memoryd",
                description: "aiOS memory: the episodic session store (SQLite)",
                privileged: false,
                reads_api_keys: false,
                requires: &[],
                environment: &[],
            },
            Daemon::Toolsd => &DaemonRow {
                name: "toolsd",
                description: "aiOS tool executor: the only daemon that changes the system",
                privileged: true,
                reads_api_keys: false,
                requires: &[],
                environment: &[],
            },
            Daemon::Runtimed => &DaemonRow {
                name: "runtimed",
                description: "aiOS local model runtime: llama.cpp inference and embeddings",
                privileged: false,
                reads_api_keys: false,
                requires: &[],
                environment: &[("OMP_WAIT_POLICY", "passive")],
            },
            Daemon::Gatewayd => &DaemonRow {
                name: "gatewayd",
                description: "aiOS model gateway: providers and API keys",
                privileged: false,
                reads_api_keys: true,
                requires: &[],
                environment: &[],
            },
            Daemon::Aiosd => &DaemonRow {
                name: "aiosd",
                description: "aiOS orchestrator: sessions and the turn loop",
                privileged: false,
                reads_api_keys: false,
                requires: &[Daemon::Memoryd, Daemon::Toolsd, Daemon::Gatewayd],
                environment: &[],
            },
        }
    }
}

/// What [`Daemon`]'s accessors return.
struct DaemonRow {
    name: &'static str,
    description: &'static str,
    privileged: bool,
    reads_api_keys: bool,
    requires: &'static [Daemon],
    environment: &'static [(&'static str, &'static str)],
}

/// Resolved directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Sockets: `$XDG_RUNTIME_DIR/aios`, else `/tmp/aios-<uid>`. Resolving
    /// trusts nothing: whoever creates or uses it checks it first
    /// ([`crate::private_dir`], [`crate::check_socket_dir`]), since another
    /// user may have created `/tmp/aios-<uid>` before us.
    pub runtime_dir: PathBuf,
    /// Databases and logs: `$XDG_STATE_HOME/aios`, else `~/.local/state/aios`
    /// (or `/var/lib/aios` for root without a home). Must be private to its
    /// user ([`crate::private_dir`]).
    pub state_dir: PathBuf,
    /// The system policy file toolsd decides with: `/etc/aios/policy.toml`
    /// for a root toolsd without `$XDG_CONFIG_HOME` set (the image), else
    /// `$XDG_CONFIG_HOME/aios/system-policy.toml` (development mode).
    pub system_policy: PathBuf,
}

impl Paths {
    /// Resolve from the configuration (which already holds env overrides).
    pub fn resolve(config: &Config) -> Paths {
        let uid = nix::unistd::getuid().as_raw();
        let runtime_dir =
            config.paths.runtime_dir.clone().unwrap_or_else(|| {
                match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
                    Some(d) => PathBuf::from(d).join("aios"),
                    None => std::env::temp_dir().join(format!("aios-{uid}")),
                }
            });
        let state_dir = config.paths.state_dir.clone().unwrap_or_else(|| {
            if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
                return PathBuf::from(d).join("aios");
            }
            match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(h) => PathBuf::from(h).join(".local/state/aios"),
                None => PathBuf::from("/var/lib/aios"),
            }
        });
        let system_policy = config.paths.system_policy.clone().unwrap_or_else(|| {
            // Root without an explicit config directory is the image; an
            // explicit `$XDG_CONFIG_HOME` is development mode for root too
            // (tests run as root must not read the machine's file).
            let explicit = std::env::var_os("XDG_CONFIG_HOME").is_some_and(|v| !v.is_empty());
            match xdg_config_home().filter(|_| uid != 0 || explicit) {
                Some(c) => c.join("aios/system-policy.toml"),
                None => PathBuf::from("/etc/aios/policy.toml"),
            }
        });
        Paths {
            runtime_dir,
            state_dir,
            system_policy,
        }
    }

    /// Socket of one daemon.
    pub fn socket(&self, d: Daemon) -> PathBuf {
        self.runtime_dir.join(format!("{}.sock", d.name()))
    }

    /// Directory of log files.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("log")
    }

    /// The audit ledger (toolsd's; root's state directory on the image).
    pub fn ledger_db(&self) -> PathBuf {
        self.state_dir.join("ledger.sqlite3")
    }

    /// toolsd's private state: file snapshots for undo.
    pub fn toolsd_state(&self) -> PathBuf {
        self.state_dir.join("toolsd")
    }

    /// The episodic store database.
    pub fn memory_db(&self) -> PathBuf {
        self.state_dir.join("memory.sqlite3")
    }

    /// runtimed's private state: the kept prompt prefix's KV cache, so a
    /// restart does not evaluate the tool catalogue again.
    pub fn runtime_state(&self) -> PathBuf {
        self.state_dir.join("runtime")
    }

    /// gatewayd's private state: the day's cost totals.
    pub fn gateway_state(&self) -> PathBuf {
        self.state_dir.join("gateway")
    }
}

/// The policy file of the process's own user, as toolsd reads and saves
/// grants to it for calls acting for its own uid:
/// `$XDG_CONFIG_HOME/aios/policy.toml`, else `~/.config/aios/policy.toml`.
pub fn user_policy_file() -> Option<PathBuf> {
    xdg_config_home().map(|d| d.join("aios/policy.toml"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn xdg_config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
}

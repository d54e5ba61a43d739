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
    /// Model gateway.
    Gatewayd,
}

impl Daemon {
    /// All daemons in start order (dependencies first).
    pub const ALL: [Daemon; 4] = [
        Daemon::Memoryd,
        Daemon::Toolsd,
        Daemon::Gatewayd,
        Daemon::Aiosd,
    ];

    /// Binary and socket name.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Aiosd => "aiosd",
            Daemon::Toolsd => "toolsd",
            Daemon::Memoryd => "memoryd",
            Daemon::Gatewayd => "gatewayd",
        }
    }
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
        Paths {
            runtime_dir,
            state_dir,
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

    /// The episodic store database.
    pub fn memory_db(&self) -> PathBuf {
        self.state_dir.join("memory.sqlite3")
    }
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

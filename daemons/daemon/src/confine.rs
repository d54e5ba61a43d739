//! Landlock self-confinement: each daemon, before it starts any thread,
//! restricts itself to the files its job needs ([`allow_list`]), so a
//! compromised daemon cannot read another's secrets (the API key file, the
//! session store) or write outside its own directories.
//!
//! The kernel enforces it (Landlock, `CONFIG_SECURITY_LANDLOCK`); where the
//! kernel lacks Landlock the daemon still starts and reports the
//! confinement as not enforced ([`Confinement`]), never pretending.
//! Connecting to Unix sockets is not restricted (the daemons reach each
//! other and the supervisor's notify socket wherever they are); who may
//! connect is the sockets' modes and the servers' peer-credential checks.

use std::path::{Path, PathBuf};

use aios_config::{Config, Daemon, Paths};
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
};

/// The Landlock ABI whose rights are handled: 5 (Linux 6.10) adds device
/// ioctls to the file rights of 1–3 and TCP of 4. Newer rights (such as
/// connecting to Unix sockets) stay unhandled, hence allowed. An older
/// kernel enforces the subset it knows.
const FS_ABI: ABI = ABI::V5;

/// What one daemon may touch once confined. Paths that do not exist when
/// the daemon starts are left out (a rule needs an open file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    /// Read files and list directories beneath these.
    pub read: Vec<PathBuf>,
    /// Read and also execute programs beneath these.
    pub exec: Vec<PathBuf>,
    /// Read, create, write, truncate, rename and remove files and
    /// directories beneath these.
    pub write: Vec<PathBuf>,
    /// Files to read and write in place (devices such as `/dev/null`).
    pub devices: Vec<PathBuf>,
    /// Directories where the daemon creates and removes its socket.
    pub sockets: Vec<PathBuf>,
    /// May open TCP connections (only the gateway talks to the network).
    pub tcp_connect: bool,
}

/// What the kernel enforces after [`confine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confinement {
    /// Every requested restriction is enforced.
    Enforced,
    /// An older kernel enforces part of it (say, files but not TCP).
    Partial,
    /// Nothing is enforced, and why (the kernel lacks Landlock…).
    NotEnforced(String),
    /// This daemon does not confine itself, by design, and why.
    NotApplied(&'static str),
}

/// Why toolsd does not confine itself. Landlock forbids every thread and
/// process beneath a confined one to change the mount topology, and the
/// exec sandbox toolsd starts must mount (the writable binds, the private
/// `/tmp` and `/proc`): confined, `exec.run` with a writable path failed
/// and the rest ran without those mounts. toolsd's allow-list was
/// everything anyway; its guard is the policy, approval and ledger
/// pipeline.
pub const TOOLSD_NOT_CONFINED: &str = "toolsd starts the exec sandbox, which mounts, and \
     Landlock forbids mounts beneath a confined process; its guard is the policy, approval and \
     ledger pipeline (no_new_privs is set)";

/// Confine `daemon` to `allow` ([`confine`]), except toolsd, which only
/// sets `no_new_privs` ([`TOOLSD_NOT_CONFINED`]).
pub fn confine_daemon(daemon: Daemon, allow: &Allow) -> Result<Confinement, ConfineError> {
    if daemon == Daemon::Toolsd {
        // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments
        // only and touches no memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if rc != 0 {
            return Ok(Confinement::NotEnforced(format!(
                "no_new_privs could not be set: {}",
                std::io::Error::last_os_error()
            )));
        }
        return Ok(Confinement::NotApplied(TOOLSD_NOT_CONFINED));
    }
    confine(allow)
}

impl std::fmt::Display for Confinement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Confinement::Enforced => write!(f, "enforced"),
            Confinement::Partial => {
                write!(f, "partly enforced (the kernel's Landlock is older)")
            }
            Confinement::NotEnforced(why) => write!(f, "not enforced: {why}"),
            Confinement::NotApplied(why) => write!(f, "not applied: {why}"),
        }
    }
}

/// Confining failed for a reason other than a kernel without Landlock.
#[derive(Debug, thiserror::Error)]
#[error("cannot confine the daemon with Landlock: {0}")]
pub struct ConfineError(#[from] landlock::RulesetError);

/// Restrict the calling thread, and every thread and process it starts
/// later, to `allow`. Call it before any other thread exists: threads
/// started earlier stay unconfined. Also sets `no_new_privs`.
pub fn confine(allow: &Allow) -> Result<Confinement, ConfineError> {
    let read = AccessFs::from_read(FS_ABI) & !AccessFs::Execute;
    let exec = AccessFs::from_read(FS_ABI);
    let write = AccessFs::from_all(FS_ABI) & !AccessFs::Execute;
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    let socket = AccessFs::MakeSock | AccessFs::RemoveFile | AccessFs::ReadDir;
    let mut net: BitFlags<AccessNet> = AccessNet::BindTcp.into();
    if !allow.tcp_connect {
        net |= AccessNet::ConnectTcp;
    }
    let status = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(FS_ABI))?
        .handle_access(net)?
        .create()?
        .add_rules(path_beneath_rules(&allow.read, read))?
        .add_rules(path_beneath_rules(&allow.exec, exec))?
        .add_rules(path_beneath_rules(&allow.write, write))?
        .add_rules(path_beneath_rules(&allow.devices, device))?
        .add_rules(path_beneath_rules(&allow.sockets, socket))?
        .restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Confinement::Enforced,
        RulesetStatus::PartiallyEnforced => Confinement::Partial,
        RulesetStatus::NotEnforced => Confinement::NotEnforced(match status.landlock {
            LandlockStatus::NotImplemented => "the kernel is built without Landlock".into(),
            LandlockStatus::NotEnabled => {
                "Landlock is not enabled (add it to the kernel's lsm= list)".into()
            }
            _ => "the kernel refused the ruleset".into(),
        }),
    })
}

/// System files every daemon reads: code, libraries, certificates and
/// time zones (`/usr`, `/lib*`), `/proc` (a caller's groups) and `/etc`.
/// All of `/etc`, not chosen files: rules hold on inodes, and tools that
/// edit `/etc/passwd` or `/etc/group` replace the file, which would cut a
/// running daemon off its account lookups. The image's key file in
/// `/etc/aios` is kept from the other daemons by its owner and mode.
fn system_read() -> Vec<PathBuf> {
    ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/proc", "/etc"]
        .iter()
        .map(PathBuf::from)
        .collect()
}

/// The directory of the file `/etc/resolv.conf` resolves to (the image's
/// `/run`, systemd-resolved's `/run/systemd/resolve`): DHCP replaces that
/// file, so its directory is allowed, not the file. On the image the link
/// dangles until the first lease, which may come after gatewayd starts, so
/// a dangling link still names its directory.
fn resolver_dir(link: &Path) -> Option<PathBuf> {
    if let Ok(target) = std::fs::canonicalize(link) {
        return target.parent().map(Path::to_path_buf);
    }
    let target = std::fs::read_link(link).ok()?;
    let target = match link.parent() {
        Some(dir) if target.is_relative() => dir.join(target),
        _ => target,
    };
    std::fs::canonicalize(target.parent()?).ok()
}

/// What `daemon` may touch: its own log directory and socket directory,
/// system files, `/dev/null` and `/dev/urandom`, and
/// - memoryd: its state directory (the session store and search indexes) and,
///   read-only, the model directories (the embedding model) and the documentation
///   directories it indexes;
/// - runtimed: the model directory and the configured model file, and its
///   state directory (saved prompt caches);
/// - gatewayd: the API key file, the scripted provider's script, the
///   resolver's directory, the model directories (the tool router's
///   embedding model, read-only), and TCP connections;
/// - toolsd: everything, including writes and TCP (package downloads): it
///   is the one process that changes the system, on a user's behalf with
///   that user's credentials, or with its own only for a change policy or
///   a human allowed (its guard is the policy, approval and ledger
///   pipeline, not a file list);
/// - aiosd: nothing more.
pub fn allow_list(daemon: Daemon, config: &Config, paths: &Paths, socket_dir: &Path) -> Allow {
    let mut a = Allow {
        read: system_read(),
        write: vec![paths.log_dir()],
        devices: vec![PathBuf::from("/dev/null"), PathBuf::from("/dev/urandom")],
        sockets: vec![socket_dir.to_path_buf()],
        ..Allow::default()
    };
    match daemon {
        Daemon::Memoryd => {
            // The bundled SQLite keeps temporary tables in memory
            // (SQLITE_TEMP_STORE=2): no temporary directory is needed.
            a.write.push(paths.state_dir.clone());
            // The in-process embedding model (aios-embed, all-MiniLM-L6-v2), read-only.
            a.read.extend(aios_models::model_dirs());
            // The documentation it indexes, where configured outside the system
            // directories (`[memory] manpath`, `MANPATH`, `doc_dirs`), read-only.
            a.read.extend(config.memory.docs_read_roots());
        }
        Daemon::Gatewayd => {
            a.read.extend(aios_config::keys::default_key_file());
            a.read.extend(config.provider_files());
            // Day totals of cost accounting.
            a.write.push(paths.gateway_state());
            a.read.extend(resolver_dir(Path::new("/etc/resolv.conf")));
            // The tool router's embedding model (aios-embed), read-only.
            a.read.extend(aios_models::model_dirs());
            a.tcp_connect = true;
        }
        Daemon::Runtimed => {
            // The model file (and the directory's manifest), read-only;
            // the saved KV caches of prompt prefixes.
            a.read.extend(aios_models::model_dirs());
            a.read.extend(config.local_model_path());
            a.write.push(paths.runtime_state());
        }
        Daemon::Toolsd => {
            a.read.clear();
            a.exec.push(PathBuf::from("/"));
            a.write.push(PathBuf::from("/"));
            a.devices.push(PathBuf::from("/dev"));
            a.tcp_connect = true;
        }
        Daemon::Aiosd => {}
    }
    a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Confine a fresh thread (Landlock applies to the calling thread and
    /// what it starts), run `f` there, and return its result.
    fn confined<T: Send + 'static>(
        allow: Allow,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> (Confinement, T) {
        std::thread::spawn(move || {
            let c = confine(&allow).unwrap();
            (c, f())
        })
        .join()
        .unwrap()
    }

    /// The kernel's Landlock ABI (LANDLOCK_CREATE_RULESET_VERSION), or
    /// a value below 1 without Landlock.
    fn abi() -> i64 {
        // SAFETY: the version query reads no memory and changes nothing.
        unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32,
            )
        }
    }

    /// Whether the kernel enforces everything [`confine`] asks for; the
    /// tests check the weaker outcome on an older kernel.
    fn landlock_available() -> bool {
        abi() >= 5
    }

    #[test]
    fn a_confined_thread_reads_its_list_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let (inside, outside, logs) = (
            t.path().join("in"),
            t.path().join("out"),
            t.path().join("log"),
        );
        for d in [&inside, &outside, &logs] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(inside.join("f"), "mine").unwrap();
        std::fs::write(outside.join("secret"), "not yours").unwrap();
        let allow = Allow {
            read: vec![inside.clone()],
            write: vec![logs.clone()],
            ..Allow::default()
        };
        let (c, (mine, secret, log, outside_write)) = confined(allow, move || {
            (
                std::fs::read_to_string(inside.join("f")),
                std::fs::read_to_string(outside.join("secret")),
                std::fs::write(logs.join("d.log"), "line"),
                std::fs::write(outside.join("new"), "x"),
            )
        });
        if !landlock_available() {
            assert_ne!(c, Confinement::Enforced);
            return;
        }
        assert_eq!(c, Confinement::Enforced);
        assert_eq!(mine.unwrap(), "mine");
        log.unwrap();
        // Root (these tests run as root) is refused too: Landlock is not
        // bound by file permissions.
        assert_eq!(
            secret.unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
        assert_eq!(
            outside_write.unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
        assert!(!t.path().join("out/new").exists());
    }

    /// memoryd and aiosd, confined with their real lists, cannot read the
    /// user's API key file even though it is their own user's file (the
    /// development layout, where all daemons run as one user).
    #[test]
    fn memoryd_and_aiosd_cannot_read_the_key_file_but_gatewayd_can() {
        let t = tempfile::tempdir().unwrap();
        let keys = t.path().join("keys.toml");
        std::fs::write(&keys, "openai = \"sk-test\"\n").unwrap();
        let paths = Paths {
            runtime_dir: t.path().join("run"),
            state_dir: t.path().join("state"),
            system_policy: std::path::PathBuf::from("/nonexistent/policy.toml"),
        };
        for d in [&paths.runtime_dir, &paths.state_dir, &paths.log_dir()] {
            std::fs::create_dir_all(d).unwrap();
        }
        let config = Config::default();
        for daemon in [Daemon::Memoryd, Daemon::Aiosd, Daemon::Gatewayd] {
            let mut allow = allow_list(daemon, &config, &paths, &paths.runtime_dir);
            if daemon == Daemon::Gatewayd {
                // As AIOS_KEY_FILE would name it.
                allow.read.push(keys.clone());
            }
            let (k, state) = (keys.clone(), paths.state_dir.clone());
            let (c, (key, store)) = confined(allow, move || {
                (
                    std::fs::read_to_string(&k),
                    std::fs::write(state.join("memory.sqlite3"), "x"),
                )
            });
            if !landlock_available() {
                assert_ne!(c, Confinement::Enforced);
                continue;
            }
            assert_eq!(c, Confinement::Enforced, "{daemon:?}");
            match daemon {
                Daemon::Gatewayd => {
                    key.unwrap();
                    assert!(store.is_err(), "gatewayd wrote the session store");
                }
                Daemon::Memoryd => {
                    assert_eq!(
                        key.unwrap_err().kind(),
                        std::io::ErrorKind::PermissionDenied
                    );
                    store.unwrap();
                }
                _ => {
                    assert_eq!(
                        key.unwrap_err().kind(),
                        std::io::ErrorKind::PermissionDenied
                    );
                    assert!(store.is_err(), "aiosd wrote the session store");
                }
            }
        }
    }

    #[test]
    fn the_resolver_directory_is_found_through_a_dangling_link() {
        let t = tempfile::tempdir().unwrap();
        let (etc, run) = (t.path().join("etc"), t.path().join("run"));
        std::fs::create_dir(&etc).unwrap();
        std::fs::create_dir(&run).unwrap();
        let link = etc.join("resolv.conf");
        std::os::unix::fs::symlink("../run/resolv.conf", &link).unwrap();
        let run = std::fs::canonicalize(&run).unwrap();
        // Before the first DHCP lease: the link dangles.
        assert_eq!(resolver_dir(&link).as_deref(), Some(run.as_path()));
        std::fs::write(t.path().join("run/resolv.conf"), "nameserver 10.0.2.3\n").unwrap();
        assert_eq!(resolver_dir(&link).as_deref(), Some(run.as_path()));
        assert_eq!(resolver_dir(&t.path().join("absent")), None);
    }

    #[test]
    fn only_the_gateway_may_connect_over_tcp() {
        let paths = Paths {
            runtime_dir: PathBuf::from("/run/aios"),
            state_dir: PathBuf::from("/var/lib/aios"),
            system_policy: std::path::PathBuf::from("/nonexistent/policy.toml"),
        };
        let c = Config::default();
        let run = Path::new("/run/aios");
        assert!(allow_list(Daemon::Gatewayd, &c, &paths, run).tcp_connect);
        // toolsd downloads packages; it is guarded by its pipeline.
        assert!(allow_list(Daemon::Toolsd, &c, &paths, run).tcp_connect);
        for d in [Daemon::Aiosd, Daemon::Memoryd] {
            let a = allow_list(d, &c, &paths, run);
            assert!(!a.tcp_connect, "{d:?}");
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (_, connect) = confined(Allow::default(), move || std::net::TcpStream::connect(addr));
        if landlock_available() {
            assert!(connect.is_err(), "a confined daemon connected over TCP");
        }
    }
}

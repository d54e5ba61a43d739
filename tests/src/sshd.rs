//! A throwaway OpenSSH server for the ssh end-to-end tests: the real
//! `/usr/sbin/sshd` on an unprivileged loopback port with its own config,
//! host key and authorised key, and a throwaway user (created with
//! `useradd`, removed on drop) whose login shell is the built `aios`.
//!
//! It needs root (to create the user and let sshd change to it); without
//! root or without sshd, [`Host::start`] says why and returns `None`, and
//! the test skips.
//!
//! The built binaries live under the invoking user's target directory,
//! which the test user may not be able to reach (`/root` is 0700): they are
//! hard-linked (or copied) into a world-readable directory of the host,
//! which becomes the user's `PATH` head and `AIOS_BIN_DIR`. The user's
//! aiOS environment is an [`Env`] handed over to the user (`chown`), so
//! `aios` starts the user's own daemons under `initd --user`, as on any
//! machine where aiOS is not PID 1.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{Env, bin_dir, wait_output, wait_until};

/// How long a wait of this harness may take.
const LIMIT: Duration = Duration::from_secs(60);

/// `useradd` and `userdel` lock `/etc/passwd`; tests run in parallel.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// Hosts started so far by this process, to keep user names apart.
static COUNT: AtomicUsize = AtomicUsize::new(0);

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd and its test user. Drop order: the user's daemons are
/// stopped, sshd is killed, the user is removed, then the directories go.
pub struct Host {
    /// The test user's name.
    pub user: String,
    /// sshd's port on 127.0.0.1.
    pub port: u16,
    uid: u32,
    gid: u32,
    sshd: Child,
    /// The user's aiOS environment (owned by the user).
    pub env: Env,
    /// Config, keys, the linked binaries and sshd's log.
    dir: tempfile::TempDir,
}

/// Run a command to completion, failing the test with its stderr.
fn must(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Link (or, across file systems, copy) every executable of the build into
/// `to`.
fn link_binaries(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(bin_dir()).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        let dest = to.join(entry.file_name());
        if std::fs::hard_link(entry.path(), &dest).is_err() {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Host {
    /// Start sshd for a new user whose environment is `env` (say
    /// [`Env::scripted`]); `None` (with the reason on stderr) when this
    /// cannot run here.
    pub fn start(env: Env) -> Option<Host> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: creating the ssh test user needs root");
            return None;
        }
        if !Path::new(SSHD).is_file() {
            eprintln!("skipped: {SSHD} is not installed (apt-get install openssh-server)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("aios-ssh")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        // The user reads the binaries and the authorised key from here.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bins = d.join("bin");
        link_binaries(&bins);
        let aios = bins.join("aios");

        let user = format!(
            "aios{}x{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let home = env.dir.path().join("home");
        {
            let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            // `-p '*'`: no password, but not locked (sshd without PAM
            // refuses a locked account even for key logins).
            must(
                Command::new("useradd")
                    .args(["-M", "-U", "-p", "*", "-s"])
                    .arg(&aios)
                    .arg("-d")
                    .arg(&home)
                    .arg(&user),
            );
        }
        let id = |flag: &str| -> u32 {
            let out = must(Command::new("id").arg(flag).arg(&user));
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        // The environment becomes the user's: aios and the daemons insist
        // on private runtime and state directories of their own.
        must(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(env.dir.path()),
        );

        must(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join("host_key")),
        );
        must(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join("client_key")),
        );
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::set_permissions(
            d.join("authorized_keys"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();

        // What a login gets: the user's aiOS environment, with the linked
        // binaries first on PATH (so `ssh host 'aios ...'` finds them).
        let mut vars: Vec<String> = env
            .vars
            .iter()
            .filter(|(k, _)| k != "AIOS_BIN_DIR")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vars.push(format!("AIOS_BIN_DIR={}", bins.display()));
        vars.push(format!(
            "PATH={}:/usr/local/bin:/usr/bin:/bin",
            bins.display()
        ));
        let port = free_port();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {host_key}\n\
             PidFile none\n\
             AuthorizedKeysFile {keys}\n\
             StrictModes no\n\
             UsePAM no\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin no\n\
             AllowUsers {user}\n\
             # External, so sftp (what scp speaks by default) also runs through the login shell.\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\n\
             SetEnv {vars}\n\
             LogLevel VERBOSE\n",
            host_key = d.join("host_key").display(),
            keys = d.join("authorized_keys").display(),
            vars = vars.join(" "),
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        // sshd's privilege separation needs this directory (Debian makes
        // it in its service unit, which does not run here).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let sshd = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let host = Host {
            user,
            port,
            uid,
            gid,
            sshd,
            env,
            dir,
        };
        wait_until(
            "sshd to listen",
            LIMIT,
            || host.log(),
            || TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        Some(host)
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The user's home directory.
    pub fn home(&self) -> PathBuf {
        self.env.dir.path().join("home")
    }

    /// The client options every connection uses: this host's key, no
    /// known-hosts file, no agent, no user config, no prompts.
    pub fn options(&self) -> Vec<String> {
        let key = self.dir.path().join("client_key");
        [
            "-F",
            "/dev/null",
            "-i",
            &key.display().to_string(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ]
        .map(String::from)
        .to_vec()
    }

    /// `user@127.0.0.1`.
    pub fn target(&self) -> String {
        format!("{}@127.0.0.1", self.user)
    }

    /// The argv of `ssh [EXTRA] -p PORT user@127.0.0.1 [REMOTE]`.
    pub fn ssh_argv(&self, extra: &[&str], remote: &[&str]) -> Vec<String> {
        let mut argv = vec!["ssh".to_string()];
        argv.extend(self.options());
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv.extend(["-p".to_string(), self.port.to_string(), self.target()]);
        argv.extend(remote.iter().map(|s| s.to_string()));
        argv
    }

    /// Run `ssh user@host REMOTE` (no terminal) with `stdin`, waiting at
    /// most a minute.
    pub fn ssh(&self, remote: &str, stdin: &[u8]) -> Output {
        let argv = self.ssh_argv(&["-T"], &[remote]);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = input.write_all(&data);
        });
        let out = wait_output(child, LIMIT);
        let _ = writer.join();
        out
    }

    /// Run `scp ARGS` against this host (`HOST:` in an argument stands
    /// for `user@127.0.0.1:`).
    pub fn scp(&self, args: &[&str]) -> Output {
        let target = self.target();
        let child = Command::new("scp")
            .args(self.options())
            .arg("-P")
            .arg(self.port.to_string())
            .args(
                args.iter()
                    .map(|a| a.replace("HOST:", &format!("{target}:"))),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, LIMIT)
    }

    /// A command run as the test user, in its environment.
    pub fn as_user(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.uid(self.uid).gid(self.gid);
        c.env_clear();
        for (k, v) in &self.env.vars {
            c.env(k, v);
        }
        c.env("PATH", "/usr/bin:/bin");
        c.env("AIOS_BIN_DIR", self.dir.path().join("bin"));
        c
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Never panic here: a panic while unwinding aborts the test binary.
        let aios = self.dir.path().join("bin/aios");
        let _ = self
            .as_user(&aios)
            .args(["daemons", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _lock = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .arg("-f")
            .arg(&self.user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

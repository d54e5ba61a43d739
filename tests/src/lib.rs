//! Harness for end-to-end tests: an isolated aiOS environment (its own
//! runtime, state and config directories) in which the real `aios` binary
//! starts the real daemons, and helpers to run and observe them.
//!
//! Binaries are found next to the test executable's target directory, so
//! they must be built first: `cargo xtask test` does that.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod memory_eval;
pub mod qemu;
pub mod sshd;
pub mod tmux;
pub mod wait;

pub use wait::wait_until;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Directory holding the workspace binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    // Test executables live in target/<profile>/deps/, binaries (such as
    // aios-bench) in target/<profile>/ itself.
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("executable directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("target/<profile>").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// Path of a workspace binary, with a clear message when it is not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is not built; run the tests with `cargo xtask test` (it builds all binaries first)",
        p.display()
    );
    p
}

/// An isolated environment.
pub struct Env {
    /// Holds everything; removed on drop.
    pub dir: tempfile::TempDir,
    /// Extra environment variables for every command.
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// A fresh environment using the scripted provider with `script` (JSON).
    pub fn scripted(script: &Value) -> Env {
        Env::empty().with_script(script)
    }

    /// This environment on the scripted provider with `script` (JSON), for
    /// a script that names paths inside the environment.
    pub fn with_script(mut self, script: &Value) -> Env {
        let path = self.dir.path().join("script.json");
        std::fs::write(&path, serde_json::to_vec_pretty(script).unwrap()).unwrap();
        self.vars.push(("AIOS_PROVIDER".into(), "scripted".into()));
        self.vars
            .push(("AIOS_SCRIPT".into(), path.display().to_string()));
        self
    }

    /// A fresh environment on the embedded defaults.
    pub fn empty() -> Env {
        // Short paths: Unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("aios-e2e")
            .tempdir_in("/tmp")
            .unwrap();
        let p = dir.path();
        // Private (0700), as aios and the daemons require of the runtime
        // and state directories.
        for sub in ["run", "state", "config", "home"] {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(p.join(sub))
                .unwrap();
        }
        let vars = vec![
            (
                "AIOS_RUNTIME_DIR".into(),
                p.join("run").display().to_string(),
            ),
            (
                "AIOS_STATE_DIR".into(),
                p.join("state").display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                p.join("config").display().to_string(),
            ),
            ("HOME".into(), p.join("home").display().to_string()),
            ("AIOS_BIN_DIR".into(), bin_dir().display().to_string()),
            ("NO_COLOR".into(), "1".into()),
            // memoryd would index every man page of the machine in the background; tests
            // that want the docs collection turn it on with their own MANPATH.
            ("AIOS_MEMORY_DOCS".into(), "0".into()),
        ];
        Env { dir, vars }
    }

    /// Runtime directory (sockets).
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// State directory (databases, logs).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The user's config file path (may not exist).
    pub fn user_config(&self) -> PathBuf {
        self.dir.path().join("config/aios/aios.toml")
    }

    /// A command for a workspace binary in this environment, with the
    /// caller's provider keys removed.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env_remove("AIOS_PROVIDER")
            .env_remove("AIOS_SCRIPT")
            .env_remove("AIOS_CONFIG")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_STATE_HOME")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("ANTHROPIC_BASE_URL");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Run `aios ARGS` with `stdin` bytes, waiting at most `limit`.
    pub fn aios(&self, args: &[&str], stdin: &[u8], limit: Duration) -> Output {
        let mut c = self.cmd("aios");
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = wait_output(child, limit);
        let _ = writer.join();
        out
    }

    /// Run `aios -p PROMPT --json`, require exit 0, and return the events.
    pub fn run_json_ok(&self, prompt: &str) -> Vec<Value> {
        let out = self.aios(&["-p", prompt, "--json"], b"", Duration::from_secs(60));
        assert_eq!(
            out.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
    }

    /// The newest 100 records of the audit ledger (`aios audit log --json`),
    /// requiring the command to succeed.
    pub fn audit_log(&self) -> Vec<Value> {
        let out = self.aios(
            &["audit", "log", "--json", "--limit", "100"],
            b"",
            Duration::from_secs(60),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "aios audit log failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
    }

    /// The ledger's records of `tool` among its newest 100
    /// ([`Env::audit_log`]), once `aios audit verify --json` has found the
    /// whole chain intact: what an end-to-end test of an action checks
    /// after it ran (or was refused).
    pub fn audit_verified(&self, tool: &str) -> Vec<Value> {
        let out = self.aios(&["audit", "verify", "--json"], b"", Duration::from_secs(60));
        assert_eq!(
            out.status.code(),
            Some(0),
            "aios audit verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("aios audit verify --json: {e}"));
        assert_eq!(report["ok"], true, "the ledger does not verify: {report}");
        self.audit_log()
            .into_iter()
            .filter(|r| r["entry"]["tool"] == tool)
            .collect()
    }

    /// Pid of a running daemon, from its health answer.
    pub fn daemon_pid(&self, name: &str) -> Option<u32> {
        let socket = self.runtime_dir().join(format!("{name}.sock"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ch = aios_proto::connect(&socket).await.ok()?;
            aios_proto::HealthClient::new(ch)
                .ping()
                .await
                .ok()
                .map(|p| p.pid)
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop the daemons this environment started (never panic here: a
        // panic during unwinding aborts the whole test binary).
        if !bin_dir().join("aios").is_file() {
            return;
        }
        let _ = self
            .cmd("aios")
            .args(["daemons", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Wait for a child with a deadline; kill it and fail the test when it
/// does not finish.
pub fn wait_output(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("process {pid} did not finish within {limit:?}");
        }
    }
}

/// Parse JSON lines.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The first event of type `kind`, failing the test when there is none.
pub fn first<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {events:#?}"))
}

/// The `type` of each event.
pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Whether a test that lets the daemons change files can run here: toolsd
/// grants changes only to admins, so the daemons must run as root. When
/// not, says why the test is skipped.
pub fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: changing files through toolsd needs the daemons to run as root");
    false
}

/// A scratch directory for files a test lets the daemons change. It is
/// under `/var/tmp`, not `/tmp`: a sandboxed command's `/tmp` is private
/// (docs/SANDBOX.md).
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// Read lines from a child's stdout on a thread, so tests can wait for a
/// line matching a predicate with a timeout.
pub struct LineReader {
    rx: mpsc::Receiver<String>,
    /// Every line seen so far.
    pub seen: Vec<String>,
}

impl LineReader {
    /// Start reading `stdout`.
    pub fn new(stdout: impl std::io::Read + Send + 'static) -> LineReader {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineReader {
            rx,
            seen: Vec::new(),
        }
    }

    /// Every line: those seen so far plus the rest until the writer closes
    /// its end (bounded by `limit`).
    pub fn finish(mut self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return self.seen,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("stdout did not close within {limit:?}")
                }
            }
        }
    }

    /// Wait until a line satisfies `pred`.
    pub fn wait_for(&mut self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; saw: {:#?}", self.seen),
            }
        }
    }
}

/// A pty pair (master, slave), both ends close-on-exec from the start: the
/// tests run in parallel, and a pty end leaking into another test's
/// processes (say a daemon supervisor that outlives the test) would keep it
/// open.
pub fn open_pty() -> (std::fs::File, std::fs::File) {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::pty::posix_openpt(flags).unwrap();
    nix::pty::grantpt(&master).unwrap();
    nix::pty::unlockpt(&master).unwrap();
    let name = nix::pty::ptsname_r(&master).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NOCTTY | OFlag::O_CLOEXEC).bits())
        .open(name)
        .unwrap();
    (
        std::fs::File::from(std::os::fd::OwnedFd::from(master)),
        slave,
    )
}

//! Shared helpers of the integration tests: temporary service sets written
//! as shell scripts, waiting on conditions with a timeout, a control API
//! client, and inspection of processes through the host's /proc.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aios_proto::{PowerAction, ServiceState, ServiceVerb, SupervisorClient};

/// The binary under test.
pub const INITD: &str = env!("CARGO_BIN_EXE_initd");

// The one `wait_until` of the workspace's tests lives in the test crate;
// initd's tests include the same file rather than depend on that crate
// (which links the daemons).
#[path = "../../../tests/src/wait.rs"]
mod wait;
pub use wait::wait_until;

/// A temporary tree: manifests, scripts, run/log/state directories, and a
/// directory services write their observations into.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        for d in ["services", "scripts", "run", "logs", "state", "out"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Tree { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn services(&self) -> PathBuf {
        self.path("services")
    }

    pub fn socket(&self) -> PathBuf {
        self.path("run/initd.sock")
    }

    pub fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// Write `scripts/<name>.sh` and `services/<name>.toml` running it.
    /// The script sees `$OUT` (observations dir) and `$INITD`.
    pub fn service(&self, name: &str, script: &str, manifest_extra: &str) {
        let sh = self.path(&format!("scripts/{name}.sh"));
        std::fs::write(&sh, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let toml = format!(
            "command = [\"/bin/sh\", \"{}\"]\n{manifest_extra}\n\n[environment]\nOUT = \"{}\"\nINITD = \"{}\"\n",
            sh.display(),
            self.out().display(),
            INITD
        );
        std::fs::write(self.services().join(format!("{name}.toml")), toml).unwrap();
    }

    /// Lines of an observation file (empty when missing).
    pub fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.out().join(file))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The flags every test passes to initd.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--services".into(),
            self.services().display().to_string(),
            "--socket".into(),
            self.socket().display().to_string(),
            "--log-dir".into(),
            self.path("logs").display().to_string(),
            "--state-dir".into(),
            self.path("state").display().to_string(),
            "--log-file".into(),
            self.path("initd.log").display().to_string(),
        ]
    }

    /// initd's own log, for diagnostics.
    pub fn initd_log(&self) -> String {
        std::fs::read_to_string(self.path("initd.log")).unwrap_or_default()
    }

    /// A client of the control socket.
    pub fn client(&self) -> Client {
        let socket = self.socket();
        wait_until(
            "the control socket",
            Duration::from_secs(10),
            || self.initd_log(),
            // The file appears at bind(), a moment before listen(): a
            // connection in between is refused, so wait for one to work.
            || {
                std::os::unix::net::UnixStream::connect(&socket)
                    .ok()
                    .map(drop)
            },
        );
        Client::new(&socket)
    }
}

/// A blocking wrapper around the control API client.
pub struct Client {
    rt: tokio::runtime::Runtime,
    inner: SupervisorClient,
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let channel = rt.block_on(aios_proto::connect(socket)).unwrap();
        Client {
            rt,
            inner: SupervisorClient::new(channel),
        }
    }

    pub fn list(&mut self) -> Vec<ServiceState> {
        self.rt.block_on(self.inner.list()).unwrap()
    }

    pub fn status(&mut self, name: &str) -> ServiceState {
        self.act(name, ServiceVerb::Status).unwrap()
    }

    pub fn act(
        &mut self,
        name: &str,
        verb: ServiceVerb,
    ) -> Result<ServiceState, aios_proto::ApiError> {
        self.rt.block_on(self.inner.act(name, verb))
    }

    pub fn logs(&mut self, name: &str, tail: u32) -> Result<Vec<String>, aios_proto::ApiError> {
        self.rt.block_on(self.inner.logs(name, tail))
    }

    pub fn power(&mut self, action: PowerAction) -> Result<(), aios_proto::ApiError> {
        self.rt.block_on(self.inner.power(action))
    }

    /// Wait until the service is in `state`.
    pub fn wait_state(
        &mut self,
        name: &str,
        state: &str,
        timeout: Duration,
        log: impl Fn() -> String,
    ) -> ServiceState {
        let mut last = None;
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(name);
            if s.state == state {
                return s;
            }
            if Instant::now() >= deadline {
                panic!("{name} never reached {state:?}; last: {last:?}\n{}", log());
            }
            last = Some(s);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `(host pid, pid in its namespace, state letter)` of every process in
/// the same PID namespace as `member`.
pub fn processes_in_namespace_of(member: u32) -> Vec<(u32, u32, char)> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{member}/ns/pid")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .as_ref()
            != Some(&ns)
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let state = status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .and_then(|s| s.trim().chars().next())
            .unwrap_or('?');
        let nspid = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|s| s.split_whitespace().last())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        out.push((pid, nspid, state));
    }
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// Kill everything in the test cgroup `<cgroup2 root>/<rel>` and remove it
/// (the initd under test may have been killed before cleaning up).
pub fn remove_test_cgroup(rel: &str) {
    let Some(mount) = aios_initd::sys::cgroup::cgroup2_mount() else {
        return;
    };
    let base = mount.join(rel.trim_start_matches('/'));
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            let _ = std::fs::write(e.path().join("cgroup.kill"), "1");
            // The kill is asynchronous; a cgroup is removable once empty.
            let events = e.path().join("cgroup.events");
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::read_to_string(&events).is_ok_and(|t| t.contains("populated 1"))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = std::fs::remove_dir(e.path());
        }
    }
    let _ = std::fs::remove_dir(&base);
}

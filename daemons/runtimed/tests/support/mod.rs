//! What the runtimed end-to-end tests share: the tiny model's path and a
//! real `runtimed` started on it.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the daemon may take to load the model and report ready.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A child process, killed and reaped when dropped.
pub struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn tiny_model() -> PathBuf {
    let dir = std::env::var_os("AIOS_MODEL_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aios/models"),
        PathBuf::from,
    );
    let path = dir.join("smollm2-135m.gguf");
    assert!(
        path.is_file(),
        "this test needs the tiny model at {}: run `cargo xtask model fetch smollm2-135m`",
        path.display()
    );
    path
}

/// A real runtimed with the tiny model, its state under `root`; ready
/// when this returns.
pub fn start_runtimed(root: &Path) -> Killed {
    let notify = root.join("notify");
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(DEADLINE)).unwrap();
    let daemon = Killed(
        Command::new(env!("CARGO_BIN_EXE_runtimed"))
            .env("AIOS_STATE_DIR", root.join("state"))
            .env("AIOS_RUNTIME_DIR", root.join("run"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("AIOS_LOCAL_MODEL", tiny_model())
            .env("NOTIFY_SOCKET", &notify)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 16];
    rx.recv(&mut buf).expect("runtimed did not become ready");
    daemon
}

//! Service start and restart latency of `initd --user`, measured end to end
//! through the control API (a plain binary, not criterion: each sample is a
//! real process start).
//!
//! - start: `Start` request → the service's `READY=1` has been handled and
//!   the request answered (spawn → READY=1, plus one control round trip);
//! - restart: `kill -9` of the main process → status shows it running again
//!   with a new pid (backoff.initial = 0ms, so this is initd's reaction time).
//!
//! Run: `cargo bench -p aios-initd --bench latency` (prints medians).

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aios_proto::{PowerAction, ServiceVerb, SupervisorClient};

const INITD: &str = env!("CARGO_BIN_EXE_initd");
const SAMPLES: usize = 50;

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let services = dir.path().join("services");
    std::fs::create_dir_all(&services)?;
    // The trivial notify service: initd's own helper, sending READY=1 from
    // the main process and then waiting for a signal.
    std::fs::write(
        services.join("trivial.toml"),
        format!(
            "command = [\"{INITD}\", \"notify\", \"--pause\", \"READY=1\"]\nreadiness = \"notify\"\nenabled = false\nrestart = \"always\"\nbackoff = {{ initial = \"0ms\", max = \"0ms\" }}\nstart_limit = {{ burst = 100000, interval = \"1s\" }}\n"
        ),
    )?;
    // The same through /bin/sh, as a shell-script service would do it.
    let script = dir.path().join("sh-notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec {INITD} notify --pause READY=1\n"),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(
        services.join("shell.toml"),
        format!(
            "command = [\"/bin/sh\", \"{}\"]\nreadiness = \"notify\"\nenabled = false\n",
            script.display()
        ),
    )?;
    let socket = dir.path().join("run/initd.sock");
    let mut child = Command::new(INITD)
        .args(["--user", "--services"])
        .arg(&services)
        .arg("--socket")
        .arg(&socket)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--log-file")
        .arg(dir.path().join("initd.log"))
        .env("AIOS_LOG", "warn")
        .env("AIOS_RUNTIME_DIR", dir.path().join("run"))
        .env("AIOS_STATE_DIR", dir.path().join("state"))
        .stdin(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        anyhow::ensure!(Instant::now() < deadline, "initd did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut c = SupervisorClient::new(rt.block_on(aios_proto::connect(&socket))?);

    for name in ["trivial", "shell"] {
        let mut start = Vec::new();
        for _ in 0..SAMPLES {
            let t = Instant::now();
            let s = rt.block_on(c.act(name, ServiceVerb::Start))?;
            start.push(t.elapsed());
            anyhow::ensure!(s.state == "running", "{name} did not start: {s:?}");
            rt.block_on(c.act(name, ServiceVerb::Stop))?;
        }
        report(&format!("start → READY=1 ({name})"), &mut start);
    }

    rt.block_on(c.act("trivial", ServiceVerb::Start))?;
    let mut restart = Vec::new();
    for _ in 0..SAMPLES {
        let before = rt.block_on(c.act("trivial", ServiceVerb::Status))?;
        anyhow::ensure!(before.state == "running", "{before:?}");
        let t = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(before.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )?;
        loop {
            let s = rt.block_on(c.act("trivial", ServiceVerb::Status))?;
            if s.state == "running" && s.pid != before.pid {
                break;
            }
            anyhow::ensure!(t.elapsed() < Duration::from_secs(10), "no restart: {s:?}");
        }
        restart.push(t.elapsed());
    }
    report(
        "kill -9 → running again (trivial, backoff 0ms)",
        &mut restart,
    );

    rt.block_on(c.power(PowerAction::Poweroff))?;
    child.wait()?;
    Ok(())
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pct = |p: usize| samples[(samples.len() - 1) * p / 100];
    println!(
        "{what}: median {:.2} ms, p90 {:.2} ms, min {:.2} ms ({} samples)",
        pct(50).as_secs_f64() * 1e3,
        pct(90).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples.len()
    );
}

//! The `service.*` tools against a real `initd --user` (the aiOS back-end
//! of those tools): throwaway services in a temporary directory, driven
//! through the catalogue's tools over [`InitdSupervisor`], the executor's
//! client of initd's control API. List, start (preview, undo), logs,
//! restart, stop, enable, disable, failed, and an unknown name.
//!
//! Needs the `initd` binary next to this test's target directory: `cargo
//! xtask test` builds every binary first (or `cargo build -p aios-initd`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aios_catalog::{Registry, ToolCtx, ToolErrorKind};
use aios_toolsd::InitdSupervisor;
use serde_json::{Value, json};

#[path = "../../../tests/src/wait.rs"]
mod wait;
use wait::wait_until;

const T: Duration = Duration::from_secs(20);

fn initd_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let dir = if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent()?
    } else {
        dir
    };
    let p = dir.join("initd");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is not built; run `cargo build -p aios-initd` first (cargo xtask test does)",
            p.display()
        );
        None
    }
}

/// `initd --user` over a temporary service directory; SIGTERM and wait on drop.
struct Initd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Initd {
    fn start(bin: &Path) -> Initd {
        // Short path: Unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("aios-svc")
            .tempdir_in("/tmp")
            .unwrap();
        let p = dir.path();
        for d in ["services", "logs", "state", "run"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        // Not started at boot: service.start starts it.
        std::fs::write(
            p.join("services/echoer.toml"),
            "command = [\"/bin/sh\", \"-c\", \"echo hello-from-echoer; exec sleep 1000\"]\n\
             readiness = \"none\"\nrestart = \"no\"\nenabled = false\n",
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("--user")
            .arg("--services")
            .arg(p.join("services"))
            .arg("--socket")
            .arg(p.join("run/initd.sock"))
            .arg("--log-dir")
            .arg(p.join("logs"))
            .arg("--state-dir")
            .arg(p.join("state"))
            .arg("--log-file")
            .arg(p.join("initd.log"))
            .args([
                "--cgroup",
                &format!("aios-toolsd-test-{}", std::process::id()),
            ])
            .env("AIOS_RUNTIME_DIR", p.join("run"))
            .env("AIOS_STATE_DIR", p.join("state"))
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let initd = Initd { child, dir };
        let socket = initd.socket();
        wait_until(
            "initd's control socket",
            T,
            || initd.log(),
            // Not the file (it appears at bind(), before listen()): a
            // connection that works.
            || {
                std::os::unix::net::UnixStream::connect(&socket)
                    .ok()
                    .map(drop)
            },
        );
        initd
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/initd.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("initd.log")).unwrap_or_default()
    }
}

impl Drop for Initd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let log = self.log();
        wait_until(
            "initd to exit",
            T,
            || log.clone(),
            || self.child.try_wait().ok().flatten(),
        );
    }
}

async fn call(r: &Registry, ctx: &ToolCtx, tool: &str, args: Value) -> Value {
    r.prepare(tool, args)
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn service_tools_drive_a_real_initd() {
    let Some(bin) = initd_binary() else { return };
    let initd = Initd::start(&bin);
    let ctx = ToolCtx::local().with_supervisor(Arc::new(InitdSupervisor::at(initd.socket())));
    let r = Registry::builtin();

    let v = call(&r, &ctx, "service.list", json!({})).await;
    assert_eq!(v["manager"], "initd", "{v}");
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["services"][0]["name"], "echoer");
    assert_eq!(v["services"][0]["active"], "stopped", "{v}");
    assert_eq!(v["services"][0]["enabled"], "disabled", "{v}");

    // Start: the preview says what will change; the undo is a stop.
    let p = r
        .prepare("service.start", json!({"name": "echoer"}))
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(a.preview.summary, "echoer: stopped → running");
    let v = p.run(ctx.clone()).await.unwrap();
    assert_eq!(v["after"]["active"], "running", "{v}\n{}", initd.log());
    let first_pid = v["after"]["pid"].as_u64().unwrap();
    let undo = ctx.take_undo().unwrap();
    assert_eq!(
        (undo.tool.as_str(), &undo.args),
        ("service.stop", &json!({"name": "echoer"}))
    );

    // Its captured output, through initd's log API.
    // initd captures output asynchronously: poll with a deadline.
    let deadline = std::time::Instant::now() + T;
    let tail = loop {
        let v = call(&r, &ctx, "service.logs", json!({"name": "echoer"})).await;
        let seen = v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("hello-from-echoer"));
        if seen {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line: {v}\n{}",
            initd.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(tail["manager"], "initd");

    // Restart: a new process, and no undo.
    let v = call(&r, &ctx, "service.restart", json!({"name": "echoer"})).await;
    assert_eq!(v["after"]["active"], "running", "{v}");
    assert_ne!(v["after"]["pid"].as_u64().unwrap(), first_pid);
    assert!(ctx.take_undo().is_none());

    // Stop, with the preview naming the change and initd's dependents rule.
    let p = r
        .prepare("service.stop", json!({"name": "echoer"}))
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert!(
        a.preview.summary.starts_with("echoer: running → stopped"),
        "{}",
        a.preview.summary
    );
    let v = p.run(ctx.clone()).await.unwrap();
    assert_eq!(v["after"]["active"], "stopped", "{v}");
    assert_eq!(ctx.take_undo().unwrap().tool, "service.start");

    // Enable and disable at boot, each undone by the other.
    let v = call(&r, &ctx, "service.enable", json!({"name": "echoer"})).await;
    assert_eq!(v["summary"], "echoer: disabled at boot → enabled at boot");
    assert_eq!(ctx.take_undo().unwrap().tool, "service.disable");
    let v = call(&r, &ctx, "service.disable", json!({"name": "echoer"})).await;
    assert_eq!(v["after"]["enabled"], "disabled");
    assert_eq!(ctx.take_undo().unwrap().tool, "service.enable");

    let v = call(&r, &ctx, "service.failed", json!({})).await;
    assert_eq!(v["summary"], "no failed services (initd)", "{v}");

    // A name initd does not manage (and no systemd here) is not found.
    let e = r
        .prepare("service.start", json!({"name": "nope"}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap_err();
    if !Path::new("/run/systemd/system").exists() {
        assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
    }
}

//! `initd --user`: the unprivileged supervisor as the development-mode
//! launcher. The control API end to end (list, status, logs, stop, start,
//! restart, enable, disable, power), refusal of a second instance and of
//! invalid manifests, the notify sender check, SIGTERM and SIGHUP, and
//! oneshots (`readiness = "exit"`) gating their dependents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aios_initd::sys::notify::NotifySocket;
use aios_proto::{ApiErrorKind, PowerAction, ServiceVerb};
use common::{INITD, Tree, alive, wait_until};

const T: Duration = Duration::from_secs(20);

struct User {
    child: Child,
    tree: Tree,
    cgroup: String,
    exited: bool,
}

impl User {
    fn command(tree: &Tree, cgroup: &str) -> Command {
        let mut cmd = Command::new(INITD);
        cmd.arg("--user")
            .args(tree.args())
            .args(["--cgroup", cgroup])
            .env("AIOS_RUNTIME_DIR", tree.path("run"))
            .env("AIOS_STATE_DIR", tree.path("state"))
            .env("XDG_CONFIG_HOME", tree.path("config"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    fn start(tree: Tree, configure: impl FnOnce(&mut Command)) -> User {
        static N: AtomicU32 = AtomicU32::new(0);
        let cgroup = format!(
            "aios-test-user-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut cmd = User::command(&tree, &cgroup);
        cmd.stderr(Stdio::from(
            std::fs::File::create(tree.path("stderr")).unwrap(),
        ));
        configure(&mut cmd);
        // A test that copies a binary (to run it as nobody) may race another
        // test thread's fork: the forked child holds the copy's write
        // descriptor until its own exec, and exec then fails with ETXTBSY.
        // The window is one fork-to-exec, so a bounded retry closes it.
        let mut attempts = 0;
        let child = loop {
            match cmd.spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 1000 => {
                    attempts += 1;
                    std::thread::yield_now();
                }
                r => break r.unwrap(),
            }
        };
        User {
            child,
            tree,
            cgroup,
            exited: false,
        }
    }

    fn log(&self) -> String {
        format!(
            "initd log:\n{}\nstderr:\n{}",
            self.tree.initd_log(),
            std::fs::read_to_string(self.tree.path("stderr")).unwrap_or_default()
        )
    }

    /// The tree, for a second run (this instance must have exited).
    fn tree_take(mut self) -> Tree {
        assert!(self.exited, "take the tree of a supervisor that exited");
        std::mem::replace(&mut self.tree, Tree::new())
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let log = self.log();
        let status = wait_until(
            "initd to exit",
            T,
            || log.clone(),
            || self.child.try_wait().unwrap(),
        );
        self.exited = true;
        status
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // initd may have been killed: end its services, remove the cgroups.
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/")
            .trim()
            .to_string();
        common::remove_test_cgroup(&format!("{}/{}", own.trim_end_matches('/'), self.cgroup));
    }
}

#[test]
fn control_api_lifecycle_logs_enable_and_power() {
    let tree = Tree::new();
    tree.service(
        "web",
        r#"echo "hello from web"; exec "$INITD" notify --pause READY=1 STATUS=serving"#,
        "readiness = \"notify\"",
    );
    tree.service(
        "worker",
        r#"echo worker >> "$OUT/worker"; exec sleep 1000"#,
        "requires = [\"web\"]",
    );
    // initd tells its own supervisor (here: the test) when boot settled.
    let parent = NotifySocket::bind(&tree.path("parent.notify"), false).unwrap();
    let parent_path = parent.path().to_path_buf();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(d) = parent.recv() {
            let _ = ready_tx.send(d.text);
        }
    });
    let mut u = User::start(tree, |c| {
        c.env("NOTIFY_SOCKET", &parent_path);
    });
    let ready = ready_rx
        .recv_timeout(T)
        .unwrap_or_else(|_| panic!("no READY=1 from initd\n{}", u.log()));
    assert_eq!(ready, "READY=1");

    let mut c = u.tree.client();
    let list = c.list();
    let names: Vec<_> = list
        .iter()
        .map(|s| (s.name.as_str(), s.state.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("web", "running"), ("worker", "running")],
        "{}",
        u.log()
    );
    let web = c.status("web");
    assert_eq!(web.status_text, "serving");
    assert!(web.pid > 0 && web.enabled);

    let logs = c.logs("web", 10).unwrap();
    assert!(
        logs.iter().any(|l| l.ends_with(" hello from web")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("--- initd: started pid")),
        "{logs:?}"
    );

    // Stopping web stops worker (which requires it) first.
    let stopped = c.act("web", ServiceVerb::Stop).unwrap();
    assert_eq!(stopped.state, "stopped");
    assert_eq!(c.status("worker").state, "stopped");
    assert!(!alive(web.pid), "web's process is gone");

    // Starting worker pulls web back in.
    let worker = c.act("worker", ServiceVerb::Start).unwrap();
    assert_eq!(worker.state, "running");
    let web2 = c.status("web");
    assert_eq!(web2.state, "running");
    assert_ne!(web2.pid, web.pid);

    let restarted = c.act("web", ServiceVerb::Restart).unwrap();
    assert_eq!(restarted.state, "running");
    assert_ne!(restarted.pid, web2.pid);
    assert!(!alive(web2.pid));

    let d = c.act("worker", ServiceVerb::Disable).unwrap();
    assert!(!d.enabled && d.state == "running");
    let saved = std::fs::read_to_string(u.tree.path("state/enabled.toml")).unwrap();
    assert!(saved.contains("worker = false"), "{saved}");
    assert!(c.act("worker", ServiceVerb::Enable).unwrap().enabled);

    let e = c.act("nope", ServiceVerb::Start).unwrap_err();
    assert_eq!(e.kind, ApiErrorKind::NotFound);
    assert!(e.message.contains("web, worker"), "{}", e.message);
    assert_eq!(c.logs("nope", 5).unwrap_err().kind, ApiErrorKind::NotFound);

    let pids = [c.status("web").pid, c.status("worker").pid];
    c.power(PowerAction::Poweroff).unwrap();
    let status = u.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", u.log());
    assert!(!u.tree.socket().exists(), "the control socket is removed");
    for p in pids {
        assert!(!alive(p), "service pid {p} was stopped");
    }
}

#[test]
fn second_instance_on_the_same_socket_is_refused() {
    let tree = Tree::new();
    tree.service("s", "exec sleep 1000", "");
    let mut first = User::start(tree, |_| {});
    let mut c = first.tree.client();
    c.wait_state("s", "running", T, || first.log());
    let out = User::command(&first.tree, "aios-test-user-second")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("already served"), "{stderr}");
    // The first instance is untouched.
    assert_eq!(c.status("s").state, "running");
    assert_eq!(c.list().len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(first.wait_exit().code(), Some(0));
}

#[test]
fn invalid_manifests_are_refused_with_locations() {
    let tree = Tree::new();
    std::fs::write(
        tree.services().join("x.toml"),
        "command = [\"/bin/true\"]\nrestart = 3\n",
    )
    .unwrap();
    std::fs::write(
        tree.services().join("y.toml"),
        "command = [\"/bin/true\"]\nrequires = [\"ghost\"]\n",
    )
    .unwrap();
    let out = User::command(&tree, "aios-test-user-invalid")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("x.toml:2:") && stderr.contains("key `restart`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("y.toml:2: service \"y\" lists unknown service \"ghost\""),
        "{stderr}"
    );
    assert!(!tree.socket().exists(), "nothing was served");

    // `initd check` reports the same.
    let out = Command::new(INITD)
        .arg("check")
        .arg(tree.services())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.toml:2:"));
}

#[test]
fn notify_from_outside_the_service_tree_is_ignored() {
    let tree = Tree::new();
    tree.service(
        "gate",
        r#"while [ ! -e "$OUT/go" ]; do sleep 0.02; done
exec "$INITD" notify --pause READY=1"#,
        "readiness = \"notify\"",
    );
    let mut u = User::start(tree, |_| {});
    let mut c = u.tree.client();
    c.wait_state("gate", "starting", T, || u.log());
    // A process outside gate's tree claims readiness. The barrier returns
    // only after initd has handled (and rejected) the message.
    let out = Command::new(INITD)
        .args(["notify", "READY=1"])
        .env("NOTIFY_SOCKET", u.tree.path("run/initd.notify"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.status("gate").state,
        "starting",
        "a stranger cannot make gate ready"
    );
    std::fs::write(u.tree.out().join("go"), "").unwrap();
    c.wait_state("gate", "running", T, || u.log());
    u.child.kill().unwrap();
}

#[test]
fn sigterm_stops_in_reverse_order_and_exits_zero() {
    let tree = Tree::new();
    let script = |n: &str| {
        format!(
            r#"trap 'echo "stop {n}" >> "$OUT/stops"; exit 0' TERM
sleep 1000 &
"$INITD" notify READY=1
wait"#
        )
    };
    // Ready only once the trap is installed.
    tree.service("a", &script("a"), "readiness = \"notify\"");
    tree.service("b", &script("b"), "readiness = \"notify\"\nafter = [\"a\"]");
    let mut u = User::start(tree, |_| {});
    let mut c = u.tree.client();
    c.wait_state("a", "running", T, || u.log());
    c.wait_state("b", "running", T, || u.log());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(u.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(u.wait_exit().code(), Some(0), "{}", u.log());
    assert_eq!(u.tree.lines("stops"), vec!["stop b", "stop a"]);
    assert!(!u.tree.path("run/initd.notify").exists());
}

#[test]
fn sighup_reloads_manifests() {
    let tree = Tree::new();
    tree.service("old", "exec sleep 1000", "");
    let mut u = User::start(tree, |_| {});
    let mut c = u.tree.client();
    let old = c.wait_state("old", "running", T, || u.log());
    std::fs::remove_file(u.tree.services().join("old.toml")).unwrap();
    u.tree.service("new", "exec sleep 1000", "");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(u.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    // The reload is asynchronous: wait until the list shows it done.
    wait_until(
        "new running and old removed",
        T,
        || u.log(),
        || {
            let list: Vec<(String, String)> =
                c.list().into_iter().map(|s| (s.name, s.state)).collect();
            (list == vec![("new".to_string(), "running".to_string())]).then_some(())
        },
    );
    assert!(!alive(old.pid));
    u.child.kill().unwrap();
}

#[test]
fn services_end_with_a_killed_user_supervisor() {
    let tree = Tree::new();
    tree.service("s", "exec sleep 1000", "");
    let mut u = User::start(tree, |_| {});
    let mut c = u.tree.client();
    let s = c.wait_state("s", "running", T, || u.log());
    u.child.kill().unwrap();
    u.wait_exit();
    let log = u.log();
    wait_until(
        "the service to end with its supervisor",
        T,
        || log.clone(),
        || (!alive(s.pid)).then_some(()),
    );
}

#[test]
fn a_reload_with_errors_is_refused_as_a_whole() {
    let tree = Tree::new();
    tree.service("keep", "exec sleep 1000", "");
    let mut u = User::start(tree, |_| {});
    let mut c = u.tree.client();
    let before = c.wait_state("keep", "running", T, || u.log());
    // A typo in keep's manifest, and a new valid service.
    std::fs::write(
        u.tree.services().join("keep.toml"),
        "command = [\"/bin/sleep\", \"1000\"]\nrestart = \"sometimes\"\n",
    )
    .unwrap();
    u.tree.service("added", "exec sleep 1000", "");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(u.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_until(
        "the refusal to be logged",
        T,
        || u.log(),
        || u.tree.initd_log().contains("reload refused").then_some(()),
    );
    assert!(u.tree.initd_log().contains("keep.toml:2:"), "{}", u.log());
    let list: Vec<String> = c.list().into_iter().map(|s| s.name).collect();
    assert_eq!(list, vec!["keep"]);
    assert_eq!(c.status("keep").pid, before.pid, "keep was not touched");
    u.child.kill().unwrap();
}

#[test]
fn oneshot_exit_zero_releases_dependents_and_a_failed_one_holds_them() {
    let tree = Tree::new();
    // `setup` blocks on a FIFO until the test opens it, so the dependent
    // visibly waits for the oneshot's exit, not just its spawn.
    nix::unistd::mkfifo(
        &tree.out().join("go"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    tree.service(
        "setup",
        r#"read line < "$OUT/go"; mkdir "$OUT/made""#,
        "readiness = \"exit\"\nrestart = \"no\"",
    );
    tree.service(
        "daemon",
        r#"if [ -d "$OUT/made" ]; then echo yes > "$OUT/saw"; else echo no > "$OUT/saw"; fi
exec sleep 1000"#,
        "requires = [\"setup\"]",
    );
    tree.service("broken", "exit 3", "readiness = \"exit\"\nrestart = \"no\"");
    tree.service(
        "held",
        r#"echo ran > "$OUT/held"; exec sleep 1000"#,
        "requires = [\"broken\"]",
    );
    let u = User::start(tree, |_| {});
    let mut c = u.tree.client();
    c.wait_state("setup", "starting", T, || u.log());
    let daemon = c.status("daemon");
    assert_eq!(
        (daemon.state.as_str(), daemon.pid),
        ("starting", 0),
        "waiting for setup, not spawned"
    );

    std::fs::write(u.tree.out().join("go"), "go\n").unwrap();
    c.wait_state("daemon", "running", T, || u.log());
    wait_until(
        "the dependent to look",
        T,
        || u.log(),
        // The shell's `>` creates the file before `echo` writes into it, so
        // wait for the line, not for the file.
        || (!u.tree.lines("saw").is_empty()).then_some(()),
    );
    assert_eq!(u.tree.lines("saw"), vec!["yes"], "{}", u.log());
    let setup = c.status("setup");
    assert_eq!((setup.state.as_str(), setup.pid), ("exited", 0));

    let broken = c.wait_state("broken", "failed", T, || u.log());
    assert!(
        broken.status_text.contains("exit code 3"),
        "{}",
        broken.status_text
    );
    let held = c.wait_state("held", "failed", T, || u.log());
    assert!(
        held.status_text.contains("required service broken failed"),
        "{}",
        held.status_text
    );
    assert!(u.tree.lines("held").is_empty(), "held never ran");
    let log = u.tree.initd_log();
    assert!(log.contains("ready service=setup"), "{log}");
    assert!(log.contains("started service=setup"), "{log}");
}

#[test]
fn absurd_durations_are_refused_before_anything_starts() {
    let tree = Tree::new();
    tree.service(
        "slow",
        "exec sleep 1000",
        "readiness = \"notify\"\nstart_timeout = \"18446744073709551615s\"",
    );
    // Waited for with a timeout: a supervisor that accepted the manifest
    // would keep running (or panic when it adds the timeout to its clock).
    let mut u = User::start(tree, |_| {});
    let status = u.wait_exit();
    let stderr = std::fs::read_to_string(u.tree.path("stderr")).unwrap();
    assert_eq!(status.code(), Some(2), "{}", u.log());
    assert!(
        stderr.contains("slow.toml:3:")
            && stderr.contains("too long: at most 8760h")
            && stderr.contains("key `start_timeout`"),
        "{stderr}"
    );
    assert!(!u.tree.socket().exists(), "nothing was served");

    let out = Command::new(INITD)
        .arg("check")
        .arg(u.tree.services())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slow.toml:3:"));
}

#[test]
fn a_group_writable_manifest_directory_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let tree = Tree::new();
    tree.service("s", "exec sleep 1000", "");
    let services = tree.services();
    std::fs::set_permissions(&services, std::fs::Permissions::from_mode(0o775)).unwrap();
    let mut u = User::start(tree, |_| {});
    assert_eq!(u.wait_exit().code(), Some(2), "{}", u.log());
    let stderr = std::fs::read_to_string(u.tree.path("stderr")).unwrap();
    assert!(
        stderr.contains(&format!(
            "refusing {}: the directory is writable by its group (mode 0775)",
            services.display()
        )) && stderr.contains(&format!("run `chmod go-w {}`", services.display())),
        "{stderr}"
    );
    assert!(!u.tree.socket().exists(), "nothing was served");

    // The fix the message names is enough.
    std::fs::set_permissions(&services, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut u = User::start(u.tree_take(), |_| {});
    let mut c = u.tree.client();
    c.wait_state("s", "running", T, || u.log());
    u.child.kill().unwrap();
}

/// initd --user run by a real unprivileged user (65534): its own
/// manifests load, another user's are refused.
#[test]
fn as_an_unprivileged_user_another_users_manifest_is_refused() {
    use std::os::unix::process::CommandExt as _;
    const NOBODY: u32 = 65534;
    let tree = Tree::new();
    tree.service("mine", "exec sleep 1000", "");
    tree.service("theirs", "exec sleep 1000", "");
    // The binary where nobody may run it, and the whole tree theirs.
    let bin = tree.path("initd");
    std::fs::copy(INITD, &bin).unwrap();
    chown_tree(tree.dir.path(), NOBODY);
    let theirs = tree.services().join("theirs.toml");
    std::os::unix::fs::chown(&theirs, Some(12345), Some(12345)).unwrap();

    let as_nobody = |tree: Tree| {
        let stderr = std::fs::File::create(tree.path("stderr")).unwrap();
        User::start(tree, |cmd| {
            let mut own = Command::new(&bin);
            own.args(cmd.get_args())
                .env_clear()
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .env("PATH", "/usr/bin:/bin")
                .uid(NOBODY)
                .gid(NOBODY)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr);
            *cmd = own;
        })
    };
    let mut u = as_nobody(tree);
    assert_eq!(u.wait_exit().code(), Some(2), "{}", u.log());
    let stderr = std::fs::read_to_string(u.tree.path("stderr")).unwrap();
    assert!(
        stderr.contains(&format!(
            "refusing {}: the manifest belongs to uid 12345, and initd accepts only root or initd's own uid 65534",
            theirs.display()
        )) && stderr.contains(&format!("run `chown 65534 {}`", theirs.display())),
        "{stderr}"
    );

    std::fs::remove_file(&theirs).unwrap();
    let mut u = as_nobody(u.tree_take());
    // Watched through /proc, not the control API: aiOS clients refuse a
    // socket served by a user who is neither root, themselves nor a daemon
    // user, and this test's client is root while initd is nobody.
    let initd_pid = u.child.id();
    let mine = wait_until(
        "initd (as nobody) to start its own service",
        T,
        || u.log(),
        || children_of(initd_pid).into_iter().next(),
    );
    let owner = std::fs::read_to_string(format!("/proc/{mine}/status")).unwrap();
    assert!(
        owner
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "{owner}"
    );
    u.child.kill().unwrap();
}

/// Pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn chown_tree(path: &std::path::Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

/// The shell's launcher writes the manifests with `initd daemon-set` into
/// its runtime directory and runs `initd --user` on them: that must pass
/// the ownership checks whatever the umask.
#[test]
fn daemon_set_output_is_loadable_under_a_group_writable_umask() {
    use std::os::unix::process::CommandExt as _;
    let tree = Tree::new();
    let out_dir = tree.path("run/services");
    let mut cmd = Command::new(INITD);
    cmd.args(["daemon-set", "--bin-dir", "/opt/aios/bin"])
        .arg(&out_dir);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o002);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = aios_initd::manifest::load_dir(&out_dir);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.specs.len(), aios_config::Daemon::ALL.len());
    // Written again over the first set (the launcher runs it every time).
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let check = Command::new(INITD)
        .arg("check")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success() && !stderr.contains("warning"),
        "{stderr}"
    );
}

/// With the signal thread gone (an injected failure), exited children are
/// still reaped and SIGTERM still stops everything. Nothing here wakes the
/// loop: status and list read its published snapshot.
#[test]
fn without_the_signal_thread_children_are_reaped_and_sigterm_still_works() {
    let tree = Tree::new();
    tree.service(
        "quick",
        r#"while [ ! -e "$OUT/go" ]; do sleep 0.02; done
exit 3"#,
        "restart = \"no\"",
    );
    tree.service(
        "stay",
        r#"trap 'echo stopped >> "$OUT/stops"; exit 0' TERM
sleep 1000 &
"$INITD" notify READY=1
wait"#,
        "readiness = \"notify\"",
    );
    let mut u = User::start(tree, |cmd| {
        cmd.env("AIOS_INITD_FAULT", "signal-thread");
    });
    let mut c = u.tree.client();
    let quick = c.wait_state("quick", "running", T, || u.log());
    c.wait_state("stay", "running", T, || u.log());
    wait_until(
        "the fallback to be logged",
        T,
        || u.log(),
        || {
            u.tree
                .initd_log()
                .contains("reading signals failed: injected fault")
                .then_some(())
        },
    );
    std::fs::write(u.tree.out().join("go"), "").unwrap();
    wait_until(
        "quick to be reaped and marked failed",
        T,
        || u.log(),
        || {
            let reaped = !std::path::Path::new(&format!("/proc/{}", quick.pid)).exists();
            (reaped && c.status("quick").state == "failed").then_some(())
        },
    );
    assert_eq!(c.status("quick").last_exit_code, 3);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(u.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(u.wait_exit().code(), Some(0), "{}", u.log());
    assert_eq!(u.tree.lines("stops"), vec!["stopped"]);
}

/// `initd --user` catches a panic like PID 1 does: it says why in its log,
/// stops the services, removes its sockets and exits 2 (not Rust's 101
/// with the reason only on a standard error nobody reads).
#[test]
fn a_panic_in_the_user_supervisor_is_caught_and_the_services_stopped() {
    let tree = Tree::new();
    tree.service(
        "s",
        r#"trap 'echo stopped >> "$OUT/stops"; exit 0' TERM
sleep 1000 &
"$INITD" notify READY=1
wait"#,
        "readiness = \"notify\"",
    );
    let mut u = User::start(tree, |cmd| {
        cmd.env("AIOS_INITD_FAULT", "panic-on-reload");
    });
    let mut c = u.tree.client();
    let s = c.wait_state("s", "running", T, || u.log());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(u.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert_eq!(u.wait_exit().code(), Some(2), "{}", u.log());
    let log = u.tree.initd_log();
    assert!(
        log.contains("internal error (panic: injected fault (AIOS_INITD_FAULT=panic-on-reload))")
            && log.contains("stopping every service"),
        "{}",
        u.log()
    );
    assert!(!alive(s.pid), "the service was stopped");
    assert_eq!(u.tree.lines("stops"), vec!["stopped"]);
    assert!(!u.tree.socket().exists(), "the control socket is removed");
    assert!(!u.tree.path("run/initd.notify").exists());
}

//! initd as a real PID 1, inside `unshare --pid --fork --mount-proc --uts`
//! (plus `--user --map-root-user` when not root): API filesystems and
//! hostname, zombie reaping, restart with backoff, start limit, dependency
//! order with readiness, ordered shutdown on signals, and the end of the
//! namespace by `reboot()` (the parent sees SIGINT for power off, SIGHUP
//! for reboot).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aios_proto::{PowerAction, ServiceVerb};
use common::{INITD, Tree, processes_in_namespace_of, wait_until};

const T: Duration = Duration::from_secs(20);

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The `unshare` arguments, checked once. If namespaces are unavailable
/// the tests fail with the reason rather than pass silently.
fn unshare_args() -> &'static [&'static str] {
    static ARGS: OnceLock<Vec<&'static str>> = OnceLock::new();
    ARGS.get_or_init(|| {
        let mut args = vec!["--pid", "--fork", "--mount-proc", "--uts"];
        if !is_root() {
            args.splice(0..0, ["--user", "--map-root-user"]);
        }
        let probe = Command::new("unshare").args(&args).arg("/bin/true").output();
        match probe {
            Ok(o) if o.status.success() => args,
            Ok(o) => panic!(
                "PID-1 tests cannot run: `unshare {}` failed ({}): {}\nThey need PID, mount and UTS namespaces: run as root, or enable unprivileged user namespaces.",
                args.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("PID-1 tests cannot run: `unshare` is not available: {e} (install util-linux)"),
        }
    })
}

/// initd running as PID 1 of a fresh PID namespace.
struct Pid1 {
    unshare: Child,
    /// initd's pid in the host namespace.
    init: u32,
    tree: Tree,
    cgroup: String,
    exited: bool,
}

impl Pid1 {
    fn start(tree: Tree) -> Pid1 {
        let args = tree.args();
        Pid1::start_with(tree, args, |_| {})
    }

    /// Start with these flags (plus cgroup and hostname), the command
    /// adjusted by `configure`.
    fn start_with(tree: Tree, args: Vec<String>, configure: impl FnOnce(&mut Command)) -> Pid1 {
        static N: AtomicU32 = AtomicU32::new(0);
        let cgroup = format!(
            "aios-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut cmd = Command::new("unshare");
        // The test's own flags last: a test may end them with words the
        // kernel would pass on (a subcommand).
        cmd.args(unshare_args())
            .arg(INITD)
            .args(["--cgroup", &cgroup, "--hostname", "aios-test"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(tree.path("unshare.err")).unwrap(),
            ));
        configure(&mut cmd);
        let unshare = cmd.spawn().unwrap();
        let upid = unshare.id();
        let init = wait_until(
            "initd to start inside the namespace",
            T,
            String::new,
            || {
                std::fs::read_to_string(format!("/proc/{upid}/task/{upid}/children"))
                    .ok()
                    .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()))
            },
        );
        Pid1 {
            unshare,
            init,
            tree,
            cgroup,
            exited: false,
        }
    }

    fn log(&self) -> String {
        format!(
            "initd log:\n{}\nunshare stderr:\n{}",
            self.tree.initd_log(),
            std::fs::read_to_string(self.tree.path("unshare.err")).unwrap_or_default()
        )
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.init as i32), sig).unwrap();
    }

    /// Wait for the namespace to end and return the signal its init died of.
    fn wait_end(&mut self) -> Option<i32> {
        let log = self.log();
        let status = wait_until(
            "the namespace to end",
            T,
            || log.clone(),
            || self.unshare.try_wait().unwrap(),
        );
        self.exited = true;
        status.signal()
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        if !self.exited {
            // Killing the namespace's init kills everything in it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.init as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.unshare.wait();
        }
        // Leave no test cgroups behind in the host's hierarchy.
        common::remove_test_cgroup(&self.cgroup);
    }
}

#[test]
fn mounts_hostname_cgroup_and_stop_kills_the_whole_tree() {
    let tree = Tree::new();
    tree.service(
        "probe",
        r#"cat /proc/self/mountinfo > "$OUT/mountinfo"
cat /proc/self/cgroup > "$OUT/cgroup"
sleep 1000 &
echo $! > "$OUT/child"
hostname > "$OUT/hostname.tmp" && mv "$OUT/hostname.tmp" "$OUT/hostname"
exec sleep 1000"#,
        "",
    );
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();
    c.wait_state("probe", "running", T, || p.log());
    wait_until(
        "the probe to write",
        T,
        || p.log(),
        || p.tree.out().join("hostname").exists().then_some(()),
    );
    assert_eq!(p.tree.lines("hostname"), vec!["aios-test"]);

    let mounts: Vec<(String, String)> = p
        .tree
        .lines("mountinfo")
        .iter()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            Some((
                left.split_whitespace().nth(4)?.to_string(),
                right.split_whitespace().next()?.to_string(),
            ))
        })
        .collect();
    let top = |point: &str| {
        mounts
            .iter()
            .rev()
            .find(|(p, _)| p == point)
            .map(|(_, fs)| fs.clone())
    };
    assert_eq!(top("/proc").as_deref(), Some("proc"));
    assert_eq!(top("/run").as_deref(), Some("tmpfs"), "{mounts:?}");
    assert_eq!(top("/dev/shm").as_deref(), Some("tmpfs"));
    if is_root() {
        // Unprivileged user namespaces may not mount devtmpfs, sysfs or cgroup2.
        assert_eq!(top("/dev").as_deref(), Some("devtmpfs"));
        assert_eq!(top("/dev/pts").as_deref(), Some("devpts"));
        assert_eq!(top("/sys").as_deref(), Some("sysfs"));
        assert_eq!(
            top("/sys/fs/cgroup").as_deref(),
            Some("cgroup2"),
            "{mounts:?}"
        );
        let cg = p
            .tree
            .lines("cgroup")
            .into_iter()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string));
        assert_eq!(cg.as_deref(), Some(format!("/{}/probe", p.cgroup).as_str()));
    }

    // Stop must take the background child too.
    let main = c.status("probe").pid;
    let child_ns: u32 = p.tree.lines("child")[0].parse().unwrap();
    let in_ns = |nspid: u32| {
        processes_in_namespace_of(p.init)
            .iter()
            .any(|(_, n, _)| *n == nspid)
    };
    assert!(
        in_ns(main) && in_ns(child_ns),
        "both processes run before the stop"
    );
    let s = c.act("probe", ServiceVerb::Stop).unwrap();
    assert_eq!(s.state, "stopped");
    wait_until(
        "the whole tree to be gone",
        T,
        || p.log(),
        || (!in_ns(main) && !in_ns(child_ns)).then_some(()),
    );

    p.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        p.wait_end(),
        Some(libc::SIGINT),
        "SIGTERM powers off: the parent sees SIGINT\n{}",
        p.log()
    );
}

#[test]
fn reaps_orphaned_zombies() {
    let tree = Tree::new();
    tree.service(
        "orphans",
        r#"for i in 1 2 3 4 5; do
  ( sh -c 'echo $$ >> "$OUT/orphans"; sleep 0.2; echo $$ >> "$OUT/orphans-done"' & )
done
exec "$INITD" notify --pause READY=1"#,
        "readiness = \"notify\"",
    );
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();
    c.wait_state("orphans", "running", T, || p.log());
    let done = wait_until(
        "five orphans to finish",
        T,
        || p.log(),
        || {
            let l = p.tree.lines("orphans-done");
            (l.len() == 5).then_some(l)
        },
    );
    let orphans: Vec<u32> = done.iter().map(|l| l.parse().unwrap()).collect();
    wait_until(
        "no zombie left in the namespace",
        T,
        || format!("{:?}\n{}", processes_in_namespace_of(p.init), p.log()),
        || {
            let procs = processes_in_namespace_of(p.init);
            let zombies = procs.iter().any(|(_, _, s)| *s == 'Z');
            let orphan_left = procs.iter().any(|(_, n, _)| orphans.contains(n));
            (!zombies && !orphan_left).then_some(())
        },
    );
    // initd is PID 1 of the namespace.
    assert!(
        processes_in_namespace_of(p.init)
            .iter()
            .any(|(h, n, _)| *h == p.init && *n == 1)
    );

    c.power(PowerAction::Poweroff).unwrap();
    assert_eq!(
        p.wait_end(),
        Some(libc::SIGINT),
        "power off ends the namespace with SIGINT\n{}",
        p.log()
    );
}

#[test]
fn restart_with_backoff_and_start_limit() {
    let tree = Tree::new();
    tree.service(
        "flaky",
        r#"date +%s%N >> "$OUT/flaky"; exit 1"#,
        "restart = \"always\"\nbackoff = { initial = \"200ms\", max = \"400ms\" }\nstart_limit = { burst = 100, interval = \"1m\" }",
    );
    tree.service(
        "doomed",
        r#"echo run >> "$OUT/doomed"; exit 3"#,
        "restart = \"on-failure\"\nbackoff = { initial = \"10ms\", max = \"10ms\" }\nstart_limit = { burst = 3, interval = \"1m\" }",
    );
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();

    let doomed = c.wait_state("doomed", "failed", T, || p.log());
    assert!(
        doomed.status_text.contains("start limit hit: 3 starts"),
        "{doomed:?}"
    );
    assert_eq!(doomed.last_exit_code, 3);
    assert_eq!(doomed.restarts, 2);
    assert_eq!(
        p.tree.lines("doomed").len(),
        3,
        "exactly burst starts, then failed"
    );

    let stamps: Vec<u128> = wait_until(
        "four runs of flaky",
        T,
        || p.log(),
        || {
            let l = p.tree.lines("flaky");
            (l.len() >= 4).then(|| l.iter().map(|s| s.parse().unwrap()).collect())
        },
    );
    let gaps: Vec<u128> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    // Timers only ever fire late, so the lower bounds are exact: 200ms,
    // then doubled to 400ms, then capped at 400ms.
    assert!(
        gaps[0] >= 200 && gaps[1] >= 400 && gaps[2] >= 400,
        "gaps in ms: {gaps:?}"
    );
    assert!(
        gaps[0] < 2000,
        "the first restart is not at the cap: {gaps:?}"
    );
    let st = c.status("flaky");
    assert!(st.restarts >= 3 && st.last_exit_code == 1, "{st:?}");

    c.power(PowerAction::Reboot).unwrap();
    assert_eq!(
        p.wait_end(),
        Some(libc::SIGHUP),
        "reboot ends the namespace with SIGHUP\n{}",
        p.log()
    );
}

#[test]
fn dependency_order_follows_readiness() {
    let tree = Tree::new();
    tree.service(
        "a",
        r#"echo "start a" >> "$OUT/order"; sleep 0.3; echo "ready a" >> "$OUT/order"; exec "$INITD" notify --pause READY=1"#,
        "readiness = \"notify\"",
    );
    tree.service(
        "b",
        r#"echo "start b" >> "$OUT/order"; echo "ready b" >> "$OUT/order"; exec "$INITD" notify --pause READY=1 "STATUS=b is up""#,
        "readiness = \"notify\"\nrequires = [\"a\"]",
    );
    tree.service(
        "c",
        r#"echo "start c" >> "$OUT/order"; exec sleep 1000"#,
        "requires = [\"b\"]",
    );
    tree.service(
        "d",
        r#"echo "start d" >> "$OUT/order"; exec sleep 1000"#,
        "after = [\"a\"]",
    );
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();
    c.wait_state("c", "running", T, || p.log());
    c.wait_state("d", "running", T, || p.log());
    let order = wait_until(
        "four starts",
        T,
        || p.log(),
        || {
            let l = p.tree.lines("order");
            (l.iter().filter(|x| x.starts_with("start")).count() == 4).then_some(l)
        },
    );
    let at = |s: &str| {
        order
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} missing: {order:?}"))
    };
    assert!(at("start a") < at("ready a"), "{order:?}");
    assert!(
        at("ready a") < at("start b"),
        "b waits for a's readiness: {order:?}"
    );
    assert!(
        at("ready b") < at("start c"),
        "c waits for b's readiness: {order:?}"
    );
    assert!(
        at("ready a") < at("start d"),
        "d is ordered after a: {order:?}"
    );
    assert_eq!(c.status("b").status_text, "b is up");
    let names: Vec<String> = c.list().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["a", "b", "d", "c"]);

    p.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(
        p.wait_end(),
        Some(libc::SIGHUP),
        "SIGINT (Ctrl-Alt-Del) reboots\n{}",
        p.log()
    );
}

#[test]
fn sigterm_stops_services_in_reverse_dependency_order() {
    let tree = Tree::new();
    let script = |n: &str| {
        format!(
            r#"trap 'echo "stop {n}" >> "$OUT/stops"; exit 0' TERM
echo "start {n}" >> "$OUT/starts"
sleep 1000 &
wait"#
        )
    };
    tree.service("a", &script("a"), "");
    tree.service("b", &script("b"), "requires = [\"a\"]");
    tree.service("c", &script("c"), "requires = [\"b\"]");
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();
    for n in ["a", "b", "c"] {
        c.wait_state(n, "running", T, || p.log());
    }
    wait_until(
        "three starts",
        T,
        || p.log(),
        || (p.tree.lines("starts").len() == 3).then_some(()),
    );
    p.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(p.wait_end(), Some(libc::SIGINT), "{}", p.log());
    assert_eq!(
        p.tree.lines("stops"),
        vec!["stop c", "stop b", "stop a"],
        "{}",
        p.log()
    );
}

#[test]
fn busybox_poweroff_signal_powers_off_in_order() {
    // busybox's `poweroff` applet (a shell built-in on the image) sends
    // SIGUSR2 to PID 1; `halt` sends SIGUSR1.
    let tree = Tree::new();
    tree.service(
        "a",
        r#"trap 'echo "stop a" >> "$OUT/stops"; exit 0' TERM
sleep 1000 &
wait"#,
        "",
    );
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();
    c.wait_state("a", "running", T, || p.log());
    p.signal(nix::sys::signal::Signal::SIGUSR2);
    assert_eq!(
        p.wait_end(),
        Some(libc::SIGINT),
        "SIGUSR2 powers off\n{}",
        p.log()
    );
    assert_eq!(p.tree.lines("stops"), vec!["stop a"], "{}", p.log());
}

/// As PID 1 the console (here: initd's standard error) shows only warnings
/// and errors; the full log is /run/initd.log, on the tmpfs initd mounts,
/// and `AIOS_LOG=info` brings the verbose console back.
#[test]
fn console_gets_warnings_and_run_initd_log_gets_everything() {
    for aios_log in [None, Some("info")] {
        let tree = Tree::new();
        tree.service("first", "exit 0", "readiness = \"exit\"\nrestart = \"no\"");
        // By the time `probe` runs, `first` was started and became ready.
        tree.service(
            "probe",
            // initd logs "started" after the spawn returns, so the probe may
            // run first: wait (bounded) for that line before taking the copy.
            r#"cat /proc/self/mountinfo > "$OUT/mountinfo"
i=0; while [ $i -lt 1000 ] && ! grep -q 'started service=probe' /run/initd.log; do i=$((i+1)); sleep 0.01; done
cp /run/initd.log "$OUT/initd.log.tmp" && mv "$OUT/initd.log.tmp" "$OUT/initd.log"
exec sleep 1000"#,
            "requires = [\"first\"]",
        );
        tree.service("broken", "exit 3", "restart = \"no\"");
        // No --log-file: the default path.
        let mut args = tree.args();
        let at = args.iter().position(|a| a == "--log-file").unwrap();
        args.drain(at..at + 2);
        let mut p = Pid1::start_with(tree, args, |c| {
            match aios_log {
                Some(v) => c.env("AIOS_LOG", v),
                None => c.env_remove("AIOS_LOG"),
            };
        });
        let mut c = p.tree.client();
        c.wait_state("probe", "running", T, || p.log());
        c.wait_state("broken", "failed", T, || p.log());
        let log = wait_until(
            "the probe to copy /run/initd.log",
            T,
            || p.log(),
            || std::fs::read_to_string(p.tree.out().join("initd.log")).ok(),
        );
        let run_is_tmpfs = p
            .tree
            .lines("mountinfo")
            .iter()
            .any(|l| l.split_whitespace().nth(4) == Some("/run") && l.contains(" - tmpfs "));
        assert!(run_is_tmpfs, "{log}");
        for line in [
            "started service=first",
            "ready service=first",
            "started service=probe",
        ] {
            assert!(
                log.contains(line),
                "{line:?} missing from /run/initd.log:\n{log}"
            );
        }
        // Lines logged before /run was mounted were kept, in order.
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines[0].contains("INFO initd starting as PID 1"), "{log}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("INFO initd log file=/run/initd.log")),
            "{log}"
        );

        let console = || std::fs::read_to_string(p.tree.path("unshare.err")).unwrap();
        wait_until(
            "the warning about broken on the console",
            T,
            || p.log(),
            || console().contains("exited").then_some(()),
        );
        let shown = console();
        assert!(shown.contains("WARN"), "{shown}");
        match aios_log {
            None => assert!(!shown.contains("INFO"), "quiet console:\n{shown}"),
            Some(_) => assert!(shown.contains("ready"), "verbose console:\n{shown}"),
        }
        p.signal(nix::sys::signal::Signal::SIGTERM);
        assert_eq!(p.wait_end(), Some(libc::SIGINT), "{}", p.log());
    }
}

/// The kernel passes the words of its command line it does not know to
/// init: a stray `check` must not turn PID 1 into the helper (which would
/// exit, and the kernel would panic).
#[test]
fn as_pid1_a_subcommand_on_the_command_line_is_ignored() {
    let tree = Tree::new();
    tree.service("s", "exec sleep 1000", "");
    let mut args = tree.args();
    args.extend(["check".to_string(), "/nonexistent".to_string()]);
    let mut p = Pid1::start_with(tree, args, |_| {});
    let mut c = p.tree.client();
    c.wait_state("s", "running", T, || p.log());
    assert!(
        p.tree
            .initd_log()
            .contains("ignoring the `check` subcommand"),
        "{}",
        p.log()
    );
    c.power(PowerAction::Poweroff).unwrap();
    assert_eq!(p.wait_end(), Some(libc::SIGINT), "{}", p.log());
}

/// A duration past the clock's range is refused with its location; PID 1
/// boots the other services (and does not panic adding it to the clock).
#[test]
fn as_pid1_an_absurd_duration_rejects_only_that_service() {
    let tree = Tree::new();
    tree.service(
        "absurd",
        "exec sleep 1000",
        "readiness = \"notify\"\nstart_timeout = \"18446744073709551615s\"",
    );
    tree.service("ok", "exec sleep 1000", "");
    let mut p = Pid1::start(tree);
    let mut c = p.tree.client();
    c.wait_state("ok", "running", T, || p.log());
    let names: Vec<String> = c.list().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["ok"]);
    let log = p.tree.initd_log();
    assert!(
        log.contains("absurd.toml:3:") && log.contains("too long: at most 8760h"),
        "{}",
        p.log()
    );
    c.power(PowerAction::Poweroff).unwrap();
    assert_eq!(p.wait_end(), Some(libc::SIGINT), "{}", p.log());
}

/// PID 1 with its signal thread gone (an injected failure) still reaps
/// orphans promptly and still powers off on SIGTERM. Only /proc is read
/// while waiting: nothing wakes initd's loop from outside.
#[test]
fn as_pid1_without_the_signal_thread_orphans_are_still_reaped() {
    let tree = Tree::new();
    tree.service(
        "orphans",
        r#"while [ ! -e "$OUT/go" ]; do sleep 0.02; done
for i in 1 2 3; do
  ( sh -c 'echo $$ >> "$OUT/orphans"; sleep 0.2; echo $$ >> "$OUT/orphans-done"' & )
done
exec sleep 1000"#,
        "",
    );
    let args = tree.args();
    let mut p = Pid1::start_with(tree, args, |cmd| {
        cmd.env("AIOS_INITD_FAULT", "signal-thread");
    });
    let mut c = p.tree.client();
    c.wait_state("orphans", "running", T, || p.log());
    wait_until(
        "the fallback to be logged",
        T,
        || p.log(),
        || {
            p.tree
                .initd_log()
                .contains("reading signals failed: injected fault")
                .then_some(())
        },
    );
    std::fs::write(p.tree.out().join("go"), "").unwrap();
    let done = wait_until(
        "three orphans to finish",
        T,
        || p.log(),
        || {
            let l = p.tree.lines("orphans-done");
            (l.len() == 3).then_some(l)
        },
    );
    let orphans: Vec<u32> = done.iter().map(|l| l.parse().unwrap()).collect();
    wait_until(
        "the orphans to be reaped",
        T,
        || format!("{:?}\n{}", processes_in_namespace_of(p.init), p.log()),
        || {
            let procs = processes_in_namespace_of(p.init);
            let left = procs.iter().any(|(_, n, _)| orphans.contains(n));
            let zombies = procs.iter().any(|(_, _, s)| *s == 'Z');
            (!left && !zombies).then_some(())
        },
    );
    p.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(p.wait_end(), Some(libc::SIGINT), "{}", p.log());
}

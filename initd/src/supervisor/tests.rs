//! The supervisor's rules against a fake clock and fake processes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::spec::{Backoff, RestartPolicy, StartLimit};

/// Fake processes: spawns get increasing pids; every OS call is recorded.
#[derive(Default)]
struct Fake {
    now: Duration,
    next_pid: Pid,
    /// Extra pid -> main pid of the tree it belongs to.
    tree: BTreeMap<Pid, Pid>,
    log: Vec<String>,
    spawn_fails: BTreeSet<String>,
    sockets: BTreeSet<PathBuf>,
}

impl Os for Fake {
    fn now(&self) -> Duration {
        self.now
    }
    fn wall_ms(&self) -> i64 {
        self.now.as_millis() as i64
    }
    fn spawn(&mut self, spec: &ServiceSpec) -> Result<Pid, String> {
        if self.spawn_fails.contains(&spec.name) {
            self.log.push(format!("spawn-fail {}", spec.name));
            return Err("No such file or directory".into());
        }
        self.next_pid += 1;
        let pid = 100 + self.next_pid;
        self.log.push(format!("spawn {}", spec.name));
        Ok(pid)
    }
    fn signal(&mut self, service: &str, _main: Pid, sig: Sig) {
        self.log.push(format!(
            "{} {service}",
            if sig == Sig::Term { "term" } else { "kill" }
        ));
    }
    fn clean_up(&mut self, service: &str, _main: Pid) {
        self.log.push(format!("cleanup {service}"));
    }
    fn in_tree(&self, _service: &str, main_pid: Pid, pid: Pid) -> bool {
        self.tree.get(&pid) == Some(&main_pid)
    }
    fn socket_ready(&mut self, path: &Path) -> bool {
        self.sockets.contains(path)
    }
}

struct H {
    sup: Supervisor<Fake>,
}

impl H {
    fn new(specs: Vec<ServiceSpec>) -> H {
        H {
            sup: Supervisor::new(Fake::default(), specs),
        }
    }
    fn boot(specs: Vec<ServiceSpec>) -> H {
        let mut h = H::new(specs);
        h.sup.boot();
        h
    }
    /// Take the OS calls recorded so far.
    fn calls(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sup.os_mut().log)
    }
    fn advance(&mut self, ms: u64) {
        self.sup.os_mut().now += Duration::from_millis(ms);
        self.sup.tick();
    }
    /// Advance to the next deadline and return how far that was.
    fn run_to_next_deadline(&mut self) -> Duration {
        let at = self.sup.next_deadline().expect("a deadline");
        let d = at - self.sup.os().now;
        self.sup.os_mut().now = at;
        self.sup.tick();
        d
    }
    fn pid(&self, name: &str) -> Pid {
        self.sup.status(name).unwrap().pid.expect("running")
    }
    fn phase(&self, name: &str) -> Phase {
        self.sup.status(name).unwrap().phase
    }
    fn ready(&mut self, name: &str) {
        let pid = self.pid(name);
        assert!(self.sup.on_notify(pid, "READY=1"));
    }
    fn exit(&mut self, name: &str, code: i32) {
        let pid = self.pid(name);
        assert!(self.sup.on_exit(pid, ExitStatus::Code(code)));
    }
}

fn notify(name: &str, requires: &[&str], after: &[&str]) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, &["/bin/x"]);
    s.readiness = Readiness::Notify;
    s.requires = requires.iter().map(|r| r.to_string()).collect();
    s.after = after.iter().map(|r| r.to_string()).collect();
    s
}

fn simple(name: &str, restart: RestartPolicy) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, &["/bin/x"]);
    s.restart = restart;
    s.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    s.start_limit = StartLimit {
        burst: 100,
        interval: Duration::from_secs(10),
    };
    s
}

fn daemon_set() -> Vec<ServiceSpec> {
    vec![
        notify("aiosd", &["memoryd", "toolsd", "gatewayd"], &[]),
        notify("gatewayd", &[], &[]),
        notify("memoryd", &[], &[]),
        notify("toolsd", &[], &[]),
    ]
}

#[test]
fn dependencies_start_first_and_dependents_wait_for_readiness() {
    let mut h = H::boot(daemon_set());
    assert_eq!(
        h.calls(),
        vec!["spawn gatewayd", "spawn memoryd", "spawn toolsd"]
    );
    assert_eq!(h.phase("aiosd"), Phase::Waiting);
    assert_eq!(h.phase("memoryd"), Phase::Starting);
    h.ready("memoryd");
    h.ready("toolsd");
    assert_eq!(
        h.phase("aiosd"),
        Phase::Waiting,
        "gatewayd is not ready yet"
    );
    assert!(h.calls().is_empty());
    h.ready("gatewayd");
    assert_eq!(h.calls(), vec!["spawn aiosd"]);
    assert_eq!(h.phase("aiosd"), Phase::Starting);
    h.ready("aiosd");
    assert_eq!(h.phase("aiosd"), Phase::Running);
}

#[test]
fn after_orders_only_services_that_are_coming_up() {
    let mut a = notify("a", &[], &[]);
    a.enabled = false;
    let mut h = H::boot(vec![a.clone(), notify("b", &[], &["a"])]);
    assert_eq!(
        h.calls(),
        vec!["spawn b"],
        "a is not wanted, so b does not wait for it"
    );

    a.enabled = true;
    let mut h = H::boot(vec![a, notify("b", &[], &["a"])]);
    assert_eq!(h.calls(), vec!["spawn a"]);
    h.ready("a");
    assert_eq!(h.calls(), vec!["spawn b"]);
}

#[test]
fn starting_a_service_starts_what_it_requires() {
    let mut specs = daemon_set();
    for s in &mut specs {
        s.enabled = false;
    }
    let mut h = H::boot(specs);
    assert!(h.calls().is_empty());
    h.sup.start("aiosd").unwrap();
    assert_eq!(
        h.calls(),
        vec!["spawn gatewayd", "spawn memoryd", "spawn toolsd"]
    );
}

#[test]
fn failed_requirement_fails_the_dependent() {
    let mut m = notify("memoryd", &[], &[]);
    m.restart = RestartPolicy::No;
    let mut h = H::boot(vec![m, notify("aiosd", &["memoryd"], &[])]);
    h.calls();
    h.exit("memoryd", 3);
    assert_eq!(h.phase("memoryd"), Phase::Failed);
    let a = h.sup.status("aiosd").unwrap();
    assert_eq!(a.phase, Phase::Failed);
    assert!(
        a.status_text.contains("memoryd failed"),
        "{}",
        a.status_text
    );
    assert_eq!(h.calls(), vec!["cleanup memoryd"]);
}

#[test]
fn restart_backoff_doubles_up_to_the_cap() {
    let mut h = H::boot(vec![simple("s", RestartPolicy::OnFailure)]);
    h.calls();
    let mut delays = Vec::new();
    for _ in 0..6 {
        h.exit("s", 1);
        let crashed = h.sup.os().now;
        assert_eq!(h.phase("s"), Phase::BackingOff);
        // Nothing happens a millisecond before the deadline...
        let at = h.sup.next_deadline().unwrap();
        h.sup.os_mut().now = at - Duration::from_millis(1);
        h.sup.tick();
        assert_eq!(h.phase("s"), Phase::BackingOff);
        // ...and the restart happens exactly at it.
        h.run_to_next_deadline();
        delays.push((h.sup.os().now - crashed).as_millis());
        assert_eq!(h.phase("s"), Phase::Running);
    }
    assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    let st = h.sup.status("s").unwrap();
    assert_eq!(st.restarts, 6);
    assert_eq!(st.runs, 7);
    assert_eq!(st.last_exit, Some(ExitStatus::Code(1)));
}

#[test]
fn a_long_healthy_run_resets_the_backoff() {
    let mut h = H::boot(vec![simple("s", RestartPolicy::OnFailure)]);
    for _ in 0..3 {
        h.exit("s", 1);
        h.run_to_next_deadline();
    }
    h.advance(10_000); // a whole start-limit interval of health
    h.exit("s", 1);
    let at = h.sup.next_deadline().unwrap() - h.sup.os().now;
    assert_eq!(at, Duration::from_millis(100));
}

#[test]
fn restart_policies() {
    let mut h = H::boot(vec![
        simple("no-ok", RestartPolicy::No),
        simple("no-bad", RestartPolicy::No),
        simple("onf-ok", RestartPolicy::OnFailure),
        simple("always-ok", RestartPolicy::Always),
    ]);
    h.exit("no-ok", 0);
    h.exit("no-bad", 2);
    h.exit("onf-ok", 0);
    h.exit("always-ok", 0);
    assert_eq!(h.phase("no-ok"), Phase::Exited);
    assert_eq!(h.phase("no-bad"), Phase::Failed);
    assert_eq!(h.phase("onf-ok"), Phase::Exited);
    assert_eq!(h.phase("always-ok"), Phase::BackingOff);
    let killed = h.sup.status("no-bad").unwrap();
    assert!(
        killed.status_text.contains("exit code 2"),
        "{}",
        killed.status_text
    );
}

#[test]
fn start_limit_puts_the_service_in_failed_until_started_by_hand() {
    let mut s = simple("s", RestartPolicy::Always);
    s.start_limit = StartLimit {
        burst: 3,
        interval: Duration::from_secs(10),
    };
    let mut h = H::boot(vec![s]);
    for _ in 0..2 {
        h.exit("s", 1);
        h.run_to_next_deadline();
        assert_eq!(h.phase("s"), Phase::Running);
    }
    h.exit("s", 1);
    h.run_to_next_deadline();
    let st = h.sup.status("s").unwrap();
    assert_eq!(st.phase, Phase::Failed);
    assert!(
        st.status_text
            .contains("start limit hit: 3 starts within 10s"),
        "{}",
        st.status_text
    );
    assert_eq!(st.runs, 3);
    assert_eq!(st.restarts, 2, "the refused third restart is not counted");
    assert_eq!(h.sup.next_deadline(), None, "nothing more is scheduled");
    h.calls();
    h.sup.start("s").unwrap();
    assert_eq!(h.calls(), vec!["spawn s"]);
    assert_eq!(h.phase("s"), Phase::Running);
}

#[test]
fn start_limit_window_slides() {
    let mut s = simple("s", RestartPolicy::Always);
    s.start_limit = StartLimit {
        burst: 2,
        interval: Duration::from_secs(1),
    };
    s.backoff = Backoff {
        initial: Duration::from_millis(600),
        max: Duration::from_millis(600),
    };
    let mut h = H::boot(vec![s]);
    for _ in 0..5 {
        h.exit("s", 1);
        h.run_to_next_deadline();
        assert_eq!(
            h.phase("s"),
            Phase::Running,
            "starts 600ms apart never exceed 2 per second"
        );
    }
}

#[test]
fn shutdown_stops_in_reverse_dependency_order() {
    let mut h = H::boot(vec![
        notify("a", &[], &[]),
        notify("b", &["a"], &[]),
        notify("c", &["b"], &[]),
        notify("d", &[], &["a"]),
    ]);
    h.ready("a");
    h.ready("b");
    h.ready("c");
    h.ready("d");
    h.calls();
    h.sup.begin_shutdown();
    assert_eq!(h.calls(), vec!["term c", "term d"]);
    h.exit("c", 0);
    assert_eq!(h.calls(), vec!["cleanup c", "term b"]);
    h.exit("b", 0);
    assert_eq!(
        h.calls(),
        vec!["cleanup b"],
        "d still runs and is ordered after a"
    );
    assert!(!h.sup.halted());
    h.exit("d", 0);
    assert_eq!(h.calls(), vec!["cleanup d", "term a"]);
    h.exit("a", 0);
    assert!(h.sup.halted());
    assert_eq!(h.phase("a"), Phase::Stopped);
    assert!(h.sup.start("a").is_err(), "nothing starts during shutdown");
}

#[test]
fn stop_waits_the_grace_period_then_kills() {
    let mut s = simple("s", RestartPolicy::Always);
    s.stop_timeout = Duration::from_secs(2);
    let mut h = H::boot(vec![s]);
    h.calls();
    h.sup.stop("s").unwrap();
    assert_eq!(h.calls(), vec!["term s"]);
    h.advance(1999);
    assert!(h.calls().is_empty());
    h.advance(1);
    assert_eq!(h.calls(), vec!["kill s"]);
    let pid = h.pid("s");
    h.sup.on_exit(pid, ExitStatus::Signal(9));
    assert_eq!(
        h.phase("s"),
        Phase::Stopped,
        "a requested stop is not restarted"
    );
    assert!(h.sup.reached("s", Goal::Down));
}

#[test]
fn stopping_a_service_stops_what_requires_it_first() {
    let mut h = H::boot(vec![
        notify("a", &[], &[]),
        notify("b", &["a"], &[]),
        notify("c", &[], &["a"]),
    ]);
    h.ready("a");
    h.ready("b");
    h.ready("c");
    h.calls();
    h.sup.stop("a").unwrap();
    assert_eq!(
        h.calls(),
        vec!["term b"],
        "c is only ordered after a and keeps running"
    );
    h.exit("b", 0);
    assert_eq!(h.calls(), vec!["cleanup b", "term a"]);
    h.exit("a", 0);
    assert_eq!(h.phase("c"), Phase::Running);
    assert_eq!(h.phase("b"), Phase::Stopped);
}

#[test]
fn restart_request_restarts_without_backoff() {
    let mut h = H::boot(vec![notify("a", &[], &[])]);
    h.ready("a");
    h.calls();
    let runs = h.sup.status("a").unwrap().runs;
    h.sup.restart("a").unwrap();
    assert_eq!(h.calls(), vec!["term a"]);
    let goal = Goal::Up {
        runs_before: runs,
        fresh: true,
    };
    assert!(!h.sup.reached("a", goal));
    h.exit("a", 0);
    assert_eq!(h.calls(), vec!["cleanup a", "spawn a"]);
    assert!(!h.sup.reached("a", goal), "not ready yet");
    h.ready("a");
    assert!(h.sup.reached("a", goal));
    assert_eq!(
        h.sup.status("a").unwrap().restarts,
        0,
        "only automatic restarts count"
    );
}

#[test]
fn readiness_timeout_fails_the_start_and_restarts() {
    let mut s = notify("s", &[], &[]);
    s.start_timeout = Duration::from_secs(5);
    s.stop_timeout = Duration::from_secs(1);
    let mut h = H::boot(vec![s]);
    h.calls();
    h.advance(5000);
    assert_eq!(h.calls(), vec!["term s"]);
    h.advance(1000);
    assert_eq!(h.calls(), vec!["kill s"]);
    h.exit("s", 137);
    let st = h.sup.status("s").unwrap();
    assert_eq!(st.phase, Phase::BackingOff);
    assert!(
        st.status_text.contains("did not become ready within 5s"),
        "{}",
        st.status_text
    );
}

#[test]
fn exiting_before_ready_is_a_failure() {
    let mut s = notify("s", &[], &[]);
    s.restart = RestartPolicy::OnFailure;
    let mut h = H::boot(vec![s]);
    h.exit("s", 0);
    let st = h.sup.status("s").unwrap();
    assert_eq!(st.phase, Phase::BackingOff);
    assert!(st.status_text.contains("before it was ready"));
}

#[test]
fn notify_is_accepted_only_from_the_service_tree() {
    let mut h = H::boot(vec![notify("s", &[], &[]), notify("t", &[], &[])]);
    let s_pid = h.pid("s");
    assert!(
        !h.sup.on_notify(4242, "READY=1"),
        "a stranger cannot make s ready"
    );
    assert_eq!(h.phase("s"), Phase::Starting);
    h.sup.os_mut().tree.insert(555, s_pid);
    assert!(h.sup.on_notify(555, "STATUS=warming up\nREADY=1\n"));
    let st = h.sup.status("s").unwrap();
    assert_eq!(st.phase, Phase::Running);
    assert_eq!(st.status_text, "warming up");
    assert_eq!(
        h.phase("t"),
        Phase::Starting,
        "only the sender's service is affected"
    );
}

#[test]
fn watchdog_timeout_counts_as_a_failure() {
    let mut s = notify("s", &[], &[]);
    s.watchdog = Some(Duration::from_secs(3));
    let mut h = H::boot(vec![s]);
    h.ready("s");
    h.calls();
    h.advance(2000);
    let pid = h.pid("s");
    h.sup.on_notify(pid, "WATCHDOG=1");
    h.advance(2000);
    assert!(h.calls().is_empty(), "the watchdog was fed");
    h.advance(1001);
    assert_eq!(h.calls(), vec!["term s"]);
    assert!(h.sup.status("s").unwrap().status_text.contains("watchdog"));
}

#[test]
fn socket_readiness_is_probed() {
    let mut s = ServiceSpec::new("s", &["/bin/x"]);
    s.readiness = Readiness::Socket("/run/s.sock".into());
    let mut h = H::boot(vec![s, notify("t", &["s"], &[])]);
    h.calls();
    assert_eq!(h.sup.next_deadline(), Some(SOCKET_PROBE_INTERVAL));
    h.advance(10);
    assert_eq!(h.phase("s"), Phase::Starting);
    h.sup.os_mut().sockets.insert("/run/s.sock".into());
    h.advance(10);
    assert_eq!(h.phase("s"), Phase::Running);
    assert_eq!(h.calls(), vec!["spawn t"]);
}

#[test]
fn spawn_failure_is_a_failed_start_with_backoff_and_limit() {
    let mut s = simple("s", RestartPolicy::OnFailure);
    s.start_limit.burst = 2;
    let mut h = H::new(vec![s]);
    h.sup.os_mut().spawn_fails.insert("s".into());
    h.sup.boot();
    let st = h.sup.status("s").unwrap();
    assert_eq!(st.phase, Phase::BackingOff);
    assert!(
        st.status_text.contains("cannot start: No such file"),
        "{}",
        st.status_text
    );
    h.run_to_next_deadline();
    h.run_to_next_deadline();
    assert_eq!(h.phase("s"), Phase::Failed);
    assert_eq!(h.calls(), vec!["spawn-fail s", "spawn-fail s"]);
}

#[test]
fn unknown_service_and_orphans() {
    let mut h = H::boot(vec![notify("a", &[], &[])]);
    let e = h.sup.start("nope").unwrap_err().to_string();
    assert!(
        e.contains("no service named \"nope\"") && e.contains("known services: a"),
        "{e}"
    );
    assert!(
        !h.sup.on_exit(9999, ExitStatus::Code(0)),
        "an orphan is not a service"
    );
}

#[test]
fn reload_adds_starts_removes_and_stops() {
    let mut h = H::boot(vec![
        simple("a", RestartPolicy::No),
        simple("b", RestartPolicy::No),
    ]);
    h.calls();
    let mut a2 = simple("a", RestartPolicy::No);
    a2.command = vec!["/bin/new".into()];
    h.sup.reload(vec![a2, simple("c", RestartPolicy::No)]);
    assert_eq!(h.calls(), vec!["spawn c", "term b"]);
    assert!(
        h.sup.status("b").is_some(),
        "b stays listed until it has stopped"
    );
    h.exit("b", 0);
    assert!(h.sup.status("b").is_none());
    assert_eq!(h.sup.spec("a").unwrap().command[0], "/bin/new");
    assert_eq!(
        h.sup
            .list()
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        vec!["a", "c"]
    );
}

#[test]
fn enable_and_disable_change_boot_behaviour_only() {
    let mut h = H::boot(vec![simple("a", RestartPolicy::No)]);
    h.sup.set_enabled("a", false).unwrap();
    let st = h.sup.status("a").unwrap();
    assert!(!st.enabled);
    assert_eq!(st.phase, Phase::Running);
}

#[test]
fn initial_statuses_match_a_fresh_supervisor() {
    let specs = daemon_set();
    let h = H::new(specs.clone());
    assert_eq!(initial_statuses(&specs, 0), h.sup.list());
}

#[test]
fn backoff_delay_is_capped_and_does_not_overflow() {
    let i = Duration::from_millis(100);
    let m = Duration::from_secs(30);
    assert_eq!(backoff_delay(i, m, 1), i);
    assert_eq!(backoff_delay(i, m, 3), Duration::from_millis(400));
    assert_eq!(backoff_delay(i, m, 64), m);
    assert_eq!(backoff_delay(Duration::ZERO, m, 10), Duration::ZERO);
}

fn oneshot(name: &str, restart: RestartPolicy) -> ServiceSpec {
    let mut s = simple(name, restart);
    s.readiness = Readiness::Exit;
    s
}

#[test]
fn oneshot_is_ready_when_it_exits_zero_and_then_stays_done() {
    let mut h = H::boot(vec![
        oneshot("setup", RestartPolicy::No),
        notify("memoryd", &["setup"], &[]),
        notify("toolsd", &[], &["setup"]),
    ]);
    assert_eq!(h.calls(), vec!["spawn setup"]);
    assert_eq!(h.phase("setup"), Phase::Starting);
    assert_eq!(h.phase("memoryd"), Phase::Waiting);
    assert_eq!(h.phase("toolsd"), Phase::Waiting, "after waits too");
    // READY=1 does not make a oneshot ready: only its exit does.
    let pid = h.pid("setup");
    assert!(h.sup.on_notify(pid, "READY=1"));
    assert_eq!(h.phase("setup"), Phase::Starting);
    assert!(h.calls().is_empty());

    h.exit("setup", 0);
    assert_eq!(
        h.calls(),
        vec!["cleanup setup", "spawn memoryd", "spawn toolsd"]
    );
    let st = h.sup.status("setup").unwrap();
    assert_eq!(st.phase, Phase::Exited);
    assert_eq!(st.phase.api_name(), "exited");
    assert_eq!(st.last_exit, Some(ExitStatus::Code(0)));
    assert_eq!(st.pid, None);
    assert!(
        h.sup.reached(
            "setup",
            Goal::Up {
                runs_before: 0,
                fresh: true
            }
        ),
        "a start request answers once the oneshot is done"
    );

    // Nothing brings it back: no deadline, no respawn, and a dependent
    // started by hand later does not rerun it.
    h.ready("memoryd");
    h.advance(60_000);
    assert!(h.calls().is_empty());
    h.sup.stop("memoryd").unwrap();
    h.exit("memoryd", 0);
    h.calls();
    h.sup.start("memoryd").unwrap();
    assert_eq!(h.calls(), vec!["spawn memoryd"]);
    assert_eq!(h.phase("setup"), Phase::Exited);
    assert_eq!(h.sup.status("setup").unwrap().runs, 1);

    // Starting the oneshot itself by hand runs it again.
    h.sup.start("setup").unwrap();
    assert_eq!(h.calls(), vec!["spawn setup"]);
    assert_eq!(h.phase("setup"), Phase::Starting);
}

#[test]
fn oneshot_failure_is_a_failed_start_and_its_dependents_never_start() {
    for status in [ExitStatus::Code(1), ExitStatus::Signal(9)] {
        let mut h = H::boot(vec![
            oneshot("setup", RestartPolicy::No),
            notify("memoryd", &["setup"], &[]),
        ]);
        h.calls();
        let pid = h.pid("setup");
        assert!(h.sup.on_exit(pid, status));
        let st = h.sup.status("setup").unwrap();
        assert_eq!(st.phase, Phase::Failed, "{status}");
        assert!(
            st.status_text
                .contains(&format!("exited before it was ready ({status})")),
            "{}",
            st.status_text
        );
        let m = h.sup.status("memoryd").unwrap();
        assert_eq!(m.phase, Phase::Failed);
        assert!(m.status_text.contains("setup failed"), "{}", m.status_text);
        assert_eq!(h.calls(), vec!["cleanup setup"], "memoryd never spawned");
        assert_eq!(h.sup.next_deadline(), None);
    }
}

#[test]
fn failed_oneshot_is_retried_with_backoff_then_its_success_releases_dependents() {
    let mut h = H::boot(vec![
        oneshot("setup", RestartPolicy::OnFailure),
        notify("memoryd", &["setup"], &[]),
    ]);
    h.calls();
    h.exit("setup", 1);
    assert_eq!(h.phase("setup"), Phase::BackingOff);
    assert_eq!(h.phase("memoryd"), Phase::Waiting);
    assert_eq!(h.run_to_next_deadline(), Duration::from_millis(100));
    h.exit("setup", 1);
    assert_eq!(h.run_to_next_deadline(), Duration::from_millis(200));
    assert_eq!(
        h.calls(),
        vec![
            "cleanup setup",
            "spawn setup",
            "cleanup setup",
            "spawn setup"
        ]
    );
    h.exit("setup", 0);
    assert_eq!(h.calls(), vec!["cleanup setup", "spawn memoryd"]);
    let st = h.sup.status("setup").unwrap();
    assert_eq!((st.phase, st.runs, st.restarts), (Phase::Exited, 3, 2));
}

#[test]
fn failing_oneshot_hits_the_start_limit() {
    let mut s = oneshot("setup", RestartPolicy::OnFailure);
    s.start_limit.burst = 2;
    let mut h = H::boot(vec![s, notify("memoryd", &["setup"], &[])]);
    h.exit("setup", 1);
    h.run_to_next_deadline();
    h.exit("setup", 1);
    h.run_to_next_deadline();
    assert_eq!(h.phase("setup"), Phase::Failed);
    assert_eq!(h.phase("memoryd"), Phase::Failed);
}

#[test]
fn oneshot_start_timeout_bounds_the_whole_run() {
    let mut s = oneshot("setup", RestartPolicy::No);
    s.start_timeout = Duration::from_secs(30);
    s.stop_timeout = Duration::from_secs(1);
    let mut h = H::boot(vec![s, notify("memoryd", &["setup"], &[])]);
    h.calls();
    assert_eq!(h.sup.next_deadline(), Some(Duration::from_secs(30)));
    h.advance(30_000);
    assert_eq!(h.calls(), vec!["term setup"]);
    // Even a clean exit after the timeout is a failed start.
    h.exit("setup", 0);
    let st = h.sup.status("setup").unwrap();
    assert_eq!(st.phase, Phase::Failed);
    assert!(
        st.status_text.contains("did not become ready within 30s"),
        "{}",
        st.status_text
    );
    assert_eq!(h.phase("memoryd"), Phase::Failed);
}

#[test]
fn oneshot_success_is_final_even_with_restart_always() {
    // The manifest refuses this combination; a spec built in code still
    // gets the oneshot rule rather than a restart loop.
    let mut h = H::boot(vec![oneshot("setup", RestartPolicy::Always)]);
    h.exit("setup", 0);
    assert_eq!(h.phase("setup"), Phase::Exited);
    assert_eq!(h.sup.next_deadline(), None);
}

#[test]
fn zero_burst_never_gives_up_and_keeps_backing_off() {
    let mut s = simple("getty", RestartPolicy::Always);
    s.start_limit = StartLimit {
        burst: 0,
        interval: Duration::from_secs(60),
    };
    s.backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(10),
    };
    let mut h = H::boot(vec![s]);
    let mut delays = Vec::new();
    for _ in 0..200 {
        h.exit("getty", 1);
        delays.push(h.run_to_next_deadline().as_secs());
        assert_eq!(h.phase("getty"), Phase::Running);
    }
    assert_eq!(delays[..6], [1, 2, 4, 8, 10, 10]);
    assert!(delays[6..].iter().all(|d| *d == 10));
    assert_eq!(h.sup.status("getty").unwrap().runs, 201);
    // A healthy run (a whole interval) still resets the backoff.
    h.advance(60_000);
    h.exit("getty", 0);
    assert_eq!(h.run_to_next_deadline(), Duration::from_secs(1));
}

mod deadlines;

//! The event loop that drives the supervisor: one thread, one closed enum
//! of events ([`Event`]) arriving on one channel from the signal thread,
//! the notify-socket thread and the control API. Children are reaped here,
//! on the thread that spawns them. Between events the loop sleeps until the
//! supervisor's next deadline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aios_proto::{PowerAction, ServiceVerb};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};

use crate::manifest;
use crate::spec::ServiceSpec;
use crate::supervisor::{ControlError, ExitStatus, Goal, Os, Phase, ServiceStatus, Supervisor};
use crate::sys::notify::Datagram;
use crate::sys::pid1::Halt;
use crate::sys::{Mode, RealOs};

/// How long a control request waits for its service to settle.
pub const CONTROL_WAIT: Duration = Duration::from_secs(50);

/// The longest the loop sleeps with nothing due.
const IDLE_WAKEUP: Duration = Duration::from_secs(3600);

/// Without the signal thread, how often the loop looks for exited children
/// and pending signals.
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// A handled signal arrived.
    Signal(Signal),
    /// A notify datagram arrived.
    Notify(Datagram),
    /// A control API request.
    Control(ControlRequest),
    /// The signal thread ended (why): from now on the loop takes pending
    /// signals itself and reaps every [`SIGNAL_POLL`].
    SignalsLost(String),
}

/// What a control request asks for.
#[derive(Debug, Clone)]
pub enum ControlOp {
    /// A lifecycle verb on one service.
    Act {
        /// Service name.
        name: String,
        /// The verb.
        verb: ServiceVerb,
    },
    /// Power off or reboot (or end a user-mode supervisor).
    Power(PowerAction),
}

/// The answer to a control request.
pub type ControlReply = Result<Option<ServiceStatus>, ControlError>;

/// A control request and where to answer.
#[derive(Debug)]
pub struct ControlRequest {
    /// The operation.
    pub op: ControlOp,
    /// The answer channel.
    pub reply: tokio::sync::oneshot::Sender<ControlReply>,
}

/// State shared with the control API without going through the loop.
#[derive(Debug, Default)]
pub struct Shared {
    /// The latest snapshot of every service.
    pub services: RwLock<Vec<ServiceStatus>>,
}

impl Shared {
    /// A copy of the snapshot.
    pub fn snapshot(&self) -> Vec<ServiceStatus> {
        self.services
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// `enabled` choices made through the control API, persisted so they
/// survive a restart of the supervisor or the machine.
#[derive(Debug, Default)]
pub struct EnabledOverrides {
    path: Option<PathBuf>,
    map: BTreeMap<String, bool>,
}

#[derive(serde::Deserialize, Default)]
struct OverridesFile {
    #[serde(default)]
    enabled: BTreeMap<String, bool>,
}

impl EnabledOverrides {
    /// Load from `path` (missing or unreadable: no overrides, logged).
    pub fn load(path: Option<PathBuf>) -> EnabledOverrides {
        let map = path
            .as_ref()
            .and_then(|p| match std::fs::read_to_string(p) {
                Ok(t) => match toml::from_str::<OverridesFile>(&t) {
                    Ok(f) => Some(f.enabled),
                    Err(e) => {
                        tracing::warn!("ignoring {}: {e}", p.display());
                        None
                    }
                },
                Err(_) => None,
            })
            .unwrap_or_default();
        EnabledOverrides { path, map }
    }

    fn set(&mut self, name: &str, enabled: bool) {
        self.map.insert(name.to_string(), enabled);
        let Some(path) = &self.path else { return };
        let mut text = String::from(
            "# Written by initd: services enabled or disabled through the control API.\n[enabled]\n",
        );
        for (k, v) in &self.map {
            text.push_str(&format!("{k} = {v}\n"));
        }
        let written = path
            .parent()
            .map_or(Ok(()), |d| crate::sys::files::create_dirs(d, 0o755))
            .and_then(|()| crate::sys::files::replace_file(path, text.as_bytes(), 0o644));
        if let Err(e) = written {
            tracing::warn!(
                "cannot save {}: {e}; the change lasts until initd restarts",
                path.display()
            );
        }
    }

    fn apply(&self, sup: &mut Supervisor<RealOs>) {
        for (name, enabled) in &self.map {
            let _ = sup.set_enabled(name, *enabled);
        }
    }
}

struct Waiter {
    name: String,
    goal: Goal,
    deadline: Instant,
    reply: tokio::sync::oneshot::Sender<ControlReply>,
}

/// The loop's settings.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// System (PID 1) or user mode.
    pub mode: Mode,
    /// Where manifests live (reloaded on SIGHUP; a reload with any error
    /// is refused as a whole).
    pub services_dir: PathBuf,
    /// `$NOTIFY_SOCKET` of initd's own supervisor, told `READY=1` once the
    /// boot set has settled.
    pub parent_notify: Option<String>,
}

/// The event loop.
pub struct EventLoop {
    sup: Supervisor<RealOs>,
    rx: Receiver<Event>,
    shared: Arc<Shared>,
    waiters: Vec<Waiter>,
    halt: Option<Halt>,
    overrides: EnabledOverrides,
    config: LoopConfig,
    announced: bool,
    /// The signal thread is gone: poll for signals and children.
    poll_signals: bool,
}

impl EventLoop {
    /// A loop over `sup`, fed by `rx`.
    pub fn new(
        sup: Supervisor<RealOs>,
        rx: Receiver<Event>,
        shared: Arc<Shared>,
        overrides: EnabledOverrides,
        config: LoopConfig,
    ) -> EventLoop {
        let mut this = EventLoop {
            sup,
            rx,
            shared,
            waiters: Vec::new(),
            halt: None,
            overrides,
            config,
            announced: false,
            poll_signals: false,
        };
        this.overrides.apply(&mut this.sup);
        this.publish();
        this
    }

    /// Start the enabled services and run until shutdown has completed.
    /// Returns what to do with the machine.
    pub fn run(&mut self) -> Halt {
        self.sup.boot();
        self.after_event();
        loop {
            let now = self.sup.os().now();
            let mut timeout = self
                .sup
                .next_deadline()
                .map(|d| d.saturating_sub(now))
                .unwrap_or(IDLE_WAKEUP)
                .min(IDLE_WAKEUP);
            if let Some(w) = self.waiters.iter().map(|w| w.deadline).min() {
                timeout = timeout.min(w.saturating_duration_since(Instant::now()));
            }
            if self.poll_signals {
                timeout = timeout.min(SIGNAL_POLL);
            }
            match self.rx.recv_timeout(timeout) {
                Ok(ev) => self.handle(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Every sender is gone (cannot happen while the signal
                    // thread lives); keep running on timers alone.
                    std::thread::sleep(timeout.min(Duration::from_millis(100)));
                }
            }
            // Drain anything else already queued before ticking.
            while let Ok(ev) = self.rx.try_recv() {
                self.handle(ev);
            }
            self.take_pending_signals();
            self.reap();
            self.sup.tick();
            self.after_event();
            if self.sup.halted() {
                for w in self.waiters.drain(..) {
                    let _ = w.reply.send(Ok(self.sup.status(&w.name)));
                }
                return self.halt.unwrap_or(Halt::Poweroff);
            }
        }
    }

    /// After the services have stopped (PID 1): SIGTERM to every process
    /// left, then SIGKILL after `grace`, reaping as they go.
    pub fn kill_everything(&mut self, grace: Duration) {
        let all = nix::unistd::Pid::from_raw(-1);
        let _ = nix::sys::signal::kill(all, Signal::SIGTERM);
        if !self.wait_no_children(grace) {
            tracing::warn!("processes left after {grace:?}; killing them");
            let _ = nix::sys::signal::kill(all, Signal::SIGKILL);
            self.wait_no_children(Duration::from_secs(5));
        }
    }

    /// After a panic of `initd --user` (the supervisor's state is not
    /// trusted any more): SIGTERM every service process it knows, SIGKILL
    /// what is left after `grace`, reaping as they go. A service started
    /// by the user supervisor also dies with it (`PR_SET_PDEATHSIG`); this
    /// gives it its stop signal first and the supervisor's own exit last.
    pub fn abort_services(&mut self, grace: Duration) {
        let known: Vec<(String, u32)> = self
            .sup
            .list()
            .into_iter()
            .filter_map(|s| s.pid.map(|p| (s.name, p)))
            .collect();
        for (name, pid) in &known {
            self.sup
                .os_mut()
                .signal(name, *pid, crate::supervisor::Sig::Term);
        }
        if !self.wait_no_children(grace) {
            tracing::warn!("services left after {grace:?}; killing them");
            for (name, pid) in &known {
                self.sup
                    .os_mut()
                    .signal(name, *pid, crate::supervisor::Sig::Kill);
            }
            self.wait_no_children(Duration::from_secs(5));
        }
    }

    /// Reap until there is no child left, or `limit` passes. Returns
    /// whether none is left.
    fn wait_no_children(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now().checked_add(limit);
        loop {
            if !self.reap() {
                return true;
            }
            let left = deadline.map_or(limit, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return false;
            }
            // SIGCHLD arrives as an event; the cap covers a coalesced one
            // (and a signal thread that is gone).
            let _ = self.rx.recv_timeout(left.min(SIGNAL_POLL));
        }
    }

    /// Without the signal thread, handle the signals waiting for it.
    fn take_pending_signals(&mut self) {
        if !self.poll_signals {
            return;
        }
        while let Some(sig) = crate::sys::signals::take_pending() {
            self.on_signal(sig);
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Signal(sig) => self.on_signal(sig),
            Event::Notify(d) => {
                self.sup.on_notify(d.pid, &d.text);
                // Closing a barrier's descriptors (by dropping `d`) tells
                // the sender everything before it has been handled.
                drop(d);
            }
            Event::Control(req) => self.on_control(req),
            Event::SignalsLost(why) => {
                if !self.poll_signals {
                    tracing::error!(
                        "{why}; taking signals and reaping children every {} ms instead",
                        SIGNAL_POLL.as_millis()
                    );
                }
                self.poll_signals = true;
            }
        }
    }

    fn on_signal(&mut self, sig: Signal) {
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGHUP => self.reload(),
            Signal::SIGINT if self.config.mode == Mode::System => {
                self.shutdown(Halt::Reboot, "SIGINT (Ctrl-Alt-Del)")
            }
            // SIGQUIT ends only a user-mode supervisor (Ctrl-\ in a terminal).
            Signal::SIGQUIT if self.config.mode == Mode::System => {}
            // busybox `halt` (SIGUSR1) and `poweroff` (SIGUSR2) as PID 1.
            Signal::SIGUSR1 | Signal::SIGUSR2 if self.config.mode == Mode::System => {
                self.shutdown(Halt::Poweroff, sig.as_str())
            }
            Signal::SIGTERM | Signal::SIGPWR | Signal::SIGINT | Signal::SIGQUIT => {
                self.shutdown(Halt::Poweroff, sig.as_str())
            }
            _ => {}
        }
    }

    fn shutdown(&mut self, how: Halt, why: &str) {
        if self.halt.is_none() {
            tracing::info!("{why}: shutting down ({how:?})");
            self.halt = Some(how);
        }
        self.sup.begin_shutdown();
    }

    fn reload(&mut self) {
        if crate::sys::fault::armed(crate::sys::fault::Fault::PanicOnReload) {
            panic!(
                "injected fault ({}=panic-on-reload)",
                crate::sys::fault::ENV
            );
        }
        tracing::info!(
            "reloading manifests from {}",
            self.config.services_dir.display()
        );
        let report = manifest::load_dir(&self.config.services_dir);
        for e in &report.errors {
            tracing::error!("{e}");
        }
        // A typo must not stop a running service: any error refuses the
        // whole reload (at boot, by contrast, valid services still start).
        if !report.errors.is_empty() {
            tracing::error!("reload refused: fix the errors above, then send SIGHUP again");
            return;
        }
        self.sup.reload(report.specs);
        self.overrides.apply(&mut self.sup);
    }

    fn on_control(&mut self, req: ControlRequest) {
        let ControlRequest { op, reply } = req;
        let (name, verb) = match op {
            ControlOp::Power(action) => {
                let how = match action {
                    PowerAction::Poweroff => Halt::Poweroff,
                    PowerAction::Reboot => Halt::Reboot,
                };
                self.shutdown(how, "control API request");
                let _ = reply.send(Ok(None));
                return;
            }
            ControlOp::Act { name, verb } => (name, verb),
        };
        let runs_before = self.sup.status(&name).map(|s| s.runs).unwrap_or(0);
        let (result, goal) = match verb {
            ServiceVerb::Status => (Ok(()), None),
            ServiceVerb::Start => (
                self.sup.start(&name),
                Some(Goal::Up {
                    runs_before,
                    fresh: false,
                }),
            ),
            ServiceVerb::Stop => (self.sup.stop(&name), Some(Goal::Down)),
            ServiceVerb::Restart => (
                self.sup.restart(&name),
                Some(Goal::Up {
                    runs_before,
                    fresh: true,
                }),
            ),
            ServiceVerb::Enable | ServiceVerb::Disable => {
                let on = verb == ServiceVerb::Enable;
                let r = self.sup.set_enabled(&name, on);
                if r.is_ok() {
                    self.overrides.set(&name, on);
                }
                (r, None)
            }
        };
        if let Err(e) = result {
            let _ = reply.send(Err(e));
            return;
        }
        if self.sup.status(&name).is_none() {
            let _ = reply.send(Err(ControlError::UnknownService {
                name,
                known: String::new(),
            }));
            return;
        }
        match goal {
            Some(goal) if !self.sup.reached(&name, goal) => self.waiters.push(Waiter {
                name,
                goal,
                deadline: Instant::now() + CONTROL_WAIT,
                reply,
            }),
            _ => {
                self.publish();
                let _ = reply.send(Ok(self.sup.status(&name)));
            }
        }
    }

    /// Reap every exited child. Returns whether any child remains.
    fn reap(&mut self) -> bool {
        loop {
            match nix::sys::wait::waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.exited(pid.as_raw(), ExitStatus::Code(code))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exited(pid.as_raw(), ExitStatus::Signal(sig as i32))
                }
                Ok(WaitStatus::StillAlive) => return true,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
    }

    fn exited(&mut self, pid: i32, status: ExitStatus) {
        let Ok(pid) = u32::try_from(pid) else { return };
        if let Some(s) = self.sup.list().into_iter().find(|s| s.pid == Some(pid)) {
            self.sup.os().logs().append(
                &s.name,
                &format!("--- initd: pid {pid} ended with {status}"),
            );
        }
        self.sup.on_exit(pid, status);
    }

    fn after_event(&mut self) {
        // Publish before answering, so a client that reads the snapshot
        // right after its answer sees at least that state.
        self.publish();
        let now = Instant::now();
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            if self.sup.reached(&w.name, w.goal) || w.deadline <= now {
                let w = self.waiters.swap_remove(i);
                let _ = w.reply.send(Ok(self.sup.status(&w.name)));
            } else {
                i += 1;
            }
        }
        if !self.announced && !self.sup.shutting_down() {
            let settled = self
                .sup
                .list()
                .iter()
                .filter(|s| s.enabled)
                .all(|s| matches!(s.phase, Phase::Running | Phase::Exited | Phase::Failed));
            if settled {
                self.announced = true;
                tracing::info!("boot services settled");
                if let Some(sock) = &self.config.parent_notify
                    && let Err(e) = crate::sys::notify::send(sock, "READY=1", false, Duration::ZERO)
                {
                    tracing::warn!("cannot tell our own supervisor we are ready: {e}");
                }
            }
        }
    }

    fn publish(&self) {
        let list = self.sup.list();
        match self.shared.services.write() {
            Ok(mut g) => *g = list,
            Err(p) => *p.into_inner() = list,
        }
    }

    /// The supervisor (for the final cleanup).
    pub fn supervisor(&self) -> &Supervisor<RealOs> {
        &self.sup
    }
}

/// Load manifests for startup: strict mode fails on any error.
pub fn load_services(
    dir: &Path,
    strict: bool,
) -> Result<Vec<ServiceSpec>, Vec<manifest::ManifestError>> {
    let report = manifest::load_dir(dir);
    if strict {
        return report.strict();
    }
    for e in &report.errors {
        tracing::error!("{e}");
    }
    Ok(report.specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_choices_are_saved_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("enabled.toml");
        // Links where the file and a temporary file next to it would go.
        for name in ["enabled.toml", "enabled.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        let mut o = EnabledOverrides::load(Some(path.clone()));
        o.set("web", false);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        let again = EnabledOverrides::load(Some(path));
        assert_eq!(again.map.get("web"), Some(&false));
    }
}

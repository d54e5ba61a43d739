//! Signals as events: the handled signals are blocked in every thread
//! (before any thread exists), and one dedicated thread reads them from a
//! `signalfd`. A blocked signal is never "ignored", so this works for PID 1
//! too, which the kernel otherwise shields from signals without handlers.
//! If that thread ends, the event loop takes pending signals itself
//! ([`take_pending`]) and reaps on a short timer.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;

use super::fault::{self, Fault};

/// The signals initd handles. SIGUSR1/SIGUSR2 are what busybox's `halt`
/// and `poweroff` applets send to init, so a shell's built-in `poweroff`
/// works on the image too.
pub const HANDLED: [Signal; 8] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGPWR,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in HANDLED {
        set.add(s);
    }
    set
}

/// Block the handled signals in the calling thread; threads created
/// afterwards inherit the mask. Call first thing in `main`.
pub fn block_handled() -> nix::Result<()> {
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&handled_set()), None)
}

/// Read handled signals on a dedicated thread and pass each to `sink`,
/// until `sink` returns false. Should the thread end any other way (a read
/// error, a panic), `lost` is called with the reason, so the event loop can
/// fall back to [`take_pending`]: the signals stay blocked, so none is lost
/// meanwhile, only delayed.
pub fn spawn_reader(
    sink: impl Fn(Signal) -> bool + Send + 'static,
    lost: impl FnOnce(String) + Send + 'static,
) -> std::io::Result<()> {
    let fd = SignalFd::new(&handled_set())?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut guard = Lost {
                report: Some(Box::new(lost)),
                reason: "the signal thread panicked".into(),
            };
            if fault::armed(Fault::SignalThread) {
                guard.reason = format!("reading signals failed: injected fault ({})", fault::ENV);
                return;
            }
            loop {
                match fd.read_signal() {
                    Ok(Some(info)) => {
                        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                            continue;
                        };
                        if !sink(sig) {
                            guard.report = None;
                            return;
                        }
                    }
                    Ok(None) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => {
                        guard.reason = format!("reading signals failed: {e}");
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

/// Reports the end of the reader thread when dropped (also by a panic's
/// unwinding), unless the end was asked for.
struct Lost {
    report: Option<Box<dyn FnOnce(String) + Send>>,
    reason: String,
}

impl Drop for Lost {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            report(std::mem::take(&mut self.reason));
        }
    }
}

/// Take one pending handled signal without waiting, if there is one. The
/// fallback when the reader thread is gone: a blocked signal stays pending
/// until someone takes it (a standard signal sent again meanwhile is
/// merged with it, as it would be anyway).
pub fn take_pending() -> Option<Signal> {
    let set = handled_set();
    let no_wait = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` and `no_wait` outlive the call; a null siginfo pointer
    // is allowed. sigtimedwait only dequeues one of the blocked signals.
    let n = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &no_wait) };
    // -1: EAGAIN (none pending) or EINTR (the next poll takes it).
    if n < 0 {
        return None;
    }
    Signal::try_from(n).ok()
}

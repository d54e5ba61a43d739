//! Signals as events: the handled signals are blocked in every thread
//! (before any thread exists), and one dedicated thread reads them from a
//! `signalfd`. A blocked signal is never "ignored", so this works for PID 1
//! too, which the kernel otherwise shields from signals without handlers.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;

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
/// until `sink` returns false.
pub fn spawn_reader(sink: impl Fn(Signal) -> bool + Send + 'static) -> std::io::Result<()> {
    let fd = SignalFd::new(&handled_set())?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                match fd.read_signal() {
                    Ok(Some(info)) => {
                        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                            continue;
                        };
                        if !sink(sig) {
                            return;
                        }
                    }
                    Ok(None) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => {
                        tracing::error!("reading signals failed: {e}");
                        return;
                    }
                }
            }
        })?;
    Ok(())
}

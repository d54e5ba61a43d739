//! The parent's side: fork from a dedicated blocking thread (the child's
//! `PR_SET_PDEATHSIG` is tied to that thread, which lives exactly as long
//! as the run), feed stdin, read capped output, enforce the wall clock and
//! cancellation, then decode the child's report.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::child::{self, ExecPtrs};
use crate::prepare::{self, Prepared};
use crate::report::Decoded;
use crate::{Enforcement, SandboxError, SandboxErrorKind, SandboxOutcome, SandboxSpec};

/// The outer child, as the async side sees it.
struct Started {
    /// The write end of the kill pipe.
    kill: OwnedFd,
}

impl Started {
    /// Ask the outer child to end the run: it SIGKILLs the namespace's
    /// init and exits once the init is reaped, which for a PID namespace
    /// means once every process in it is gone (the waiter then kills the
    /// process group, for runs without a PID namespace). The outer child
    /// itself is not killed: its init would then die only through
    /// `PR_SET_PDEATHSIG`, asynchronously, after the run had returned.
    fn kill(&self) {
        // SAFETY: a one-byte write from a live buffer to a pipe we own; the
        // pipe is otherwise empty, so this never blocks, and a failure
        // (the outer child already gone) needs nothing done.
        unsafe {
            libc::write(self.kill.as_raw_fd(), [1u8].as_ptr().cast(), 1);
        }
    }
}

/// Fork the outer child and wait for it; the calling thread must live
/// until this returns.
fn fork_and_wait(
    prepared: Prepared,
    kill: OwnedFd,
    started: Option<oneshot::Sender<Started>>,
) -> Result<(), SandboxError> {
    let ptrs = ExecPtrs::new(&prepared);
    // SAFETY: the child runs only `child::outer`, which makes system calls
    // on memory prepared before this point and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SandboxError::io("fork", nix::errno::Errno::last()));
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child of the process that
        // built `prepared`.
        unsafe { child::outer(&prepared, &ptrs) }
    }
    // Our copies of the child's pipe ends and the ruleset fd.
    drop(ptrs);
    drop(prepared);
    // Held until this function returns when nobody takes it (the probe):
    // closing the kill pipe's write end would end the run.
    let started_handle = Started { kill };
    if let Some(tx) = started
        && let Err(s) = tx.send(started_handle)
    {
        // Nobody is waiting for the run any more.
        s.kill();
    }
    // Wait for the end without reaping: while the outer child is a zombie
    // its pid, which is also its process group's id, cannot be reused, so
    // killing the group is safe. That kills what the command left behind
    // when there is no PID namespace to do it.
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid siginfo pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            break;
        }
    }
    // SAFETY: kill(-pgid) of our child's own group, its leader not reaped.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    while let Err(nix::errno::Errno::EINTR) =
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None)
    {}
    Ok(())
}

/// Read a pipe to its end, keeping what the shared budget allows.
async fn read_capped(fd: OwnedFd, budget: Arc<AtomicUsize>) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let Ok(mut rx) = pipe::Receiver::from_owned_fd(fd) else {
        return (kept, truncated);
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let take = budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(n))
            })
            .map_or(0, |left| left.min(n));
        kept.extend_from_slice(&buf[..take]);
        if take < n {
            truncated = true;
        }
    }
    (kept, truncated)
}

async fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(mut rx) = pipe::Receiver::from_owned_fd(fd) {
        let _ = rx.read_to_end(&mut out).await;
    }
    out
}

/// Run `spec` in the sandbox. Returns when the whole tree is gone: the
/// command ended, the wall clock ran out (`timed_out`), or `cancel` fired
/// (an error of kind [`SandboxErrorKind::Cancelled`]).
pub async fn run(
    spec: SandboxSpec,
    cancel: CancellationToken,
) -> Result<SandboxOutcome, SandboxError> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.timeout;
    if cancel.is_cancelled() {
        return Err(SandboxError::new(
            SandboxErrorKind::Cancelled,
            "sandbox: cancelled before start",
        ));
    }
    let (prepared, parent, notes) = prepare::prepare(&spec, false)?;
    let (tx, rx) = oneshot::channel();
    let kill = parent.kill;
    let waiter = tokio::task::spawn_blocking(move || fork_and_wait(prepared, kill, Some(tx)));

    let budget = Arc::new(AtomicUsize::new(spec.max_output_bytes));
    let out_task = tokio::spawn(read_capped(parent.stdout, budget.clone()));
    let err_task = tokio::spawn(read_capped(parent.stderr, budget));
    let rep_task = tokio::spawn(read_all(parent.report));
    let stdin_data = spec.stdin.clone().unwrap_or_default();
    let stdin_fd = parent.stdin;
    let in_task = tokio::spawn(async move {
        if let Ok(mut tx) = pipe::Sender::from_owned_fd(stdin_fd) {
            // A command that does not read its input closes the pipe.
            let _ = tx.write_all(&stdin_data).await;
        }
    });

    let join = |r: Result<Result<(), SandboxError>, tokio::task::JoinError>| match r {
        Ok(r) => r,
        Err(e) => Err(SandboxError::io("waiting for the command", e)),
    };
    let started = match rx.await {
        Ok(s) => s,
        // The waiter failed before the fork: it says why.
        Err(_) => {
            join(waiter.await)?;
            return Err(SandboxError::io("fork", "no child was started"));
        }
    };
    tokio::pin!(waiter);
    let mut timed_out = false;
    let mut cancelled = false;
    let waited = tokio::select! {
        r = &mut waiter => r,
        () = tokio::time::sleep_until(deadline) => {
            timed_out = true;
            started.kill();
            (&mut waiter).await
        }
        () = cancel.cancelled() => {
            cancelled = true;
            started.kill();
            (&mut waiter).await
        }
    };
    join(waited)?;
    in_task.abort();

    // The tree is gone, so the pipes reach their end at once; a process
    // that escaped the group (no PID namespace, setsid) may hold them, and
    // is given until the deadline.
    let until = deadline.max(tokio::time::Instant::now());
    let report = tokio::time::timeout_at(until, rep_task).await;
    let out = tokio::time::timeout_at(until, out_task).await;
    let err = tokio::time::timeout_at(until, err_task).await;
    let report = match report {
        Ok(Ok(r)) => r,
        _ => Vec::new(),
    };
    let (stdout, out_cut) = match out {
        Ok(Ok(r)) => r,
        _ => (Vec::new(), true),
    };
    let (stderr, err_cut) = match err {
        Ok(Ok(r)) => r,
        _ => (Vec::new(), true),
    };

    let decoded = Decoded::parse(&report);
    if cancelled {
        return Err(SandboxError::new(
            SandboxErrorKind::Cancelled,
            "sandbox: cancelled; the command's processes were killed",
        ));
    }
    let writable: Vec<String> = spec
        .writable
        .iter()
        .map(|w| w.display().to_string())
        .collect();
    if let Some(e) = decoded.fatal(&spec.argv[0], &writable, &spec.cwd.display().to_string()) {
        return Err(e);
    }
    let hidden: Vec<String> = crate::prepare::hidden_dirs(&spec)
        .iter()
        .map(|h| h.display().to_string())
        .collect();
    let enforcement = decoded.enforcement(spec.network, &hidden, &notes);
    let (exit_code, signal) = match decoded.status() {
        Some(st) if libc::WIFEXITED(st) => (Some(libc::WEXITSTATUS(st)), None),
        Some(st) if libc::WIFSIGNALED(st) => (None, Some(libc::WTERMSIG(st))),
        _ => (None, Some(libc::SIGKILL)),
    };
    Ok(SandboxOutcome {
        exit_code,
        signal,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        output_truncated: out_cut || err_cut,
        timed_out,
        duration: start.elapsed(),
        enforcement,
    })
}

/// What this host enforces: the whole setup is done once in a child that
/// exits right before it would execute anything, and the answer cached.
/// As root the probe runs as `nobody` (65534), as a run for an ordinary
/// user would.
pub fn probe() -> Enforcement {
    static PROBE: OnceLock<Enforcement> = OnceLock::new();
    PROBE.get_or_init(probe_now).clone()
}

fn probe_now() -> Enforcement {
    let failed = |why: String| Enforcement {
        missing: vec![format!("the sandbox could not be probed: {why}")],
        ..Enforcement::default()
    };
    let euid = nix::unistd::geteuid().as_raw();
    let mut spec = if euid == 0 {
        SandboxSpec::new(vec!["/bin/true".into()], 65534, 65534)
    } else {
        let mut s = SandboxSpec::new(
            vec!["/bin/true".into()],
            euid,
            nix::unistd::getegid().as_raw(),
        );
        s.groups = nix::unistd::getgroups()
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        s
    };
    spec.cwd = "/".into();
    let (prepared, parent, notes) = match prepare::prepare(&spec, true) {
        Ok(p) => p,
        Err(e) => return failed(e.to_string()),
    };
    // The probe's child only writes a few records, far under the pipe's
    // buffer, so it can be read after the child is gone.
    let waited = std::thread::scope(|s| {
        s.spawn(|| fork_and_wait(prepared, parent.kill, None))
            .join()
            .unwrap_or_else(|_| Err(SandboxError::io("probe", "the probing thread panicked")))
    });
    if let Err(e) = waited {
        return failed(e.to_string());
    }
    drop(parent.stdin);
    let mut bytes = Vec::new();
    let mut f = std::fs::File::from(parent.report);
    if let Err(e) = std::io::Read::read_to_end(&mut f, &mut bytes) {
        return failed(format!("reading the report: {e}"));
    }
    let decoded = Decoded::parse(&bytes);
    if let Some(e) = decoded.fatal("/bin/true", &[], "/") {
        return failed(e.to_string());
    }
    decoded.enforcement(false, &[], &notes)
}

//! Calls kept waiting for their user after the orchestrator's stream to
//! them closed (issue 10 §7: a pending approval survives an aiosd
//! restart).
//!
//! A call that waits for a human does not need the orchestrator to wait:
//! the question is registered in [`crate::approvals`] and the answer comes
//! from the user's own connection. So when the Execute stream closes while
//! a call waits, the call goes on waiting (until its approval timeout, not
//! longer) and its events go into a channel kept here instead. The
//! orchestrator, back after a restart, lists the session's kept calls and
//! re-attaches to each: it reads the approval request again (queued first
//! when the call was kept), then whatever the call did after.
//!
//! A call is kept only when the process that asked for it died (the
//! kernel says so through a pidfd of the peer pid `SO_PEERCRED` gave):
//! an orchestrator that is alive and closed the stream stopped waiting on
//! purpose (the user interrupted the turn), and the call is withdrawn as
//! before. A reused pid can only make toolsd withdraw a call it could
//! have kept, never keep one it should have withdrawn.
//!
//! What is kept is bound to (uid, session, call id, call hash): only a
//! caller acting for that uid (itself, or a daemon speaking for it, see
//! [`crate::authorize::run_as`]) lists or follows it. Following a call
//! grants nothing: the approval still has to name the exact hash and
//! arrive from the session's user, never from a planner's process
//! ([`crate::planners`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aios_proto::PendingCall;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::pipeline::{EventRx, Events};

/// Most calls kept at once; past it the oldest expired ones go first, and
/// a call that cannot be kept ends as it did before (withdrawn).
const MAX_KEPT: usize = 4096;

/// How long a kept call's events stay after it stopped waiting, for an
/// orchestrator that re-attaches late to read its end.
const LINGER: Duration = Duration::from_secs(10 * 60);

/// One kept call.
struct Kept {
    uid: u32,
    tool: String,
    call_hash: String,
    /// When its approval times out.
    expires: Instant,
    expires_unix_ms: i64,
    /// Still waiting for its approval (listed as pending).
    waiting: bool,
    /// Its events since it was kept; `None` once someone re-attached.
    rx: Option<EventRx>,
    /// The process that re-attached, as the kernel named it.
    follower: Option<u32>,
    /// Dropped from the table after this.
    keep_until: Instant,
}

/// What a call waiting for its user is kept as.
#[derive(Debug, Clone)]
pub(crate) struct Keep {
    pub session_id: String,
    pub call_id: String,
    pub uid: u32,
    pub tool: String,
    pub call_hash: String,
    /// When its approval times out.
    pub expires: Instant,
}

/// The kept calls, by (session, call id).
#[derive(Default)]
pub(crate) struct Parked {
    kept: Mutex<HashMap<(String, String), Kept>>,
}

impl std::fmt::Debug for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parked")
            .field("kept", &self.lock().len())
            .finish()
    }
}

impl Parked {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Kept>> {
        // Every mutation is one insert, update or remove: a poisoned lock
        // still holds a consistent map.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep a call: the returned sender replaces its closed stream, and
    /// what it sends waits here for a re-attach. `None` when the table is
    /// full of calls that still wait.
    pub fn keep(&self, k: Keep) -> Option<Events> {
        let now = Instant::now();
        let mut kept = self.lock();
        kept.retain(|_, c| c.keep_until > now);
        if kept.len() >= MAX_KEPT {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let until_ms =
            i64::try_from(k.expires.saturating_duration_since(now).as_millis()).unwrap_or(i64::MAX);
        kept.insert(
            (k.session_id, k.call_id),
            Kept {
                uid: k.uid,
                tool: k.tool,
                call_hash: k.call_hash,
                expires: k.expires,
                expires_unix_ms: aios_proto::now_unix_ms().saturating_add(until_ms),
                waiting: true,
                rx: Some(rx),
                follower: None,
                keep_until: k.expires + LINGER,
            },
        );
        Some(tx)
    }

    /// The call stopped waiting for its approval (answered, expired or
    /// withdrawn): it is no longer listed, and its end stays readable for
    /// a while.
    pub fn settled(&self, session_id: &str, call_id: &str) {
        let key = (session_id.to_string(), call_id.to_string());
        if let Some(c) = self.lock().get_mut(&key) {
            c.waiting = false;
            c.keep_until = Instant::now() + LINGER;
        }
    }

    /// The calls of `session_id` acting for `uid` that still wait for
    /// their approval, oldest deadline first.
    pub fn pending(&self, session_id: &str, uid: u32) -> Vec<PendingCall> {
        let now = Instant::now();
        let kept = self.lock();
        let mut found: Vec<(Instant, PendingCall)> = kept
            .iter()
            .filter(|((sid, _), c)| {
                sid == session_id && c.uid == uid && c.waiting && c.expires > now
            })
            .map(|((_, call_id), c)| {
                (
                    c.expires,
                    PendingCall {
                        call_id: call_id.clone(),
                        tool: c.tool.clone(),
                        call_hash: c.call_hash.clone(),
                        expires_unix_ms: c.expires_unix_ms,
                    },
                )
            })
            .collect();
        found.sort_by_key(|(t, _)| *t);
        found.into_iter().map(|(_, c)| c).collect()
    }

    /// Follow a kept call of `uid`: its events so far and from now on.
    /// Once: a second re-attach finds nothing until the call is kept again
    /// (its follower went away too).
    pub fn follow(
        &self,
        session_id: &str,
        call_id: &str,
        uid: u32,
        pid: Option<u32>,
    ) -> Result<EventRx, String> {
        let key = (session_id.to_string(), call_id.to_string());
        let mut kept = self.lock();
        let missing = || {
            format!(
                "no call {call_id} of session {session_id} is kept for uid {uid} (it ended and its \
                 result was read, it expired, or another client follows it)"
            )
        };
        let c = kept.get_mut(&key).ok_or_else(missing)?;
        if c.uid != uid {
            return Err(missing());
        }
        let rx = c.rx.take().ok_or_else(missing)?;
        c.follower = pid;
        Ok(rx)
    }

    /// The process that re-attached to a kept call, if the kernel named
    /// one: the one whose death lets the call be kept again.
    pub fn follower(&self, session_id: &str, call_id: &str) -> Option<u32> {
        let key = (session_id.to_string(), call_id.to_string());
        self.lock().get(&key).and_then(|c| c.follower)
    }

    /// The session ended: its kept calls go (their approvals were
    /// withdrawn with it).
    pub fn end_session(&self, session_id: &str) {
        self.lock().retain(|(sid, _), _| sid != session_id);
    }
}

/// How long toolsd waits, after a stream closed, for the process that
/// held it to finish dying: the kernel closes a dying process's sockets
/// before it reports the process ended.
pub(crate) const DEATH_GRACE: Duration = Duration::from_secs(1);

/// Whether process `pid` has ended, or ends within `within`. `false` when
/// it lives on, or when the kernel cannot watch it.
pub(crate) async fn ended_within(pid: u32, within: Duration) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: pidfd_open takes a pid and flags and returns a new file
    // descriptor or -1; it reads and writes no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
    if fd < 0 {
        // No such process: it ended (and was reaped).
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    let Ok(fd) = i32::try_from(fd) else {
        return false;
    };
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody
    // else; OwnedFd closes it once.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: an OwnedFd's descriptor is valid and open until the OwnedFd
    // drops, and `as_raw_fd` always returns that same descriptor; the
    // AsyncFd owns it, so it stays open for the AsyncFd's whole life.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    };
    let Ok(watch) = registered else {
        return false;
    };
    // A pidfd becomes readable when its process ends.
    matches!(
        tokio::time::timeout(within, watch.readable()).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(call: &str, uid: u32, secs: u64) -> Keep {
        Keep {
            session_id: "s1".into(),
            call_id: call.into(),
            uid,
            tool: "fs.write".into(),
            call_hash: format!("h-{call}"),
            expires: Instant::now() + Duration::from_secs(secs),
        }
    }

    #[tokio::test]
    async fn a_kept_call_is_listed_and_followed_only_for_its_uid() {
        let p = Parked::default();
        let tx = p.keep(keep("c1", 1000, 60)).unwrap();
        tx.send(Ok(aios_proto::ExecuteEvent::Output("queued".into())))
            .unwrap();
        assert!(p.pending("s1", 1001).is_empty(), "another uid sees nothing");
        assert!(p.pending("s2", 1000).is_empty(), "another session neither");
        let listed = p.pending("s1", 1000);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].call_hash, "h-c1");
        assert!(p.follow("s1", "c1", 1001, None).is_err());
        let mut rx = p.follow("s1", "c1", 1000, Some(7)).unwrap();
        assert!(
            matches!(rx.recv().await, Some(Ok(aios_proto::ExecuteEvent::Output(s))) if s == "queued")
        );
        assert_eq!(p.follower("s1", "c1"), Some(7));
        // Followed once: nobody else reads its events.
        assert!(p.follow("s1", "c1", 1000, Some(7)).is_err());
        p.settled("s1", "c1");
        assert!(
            p.pending("s1", 1000).is_empty(),
            "answered: no longer pending"
        );
    }

    #[tokio::test]
    async fn a_living_process_is_told_from_an_ended_one() {
        assert!(!ended_within(std::process::id(), Duration::from_millis(50)).await);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Ended, not yet reaped (a zombie), then reaped: both count.
        assert!(ended_within(pid, Duration::from_secs(5)).await);
        child.wait().unwrap();
        assert!(ended_within(pid, Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn an_expired_call_is_not_listed_and_an_ended_session_keeps_nothing() {
        let p = Parked::default();
        let _tx = p.keep(keep("old", 1000, 0)).unwrap();
        let _tx2 = p.keep(keep("new", 1000, 60)).unwrap();
        let ids: Vec<String> = p
            .pending("s1", 1000)
            .into_iter()
            .map(|c| c.call_id)
            .collect();
        assert_eq!(ids, ["new"]);
        p.end_session("s1");
        assert!(p.pending("s1", 1000).is_empty());
        assert!(p.follow("s1", "new", 1000, None).is_err());
    }
}

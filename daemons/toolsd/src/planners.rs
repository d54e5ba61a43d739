//! Which processes act as the planner, so that no approval is heard from
//! one (issue #8 §4: "an approval sent by aiosd … is refused").
//!
//! On the aiOS image the daemons run as service accounts, and
//! [`crate::approvals`] refuses their uids outright. In development mode
//! (`initd --user`) every daemon runs as the user, so the uid cannot tell
//! the orchestrator (which reads model output) from the user's shell. The
//! kernel still tells the processes apart: every connection carries the
//! pid of the process that connected (`SO_PEERCRED`, taken at connect
//! time), and a client connected to a listening socket reads, with the
//! same option, the pid of the process that listens there. The planner is,
//! by definition, whoever serves the orchestrator's socket (and the model
//! daemons' sockets): toolsd connects to each of them when an approval
//! arrives, and refuses the approval when its sender is one of those
//! processes.
//!
//! Pids are used only to *refuse*: a reused pid can make toolsd refuse an
//! approval it should have heard, never hear one it should have refused.
//! A listening daemon is alive, so its pid cannot be reused while it
//! listens. What this does not stop in development mode (the same uid can
//! do it another way) is written in `docs/POLICY.md`, "Who may approve".

use std::path::PathBuf;
use std::time::Duration;

use aios_proto::Principal;

/// How long toolsd waits to connect to one daemon's socket.
const CONNECT_LIMIT: Duration = Duration::from_millis(500);

/// The sockets of the processes that must never approve.
#[derive(Debug, Clone, Default)]
pub struct Planners {
    sockets: Vec<(String, PathBuf)>,
}

impl Planners {
    /// Planners listening on these sockets (daemon name, socket path).
    pub fn new(sockets: Vec<(String, PathBuf)>) -> Planners {
        Planners { sockets }
    }

    /// The pids listening on the planners' sockets now, with the daemon's
    /// name. A socket nobody listens on (the daemon is not running) has no
    /// planner to refuse.
    pub async fn running(&self) -> Vec<(String, u32)> {
        let mut found = Vec::new();
        for (name, path) in &self.sockets {
            if let Some(pid) = listener_pid(path).await {
                found.push((name.clone(), pid));
            }
        }
        found
    }

    /// Refuse an approval from `who` when it was sent by a process that
    /// acts as the planner, or when toolsd cannot tell which process sent
    /// it while a planner runs.
    pub async fn refuse(&self, who: &Principal) -> Result<(), String> {
        if self.sockets.is_empty() {
            return Ok(());
        }
        let running = self.running().await;
        decide(who, &running)
    }
}

/// The decision, from the sender and the planners found running.
pub fn decide(who: &Principal, running: &[(String, u32)]) -> Result<(), String> {
    let Some(pid) = who.pid else {
        return match running.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!(
                "the kernel did not say which process sent this approval, and {name} is running: \
                 approvals are heard only from the user's own shell"
            )),
        };
    };
    match running.iter().find(|(_, p)| *p == pid) {
        None => Ok(()),
        Some((name, _)) => Err(format!(
            "this approval was sent by pid {pid}, the process serving {name}'s socket: {name} \
             relays the model's calls and can never approve them; answer from your shell"
        )),
    }
}

/// The pid of the process listening on `path`, as the kernel recorded it
/// when that process called `listen`.
async fn listener_pid(path: &std::path::Path) -> Option<u32> {
    let stream = tokio::time::timeout(CONNECT_LIMIT, tokio::net::UnixStream::connect(path))
        .await
        .ok()?
        .ok()?;
    let pid = stream.peer_cred().ok()?.pid()?;
    u32::try_from(pid).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pid: Option<u32>) -> Principal {
        Principal {
            pid,
            ..Principal::ordinary(1000)
        }
    }

    #[test]
    fn the_planners_process_is_refused_and_anyone_else_heard() {
        let running = [("aiosd".to_string(), 4242), ("gatewayd".to_string(), 77)];
        let e = decide(&from(Some(4242)), &running).unwrap_err();
        assert!(e.contains("pid 4242") && e.contains("aiosd"), "{e}");
        assert!(decide(&from(Some(77)), &running).is_err());
        assert_eq!(decide(&from(Some(5000)), &running), Ok(()));
        // No planner runs: nothing to refuse.
        assert_eq!(decide(&from(Some(4242)), &[]), Ok(()));
    }

    #[test]
    fn an_unknown_sender_is_refused_while_a_planner_runs() {
        let running = [("aiosd".to_string(), 4242)];
        assert!(decide(&from(None), &running).is_err());
        assert_eq!(decide(&from(None), &[]), Ok(()));
    }

    #[tokio::test]
    async fn the_listeners_pid_is_read_from_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("aiosd.sock");
        let planners = Planners::new(vec![("aiosd".into(), sock.clone())]);
        assert!(planners.running().await.is_empty(), "nobody listens yet");
        let _l = tokio::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(
            planners.running().await,
            [("aiosd".to_string(), std::process::id())]
        );
    }
}

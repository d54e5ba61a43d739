//! The session record of each session toolsd serves: the uid it acts for
//! and its kind (interactive, one-shot, background agent), fixed by the
//! session's first call.
//!
//! The kind reaches toolsd in the execute request, which only the
//! orchestrator (a kernel-verified daemon peer) or the user's own client
//! builds; the model's output becomes a tool name and arguments, never a
//! request field. Pinning it per session means that no later call of a
//! background or one-shot session can present itself as interactive (and
//! so be asked about, or approved), and that a session cannot switch to
//! acting for another user.

use std::collections::HashMap;
use std::sync::Mutex;

use aios_proto::SessionKind;

/// Most sessions remembered at once. Beyond it the record is cleared (a
/// session whose record was dropped is pinned again by its next call).
const MAX_SESSIONS: usize = 65_536;

/// The kind and uid of every live session, as its first call set them.
#[derive(Debug, Default)]
pub struct SessionKinds {
    live: Mutex<HashMap<String, (u32, SessionKind)>>,
}

/// The kind a call runs as: the one recorded for its session, when there
/// is one and the call agrees with it; refused when the call claims
/// another kind or another uid than its session's.
pub fn settle(
    session_id: &str,
    recorded: Option<(u32, SessionKind)>,
    uid: u32,
    claimed: SessionKind,
) -> Result<SessionKind, String> {
    match recorded {
        None => Ok(claimed),
        Some((owner, _)) if owner != uid => Err(format!(
            "session {session_id} acts for uid {owner}, not uid {uid}; start a session of your own"
        )),
        Some((_, kind)) if kind != claimed => Err(format!(
            "session {session_id} is a {} session; a call cannot make it {} (start a new session of that kind)",
            kind.as_str(),
            claimed.as_str()
        )),
        Some((_, kind)) => Ok(kind),
    }
}

impl SessionKinds {
    /// The kind of a call of `session_id` acting for `uid`, recording the
    /// session at its first call.
    pub fn resolve(
        &self,
        session_id: &str,
        uid: u32,
        claimed: SessionKind,
    ) -> Result<SessionKind, String> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let kind = settle(session_id, live.get(session_id).copied(), uid, claimed)?;
        if !live.contains_key(session_id) {
            if live.len() >= MAX_SESSIONS {
                live.clear();
            }
            live.insert(session_id.to_string(), (uid, kind));
        }
        Ok(kind)
    }

    /// The session ended: forget it.
    pub fn end(&self, session_id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionKind::{Background, Interactive, OneShot};

    #[test]
    fn a_session_keeps_the_kind_and_uid_of_its_first_call() {
        // (recorded, uid, claimed) -> the kind, or None for a refusal.
        let table = [
            (None, 1000, Interactive, Some(Interactive)),
            (None, 1000, Background, Some(Background)),
            (Some((1000, Background)), 1000, Background, Some(Background)),
            (Some((1000, Background)), 1000, Interactive, None),
            (Some((1000, OneShot)), 1000, Interactive, None),
            (Some((1000, Interactive)), 1000, Background, None),
            (Some((1000, Interactive)), 1001, Interactive, None),
        ];
        for (recorded, uid, claimed, want) in table {
            let got = settle("s", recorded, uid, claimed);
            assert_eq!(
                got.clone().ok(),
                want,
                "{recorded:?} {uid} {claimed:?}: {got:?}"
            );
        }
    }

    #[test]
    fn a_background_session_cannot_become_interactive_until_it_ends() {
        let s = SessionKinds::default();
        assert_eq!(s.resolve("a", 1000, Background), Ok(Background));
        let e = s.resolve("a", 1000, Interactive).unwrap_err();
        assert!(e.contains("background session"), "{e}");
        assert_eq!(s.resolve("b", 1000, Interactive), Ok(Interactive));
        s.end("a");
        assert_eq!(s.resolve("a", 1000, Interactive), Ok(Interactive));
    }
}

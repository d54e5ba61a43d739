//! The session record of each session toolsd serves: its kind
//! (interactive, one-shot, background agent), fixed by the session's first
//! call. Sessions are keyed by the uid they act for and their id, so one
//! user cannot pin the kind of another user's session.
//!
//! The kind reaches toolsd in the execute request, which only the
//! orchestrator (a kernel-verified daemon peer) or the user's own client
//! builds; the model's output becomes a tool name and arguments, never a
//! request field. Pinning it per session means that no later call of a
//! background or one-shot session can present itself as interactive (and
//! so be asked about, or approved).

use std::collections::HashMap;
use std::sync::Mutex;

use aios_proto::SessionKind;

/// Most sessions remembered at once. Beyond it the record is cleared (a
/// session whose record was dropped is pinned again by its next call).
const MAX_SESSIONS: usize = 65_536;

/// The kind of every live session, by (uid, session id), as its first
/// call set it.
#[derive(Debug, Default)]
pub struct SessionKinds {
    live: Mutex<HashMap<(u32, String), SessionKind>>,
}

/// The kind a call runs as: the one recorded for its session, when there
/// is one and the call agrees with it; refused when the call claims
/// another kind than its session's.
pub fn settle(
    session_id: &str,
    recorded: Option<SessionKind>,
    claimed: SessionKind,
) -> Result<SessionKind, String> {
    match recorded {
        None => Ok(claimed),
        Some(kind) if kind != claimed => Err(format!(
            "session {session_id} is a {} session; a call cannot make it {} (start a new session of that kind)",
            kind.as_str(),
            claimed.as_str()
        )),
        Some(kind) => Ok(kind),
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
        let key = (uid, session_id.to_string());
        let kind = settle(session_id, live.get(&key).copied(), claimed)?;
        if !live.contains_key(&key) {
            if live.len() >= MAX_SESSIONS {
                live.clear();
            }
            live.insert(key, kind);
        }
        Ok(kind)
    }

    /// Whether `session_id` is a background agent's session, for any uid
    /// it acts for. Nobody's approval is heard for such a session.
    pub fn is_background(&self, session_id: &str) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|((_, id), kind)| id == session_id && *kind == SessionKind::Background)
    }

    /// The session ended: forget it (for every uid: session ids are
    /// unique to the orchestrator that ends them).
    pub fn end(&self, session_id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, id), _| id != session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionKind::{Background, Interactive, OneShot};

    #[test]
    fn a_session_keeps_the_kind_of_its_first_call() {
        // (recorded, claimed) -> the kind, or None for a refusal.
        let table = [
            (None, Interactive, Some(Interactive)),
            (None, Background, Some(Background)),
            (Some(Background), Background, Some(Background)),
            (Some(Background), Interactive, None),
            (Some(Background), OneShot, None),
            (Some(OneShot), Interactive, None),
            (Some(Interactive), Background, None),
        ];
        for (recorded, claimed, want) in table {
            let got = settle("s", recorded, claimed);
            assert_eq!(got.clone().ok(), want, "{recorded:?} {claimed:?}: {got:?}");
        }
    }

    #[test]
    fn a_background_session_cannot_become_interactive_until_it_ends() {
        let s = SessionKinds::default();
        assert_eq!(s.resolve("a", 1000, Background), Ok(Background));
        let e = s.resolve("a", 1000, Interactive).unwrap_err();
        assert!(e.contains("background session"), "{e}");
        assert_eq!(s.resolve("b", 1000, Interactive), Ok(Interactive));
        // Another user's session of the same id is another session.
        assert_eq!(s.resolve("a", 1001, Interactive), Ok(Interactive));
        assert!(s.is_background("a") && !s.is_background("b"));
        s.end("a");
        assert!(!s.is_background("a"));
        assert_eq!(s.resolve("a", 1000, Interactive), Ok(Interactive));
    }
}

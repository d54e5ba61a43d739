//! Every bound `aiosd` puts on what clients and other daemons send it, in
//! one place. Any local user may talk to `aiosd`, so nothing a client
//! sends may make it grow without limit; each bound has a clear error that
//! names it.
//!
//! Memory of one session is bounded by its event log ([`MAX_LOG_EVENTS`],
//! [`MAX_LOG_BYTES`]) and its conversation ([`MAX_HISTORY_BYTES`]); the
//! number of sessions by [`MAX_SESSIONS_PER_USER`] and [`MAX_SESSIONS`].
//! The full transcript lives in the episodic store (memoryd), not here.

use std::time::Duration;

/// Largest accepted user input, in bytes (the shell checks first, with a
/// friendlier message; this protects the daemon from other clients).
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
/// Longest session title, in bytes.
pub const MAX_TITLE_BYTES: usize = 256;
/// Longest model name a session may ask for, in bytes (Hugging Face
/// repository paths with a quantisation suffix fit easily).
pub const MAX_MODEL_BYTES: usize = 256;
/// Longest provider name, session id or call id a client may send, in
/// bytes (ours are UUIDs and short tokens).
pub const MAX_ID_BYTES: usize = 128;

/// Live sessions one user may hold. Creating one more evicts the user's
/// oldest idle session (no client attached, no turn running), or is
/// refused when none is idle.
pub const MAX_SESSIONS_PER_USER: usize = 16;
/// Live sessions of all users together, evicted the same way.
pub const MAX_SESSIONS: usize = 256;
/// A session with no attached client and no running turn for this long is
/// evicted.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How often idle sessions are looked for (they are also evicted lazily on
/// every create and attach).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Clients attached to one session at once.
pub const MAX_CLIENTS_PER_SESSION: usize = 8;

/// Events of one session kept in memory for replay; older ones are
/// dropped, and a client asking for them gets a `replay_gap` marker.
pub const MAX_LOG_EVENTS: usize = 4096;
/// Bytes (JSON encoding) of one session's events kept in memory.
pub const MAX_LOG_BYTES: usize = 1024 * 1024;
/// How many live events a slow client may fall behind before it re-reads
/// the log (it loses nothing the log still holds, it only pays a copy).
pub const LIVE_CAPACITY: usize = 1024;

/// Bytes of conversation kept to send to the model. Older whole turns are
/// dropped first; a single turn that grows past it fails with
/// `context_too_large`.
pub const MAX_HISTORY_BYTES: usize = 1024 * 1024;
/// Text of one model reply, in bytes; more fails the turn with
/// `reply_too_large`.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;
/// Tool calls run from one model reply; the rest are not run, and both the
/// client (`too_many_tool_calls`) and the model are told.
pub const MAX_TOOL_CALLS_PER_REPLY: usize = 16;
/// Largest tool result passed back to the model, in bytes.
pub const MAX_RESULT_FOR_MODEL: usize = 32 * 1024;
/// Deadline of one store or tool-list call.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(15);
/// How long past the tool deadline we wait for the executor's own verdict
/// before giving up on it.
pub const TOOL_GRACE: Duration = Duration::from_secs(5);

/// Longest silence inside a model stream (capped by the model deadline).
pub const MODEL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// `s` cut to at most `max` bytes on a character boundary, for quoting
/// client-supplied text in an error without echoing all of it.
pub fn quote(s: &str, max: usize) -> String {
    if s.len() <= max {
        return format!("{s:?}");
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}… ({} bytes)", &s[..cut], s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_cuts_on_a_character_boundary() {
        assert_eq!(quote("abc", 8), "\"abc\"");
        let q = quote(&"é".repeat(10), 5);
        assert_eq!(q, "\"éé\"… (20 bytes)");
    }
}

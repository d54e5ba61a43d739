//! Bringing a stored session back after aiosd restarted (issue 10 §7):
//! its newest events from memoryd's event log, its conversation from the
//! stored messages, its summary of older turns (issue 11 §1: not made
//! again), and what a turn cut short by the restart left open.
//!
//! Everything read back is data: events are replayed to the owner as they
//! were stored, messages go to the model as the conversation they were.
//! The pure parts (which turn was open, the turn counter, repairing the
//! conversation) are unit-tested here; [`load`] only fetches.

use std::collections::HashSet;
use std::sync::Arc;

use aios_proto::{
    ApiError, ChatMessage, Event, EventKind, PendingCall, Role, SessionInfo, StoredMessage,
};
use serde_json::Value;

use crate::backends::Backends;
use crate::context::Summary;
use crate::limits::MAX_LOG_EVENTS;
use crate::session::Restored;

/// Stored messages read back into the conversation (its byte bound,
/// [`crate::limits::MAX_HISTORY_BYTES`], still applies after).
pub const RESTORE_MESSAGES: u32 = 2000;

/// What a tool call cut short by the restart answers the model.
pub const INTERRUPTED_RESULT: &str =
    "interrupted error: not finished: aiosd restarted while this call ran";

/// A call of the turn the restart cut short that toolsd kept waiting for
/// its user's approval: the turn takes it up again.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// The call as toolsd keeps it.
    pub call: PendingCall,
    /// Its arguments as the model gave them (for the stored record).
    pub args: Value,
    /// Its step in the turn's last plan.
    pub step: Option<u32>,
}

/// What a stored session is brought back as.
pub struct Loaded {
    /// Its events and conversation.
    pub restored: Restored,
    /// The turn the restart cut short, if one was running.
    pub open: Option<String>,
    /// That turn's calls toolsd still keeps waiting (`kept`), in order.
    pub waiting: Vec<Waiting>,
}

/// Read a stored session back: its newest events (as many as the
/// in-memory log holds) and its repaired conversation, the turn the
/// restart cut short, and which of that turn's calls are among the calls
/// toolsd `kept` waiting for an approval (their results are left open in
/// the conversation, for the resumed turn to give).
pub async fn load(
    store: &Arc<dyn Backends>,
    info: &SessionInfo,
    kept: &[PendingCall],
) -> Result<Loaded, ApiError> {
    let limit = u32::try_from(MAX_LOG_EVENTS).unwrap_or(u32::MAX);
    let events = store.get_events(&info.id, 0, limit, true).await?;
    let messages = store.get_messages(&info.id, RESTORE_MESSAGES).await?;
    let open = open_turn(&events);
    let waiting = match &open {
        Some(turn) => waiting(&events, turn, kept),
        None => Vec::new(),
    };
    let left_open: HashSet<String> = waiting.iter().map(|w| w.call.call_id.clone()).collect();
    let turns_started = turns_started(&events, &messages);
    let whole = messages.len() < RESTORE_MESSAGES as usize;
    let history = repair_history(messages, &left_open);
    let summary = match crate::working::stored_summary(store.as_ref(), &info.id).await {
        Ok(s) => s.map(|s| restored_summary(s, &history, whole)),
        Err(why) => {
            tracing::warn!(session = %info.id, "the session comes back without its summary: {why}");
            None
        }
    };
    Ok(Loaded {
        restored: Restored {
            events,
            history,
            turns_started,
            summary,
        },
        open,
        waiting,
    })
}

/// The calls of turn `turn_id` in `events` that are among `kept`, in the
/// order the turn made them, with their arguments and their step in the
/// turn's last plan.
pub fn waiting(events: &[Event], turn_id: &str, kept: &[PendingCall]) -> Vec<Waiting> {
    let mut found = Vec::new();
    let mut index: u32 = 0;
    for e in events {
        match &e.kind {
            EventKind::PlanProposed { turn_id: t, .. } if t == turn_id => index = 0,
            EventKind::ToolCallBegin {
                turn_id: t,
                call_id,
                args,
                ..
            } if t == turn_id => {
                if let Some(k) = kept.iter().find(|k| k.call_id == *call_id) {
                    found.retain(|w: &Waiting| w.call.call_id != *call_id);
                    found.push(Waiting {
                        call: k.clone(),
                        args: args.clone(),
                        step: Some(index),
                    });
                }
                index = index.saturating_add(1);
            }
            _ => {}
        }
    }
    found
}

/// A stored summary placed in the restored conversation `history`. Read
/// `whole` (from its first message), the history's indexes are the ones the
/// summary counted in (the repair adds the same results every time), and
/// `covers` is only moved back to the start of its turn, so no message the
/// summary may not hold is left out. Read in part, the offset is unknown:
/// the summary then stands for what came before the restored messages, and
/// those that no longer fit are summarised into it again.
pub fn restored_summary(summary: Summary, history: &[ChatMessage], whole: bool) -> Summary {
    if !whole {
        return Summary {
            covers: 0,
            ..summary
        };
    }
    let mut at = usize::try_from(summary.covers)
        .unwrap_or(usize::MAX)
        .min(history.len());
    while at > 0 && at < history.len() && history[at].role != Role::User {
        at -= 1;
    }
    Summary {
        covers: at as u64,
        ..summary
    }
}

/// The turn that started (or showed activity) and never completed in
/// `events`, if any.
pub fn open_turn(events: &[Event]) -> Option<String> {
    let mut open: Option<String> = None;
    for e in events {
        match &e.kind {
            EventKind::TurnStarted { turn_id, .. } => open = Some(turn_id.clone()),
            EventKind::TurnCompleted { .. } => open = None,
            EventKind::AssistantDelta { turn_id, .. }
            | EventKind::PlanProposed { turn_id, .. }
            | EventKind::StepUpdate { turn_id, .. }
            | EventKind::ToolCallBegin { turn_id, .. }
                if open.is_none() =>
            {
                // Its start is older than the events read back.
                open = Some(turn_id.clone());
            }
            _ => {}
        }
    }
    open
}

/// The number of turns a session started, from its turn ids (`t1`, `t2`,
/// …) in events and messages, so new turns never reuse an id.
pub fn turns_started(events: &[Event], messages: &[StoredMessage]) -> u64 {
    let from_events = events.iter().filter_map(|e| match &e.kind {
        EventKind::TurnStarted { turn_id, .. } | EventKind::TurnCompleted { turn_id, .. } => {
            Some(turn_id.as_str())
        }
        _ => None,
    });
    from_events
        .chain(messages.iter().map(|m| m.turn_id.as_str()))
        .filter_map(|id| id.strip_prefix('t')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// The stored messages as a conversation a model accepts: it starts at a
/// user message (a read limit may have cut a turn), and every tool call
/// an assistant made has its result (a call the restart cut short gets
/// [`INTERRUPTED_RESULT`]), except the calls in `left_open`, whose results
/// the resumed turn gives.
pub fn repair_history(
    messages: Vec<StoredMessage>,
    left_open: &HashSet<String>,
) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = Vec::with_capacity(messages.len());
    let mut waiting: Vec<String> = Vec::new();
    let close = |out: &mut Vec<ChatMessage>, waiting: &mut Vec<String>| {
        for id in waiting.drain(..) {
            if left_open.contains(&id) {
                continue;
            }
            out.push(ChatMessage {
                role: Role::Tool,
                content: INTERRUPTED_RESULT.to_string(),
                tool_calls: Vec::new(),
                tool_call_id: Some(id),
            });
        }
    };
    let mut started = false;
    for m in messages {
        if !started && m.role != Role::User {
            continue;
        }
        started = true;
        match m.role {
            Role::Tool => {
                let answers = m.tool_call_id.as_deref();
                if let Some(i) = waiting.iter().position(|w| Some(w.as_str()) == answers) {
                    waiting.remove(i);
                } else {
                    // A result for no call the model made: dropping it
                    // keeps the conversation well-formed.
                    continue;
                }
            }
            _ => {
                close(&mut out, &mut waiting);
            }
        }
        if m.role == Role::Assistant {
            let mut seen = HashSet::new();
            waiting = m
                .tool_calls
                .iter()
                .filter(|c| seen.insert(c.id.clone()))
                .map(|c| c.id.clone())
                .collect();
        }
        out.push(ChatMessage {
            role: m.role,
            content: m.content,
            tool_calls: m.tool_calls,
            tool_call_id: m.tool_call_id,
        });
    }
    close(&mut out, &mut waiting);
    out
}

#[cfg(test)]
#[path = "rehydrate_tests.rs"]
mod tests;

//! The journal task of a durable session: appends each event to memoryd
//! (the session's event log, keyed by (session, seq)) and only then
//! publishes it to the session's log and attached clients.
//!
//! Ordering: events arrive in seq order on one channel and are appended and
//! published in that order, in batches of whatever has queued while the
//! previous append was in flight (at most [`MAX_BATCH`]), so a fast stream
//! of deltas costs one fsync per batch, not per event.
//!
//! When memoryd is down, nothing is lost and nothing is shown unstored: the
//! batch is retried with backoff (up to [`RETRY_MAX`] apart) until memoryd
//! takes it, and the session's clients see its events only then. The turn
//! itself notices sooner: its own store writes fail with `memory_error`, so
//! it ends and the queue stops growing. The failure is logged once per
//! outage, and its end too.
//!
//! A refusal that retrying cannot cure (memoryd answers, but says the
//! events are invalid, or the session is unknown to it) is retried
//! [`PERMANENT_TRIES`] times, then logged as an error and the events are
//! published anyway: a live session must not freeze on one bad batch, and
//! those events will be missing from a replay after a restart.

use std::sync::{Arc, Weak};
use std::time::Duration;

use aios_proto::{ApiErrorKind, Event};
use tokio::sync::mpsc;

use crate::backends::Backends;
use crate::session::Session;

/// Most events in one append.
pub const MAX_BATCH: usize = 256;
/// First retry delay after a failed append; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest delay between retries of a failed append.
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Attempts at a batch memoryd refuses for a reason other than being
/// unreachable or busy.
const PERMANENT_TRIES: u32 = 3;

/// Store then publish every event `rx` yields, until the session is gone
/// and its queue is drained.
pub async fn run(
    session: Weak<Session>,
    store: Arc<dyn Backends>,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        append(&store, &batch).await;
        let Some(session) = session.upgrade() else {
            // Evicted: its events are stored; nobody is left to show them.
            batch.clear();
            continue;
        };
        session.publish(std::mem::take(&mut batch));
    }
}

/// Append `batch`, retrying until memoryd takes it.
async fn append(store: &Arc<dyn Backends>, batch: &[Event]) {
    let mut delay = RETRY_FIRST;
    let mut failing = false;
    let mut refused = 0;
    loop {
        match store.append_events(batch.to_vec()).await {
            Ok(()) => {
                if failing {
                    tracing::info!(
                        "memoryd stored the held events of session {} again",
                        batch.first().map_or("?", |e| e.session_id.as_str())
                    );
                }
                return;
            }
            Err(e) => {
                let transient = matches!(
                    e.kind,
                    ApiErrorKind::Transport
                        | ApiErrorKind::Unavailable
                        | ApiErrorKind::DeadlineExceeded
                        | ApiErrorKind::ResourceExhausted
                );
                if !transient {
                    refused += 1;
                    if refused >= PERMANENT_TRIES {
                        tracing::error!(
                            "memoryd refused {} events of session {} (seq {}…): {}; publishing them unstored (a replay after an aiosd restart will miss them)",
                            batch.len(),
                            batch.first().map_or("?", |e| e.session_id.as_str()),
                            batch.first().map_or(0, |e| e.seq),
                            e.message
                        );
                        return;
                    }
                }
                if !failing {
                    tracing::warn!(
                        "cannot store {} events of session {} (seq {}…); holding them and retrying: {}",
                        batch.len(),
                        batch.first().map_or("?", |e| e.session_id.as_str()),
                        batch.first().map_or(0, |e| e.seq),
                        e.message
                    );
                    failing = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

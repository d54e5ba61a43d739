//! Each session's event log, keyed by (session, seq): what `aiosd` emitted,
//! written before it was emitted, so a session can be rehydrated and
//! replayed after `aiosd` restarts (issue 10 §7).
//!
//! Events are stored as their JSON encoding and given back as they were;
//! the store never interprets them. An append is one transaction whatever
//! the batch size, durable when it returns. Re-appending an event already
//! stored (a retry whose acknowledgement was lost) is a no-op; a different
//! event under the same (session, seq) is refused, so the log never forks.

use aios_domain::Event;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::error::{ErrorKind, Result, StoreError};
use crate::store::Store;

/// Which end of the log [`Store::get_events`] reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFrom {
    /// The oldest events after `after_seq` first (paging forward).
    Oldest,
    /// The newest `limit` events after `after_seq` (the tail), in order.
    Newest,
}

impl Store {
    /// Append `events` (in seq order) to their sessions' logs in one
    /// transaction. Every session must exist. Returns how many were new.
    pub fn append_events(&self, events: &[Event]) -> Result<usize> {
        let Some(first) = events.first() else {
            return Ok(0);
        };
        let doing = format!(
            "append {} events to session {:?}",
            events.len(),
            first.session_id
        );
        let mut encoded = Vec::with_capacity(events.len());
        for e in events {
            if e.seq == 0 {
                return Err(StoreError::new(
                    ErrorKind::Invalid,
                    "an event's seq starts at 1; 0 is not a valid seq",
                ));
            }
            let json = serde_json::to_string(e).map_err(|err| {
                StoreError::new(
                    ErrorKind::Invalid,
                    format!("cannot encode event {} as JSON: {err}", e.seq),
                )
            })?;
            encoded.push(json);
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        let mut checked: Option<&str> = None;
        let mut added = 0;
        for (e, json) in events.iter().zip(&encoded) {
            if checked != Some(e.session_id.as_str()) {
                self.require_session(&tx, &e.session_id, &doing)?;
                checked = Some(e.session_id.as_str());
            }
            let n = tx
                .prepare_cached(
                    "INSERT INTO session_events (session_id, seq, unix_ms, event_json)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (session_id, seq) DO NOTHING",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![e.session_id, seq_sql(e.seq)?, e.unix_ms, json])
                })
                .map_err(self.err(&doing))?;
            if n == 0 {
                let old: Option<String> = tx
                    .query_row(
                        "SELECT event_json FROM session_events WHERE session_id = ?1 AND seq = ?2",
                        params![e.session_id, seq_sql(e.seq).map_err(self.err(&doing))?],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(self.err(&doing))?;
                if old.as_deref() != Some(json.as_str()) {
                    return Err(StoreError::new(
                        ErrorKind::Invalid,
                        format!(
                            "session {:?} already holds a different event {}; its log cannot fork",
                            e.session_id, e.seq
                        ),
                    ));
                }
            } else {
                added += 1;
            }
        }
        tx.commit().map_err(self.err(&doing))?;
        Ok(added)
    }

    /// Events of `session_id` with seq greater than `after_seq`, in seq
    /// order: at most `limit` of them (0 = all), from the oldest or the
    /// newest end. The session must exist.
    pub fn get_events(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: u32,
        from: EventsFrom,
    ) -> Result<Vec<Event>> {
        let doing = format!("read the events of session {session_id:?}");
        let conn = self.conn();
        self.require_session(&conn, session_id, &doing)?;
        let limit = if limit == 0 { -1 } else { i64::from(limit) };
        let sql = match from {
            EventsFrom::Oldest => {
                "SELECT seq, event_json FROM session_events
                 WHERE session_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3"
            }
            EventsFrom::Newest => {
                "SELECT seq, event_json FROM (SELECT seq, event_json FROM session_events
                 WHERE session_id = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq ASC"
            }
        };
        let after = seq_sql(after_seq).map_err(self.err(&doing))?;
        let rows = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_map(params![session_id, after, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            })
            .map_err(self.err(&doing))?;
        drop(conn);
        rows.into_iter()
            .map(|(seq, json)| {
                serde_json::from_str::<Event>(&json).map_err(|e| {
                    self.corrupt(format!(
                        "event {seq} of session {session_id:?} is not a valid event ({e})"
                    ))
                })
            })
            .collect()
    }
}

/// A seq as SQLite's signed integer (seqs past `i64::MAX` cannot occur:
/// one event per nanosecond would take 292 years).
fn seq_sql(seq: u64) -> rusqlite::Result<i64> {
    i64::try_from(seq).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;

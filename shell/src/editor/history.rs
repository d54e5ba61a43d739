//! reedline's `History` over the shell's own history file
//! ([`crate::history`]): Up/Down and Ctrl-R in the line mode walk the rows
//! the TUI walks, across sessions.
//!
//! It only reads. The line mode records each submitted request itself,
//! once, with its [`crate::history::Origin`] (as the TUI does), and only
//! requests that were sent; so `save` here keeps nothing, and reedline
//! cannot delete or rewrite the user's rows.

use std::path::Path;

use reedline::{
    CommandLineSearch, HistoryItem, HistoryItemId, HistorySessionId, ReedlineError,
    ReedlineErrorVariants, SearchDirection, SearchQuery,
};
use rusqlite::types::Value;

use crate::history::History;

/// The shared history, read through its own connection (WAL: other shells
/// write meanwhile, and their rows show at the next Up).
#[derive(Debug)]
pub struct Shared {
    history: History,
}

impl Shared {
    /// The history file at `file` (in memory when it cannot be opened; the
    /// line mode tells the user that once).
    pub fn open(file: &Path) -> Shared {
        Shared {
            history: History::open(file),
        }
    }

    /// No rows at all (the answers to approval questions keep none).
    pub fn none() -> Shared {
        Shared {
            history: History::none(),
        }
    }

    /// A history over `history` (tests).
    pub fn over(history: History) -> Shared {
        Shared { history }
    }
}

fn unsupported(feature: &'static str) -> ReedlineError {
    ReedlineError(ReedlineErrorVariants::HistoryFeatureUnsupported {
        history: "the aios history",
        feature,
    })
}

/// The SQL and its parameters for `q`.
fn select(q: &SearchQuery) -> (String, Vec<Value>) {
    let back = q.direction == SearchDirection::Backward;
    let mut sql = String::from("SELECT id, text, cwd, host FROM history WHERE 1");
    let mut params: Vec<Value> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, v: Value| {
        params.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(start) = q.start_id {
        push(
            &mut sql,
            if back { " AND id < ?" } else { " AND id > ?" },
            Value::Integer(start.0),
        );
        // Up never shows the same text twice in a row: skip the text of
        // the row the cursor is on (what reedline asks as
        // `not_command_line`, which it does not let other histories read).
        push(
            &mut sql,
            " AND text IS NOT (SELECT text FROM history WHERE id = ?)",
            Value::Integer(start.0),
        );
    }
    if let Some(end) = q.end_id {
        push(
            &mut sql,
            if back { " AND id >= ?" } else { " AND id <= ?" },
            Value::Integer(end.0),
        );
    }
    if let Some(t) = q.start_time {
        push(
            &mut sql,
            if back {
                " AND unix_ms < ?"
            } else {
                " AND unix_ms > ?"
            },
            Value::Integer(t.timestamp_millis()),
        );
    }
    if let Some(t) = q.end_time {
        push(
            &mut sql,
            if back {
                " AND unix_ms >= ?"
            } else {
                " AND unix_ms <= ?"
            },
            Value::Integer(t.timestamp_millis()),
        );
    }
    match &q.filter.command_line {
        Some(CommandLineSearch::Prefix(p)) => push(
            &mut sql,
            " AND substr(text, 1, length(?)) = ?",
            Value::Text(p.clone()),
        ),
        // As the TUI's Ctrl-R: ASCII case ignored, `%` and `_` plain.
        Some(CommandLineSearch::Substring(s)) => push(
            &mut sql,
            " AND instr(lower(text), lower(?)) > 0",
            Value::Text(s.clone()),
        ),
        Some(CommandLineSearch::Exact(e)) => {
            push(&mut sql, " AND text = ?", Value::Text(e.clone()));
        }
        None => {}
    }
    if let Some(h) = &q.filter.hostname {
        push(&mut sql, " AND host = ?", Value::Text(h.clone()));
    }
    if let Some(c) = &q.filter.cwd_exact {
        push(&mut sql, " AND cwd = ?", Value::Text(c.clone()));
    }
    if let Some(c) = &q.filter.cwd_prefix {
        push(
            &mut sql,
            " AND substr(cwd, 1, length(?)) = ?",
            Value::Text(c.clone()),
        );
    }
    sql.push_str(if back {
        " ORDER BY id DESC"
    } else {
        " ORDER BY id ASC"
    });
    if let Some(n) = q.limit {
        push(&mut sql, " LIMIT ?", Value::Integer(n));
    }
    (sql, params)
}

impl reedline::History for Shared {
    fn save(&mut self, h: HistoryItem) -> reedline::Result<HistoryItem> {
        // Recorded by the line mode itself, once, with its origin.
        Ok(h)
    }

    fn load(&self, id: HistoryItemId) -> reedline::Result<HistoryItem> {
        self.query(
            "SELECT id, text, cwd, host FROM history WHERE id = ?1",
            vec![Value::Integer(id.0)],
        )?
        .pop()
        .ok_or_else(|| unsupported("loading a row that is not there"))
    }

    fn count(&self, query: SearchQuery) -> reedline::Result<i64> {
        Ok(i64::try_from(self.search(query)?.len()).unwrap_or(i64::MAX))
    }

    fn search(&self, query: SearchQuery) -> reedline::Result<Vec<HistoryItem>> {
        let (sql, params) = select(&query);
        self.query(&sql, params)
    }

    fn update(
        &mut self,
        _id: HistoryItemId,
        _updater: &dyn Fn(HistoryItem) -> HistoryItem,
    ) -> reedline::Result<()> {
        Err(unsupported("update"))
    }

    fn clear(&mut self) -> reedline::Result<()> {
        Err(unsupported("clear"))
    }

    fn delete(&mut self, _h: HistoryItemId) -> reedline::Result<()> {
        Err(unsupported("delete"))
    }

    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn session(&self) -> Option<HistorySessionId> {
        None
    }
}

impl Shared {
    fn query(&self, sql: &str, params: Vec<Value>) -> reedline::Result<Vec<HistoryItem>> {
        let Some(db) = self.history.connection() else {
            return Ok(Vec::new());
        };
        let read = || -> rusqlite::Result<Vec<HistoryItem>> {
            let mut stmt = db.prepare(sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                Ok(HistoryItem {
                    id: Some(HistoryItemId::new(r.get(0)?)),
                    start_timestamp: None,
                    command_line: r.get(1)?,
                    session_id: None,
                    hostname: Some(r.get(3)?),
                    cwd: Some(r.get(2)?),
                    duration: None,
                    exit_status: None,
                    more_info: None,
                })
            })?;
            rows.collect()
        };
        // A database error reads as no rows: the prompt goes on.
        Ok(read().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use reedline::{History as _, SearchFilter};

    use super::*;
    use crate::history::Origin;

    fn shared(texts: &[&str]) -> Shared {
        let mut h = History::in_memory();
        for t in texts {
            h.add(t, &Origin::default());
        }
        Shared::over(h)
    }

    fn back(start: Option<i64>, filter: SearchFilter) -> SearchQuery {
        SearchQuery {
            direction: SearchDirection::Backward,
            start_time: None,
            end_time: None,
            start_id: start.map(HistoryItemId::new),
            end_id: None,
            limit: Some(1),
            filter,
        }
    }

    fn texts(items: Vec<HistoryItem>) -> Vec<String> {
        items.into_iter().map(|i| i.command_line).collect()
    }

    #[test]
    fn up_walks_back_without_repeating_a_text() {
        let h = shared(&[
            "list the files",
            "show disk usage",
            "show disk usage",
            "uptime",
        ]);
        let first = h.search(back(None, SearchFilter::anything(None))).unwrap();
        assert_eq!(texts(first.clone()), ["uptime"]);
        let id = first[0].id.unwrap().0;
        let next = h
            .search(back(Some(id), SearchFilter::anything(None)))
            .unwrap();
        assert_eq!(texts(next.clone()), ["show disk usage"]);
        let id = next[0].id.unwrap().0;
        let next = h
            .search(back(Some(id), SearchFilter::anything(None)))
            .unwrap();
        assert_eq!(texts(next), ["list the files"]);
        assert_eq!(h.count_all().unwrap(), 4);
        assert_eq!(
            h.load(HistoryItemId::new(2)).unwrap().command_line,
            "show disk usage"
        );
        assert!(h.load(HistoryItemId::new(9)).is_err());
    }

    #[test]
    fn prefix_and_substring_searches_match_as_the_tui_does() {
        let h = shared(&["List the files", "show 100% of it", "list services"]);
        let prefix = SearchFilter::from_text_search(CommandLineSearch::Prefix("List".into()), None);
        assert_eq!(
            texts(h.search(back(None, prefix)).unwrap()),
            ["List the files"]
        );
        let sub = SearchFilter::from_text_search(CommandLineSearch::Substring("LIST".into()), None);
        assert_eq!(texts(h.search(back(None, sub)).unwrap()), ["list services"]);
        let pct = SearchFilter::from_text_search(CommandLineSearch::Substring("0%".into()), None);
        assert_eq!(
            texts(h.search(back(None, pct)).unwrap()),
            ["show 100% of it"]
        );
    }

    #[test]
    fn saving_through_reedline_keeps_nothing() {
        let mut h = shared(&[]);
        h.save(HistoryItem::from_command_line("typed")).unwrap();
        assert_eq!(h.count_all().unwrap(), 0);
        assert!(h.delete(HistoryItemId::new(1)).is_err());
    }
}

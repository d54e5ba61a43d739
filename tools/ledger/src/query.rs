//! Filters for reading the ledger back (`aios audit log`).

/// Which records [`crate::Ledger::query`] returns. Every filter that is set
/// must match; the newest `limit` matches are returned, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Only entries at or after this time (Unix milliseconds).
    pub since_unix_ms: Option<i64>,
    /// Only this tool: an exact name (`fs.write`) or a glob (`fs.*`,
    /// `service.[a-s]*`); SQLite `GLOB` rules, case-sensitive.
    pub tool: Option<String>,
    /// Only calls made for this uid.
    pub uid: Option<u32>,
    /// Only calls made for this user name.
    pub user: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this call.
    pub call_id: Option<String>,
    /// At most this many records (the newest ones); 0 returns none.
    pub limit: usize,
}

impl Query {
    /// The default number of records returned.
    pub const DEFAULT_LIMIT: usize = 100;
}

impl Default for Query {
    fn default() -> Self {
        Query {
            since_unix_ms: None,
            tool: None,
            uid: None,
            user: None,
            session_id: None,
            call_id: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// The SQL and its parameters for `q`: newest first (the caller reverses).
pub(crate) fn to_sql(q: &Query) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = String::from("SELECT id, prev_hash, hash, entry FROM entries WHERE 1 = 1");
    let mut params: Vec<Value> = Vec::new();
    let mut add = |clause: &str, v: Value| {
        params.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", params.len()));
    };
    if let Some(t) = q.since_unix_ms {
        add("unix_ms >=", Value::Integer(t));
    }
    if let Some(t) = &q.tool {
        add("tool GLOB", Value::Text(t.clone()));
    }
    if let Some(u) = q.uid {
        add("uid =", Value::Integer(i64::from(u)));
    }
    if let Some(u) = &q.user {
        add("user =", Value::Text(u.clone()));
    }
    if let Some(s) = &q.session_id {
        add("session_id =", Value::Text(s.clone()));
    }
    if let Some(c) = &q.call_id {
        add("call_id =", Value::Text(c.clone()));
    }
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    params.push(Value::Integer(limit));
    // With a filter, `+id` keeps SQLite from walking the whole table
    // backwards in id order (evaluating the JSON-generated column of every
    // row) to avoid a sort: the filter's index finds the matches and a
    // top-N sort keeps the newest. Without one, the backward walk is best.
    let order = if params.len() > 1 { "+id" } else { "id" };
    sql.push_str(&format!(" ORDER BY {order} DESC LIMIT ?{}", params.len()));
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ledger;

    fn plan(ledger: &Ledger, q: &Query) -> Vec<String> {
        let (sql, params) = to_sql(q);
        let mut stmt = ledger
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// No filter: the newest entries, walking back from the end, no sort.
    #[test]
    fn an_unfiltered_query_reads_backwards_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("a.db")).unwrap();
        assert_eq!(plan(&ledger, &Query::default()), ["SCAN entries"]);
    }

    /// Each filter is answered from its index, not by scanning the ledger.
    #[test]
    fn every_filter_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("a.db")).unwrap();
        let cases = [
            Query {
                since_unix_ms: Some(5),
                ..Query::default()
            },
            Query {
                tool: Some("fs.*".into()),
                ..Query::default()
            },
            Query {
                uid: Some(1000),
                ..Query::default()
            },
            Query {
                user: Some("alice".into()),
                ..Query::default()
            },
            Query {
                session_id: Some("s".into()),
                ..Query::default()
            },
            Query {
                call_id: Some("c".into()),
                ..Query::default()
            },
            Query {
                session_id: Some("s".into()),
                call_id: Some("c".into()),
                ..Query::default()
            },
        ];
        for q in cases {
            let plan = plan(&ledger, &q);
            assert!(
                plan.iter()
                    .any(|step| step.contains("USING INDEX entries_by_")),
                "{q:?}: {plan:?}"
            );
        }
    }
}

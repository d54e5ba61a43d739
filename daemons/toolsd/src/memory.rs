//! The executor's answer to [`aios_catalog::MemoryReader`]: memoryd's search and memory
//! services over its Unix socket, for the `memory.search` and `memory.output` tools.
//!
//! toolsd is a daemon, so memoryd would let it read every user's memories; the scope of
//! the caller is applied here instead: a question about `history` carries the caller's uid
//! as a `where` filter (applied by memoryd before ranking), so a user's model finds that
//! user's conversations only. `docs` is everyone's. A stored tool output is read only
//! when its session's owner is the caller; another user's session answers as a missing
//! one does.

use std::path::PathBuf;

use aios_catalog::{MemoryQuestion, MemoryReader, StoredOutput};
use aios_proto::{ApiErrorKind, MemoryClient, SearchClient, SearchQuery};
use futures::future::BoxFuture;
use serde_json::{Value, json};

/// memoryd at its socket.
#[derive(Debug, Clone)]
pub struct MemorydReader {
    socket: PathBuf,
}

impl MemorydReader {
    /// memoryd listening on `socket`.
    pub fn at(socket: PathBuf) -> MemorydReader {
        MemorydReader { socket }
    }
}

/// The query memoryd runs for `q`. Pure.
pub fn query_of(q: &MemoryQuestion) -> SearchQuery {
    SearchQuery {
        collection: q.collection.clone(),
        text: Some(q.query.clone()),
        limit: q.limit,
        where_: q
            .only_user
            .map(|uid| json!({"user": {"$eq": uid.to_string()}})),
        ..SearchQuery::default()
    }
}

/// A stored result as the model was shown it: text as is, other JSON as JSON text. Pure.
pub fn output_text(result: &Value) -> String {
    match result {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl MemoryReader for MemorydReader {
    fn tool_output(
        &self,
        session_id: String,
        call_id: String,
        owner: u32,
    ) -> BoxFuture<'_, Result<Option<StoredOutput>, String>> {
        Box::pin(async move {
            let channel = aios_proto::connect(&self.socket).await.map_err(|e| {
                format!("memoryd is not reachable at {}: {e}", self.socket.display())
            })?;
            let mut memory = MemoryClient::new(channel);
            match memory.get_session(&session_id).await {
                Ok(s) if s.uid == owner => {}
                Ok(_) => return Ok(None),
                Err(e) if e.kind == ApiErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.message),
            }
            let call = memory
                .get_tool_call(&session_id, &call_id)
                .await
                .map_err(|e| e.message)?;
            Ok(call.map(|c| StoredOutput {
                tool: c.tool,
                text: output_text(&c.result),
            }))
        })
    }

    fn search(&self, q: MemoryQuestion) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let channel = aios_proto::connect(&self.socket).await.map_err(|e| {
                format!("memoryd is not reachable at {}: {e}", self.socket.display())
            })?;
            let hits = SearchClient::new(channel)
                .query(query_of(&q))
                .await
                .map_err(|e| e.message)?;
            Ok(Value::Array(
                hits.into_iter()
                    .map(|h| {
                        json!({
                            "id": h.document.id,
                            "score": h.score,
                            "snippet": h.snippet,
                            "metadata": h.document.metadata,
                        })
                    })
                    .collect(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_scoped_to_the_caller_and_docs_to_nobody() {
        let mut q = MemoryQuestion {
            collection: "history".into(),
            query: "backup".into(),
            limit: 5,
            only_user: Some(1000),
        };
        let s = query_of(&q);
        assert_eq!(s.where_, Some(json!({"user": {"$eq": "1000"}})));
        assert_eq!((s.limit, s.text.as_deref()), (5, Some("backup")));
        q.collection = "docs".into();
        q.only_user = None;
        assert_eq!(query_of(&q).where_, None);
    }
}

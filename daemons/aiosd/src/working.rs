//! The I/O seam of working memory ([`crate::context`] decides, this module
//! fetches and stores): long-term memories retrieved for a request from
//! memoryd's hybrid search within a time budget, summaries of older turns
//! asked of the model and stored in memoryd's `history` collection.
//!
//! Retrieval never stalls a turn: both searches run at once under
//! [`RETRIEVAL_BUDGET`], and a slow, failing or absent memoryd means the
//! turn goes on without memories (logged). A summary that cannot be made
//! leaves the older turns out with a note instead.

use std::time::Duration;

use aios_proto::{
    ApiError, ChatMessage, CompletionEvent, CompletionRequest, SearchDocument, SearchHit,
    SearchQuery, SessionInfo, TokenCounts, now_unix_ms,
};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::backends::Backends;
use crate::context::{
    Budget, Memory, SUMMARY_PROMPT, Summary, TokenCount, assemble, clip, summary_request,
};
use crate::session::Session;
use crate::tokens::uncounted;
use crate::turn::Limits;

/// How long a turn waits for memories before going on without them.
pub const RETRIEVAL_BUDGET: Duration = Duration::from_millis(500);
/// Remembered turns and tool calls asked for per request.
const HISTORY_HITS: u32 = 4;
/// Documentation chunks asked for per request.
const DOCS_HITS: u32 = 2;
/// A hit farther than this cosine distance from the request is not shown:
/// with all-MiniLM-L6-v2, paraphrases of one fact sit below 0.5 and
/// unrelated sentences around 0.8–1.0, so fused rank alone (which always
/// has a first) does not decide what reaches the model.
const MAX_DISTANCE: f32 = 0.6;
/// Bytes of one memory's text shown to the model.
const MEMORY_BYTES: usize = 700;
/// Longest summary kept, in bytes (the prompt asks for 120 words).
const SUMMARY_BYTES: usize = 2000;
/// Output limit of a summarisation call.
const SUMMARY_MAX_TOKENS: u32 = 256;

/// The memoryd collections searched, as memoryd names them.
const HISTORY: &str = "history";
const DOCS: &str = "docs";

/// The searches made for `request` in `session`: the user's own remembered
/// turns and tool calls from other sessions (this session's are in its
/// context already), and the machine's documentation.
pub fn queries(session: &SessionInfo, request: &str) -> [SearchQuery; 2] {
    let history = SearchQuery {
        collection: HISTORY.into(),
        text: Some(request.to_string()),
        limit: HISTORY_HITS,
        where_: Some(json!({"$and": [
            {"user": {"$eq": session.uid.to_string()}},
            {"session": {"$ne": session.id}},
        ]})),
        ..SearchQuery::default()
    };
    let docs = SearchQuery {
        collection: DOCS.into(),
        text: Some(request.to_string()),
        limit: DOCS_HITS,
        ..SearchQuery::default()
    };
    [history, docs]
}

/// The hits worth showing, as memories: close enough to the request.
pub fn memories_of(collection: &str, hits: Vec<SearchHit>) -> Vec<Memory> {
    hits.into_iter()
        .filter(|h| h.distance.is_some_and(|d| d <= MAX_DISTANCE))
        .map(|h| {
            let meta = &h.document.metadata;
            let field = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or_default();
            let source = match collection {
                DOCS => format!("documentation {}", field("page")),
                _ => format!(
                    "{} {}, session {}",
                    field("kind"),
                    field("role"),
                    field("session")
                ),
            };
            Memory {
                source: source.split_whitespace().collect::<Vec<_>>().join(" "),
                text: clip(&h.document.text, MEMORY_BYTES).to_string(),
            }
        })
        .collect()
}

/// Memories for `request`, within [`RETRIEVAL_BUDGET`] (or `budget`);
/// remembered history first, then documentation.
pub async fn retrieve(
    backends: &dyn Backends,
    session: &SessionInfo,
    request: &str,
    budget: Duration,
) -> Vec<Memory> {
    let [history, docs] = queries(session, request);
    let both = async { tokio::join!(backends.search(history), backends.search(docs)) };
    let Ok((history, docs)) = tokio::time::timeout(budget, both).await else {
        tracing::info!(session = %session.id, "memory retrieval passed its {} ms budget; the turn goes on without memories", budget.as_millis());
        return Vec::new();
    };
    let mut out = Vec::new();
    for (collection, result) in [(HISTORY, history), (DOCS, docs)] {
        match result {
            Ok(hits) => out.extend(memories_of(collection, hits)),
            Err(e) => {
                tracing::info!(session = %session.id, "no memories from {collection}: {e}");
            }
        }
    }
    out
}

/// Have the model summarise `messages` (with the `previous` summary) in
/// one call without tools. Errors are reasons, for the log.
pub async fn summarise(
    backends: &dyn Backends,
    session: &SessionInfo,
    previous: Option<&str>,
    messages: &[ChatMessage],
    max_input_tokens: usize,
    deadline: Duration,
    cancel: &CancellationToken,
) -> Result<Option<String>, String> {
    let req = CompletionRequest {
        provider: Some(session.provider.clone()).filter(|p| !p.is_empty()),
        model: Some(session.model.clone()).filter(|m| !m.is_empty()),
        system: SUMMARY_PROMPT.to_string(),
        messages: vec![summary_request(
            previous,
            messages,
            max_input_tokens,
            &TokenCount::default(),
        )],
        tools: Vec::new(),
        max_tokens: SUMMARY_MAX_TOKENS,
        session: Some(session.id.clone()),
    };
    let call = async {
        let mut stream = backends.complete(req).await.map_err(|e| e.to_string())?;
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            match item.map_err(|e| e.to_string())? {
                CompletionEvent::TextDelta(t) if text.len() < SUMMARY_BYTES => text.push_str(&t),
                CompletionEvent::Done { .. } => return Ok(text),
                // A tool call is not a summary; its text (if any) is kept.
                _ => {}
            }
        }
        Err("the model stream ended before the summary was complete".to_string())
    };
    let text = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Ok(None),
        r = tokio::time::timeout(deadline, call) => r.map_err(|_| format!("no summary within {}s", deadline.as_secs()))??,
    };
    let text = clip(text.trim(), SUMMARY_BYTES).to_string();
    if text.is_empty() {
        return Err("the model wrote an empty summary".to_string());
    }
    Ok(Some(text))
}

/// The id of a session's summary in `history`: one per session, replaced
/// by each newer summary (which folds the previous one in).
pub fn summary_id(session_id: &str) -> String {
    format!("summary:{session_id}")
}

/// The `history` document a summary is stored as: found again by search,
/// read by its owner only (memoryd scopes `history` by `user`), and read
/// back by id when aiosd brings the session back after a restart.
pub fn summary_document(session: &SessionInfo, summary: &Summary) -> SearchDocument {
    let mut metadata = Map::new();
    metadata.insert("kind".into(), json!("summary"));
    metadata.insert("session".into(), json!(session.id));
    metadata.insert("user".into(), json!(session.uid.to_string()));
    metadata.insert("covers".into(), json!(summary.covers));
    SearchDocument {
        id: summary_id(&session.id),
        text: summary.text.clone(),
        metadata,
        embedding: None,
        unix_ms: now_unix_ms(),
    }
}

/// The stored summary of `session_id`, if memoryd holds one (a restart
/// then does not summarise the same turns again). Errors are reasons, for
/// the log: the session comes back without its summary.
pub async fn stored_summary(
    backends: &dyn Backends,
    session_id: &str,
) -> Result<Option<Summary>, String> {
    let docs = backends
        .get_documents(HISTORY, vec![summary_id(session_id)])
        .await
        .map_err(|e| e.to_string())?;
    let Some(doc) = docs.into_iter().next() else {
        return Ok(None);
    };
    let covers = doc
        .metadata
        .get("covers")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("summary {:?} has no `covers`", doc.id))?;
    Ok(Some(Summary {
        covers,
        text: clip(&doc.text, SUMMARY_BYTES).to_string(),
    }))
}

/// Store a summary in memoryd's `history` collection.
pub async fn store_summary(
    backends: &dyn Backends,
    session: &SessionInfo,
    summary: &Summary,
) -> Result<(), ApiError> {
    backends
        .write_documents(HISTORY, vec![summary_document(session, summary)])
        .await
}

/// How long aiosd waits for the gateway to count a conversation's new
/// texts before measuring them by the estimate (the local count itself is
/// bounded at 3 s by the gateway).
pub const COUNT_TIMEOUT: Duration = Duration::from_secs(4);

/// Have the gateway count, in the session model's own tokens, the texts
/// the next assembly measures and that were not counted yet (each message
/// once: see [`crate::tokens`]). A provider that cannot count marks the
/// session so it is not asked again; a slow or failing count leaves the
/// estimate in place for this call. `false` when the turn was interrupted.
pub async fn count_real(
    backends: &dyn Backends,
    session: &Session,
    history: &[ChatMessage],
    memories: &[Memory],
    budget: &Budget,
    cancel: &CancellationToken,
) -> bool {
    let info = &session.info;
    // A second round counts tool outputs cut by their real size.
    for _ in 0..2 {
        let working = session.working();
        if working.uncountable {
            return true;
        }
        let texts = uncounted(history, memories, &info.id, budget, &working.count);
        if texts.is_empty() {
            return true;
        }
        let ask = backends.count_tokens(
            Some(info.provider.clone()).filter(|p| !p.is_empty()),
            Some(info.model.clone()).filter(|m| !m.is_empty()),
            texts.clone(),
        );
        let answer = tokio::select! {
            biased;
            _ = cancel.cancelled() => return false,
            r = tokio::time::timeout(COUNT_TIMEOUT, ask) => r,
        };
        match answer {
            Ok(Ok(TokenCounts {
                counts: Some(counts),
                ..
            })) if counts.len() == texts.len() => session.add_counts(&texts, &counts),
            Ok(Ok(TokenCounts {
                counts: None,
                detail,
            })) => {
                tracing::info!(session = %info.id, "tokens are estimated: {detail}");
                session.set_uncountable();
                return true;
            }
            Ok(Ok(_)) => {
                tracing::warn!(session = %info.id, "the gateway counted the wrong number of texts; tokens are estimated");
                return true;
            }
            Ok(Err(e)) => {
                tracing::info!(session = %info.id, "tokens are estimated for this call: {e}");
                return true;
            }
            Err(_) => {
                tracing::info!(session = %info.id, "no token count within {}s; tokens are estimated for this call", COUNT_TIMEOUT.as_secs());
                return true;
            }
        }
    }
    true
}

/// The messages of `session`'s next model call (see [`crate::context`]):
/// when older turns no longer fit, the model summarises them first and the
/// summary is stored; without a summary they are left out with a note.
/// `None` when the turn was interrupted meanwhile.
pub async fn messages_for(
    backends: &dyn Backends,
    session: &Session,
    limits: &Limits,
    cancel: &CancellationToken,
    memories: &[Memory],
) -> Option<Vec<ChatMessage>> {
    let info = &session.info;
    let budget = Budget::of(limits.context_tokens);
    let (first, history) = session.history_window();
    if !count_real(backends, session, &history, memories, &budget, cancel).await {
        return None;
    }
    let working = session.working();
    let assembly = assemble(
        &history,
        first,
        working.summary.as_ref(),
        memories,
        &info.id,
        &budget,
        &working.count,
    );
    let Some(range) = assembly.summarise.clone() else {
        return Some(assembly.messages);
    };
    let index = |abs: u64| {
        usize::try_from(abs.saturating_sub(first))
            .unwrap_or(usize::MAX)
            .min(history.len())
    };
    let older = &history[index(range.start)..index(range.end)];
    let previous = working.summary.as_ref().map(|s| s.text.as_str());
    let made = summarise(
        backends,
        info,
        previous,
        older,
        limits.context_tokens,
        limits.model_timeout,
        cancel,
    )
    .await;
    let summary = match made {
        Ok(Some(text)) => Summary {
            covers: range.end,
            text,
        },
        Ok(None) => return None,
        Err(why) => {
            tracing::warn!(session = %info.id, "older turns left out unsummarised: {why}");
            return Some(assembly.messages);
        }
    };
    // Stored for search and for the record; this session uses it either way.
    let stored = tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        r = tokio::time::timeout(limits.rpc_timeout, store_summary(backends, info, &summary)) => r,
    };
    match stored {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(session = %info.id, "summary not stored: {e}"),
        Err(_) => {
            tracing::warn!(session = %info.id, "summary not stored: memoryd did not answer in time")
        }
    }
    session.set_summary(summary.clone());
    Some(
        assemble(
            &history,
            first,
            Some(&summary),
            memories,
            &info.id,
            &budget,
            &working.count,
        )
        .messages,
    )
}

/// Smallest growth of the conversation, in estimated tokens, worth
/// calibrating on: below it rounding in either count dominates.
const MIN_CALIBRATION_TOKENS: usize = 64;

/// Calibrates a session's token estimate from the provider's real prompt
/// counts within one turn: between two model calls the tool listing and
/// system prompt stay the same, so the growth of the real count is the
/// growth of the conversation in the model's own tokens, and its ratio to
/// the estimated growth is the scale (the local runtime's count includes
/// the tool listing the gateway chose, which a whole-prompt comparison
/// could not separate).
#[derive(Debug, Default)]
pub struct Calibrator {
    /// The previous call's real prompt count and estimated conversation.
    last: std::sync::Mutex<Option<(u64, usize)>>,
}

impl Calibrator {
    /// A call's prompt was `real` tokens for a conversation estimated
    /// (unscaled) at `estimated`.
    pub fn observe(&self, session: &Session, real: u64, estimated: usize) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((real0, est0)) = *last {
            let grew = estimated.saturating_sub(est0);
            if real > real0 && grew >= MIN_CALIBRATION_TOKENS {
                session.calibrate(real - real0, grew);
            }
        }
        *last = Some((real, estimated));
    }
}

#[cfg(test)]
#[path = "working_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "count_tests.rs"]
mod count_tests;

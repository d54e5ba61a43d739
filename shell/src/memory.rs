//! `aios memory search|status|reindex`: long-term search as memoryd serves it
//! (`Search` service). Everything printed passes [`crate::printer`], so stored text (which
//! came from files, tools and models) cannot drive the terminal.

use aios_config::{Daemon, Paths};
use aios_proto::{SearchClient, SearchHit, SearchQuery};
use serde_json::json;

use crate::audit::parse_age;
use crate::cli::{Cli, MemoryAction};
use crate::exit::{Exit, Failure};
use crate::sanitize::to_json;
use crate::{launch, printer};

/// The collection `aios memory search` looks in unless told otherwise.
pub const DEFAULT_COLLECTION: &str = "docs";

async fn client(cli: &Cli) -> Result<SearchClient, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let channel = aios_proto::connect(&paths.socket(Daemon::Memoryd))
        .await
        .map_err(|e| Failure::daemon(format!("memoryd is not reachable: {e}")))?;
    Ok(SearchClient::new(channel))
}

fn hit_json(rank: usize, h: &SearchHit) -> serde_json::Value {
    json!({
        "rank": rank,
        "id": h.document.id,
        "score": h.score,
        "bm25_rank": h.bm25_rank,
        "vector_rank": h.vector_rank,
        "distance": h.distance,
        "snippet": h.snippet,
        "metadata": h.document.metadata,
        "unix_ms": h.document.unix_ms,
    })
}

/// Which signals found a hit, in words: `bm25 #2 + vector #1`.
fn signals(h: &SearchHit) -> String {
    let mut s = Vec::new();
    if let Some(r) = h.bm25_rank {
        s.push(format!("bm25 #{r}"));
    }
    if let Some(r) = h.vector_rank {
        s.push(format!("vector #{r}"));
    }
    s.join(" + ")
}

/// Run `aios memory …`.
pub async fn run(cli: &Cli, action: MemoryAction) -> Result<Exit, Failure> {
    match action {
        MemoryAction::Search {
            query,
            collection,
            kind,
            since,
            limit,
            json,
        } => {
            let since_unix_ms = match since {
                Some(s) => {
                    let age = i64::try_from(parse_age(&s)?.as_millis()).unwrap_or(i64::MAX);
                    Some(aios_proto::now_unix_ms().saturating_sub(age))
                }
                None => None,
            };
            if query.trim().is_empty() {
                return Err(Failure::usage("aios memory search: give the words to look for"));
            }
            let mut c = client(cli).await?;
            let hits = c
                .query(SearchQuery {
                    collection: collection.clone(),
                    text: Some(query),
                    limit,
                    kind,
                    since_unix_ms,
                    ..SearchQuery::default()
                })
                .await
                .map_err(|e| Failure::daemon(format!("memory search failed: {}", e.message)))?;
            let mut out = printer::stdout();
            if json || cli.json {
                for (i, h) in hits.iter().enumerate() {
                    let line = to_json(&hit_json(i + 1, h))
                        .map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
                    let _ = writeln!(out, "{line}");
                }
            } else if hits.is_empty() {
                let _ = writeln!(out, "no matches in collection {collection:?}");
            } else {
                for (i, h) in hits.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{:>2}. {}  ({}; score {:.4})",
                        i + 1,
                        h.document.id,
                        signals(h),
                        h.score
                    );
                    let _ = writeln!(out, "    {}", h.snippet.replace('\n', " "));
                }
            }
            Ok(Exit::Success)
        }
        MemoryAction::Status { json } => {
            let mut c = client(cli).await?;
            let s = c
                .status()
                .await
                .map_err(|e| Failure::daemon(format!("cannot read memory status: {}", e.message)))?;
            let mut out = printer::stdout();
            if json || cli.json {
                let v = json!({
                    "embedder_model": s.embedder_model,
                    "backlog": s.collections.iter().map(|c| c.backlog).sum::<u64>(),
                    "collections": s.collections.iter().map(|c| json!({
                        "name": c.name,
                        "model": c.model,
                        "dimension": c.dimension,
                        "count": c.count,
                        "backlog": c.backlog,
                    })).collect::<Vec<_>>(),
                });
                let line = to_json(&v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
                let _ = writeln!(out, "{line}");
            } else {
                let _ = writeln!(
                    out,
                    "embedding model: {}",
                    s.embedder_model.as_deref().unwrap_or("none loaded (BM25 only)")
                );
                if s.collections.is_empty() {
                    let _ = writeln!(out, "no collections yet");
                }
                for c in &s.collections {
                    let _ = writeln!(
                        out,
                        "{:<20} {:>9} documents  {:>7} to index  {} ({} dims)",
                        c.name, c.count, c.backlog, c.model, c.dimension
                    );
                }
            }
            Ok(Exit::Success)
        }
        MemoryAction::Reindex { collection } => {
            let mut c = client(cli).await?;
            let n = c
                .reindex(collection.as_deref())
                .await
                .map_err(|e| Failure::daemon(format!("reindex failed: {}", e.message)))?;
            let mut out = printer::stdout();
            let _ = writeln!(out, "reindexed {n} documents from the memory database");
            Ok(Exit::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_name_each_list_that_found_the_hit() {
        let h = SearchHit {
            document: aios_proto::SearchDocument::default(),
            score: 0.1,
            bm25_rank: Some(2),
            vector_rank: Some(1),
            distance: Some(0.2),
            snippet: String::new(),
        };
        assert_eq!(signals(&h), "bm25 #2 + vector #1");
        assert_eq!(hit_json(1, &h)["vector_rank"], 1);
    }
}

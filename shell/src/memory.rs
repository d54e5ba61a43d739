//! `aios memory search|status|reindex`: long-term search as memoryd serves it (the
//! `Search` service). Everything printed passes [`crate::printer`] (plain lines are
//! sanitized, JSON is terminal-safe), so stored text, which came from files, tools and
//! models, cannot drive the terminal.

use aios_config::{Daemon, Paths};
use aios_proto::{CollectionStatus, SearchClient, SearchHit, SearchQuery, SearchStatus};
use clap::Subcommand;
use serde_json::json;

use crate::audit::parse_age;
use crate::cli::Cli;
use crate::exit::{Exit, Failure};
use crate::sanitize::to_json;
use crate::{launch, printer};

/// The collection `aios memory search` looks in unless told otherwise: the conversations
/// and tool calls memoryd remembers by itself.
pub const DEFAULT_COLLECTION: &str = "history";

/// The collection of the machine's own documentation (man pages, READMEs).
pub const DOCS_COLLECTION: &str = "docs";

/// `aios memory` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum MemoryAction {
    /// Ranked hybrid (BM25 + embedding) search, with snippets.
    Search {
        /// What to look for.
        query: String,
        /// Collection to search (`history`: conversations and tool calls; `docs`: system
        /// documentation).
        #[arg(long, default_value = DEFAULT_COLLECTION)]
        collection: String,
        /// Only memories of this kind (metadata `kind`): message, tool_call, …
        #[arg(long)]
        kind: Option<String>,
        /// Only memories of this session.
        #[arg(long)]
        session: Option<String>,
        /// Only memories since then: an age such as 30m, 2h or 7d, or a UTC date or time
        /// such as 2026-12-01 or 2026-12-01T09:30:00Z.
        #[arg(long, value_name = "AGE|ISO")]
        since: Option<String>,
        /// At most this many hits.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Print one JSON object per hit, per line.
        #[arg(long)]
        json: bool,
    },
    /// Documents, indexing backlog, index sizes and the embedding model.
    Status {
        /// Print JSON (a script can wait for `ready`: every documentation file read and
        /// every document indexed).
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the search indexes from the memory database (the source of truth).
    Reindex {
        /// Only this collection (default: all).
        #[arg(long)]
        collection: Option<String>,
    },
}

async fn client(cli: &Cli) -> Result<SearchClient, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let channel = aios_proto::connect(&paths.socket(Daemon::Memoryd))
        .await
        .map_err(|e| Failure::daemon(format!("memoryd is not reachable: {e}")))?;
    Ok(SearchClient::new(channel))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD`, optionally followed by `THH:MM[:SS]` and `Z`, as UTC Unix milliseconds.
fn parse_iso(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let num = |p: &str| -> Option<i64> {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = 0;
    if let Some(t) = time {
        let mut p = t.split(':');
        let (h, min) = (num(p.next()?)?, num(p.next()?)?);
        let sec = match p.next() {
            Some(x) => num(x)?,
            None => 0,
        };
        if p.next().is_some() || h > 23 || min > 59 || sec > 60 {
            return None;
        }
        secs = h * 3600 + min * 60 + sec;
    }
    Some((days_from_civil(y, m, day) * 86_400 + secs) * 1000)
}

/// `--since` as Unix milliseconds: an age before `now_ms`, or an ISO date/time.
fn since_ms(s: &str, now_ms: i64) -> Result<i64, Failure> {
    if s.contains('-') {
        return parse_iso(s.trim()).ok_or_else(|| {
            Failure::usage(format!(
                "--since {s:?}: give an age (30m, 2h, 7d) or a UTC date or time (2026-12-01, 2026-12-01T09:30:00Z)"
            ))
        });
    }
    let age = i64::try_from(parse_age(s)?.as_millis()).unwrap_or(i64::MAX);
    Ok(now_ms.saturating_sub(age))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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

/// A collection is ready when everything it will hold is stored and indexed: no files
/// left to read (for `docs`) and nothing queued.
fn ready(c: &CollectionStatus) -> bool {
    !c.ingesting && c.pending_sources == 0 && c.backlog == 0
}

/// The status as one JSON object. `ready` (overall and per collection) is what a script
/// waits for: every file read and every document indexed.
fn status_json(s: &SearchStatus) -> serde_json::Value {
    json!({
        "embedder": s.embedder_model,
        "ready": s.collections.iter().all(ready),
        "queue_depth": s.collections.iter().map(|c| c.backlog).sum::<u64>(),
        "documents": s.collections.iter().map(|c| c.count).sum::<u64>(),
        "collections": s.collections.iter().map(|c| json!({
            "name": c.name,
            "model": c.model,
            "dimension": c.dimension,
            "documents": c.count,
            "backlog": c.backlog,
            "indexed": c.indexed,
            "vectors": c.vectors,
            "pending_files": c.pending_sources,
            "ingesting": c.ingesting,
            "ready": ready(c),
        })).collect::<Vec<_>>(),
    })
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// One line for a collection fed from files: `docs: 12,345 chunks, 0 pending (ready)`.
fn source_line(c: &CollectionStatus) -> String {
    let state = if ready(c) {
        "ready".to_string()
    } else if c.ingesting {
        format!("reading files, {} left", thousands(c.pending_sources))
    } else {
        "indexing".to_string()
    };
    format!(
        "{}: {} chunks, {} pending ({state})",
        c.name,
        thousands(c.count),
        thousands(c.backlog + c.pending_sources)
    )
}

fn json_line(v: &serde_json::Value) -> Result<String, Failure> {
    to_json(v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))
}

/// Run `aios memory …`.
pub async fn run(cli: &Cli, action: MemoryAction) -> Result<Exit, Failure> {
    match action {
        MemoryAction::Search {
            query,
            collection,
            kind,
            session,
            since,
            limit,
            json,
        } => {
            if query.trim().is_empty() {
                return Err(Failure::usage(
                    "aios memory search: give the words to look for",
                ));
            }
            let since_unix_ms = since.map(|s| since_ms(&s, now_ms())).transpose()?;
            let mut c = client(cli).await?;
            let hits = c
                .query(SearchQuery {
                    collection: collection.clone(),
                    text: Some(query),
                    limit,
                    kind,
                    session,
                    since_unix_ms,
                    ..SearchQuery::default()
                })
                .await
                .map_err(|e| Failure::daemon(format!("memory search failed: {}", e.message)))?;
            let mut out = printer::stdout();
            if json || cli.json {
                for (i, h) in hits.iter().enumerate() {
                    let _ = writeln!(out, "{}", json_line(&hit_json(i + 1, h))?);
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
            let s = c.status().await.map_err(|e| {
                Failure::daemon(format!("cannot read memory status: {}", e.message))
            })?;
            let mut out = printer::stdout();
            if json || cli.json {
                let _ = writeln!(out, "{}", json_line(&status_json(&s))?);
            } else {
                let _ = writeln!(
                    out,
                    "embedding model: {}",
                    s.embedder_model
                        .as_deref()
                        .unwrap_or("none loaded: search is BM25 only (cargo xtask model fetch all-minilm-l6-v2)")
                );
                let _ = writeln!(
                    out,
                    "queue depth: {}",
                    s.collections.iter().map(|c| c.backlog).sum::<u64>()
                );
                if s.collections.is_empty() {
                    let _ = writeln!(out, "no collections yet");
                }
                for c in &s.collections {
                    let _ = writeln!(
                        out,
                        "{:<12} {:>8} documents  {:>7} queued  {:>8} indexed  {:>8} vectors  {} ({} dims)",
                        c.name, c.count, c.backlog, c.indexed, c.vectors, c.model, c.dimension
                    );
                }
                for c in s.collections.iter().filter(|c| c.name == DOCS_COLLECTION) {
                    let _ = writeln!(out, "{}", source_line(c));
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]
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

    #[test]
    fn docs_status_says_how_much_is_pending_and_when_it_is_ready() {
        let mut c = CollectionStatus {
            name: DOCS_COLLECTION.into(),
            model: "m".into(),
            dimension: 4,
            count: 12_345,
            backlog: 100,
            indexed: 12_245,
            vectors: 0,
            pending_sources: 7,
            ingesting: true,
        };
        assert_eq!(
            source_line(&c),
            "docs: 12,345 chunks, 107 pending (reading files, 7 left)"
        );
        let s = SearchStatus {
            collections: vec![c.clone()],
            embedder_model: None,
        };
        assert_eq!(status_json(&s)["ready"], false);
        assert_eq!(status_json(&s)["collections"][0]["pending_files"], 7);
        c.ingesting = false;
        c.pending_sources = 0;
        c.backlog = 0;
        assert_eq!(source_line(&c), "docs: 12,345 chunks, 0 pending (ready)");
        let s = SearchStatus {
            collections: vec![c],
            embedder_model: None,
        };
        assert_eq!(status_json(&s)["ready"], true);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn since_takes_an_age_or_a_utc_date() {
        let now = 1_000_000_000_000;
        assert_eq!(since_ms("2h", now).unwrap(), now - 2 * 3_600_000);
        assert_eq!(since_ms("1970-01-02", now).unwrap(), 86_400_000);
        assert_eq!(
            since_ms("2026-12-01T09:30:00Z", now).unwrap(),
            1_796_117_400_000
        );
        assert_eq!(since_ms("2000-03-01T00:00", now).unwrap(), 951_868_800_000);
        for bad in ["2026-13-01", "2026-12-01T25:00", "yesterday", "2026-12"] {
            assert!(since_ms(bad, now).is_err(), "{bad}");
        }
    }
}

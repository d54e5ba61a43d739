//! Narrowing the tools offered to a small local model: a 0.5B model can
//! neither read 80 tool descriptions quickly nor choose well among them,
//! so only the `k` most relevant are offered ([`ToolSelector`]).
//!
//! [`RouterSelector`] is the default: `aios-router`'s BM25F retrieval over
//! each tool's name, description and example requests (synonyms, typo
//! correction), with its gate: a request that needs no tool, or must be
//! refused, is offered none, so the model answers in words. Routers are
//! cached per tool set. [`KeywordSelector`] (plain word overlap) is the
//! fallback should a tool set be one the router refuses to index.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aios_router::{Intent, RouterCache, ToolDoc, tool_set_hash};

use crate::semantic::SemanticCache;

use aios_proto::ModelTool;

/// How many candidate tools the local model sees by default.
pub const DEFAULT_K: usize = 6;

/// Chooses which tools a request's model call is offered.
pub trait ToolSelector: Send + Sync {
    /// At most `k` of `tools`, the most relevant to `request` first.
    fn select(&self, request: &str, tools: &[ModelTool], k: usize) -> Vec<ModelTool>;

    /// Get ready for requests over `tools` (at start, off the request
    /// path); nothing by default.
    fn prepare(&self, _tools: &[ModelTool]) {}

    /// How selection stands, for `aios doctor`; none by default.
    fn status(&self) -> Option<String> {
        None
    }
}

/// `aios-router` behind the [`ToolSelector`] seam.
#[derive(Debug)]
pub struct RouterSelector {
    cache: Mutex<RouterCache>,
    semantic: Option<Arc<SemanticCache>>,
}

impl Default for RouterSelector {
    fn default() -> Self {
        // A handful of tool sets at most: the catalogue, as each user's
        // toolsd reports it.
        RouterSelector {
            cache: Mutex::new(RouterCache::new(4)),
            semantic: Some(Arc::new(SemanticCache::default())),
        }
    }
}

impl RouterSelector {
    /// Lexical routing only: no embedding model is loaded.
    pub fn lexical() -> Self {
        RouterSelector {
            semantic: None,
            ..RouterSelector::default()
        }
    }

    /// Fuse in the semantic ranking of `semantic`'s embedder.
    pub fn with_semantic(semantic: Arc<SemanticCache>) -> Self {
        RouterSelector {
            semantic: Some(semantic),
            ..RouterSelector::default()
        }
    }
}

impl ToolSelector for RouterSelector {
    fn select(&self, request: &str, tools: &[ModelTool], k: usize) -> Vec<ModelTool> {
        let docs: Vec<ToolDoc> = tools.iter().map(ToolDoc::from).collect();
        let router = match self.cache.lock() {
            Ok(mut cache) => cache.get_or_build(&docs),
            // A panic while another request held the lock left the cache
            // as it was; use it anyway.
            Err(poisoned) => poisoned.into_inner().get_or_build(&docs),
        };
        let router = match router {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("tool router unavailable ({e}); using keyword overlap");
                return KeywordSelector.select(request, tools, k);
            }
        };
        let semantic = self
            .semantic
            .as_ref()
            .and_then(|s| s.query(tool_set_hash(&docs), &docs, request));
        let routing = router.decide_with(
            request,
            semantic.as_ref().map(|(s, q)| (s.as_ref(), q.as_slice())),
            k,
        );
        if routing.intent != Intent::Tool {
            tracing::debug!(intent = ?routing.intent, "no tools offered");
            return Vec::new();
        }
        // When BM25 and the vectors agree on the first tool, that tool alone
        // is offered (`Routing::offered`).
        routing
            .offered()
            .iter()
            .filter_map(|c| tools.iter().find(|t| t.name == c.name).cloned())
            .collect()
    }

    fn status(&self) -> Option<String> {
        Some(
            self.semantic
                .as_ref()
                .map_or("routing: lexical", |s| s.describe())
                .to_string(),
        )
    }

    fn prepare(&self, tools: &[ModelTool]) {
        if let Some(s) = &self.semantic {
            let docs: Vec<ToolDoc> = tools.iter().map(ToolDoc::from).collect();
            s.build(tool_set_hash(&docs), &docs);
        }
    }
}

/// Scores tools by the request's words found in their name (weight 3),
/// example requests (2) and description (1). Ties keep catalogue order.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeywordSelector;

/// Words that say nothing about which tool is meant.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "be", "to", "of", "in", "on", "for", "and", "or", "my",
    "me", "i", "it", "this", "that", "what", "which", "how", "do", "does", "can", "you", "please",
    "show", "with", "at", "by", "from", "any", "all", "there", "why", "tell", "give", "get",
];

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

/// A crude English stem so `services`/`service`, `listing`/`list` meet.
fn stem(w: &str) -> String {
    let cut = if w.ends_with("ing") {
        3
    } else if w.ends_with("sses") {
        2
    } else if w.ends_with('s') && !w.ends_with("ss") {
        1
    } else {
        0
    };
    match w.get(..w.len() - cut) {
        Some(s) if cut > 0 && s.len() >= 3 => s.to_string(),
        _ => w.to_string(),
    }
}

impl KeywordSelector {
    fn score(request: &HashSet<String>, t: &ModelTool) -> usize {
        let overlap = |text: &str| words(text).intersection(request).count();
        let examples: String = t
            .examples
            .iter()
            .map(|e| e.request.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        3 * overlap(&t.name) + 2 * overlap(&examples) + overlap(&t.description)
    }
}

impl ToolSelector for KeywordSelector {
    fn select(&self, request: &str, tools: &[ModelTool], k: usize) -> Vec<ModelTool> {
        if tools.len() <= k {
            return tools.to_vec();
        }
        let req = words(request);
        let mut scored: Vec<(usize, usize)> = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (Self::score(&req, t), i))
            .collect();
        // Highest score first; equal scores in catalogue order.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .take(k)
            .map(|(_, i)| tools[i].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::ToolExample;
    use serde_json::json;

    fn tool(name: &str, description: &str, example: &str) -> ModelTool {
        ModelTool {
            name: name.into(),
            description: description.into(),
            schema: json!({"type": "object"}),
            examples: vec![ToolExample {
                request: example.into(),
                args: json!({}),
            }],
        }
    }

    fn catalogue() -> Vec<ModelTool> {
        vec![
            tool(
                "fs.usage",
                "Disk usage of a filesystem path",
                "is the disk full",
            ),
            tool("fs.list", "List a directory", "what files are in /tmp"),
            tool(
                "service.status",
                "Status of a system service",
                "is nginx running",
            ),
            tool("service.restart", "Restart a service", "restart nginx"),
            tool(
                "net.ports",
                "Listening network ports",
                "which ports are open",
            ),
            tool(
                "process.list",
                "Running processes by CPU or memory",
                "what uses the cpu",
            ),
            tool(
                "pkg.search",
                "Search installable packages",
                "find a package for jq",
            ),
            tool("user.list", "Local user accounts", "who has an account"),
        ]
    }

    fn names(v: &[ModelTool]) -> Vec<&str> {
        v.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn the_matching_tool_ranks_first() {
        let s = KeywordSelector;
        let c = catalogue();
        assert_eq!(
            names(&s.select("how full is the disk?", &c, 3))[0],
            "fs.usage"
        );
        assert_eq!(
            names(&s.select("restart the nginx service", &c, 3))[0],
            "service.restart"
        );
        assert_eq!(names(&s.select("open ports?", &c, 3))[0], "net.ports");
    }

    #[test]
    fn at_most_k_and_all_when_few() {
        let s = KeywordSelector;
        let c = catalogue();
        assert_eq!(s.select("anything", &c, DEFAULT_K).len(), DEFAULT_K);
        assert_eq!(names(&s.select("x", &c[..2], 6)), ["fs.usage", "fs.list"]);
    }

    /// Embeds a text on one axis if it speaks of disks, else on the other:
    /// every other tool ties, and ties rank by name.
    struct DiskOrNot;

    impl crate::semantic::TextEmbedder for DiskOrNot {
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
            Ok(texts
                .iter()
                .map(|t| match t.to_lowercase().contains("disk") {
                    true => vec![1.0, 0.0],
                    false => vec![0.0, 1.0],
                })
                .collect())
        }
    }

    #[test]
    fn the_tool_both_rankings_put_first_is_offered_alone() {
        let semantic = Arc::new(SemanticCache::with_loader(|| {
            Some(Arc::new(DiskOrNot) as Arc<dyn crate::semantic::TextEmbedder>)
        }));
        let selector = RouterSelector::with_semantic(semantic.clone());
        let c = catalogue();
        selector.prepare(&c);
        let docs: Vec<ToolDoc> = c.iter().map(ToolDoc::from).collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !semantic.is_ready(tool_set_hash(&docs)) {
            assert!(
                std::time::Instant::now() < deadline,
                "tool vectors never built"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // BM25 and the vectors both put fs.usage first.
        assert_eq!(
            names(&selector.select("how full is the disk?", &c, 3)),
            ["fs.usage"]
        );
        // BM25 says net.ports, the vectors fs.list (first of the ties).
        let split = selector.select("open ports?", &c, 3);
        assert_eq!(split.len(), 3);
        assert!(names(&split).contains(&"net.ports"));
    }

    #[test]
    fn stems_meet() {
        assert_eq!(stem("services"), stem("service"));
        assert_eq!(stem("processes"), stem("process"));
        assert_eq!(stem("listing"), "list");
        assert_eq!(stem("is"), "is");
    }
}

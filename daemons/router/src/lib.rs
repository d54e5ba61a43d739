//! # aios-router: narrow a request to the few tools worth offering
//!
//! A 0.5B local model cannot read 89 tool descriptions quickly nor choose
//! well among them. The [`Router`] retrieves the top-k candidates for a
//! request, so the model chooses among k (under a grammar) instead of 89.
//!
//! - **Retrieval** is BM25F over each tool's split name (`fs.usage` →
//!   `fs usage`), description and example requests, with a light stemmer,
//!   a synonym table (disk ↔ storage ↔ space…) and typo correction against
//!   the index's own vocabulary ("dsik" → "disk"). See `docs/ROUTER.md` for
//!   what each part buys on the evaluation set.
//! - **Semantic retrieval** ([`semantic`]): the tools' texts and the
//!   request embedded by the caller's model, ranked by cosine similarity
//!   and fused with the lexical ranking by reciprocal rank
//!   ([`Router::decide_with`]).
//! - **Gating** ([`classify`]) flags requests that need no tool and
//!   catastrophic requests, by cheap rules, before retrieval.
//! - **Caching** ([`RouterCache`], [`tool_set_hash`]): gatewayd builds one
//!   router per tool set and keys it by a hash of that set.
//! - **Groups** ([`groups`]): the fixed tool lists a local model is shown,
//!   so the runtime can save their prompt's cache once.
//! - **Evaluation** ([`eval`]): the dataset format, the metrics and the
//!   seam ([`eval::Chooser`]) where the local model's choice plugs in.
//!
//! Design decisions:
//! - **Plain data in.** [`ToolDoc`] is name, description and examples; the
//!   crate does not know the tool catalogue, so gatewayd can use it without
//!   linking the tools.
//! - **No tantivy here.** The corpus is ~90 short documents: a hand-rolled
//!   BM25F in a few hash maps builds in about 2 ms and routes
//!   in microseconds, where a tantivy index in RAM needs a writer, a commit
//!   and a reader per tool set. Typo correction by brute-force edit distance
//!   over ~1k terms is cheap at this size and keeps the scores explainable.
//! - **Synchronous and pure**: no I/O, no threads.
#![deny(missing_docs)]

mod cache;
mod error;
pub mod eval;
mod gate;
pub mod groups;
mod index;
mod lexicon;
pub mod refuse;
pub mod semantic;
mod text;

pub use cache::{RouterCache, tool_set_hash};
pub use error::{RouterError, RouterErrorKind};
pub use gate::{Intent, classify};
pub use index::RouterOptions;

use std::collections::HashSet;

/// Below this confidence in the tool it named (the local model's own
/// probability of the branch it took where the candidates' names part,
/// multiplied over those steps), the gateway asks the user which of the
/// two likeliest tools was meant instead of calling one. Calibrated on the
/// main evaluation set and checked on the held-out one (`docs/ROUTER.md`).
pub const CLARIFY_BELOW: f32 = 0.5;

/// What the router knows of one tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolDoc {
    /// Dotted name, `namespace.verb`.
    pub name: String,
    /// The tool's description.
    pub description: String,
    /// Natural requests the tool answers.
    pub examples: Vec<String>,
}

impl From<&aios_domain::ToolSpec> for ToolDoc {
    fn from(spec: &aios_domain::ToolSpec) -> Self {
        ToolDoc {
            name: spec.name.clone(),
            description: spec.description.clone(),
            examples: spec.examples.iter().map(|e| e.request.clone()).collect(),
        }
    }
}

impl From<&aios_domain::ModelTool> for ToolDoc {
    fn from(tool: &aios_domain::ModelTool) -> Self {
        ToolDoc {
            name: tool.name.clone(),
            description: tool.description.clone(),
            examples: tool.examples.iter().map(|e| e.request.clone()).collect(),
        }
    }
}

/// One retrieved tool and its retrieval score (BM25F, higher is better;
/// comparable only within one request).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The tool's name.
    pub name: String,
    /// Its score for this request.
    pub score: f32,
}

/// The router's whole answer for one request: the gate's intent, and the
/// candidates (empty unless the intent is [`Intent::Tool`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// Tool, no tool, or refuse.
    pub intent: Intent,
    /// The top-k tools, best first.
    pub candidates: Vec<Candidate>,
    /// The lexical and the semantic ranking, each on its own, put the same
    /// tool first: that tool alone is offered ([`Routing::offered`]).
    /// Never set by lexical routing alone.
    pub agreed: bool,
}

impl Routing {
    /// The tools to offer the model: the agreed tool alone when both
    /// rankings put it first, else every candidate. When they agree the
    /// first candidate was right in 94 % of the main set's tool cases and
    /// 93 % of the held-out set's (`docs/ROUTER.md`), above the local
    /// model's own choice among six, and a prompt listing one tool is a
    /// fraction of the length.
    pub fn offered(&self) -> &[Candidate] {
        if self.agreed {
            &self.candidates[..self.candidates.len().min(1)]
        } else {
            &self.candidates
        }
    }
}

/// Retrieval over one tool set. Build once per tool set ([`RouterCache`]);
/// immutable and `Sync` afterwards.
#[derive(Debug)]
pub struct Router {
    index: index::Index,
}

impl Router {
    /// Index `tools` with the default options.
    pub fn new(tools: &[ToolDoc]) -> Result<Router, RouterError> {
        Self::with_options(tools, RouterOptions::default())
    }

    /// Index `tools` with explicit options (the evaluation's ablations).
    pub fn with_options(tools: &[ToolDoc], options: RouterOptions) -> Result<Router, RouterError> {
        let mut seen = HashSet::new();
        for tool in tools {
            if tool.name.trim().is_empty() {
                return Err(RouterError::new(
                    RouterErrorKind::InvalidTool,
                    "a tool has an empty name; every tool needs its dotted name",
                ));
            }
            if !seen.insert(tool.name.as_str()) {
                return Err(RouterError::new(
                    RouterErrorKind::InvalidTool,
                    format!("tool {:?} is given twice; names must be unique", tool.name),
                ));
            }
        }
        Ok(Router {
            index: index::Index::build(tools, options),
        })
    }

    /// The `k` tools most likely to answer `request`, best first. Fewer
    /// when fewer share any term with it; empty when none does.
    pub fn route(&self, request: &str, k: usize) -> Vec<Candidate> {
        self.index.search(request, k)
    }

    /// [`classify`] then, for a tool request, [`Router::route`].
    pub fn decide(&self, request: &str, k: usize) -> Routing {
        self.decide_with(request, None, k)
    }

    /// [`Router::decide`], with the semantic ranking fused in when given
    /// (`semantic` built for this router's tools, and the request's vector
    /// from the same model): a tool request then always gets k candidates,
    /// even when it shares no word with any tool.
    pub fn decide_with(
        &self,
        request: &str,
        semantic: Option<(&semantic::Semantic, &[f32])>,
        k: usize,
    ) -> Routing {
        let intent = classify(request);
        let (candidates, agreed) = match (&intent, semantic) {
            (Intent::Tool, None) => (self.route(request, k), false),
            (Intent::Tool, Some((s, query))) => {
                let lexical = self.route(request, usize::MAX);
                let ranked = s.rank(query);
                let agreed = matches!(
                    (lexical.first(), ranked.first()),
                    (Some(l), Some(r)) if l.name == r.name
                );
                let fused = semantic::fuse(&lexical, &ranked, semantic::SEMANTIC_RATIO, k);
                (fused, agreed)
            }
            (Intent::NoTool { .. } | Intent::Refuse { .. }, _) => (Vec::new(), false),
        };
        Routing {
            intent,
            candidates,
            agreed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, description: &str, examples: &[&str]) -> ToolDoc {
        ToolDoc {
            name: name.into(),
            description: description.into(),
            examples: examples.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn tools() -> Vec<ToolDoc> {
        vec![
            doc(
                "fs.usage",
                "Disk space of the filesystem containing a path.",
                &["how full is the disk?"],
            ),
            doc(
                "net.listening",
                "List listening TCP sockets.",
                &["which ports are open?"],
            ),
            doc("hw.memory", "Show memory in detail.", &["how much RAM?"]),
        ]
    }

    #[test]
    fn ranks_the_matching_tool_first() {
        let r = Router::new(&tools()).unwrap();
        assert_eq!(r.route("is my disk full", 3)[0].name, "fs.usage");
        assert_eq!(
            r.route("what ports are listening", 3)[0].name,
            "net.listening"
        );
    }

    #[test]
    fn typos_and_synonyms_still_find_the_tool() {
        let r = Router::new(&tools()).unwrap();
        assert_eq!(r.route("dsik full", 3)[0].name, "fs.usage");
        assert_eq!(r.route("free storage left", 3)[0].name, "fs.usage");
        assert_eq!(r.route("memroy", 3)[0].name, "hw.memory");
    }

    #[test]
    fn without_typo_correction_a_typo_finds_nothing() {
        let options = RouterOptions {
            fuzzy: false,
            ..RouterOptions::default()
        };
        let r = Router::with_options(&tools(), options).unwrap();
        assert!(r.route("memroy", 3).is_empty());
    }

    #[test]
    fn unrelated_text_finds_nothing_and_k_bounds() {
        let r = Router::new(&tools()).unwrap();
        assert!(r.route("zebra giraffe", 3).is_empty());
        assert_eq!(r.route("list disk memory ports", 2).len(), 2);
    }

    #[test]
    fn rejects_duplicate_and_empty_names() {
        let mut t = tools();
        t.push(t[0].clone());
        let err = Router::new(&t).unwrap_err();
        assert_eq!(err.kind(), RouterErrorKind::InvalidTool);
        assert!(err.to_string().contains("fs.usage"));
        assert!(Router::new(&[doc(" ", "x", &[])]).is_err());
    }

    #[test]
    fn the_agreed_tool_alone_is_offered_when_both_rankings_put_it_first() {
        let t = tools();
        let r = Router::new(&t).unwrap();
        // One axis per tool, for its name text and its example alike.
        let axis = |i: usize| (0..3).map(|j| f32::from(u8::from(i == j))).collect();
        let vectors = semantic::texts(&t).iter().map(|(i, _)| axis(*i)).collect();
        let s = semantic::Semantic::new(&t, vectors).unwrap();
        let disk: Vec<f32> = axis(0);
        let ports: Vec<f32> = axis(1);

        let agree = r.decide_with("is my disk full", Some((&s, &disk)), 3);
        assert!(agree.agreed);
        assert_eq!(agree.offered().len(), 1);
        assert_eq!(agree.offered()[0].name, "fs.usage");
        assert_eq!(agree.candidates.len(), 3, "recall still sees all k");

        let split = r.decide_with("is my disk full", Some((&s, &ports)), 3);
        assert!(!split.agreed);
        assert_eq!(split.offered().len(), 3);

        let lexical = r.decide("is my disk full", 3);
        assert!(!lexical.agreed, "one ranking cannot agree with itself");
        assert!(
            r.decide_with("hello", Some((&s, &disk)), 3)
                .offered()
                .is_empty()
        );
    }

    #[test]
    fn decide_gates_before_retrieval() {
        let r = Router::new(&tools()).unwrap();
        assert!(matches!(
            r.decide("rm -rf /", 3).intent,
            Intent::Refuse { .. }
        ));
        assert!(r.decide("hello", 3).candidates.is_empty());
        assert_eq!(r.decide("disk full?", 3).intent, Intent::Tool);
    }
}

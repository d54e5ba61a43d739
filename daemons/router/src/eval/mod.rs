//! The tool-choice evaluation: a dataset of requests with the expected
//! tool and arguments ([`dataset`]), the seam where a model chooses among
//! the router's candidates ([`Chooser`]), and the metrics ([`Report`]).
//!
//! Routing alone gives recall@1/@3/@k of the expected tool and how well
//! the gate spots no-tool and refused requests. With a [`Chooser`] the
//! same run also gives tool accuracy (the chosen tool is right) and
//! argument accuracy (the expected keys match after canonical comparison,
//! [`args_match`]). `tests/src/bin/aios-eval/` (`cargo xtask eval tools`)
//! is the front end; it knows the catalogue, this module does not.

mod args;
mod dataset;
mod report;

pub use args::{args_match, canonical_eq};
pub use dataset::{Case, Expected, parse_cases, subset};
pub use report::{Miss, Report, run, run_with};

use crate::Candidate;

/// What a chooser decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Call this tool with these arguments (a JSON object).
    Tool {
        /// The tool's name; should be one of the candidates.
        name: String,
        /// Its arguments.
        args: serde_json::Value,
    },
    /// Answer without a tool.
    NoTool,
    /// Refuse the request.
    Refuse,
    /// Ask the user a short question instead of guessing (low margin).
    Clarify {
        /// The question.
        question: String,
    },
}

/// **The end-to-end seam.** Given the request and the router's candidates,
/// pick one and fill its arguments: the local model under a per-tool
/// grammar (or by likelihood of the names), or a cloud model. The harness
/// times each call and scores tool and argument accuracy.
pub trait Chooser {
    /// Names the model and route in the report ("qwen2.5-coder-0.5b, local").
    fn label(&self) -> String;
    /// Choose for one request.
    fn choose(&mut self, request: &str, candidates: &[Candidate]) -> Choice;
}

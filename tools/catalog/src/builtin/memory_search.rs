//! `memory.search`: the model's way into long-term memory, the same search as
//! `aios memory search`: the machine's own documentation (`docs`: man pages and READMEs,
//! so "how do I make a file immutable?" is answered from `chattr(1)`) or what was said
//! and done before (`history`, the caller's own conversations and tool calls only).
//! The hits are data for the model, never instructions.

use aios_domain::{Resource, ResourceKind, Risk};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Example, MemoryQuestion, Tool, ToolCtx, ToolError};

/// `memory.search`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemorySearch;

/// Most hits one call returns.
pub const MAX_LIMIT: u32 = 20;

/// Which collection to search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemoryCollection {
    /// The machine's documentation: man pages and package READMEs.
    #[default]
    Docs,
    /// Earlier conversations and tool calls of this user.
    History,
}

impl MemoryCollection {
    fn as_str(self) -> &'static str {
        match self {
            MemoryCollection::Docs => "docs",
            MemoryCollection::History => "history",
        }
    }
}

fn default_limit() -> u32 {
    5
}

/// Arguments of `memory.search`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySearchArgs {
    /// What to look for, in words: a question or keywords.
    pub query: String,
    /// docs (man pages and READMEs of this machine, the default) or history (earlier conversations).
    #[serde(default)]
    pub collection: MemoryCollection,
    /// At most this many hits (default 5, at most 20).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

impl Tool for MemorySearch {
    type Args = MemorySearchArgs;

    fn name(&self) -> &'static str {
        "memory.search"
    }

    fn description(&self) -> &'static str {
        "Search this machine's own documentation (man pages and READMEs: how to do something with an installed \
         command) or, with collection history, earlier conversations and tool calls; ranked hits with snippets."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        // memoryd's store of the system's documentation and memories: system-wide state,
        // read only (no resource kind of its own yet).
        &[ResourceKind::System]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "how do I make a file immutable?",
                args: r#"{"query": "make a file immutable"}"#,
            },
            Example {
                request: "what does the man page say about rsync --delete",
                args: r#"{"query": "rsync --delete"}"#,
            },
            Example {
                request: "what did we decide about the backup job?",
                args: r#"{"query": "backup job", "collection": "history"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut MemorySearchArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.query = args.query.trim().to_string();
        if args.query.is_empty() {
            return Err(ToolError::invalid("give the words to look for in query"));
        }
        if args.query.len() > 1000 {
            return Err(ToolError::invalid(
                "query is longer than 1000 bytes; use keywords",
            ));
        }
        args.limit = args.limit.clamp(1, MAX_LIMIT);
        Ok(())
    }

    fn resources(&self, _args: &MemorySearchArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, args: &MemorySearchArgs) -> String {
        format!("search {} for {:?}", args.collection.as_str(), args.query)
    }

    async fn run(&self, ctx: ToolCtx, args: MemorySearchArgs) -> Result<Value, ToolError> {
        let reader = ctx
            .memory()
            .ok_or_else(|| ToolError::failed("this executor has no memory service to search"))?;
        // The documentation is everyone's; memories are the caller's own, whoever asks.
        let only_user =
            (args.collection == MemoryCollection::History).then(|| ctx.access().identity().uid);
        let hits = reader
            .search(MemoryQuestion {
                collection: args.collection.as_str().to_string(),
                query: args.query.clone(),
                limit: args.limit,
                only_user,
            })
            .await
            .map_err(|e| ToolError::failed(format!("memory search: {e}")))?;
        let n = hits.as_array().map_or(0, Vec::len);
        super::to_value(&serde_json::json!({
            "summary": format!("{n} hits in {} for {:?}", args.collection.as_str(), args.query),
            "collection": args.collection.as_str(),
            "hits": hits,
        }))
    }
}

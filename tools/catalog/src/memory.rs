//! Long-term memory as the `memory.search` and `memory.output` tools see it: a narrow
//! trait the executor implements over memoryd's services, so this crate searches and
//! reads stored outputs without knowing gRPC or sockets.

use futures::future::BoxFuture;
use serde_json::Value;

/// One search, as the tool asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryQuestion {
    /// `docs` (the machine's documentation) or `history` (remembered conversations).
    pub collection: String,
    /// What to look for.
    pub query: String,
    /// At most this many hits.
    pub limit: u32,
    /// Only documents of this user (metadata `user`): the caller's own memories.
    pub only_user: Option<u32>,
}

/// A tool call's full output as the episodic store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutput {
    /// The tool that was called.
    pub tool: String,
    /// Its result as the model was shown it (text as is, other JSON as JSON text),
    /// before any cut.
    pub text: String,
}

/// Searches memoryd's collections and reads its stored tool outputs.
pub trait MemoryReader: Send + Sync + std::fmt::Debug {
    /// Ranked hits as a JSON array of objects (`id`, `score`, `snippet`, `metadata`).
    fn search(&self, q: MemoryQuestion) -> BoxFuture<'_, Result<Value, String>>;

    /// The stored output of call `call_id` in session `session_id`, when that session
    /// belongs to `owner`; `None` when there is no such call in a session of `owner`s
    /// (another user's session is not told apart from a missing one). The default
    /// reads nothing.
    fn tool_output(
        &self,
        session_id: String,
        call_id: String,
        owner: u32,
    ) -> BoxFuture<'_, Result<Option<StoredOutput>, String>> {
        let _ = (session_id, call_id, owner);
        Box::pin(async { Err("this executor keeps no stored outputs".to_string()) })
    }
}

//! Long-term memory as the `memory.search` tool sees it: a narrow trait the executor
//! implements over memoryd's search service, so this crate searches without knowing gRPC
//! or sockets.

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

/// Searches memoryd's collections.
pub trait MemoryReader: Send + Sync + std::fmt::Debug {
    /// Ranked hits as a JSON array of objects (`id`, `score`, `snippet`, `metadata`).
    fn search(&self, q: MemoryQuestion) -> BoxFuture<'_, Result<Value, String>>;
}

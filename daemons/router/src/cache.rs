//! Routers cached by the tool set they index. gatewayd asks for a router
//! per request with the tool set it was given; the set rarely changes, so
//! the build happens once per distinct set.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::{Router, RouterError, ToolDoc};

/// A stable 64-bit hash of a tool set (FNV-1a over every name, description
/// and example, length-prefixed so fields cannot run together). The order
/// of the tools does not matter; their content does.
pub fn tool_set_hash(tools: &[ToolDoc]) -> u64 {
    let mut per_tool: Vec<u64> = tools.iter().map(hash_tool).collect();
    per_tool.sort_unstable();
    let mut h = Fnv::new();
    for t in per_tool {
        h.write(&t.to_le_bytes());
    }
    h.0
}

fn hash_tool(tool: &ToolDoc) -> u64 {
    let mut h = Fnv::new();
    h.field(&tool.name);
    h.field(&tool.description);
    for e in &tool.examples {
        h.field(e);
    }
    h.0
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn field(&mut self, s: &str) {
        self.write(&(s.len() as u64).to_le_bytes());
        self.write(s.as_bytes());
    }
}

/// The last few routers built, by [`tool_set_hash`]. Small on purpose: a
/// gateway sees a handful of tool sets (per user rights), not hundreds.
#[derive(Debug)]
pub struct RouterCache {
    capacity: usize,
    entries: VecDeque<(u64, Arc<Router>)>,
}

impl RouterCache {
    /// A cache holding at most `capacity` routers (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
        }
    }

    /// The router for `tools`, built on a miss; the least recently used
    /// router is dropped when the cache is full.
    pub fn get_or_build(&mut self, tools: &[ToolDoc]) -> Result<Arc<Router>, RouterError> {
        let key = tool_set_hash(tools);
        if let Some(pos) = self.entries.iter().position(|(k, _)| *k == key)
            && let Some(hit) = self.entries.remove(pos)
        {
            let router = Arc::clone(&hit.1);
            self.entries.push_front(hit);
            return Ok(router);
        }
        let router = Arc::new(Router::new(tools)?);
        self.entries.push_front((key, Arc::clone(&router)));
        self.entries.truncate(self.capacity);
        Ok(router)
    }

    /// How many routers are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> ToolDoc {
        ToolDoc {
            name: name.into(),
            description: format!("{name} does things"),
            examples: vec![],
        }
    }

    #[test]
    fn hash_ignores_order_but_not_content() {
        let a = [doc("a.x"), doc("b.y")];
        let b = [doc("b.y"), doc("a.x")];
        assert_eq!(tool_set_hash(&a), tool_set_hash(&b));
        let mut c = a.clone();
        c[0].description.push('!');
        assert_ne!(tool_set_hash(&a), tool_set_hash(&c));
    }

    #[test]
    fn cache_reuses_and_evicts() {
        let mut cache = RouterCache::new(1);
        let one = [doc("a.x")];
        let r1 = cache.get_or_build(&one).unwrap();
        let r2 = cache.get_or_build(&one).unwrap();
        assert!(Arc::ptr_eq(&r1, &r2));
        cache.get_or_build(&[doc("b.y")]).unwrap();
        assert_eq!(cache.len(), 1);
        let r3 = cache.get_or_build(&one).unwrap();
        assert!(!Arc::ptr_eq(&r1, &r3));
    }
}

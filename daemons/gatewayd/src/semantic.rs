//! The semantic side of tool routing in the gateway: all-MiniLM-L6-v2
//! (`aios-embed`, in process) embeds each tool set's texts once, in the
//! background, and each request as it comes (about 10 ms); the router fuses
//! that ranking with its lexical one ([`aios_router::semantic`]).
//!
//! Until a tool set's vectors are ready, or when the embedding model is not
//! installed, routing is lexical only: the semantic side only ever adds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use aios_router::ToolDoc;
use aios_router::semantic::{self, Semantic};

/// Turns texts into unit vectors of one model.
pub trait TextEmbedder: Send + Sync {
    /// One vector per text, in order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String>;
}

impl TextEmbedder for aios_embed::MiniLm {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        self.embed_texts(texts).map_err(|e| e.to_string())
    }
}

type Load = Box<dyn Fn() -> Option<Arc<dyn TextEmbedder>> + Send + Sync>;

/// Semantic rankers per tool set, built off the request path.
pub struct SemanticCache {
    load: Load,
    embedder: OnceLock<Option<Arc<dyn TextEmbedder>>>,
    ready: Mutex<HashMap<u64, Arc<Semantic>>>,
    building: Mutex<HashSet<u64>>,
}

impl std::fmt::Debug for SemanticCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemanticCache").finish_non_exhaustive()
    }
}

impl Default for SemanticCache {
    /// all-MiniLM-L6-v2 from the model directory, loaded on first need; no
    /// semantic side when it is not installed.
    fn default() -> Self {
        Self::with_loader(|| match aios_embed::MiniLm::load_default() {
            Ok(m) => Some(Arc::new(m) as Arc<dyn TextEmbedder>),
            Err(e) => {
                tracing::info!("tool routing is lexical only: {e}");
                None
            }
        })
    }
}

impl SemanticCache {
    /// With the embedder `load` returns (called once, on a background
    /// thread; `None` = lexical routing only).
    pub fn with_loader(
        load: impl Fn() -> Option<Arc<dyn TextEmbedder>> + Send + Sync + 'static,
    ) -> Self {
        SemanticCache {
            load: Box::new(load),
            embedder: OnceLock::new(),
            ready: Mutex::new(HashMap::new()),
            building: Mutex::new(HashSet::new()),
        }
    }

    /// The ranker of the tool set hashed `key` and the request's vector,
    /// when both are at hand. The first call for a tool set starts building
    /// its ranker in the background and returns `None`.
    pub fn query(
        self: &Arc<Self>,
        key: u64,
        docs: &[ToolDoc],
        request: &str,
    ) -> Option<(Arc<Semantic>, Vec<f32>)> {
        let ready = lock(&self.ready).get(&key).cloned();
        let Some(semantic) = ready else {
            self.build(key, docs);
            return None;
        };
        let embedder = self.embedder.get()?.as_ref()?;
        match embedder.embed(&[request.to_string()]) {
            Ok(mut v) if v.len() == 1 => Some((semantic, v.remove(0))),
            Ok(_) | Err(_) => None,
        }
    }

    /// Build the ranker of `docs` on a background thread, once per key.
    pub fn build(self: &Arc<Self>, key: u64, docs: &[ToolDoc]) {
        if lock(&self.ready).contains_key(&key) || !lock(&self.building).insert(key) {
            return;
        }
        let me = Arc::clone(self);
        let docs = docs.to_vec();
        let spawned = std::thread::Builder::new()
            .name("tool-vectors".into())
            .spawn(move || {
                let built = me
                    .embedder
                    .get_or_init(|| (me.load)())
                    .as_ref()
                    .and_then(|e| {
                        let texts: Vec<String> =
                            semantic::texts(&docs).into_iter().map(|(_, t)| t).collect();
                        let started = std::time::Instant::now();
                        let vectors = e
                            .embed(&texts)
                            .map_err(|err| tracing::warn!("cannot embed the tools: {err}"))
                            .ok()?;
                        let s = Semantic::new(&docs, vectors)
                            .map_err(|err| tracing::warn!("{err}"))
                            .ok()?;
                        tracing::info!(
                            texts = texts.len(),
                            ms = started.elapsed().as_millis() as u64,
                            "tool vectors ready: routing is hybrid"
                        );
                        Some(s)
                    });
                if let Some(s) = built {
                    lock(&me.ready).insert(key, Arc::new(s));
                }
                lock(&me.building).remove(&key);
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start embedding the tools: {e}");
            lock(&self.building).remove(&key);
        }
    }

    /// How routing stands, for `aios doctor`.
    pub fn describe(&self) -> &'static str {
        if !lock(&self.ready).is_empty() {
            "routing: hybrid (BM25 + all-MiniLM-L6-v2)"
        } else if !lock(&self.building).is_empty() {
            "routing: lexical until the tool vectors are ready"
        } else if matches!(self.embedder.get(), Some(None)) {
            "routing: lexical (no embedding model: `aios model pull all-minilm-l6-v2`)"
        } else {
            "routing: lexical (no tool set seen yet)"
        }
    }

    /// Whether the ranker of the tool set hashed `key` is ready.
    pub fn is_ready(&self, key: u64) -> bool {
        lock(&self.ready).contains_key(&key)
    }
}

/// A poisoned lock still holds consistent data here (inserts and removes
/// of whole entries): use it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Embeds by counting two letters: enough to rank deterministically.
    struct Letters;

    impl TextEmbedder for Letters {
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
            Ok(texts
                .iter()
                .map(|t| {
                    let a = t.matches('a').count() as f32;
                    let z = t.matches('z').count() as f32;
                    let n = (a * a + z * z).sqrt().max(1.0);
                    vec![a / n, z / n]
                })
                .collect())
        }
    }

    fn docs() -> Vec<ToolDoc> {
        vec![
            ToolDoc {
                name: "x.aaa".into(),
                description: "Aaa.".into(),
                examples: vec![],
            },
            ToolDoc {
                name: "x.zzz".into(),
                description: "Zzz.".into(),
                examples: vec![],
            },
        ]
    }

    #[test]
    fn the_first_query_builds_in_the_background_and_later_ones_rank() {
        let cache = Arc::new(SemanticCache::with_loader(|| Some(Arc::new(Letters) as _)));
        assert!(cache.query(1, &docs(), "zz").is_none());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !cache.is_ready(1) {
            assert!(std::time::Instant::now() < deadline, "never built");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (s, q) = cache.query(1, &docs(), "zz").unwrap();
        assert_eq!(s.rank(&q)[0].name, "x.zzz");
    }

    #[test]
    fn without_an_embedder_nothing_is_ever_ready() {
        let cache = Arc::new(SemanticCache::with_loader(|| None));
        cache.build(1, &docs());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while lock(&cache.building).contains(&1) {
            assert!(std::time::Instant::now() < deadline, "never finished");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(cache.query(1, &docs(), "aa").is_none());
    }
}

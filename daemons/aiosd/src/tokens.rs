//! Real token counts of message texts, remembered per session (issue 11
//! §1): the gateway counts a text in the model's own tokens once (runtimed's
//! tokenizer, for the local model), and [`crate::context::TokenCount`] uses
//! that count instead of its byte estimate whenever it measures the same
//! text again. Pure: the asking is `crate::working::count_real`.
//!
//! Texts are remembered by a 64-bit hash of their bytes, so the map holds
//! no conversation text; a collision would only misstate one text's size.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use aios_proto::ChatMessage;

use crate::context::{Budget, Memory, TokenCount, cut_tool_output, memory_block};

/// Texts remembered per session; past it the map starts over (the next
/// assembly counts again what it still measures).
pub const MAX_KNOWN: usize = 8192;

/// Real counts of texts, by the hash of their bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownCounts {
    map: HashMap<u64, u32>,
}

/// The key of `text`. `DefaultHasher::new()` has fixed keys, so a key is
/// the same for the life of the process.
fn key(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl KnownCounts {
    /// The real count of `text`, if it was counted.
    pub fn get(&self, text: &str) -> Option<usize> {
        self.map.get(&key(text)).map(|&n| n as usize)
    }

    /// Remember that `text` is `tokens` tokens.
    pub fn insert(&mut self, text: &str, tokens: u32) {
        if self.map.len() >= MAX_KNOWN {
            self.map.clear();
        }
        self.map.insert(key(text), tokens);
    }

    /// Texts remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no text is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Every text that assembling `history` and `memories` measures and whose
/// real count is not known yet under `count`, each once: message contents,
/// tool calls' names and arguments, tool outputs as they would be cut, and
/// each memory as quoted. Counting them and assembling again makes the
/// assembly measure in real tokens (a cut depends on the real count of the
/// output it cuts, so a second round may find the cut text new).
pub fn uncounted(
    history: &[ChatMessage],
    memories: &[Memory],
    session_id: &str,
    budget: &Budget,
    count: &TokenCount,
) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for m in history {
        texts.push(m.content.clone());
        for c in &m.tool_calls {
            texts.push(c.name.clone());
            texts.push(c.args.to_string());
        }
        if let Some(cut) = cut_tool_output(m, session_id, budget.tool_output, count) {
            texts.push(cut.content);
        }
    }
    texts.extend(memories.iter().map(memory_block));
    let mut seen = HashSet::new();
    texts
        .into_iter()
        .filter(|t| !t.is_empty() && count.known.get(t).is_none() && seen.insert(key(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use aios_proto::Role;

    use super::*;

    fn msg(role: Role, text: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: text.to_string(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    #[test]
    fn a_known_count_replaces_the_estimate_and_each_text_is_asked_once() {
        let h = vec![
            msg(Role::User, "how full is the disk?"),
            msg(Role::Assistant, "how full is the disk?"),
        ];
        let budget = Budget::of(3000);
        let mut count = TokenCount::default();
        let texts = uncounted(&h, &[], "s", &budget, &count);
        assert_eq!(texts, vec!["how full is the disk?".to_string()]);
        let mut known = KnownCounts::default();
        known.insert(&texts[0], 42);
        count.known = Arc::new(known);
        assert_eq!(count.text("how full is the disk?"), 42);
        assert!(uncounted(&h, &[], "s", &budget, &count).is_empty());
        // An uncounted text is still estimated from its bytes.
        assert_eq!(count.text("abcdefg"), 2);
    }

    #[test]
    fn a_long_tool_output_is_cut_by_its_real_size_and_the_cut_counted_next() {
        let output = "x".repeat(7000);
        let mut t = msg(Role::Tool, &output);
        t.tool_call_id = Some("c1".into());
        let h = vec![msg(Role::User, "q"), t];
        let budget = Budget::of(1000);
        let mut count = TokenCount::default();
        // By the estimate (2,000 tokens) it is cut, and the cut is asked for.
        assert_eq!(uncounted(&h, &[], "s", &budget, &count).len(), 3);
        // Counted for real it is 400 tokens: under the 500 of one output,
        // so nothing is cut and nothing more is asked.
        let mut known = KnownCounts::default();
        known.insert("q", 1);
        known.insert(&output, 400);
        count.known = Arc::new(known.clone());
        assert!(uncounted(&h, &[], "s", &budget, &count).is_empty());
        // At 4,000 tokens it is cut to about 500 real tokens' worth of bytes.
        known.insert(&output, 4000);
        count.known = Arc::new(known);
        let left = uncounted(&h, &[], "s", &budget, &count);
        assert_eq!(left.len(), 1, "{left:?}");
        let head = left[0].split('\n').next().unwrap();
        assert!(head.len() <= 7000 * 500 / 4000, "{}", head.len());
        assert!(head.len() >= 7000 * 500 / 4000 - 300, "{}", head.len());
    }

    #[test]
    fn the_map_starts_over_past_its_bound() {
        let mut k = KnownCounts::default();
        for i in 0..MAX_KNOWN {
            k.insert(&i.to_string(), 1);
        }
        assert_eq!(k.len(), MAX_KNOWN);
        k.insert("one more", 3);
        assert_eq!(k.len(), 1);
        assert_eq!(k.get("one more"), Some(3));
    }
}

//! The retrieval index: BM25F over three weighted fields of each tool (its
//! split name, its description, its example requests), with query
//! expansion by the synonym table and by typo correction against the
//! index's own vocabulary. Everything lives in a few small maps: 89 tools
//! make a vocabulary of about a thousand terms, so brute force is cheap and
//! the whole build takes about 2 ms (see `docs/ROUTER.md`).

use std::collections::HashMap;

use crate::text::{edit_distance_chars, is_stop, stem, terms, words};
use crate::{Candidate, ToolDoc};

/// Tunables of retrieval. [`Default`] is what the evaluation chose; the
/// switches exist so `cargo xtask eval tools` can show what each one buys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouterOptions {
    /// Weight of a term in the tool's name (`fs.usage` → `fs`, `usage`).
    pub name_weight: f32,
    /// Weight of a term in the description.
    pub description_weight: f32,
    /// Weight of a term in the example requests.
    pub example_weight: f32,
    /// BM25 term-frequency saturation.
    pub k1: f32,
    /// BM25 length normalisation (0 = none, 1 = full).
    pub b: f32,
    /// Expand request terms with the synonym table.
    pub synonyms: bool,
    /// Weight of a synonym relative to the word the user typed.
    pub synonym_weight: f32,
    /// Read a shell command typed as the first word ("lsblk", "ps aux")
    /// as the words of the tool that does the same.
    pub commands: bool,
    /// Correct unknown request terms to the nearest indexed term(s).
    pub fuzzy: bool,
    /// Weight of a corrected term (edit distance 1; distance 2 gets half more off).
    pub fuzzy_weight: f32,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            name_weight: 3.0,
            description_weight: 1.0,
            example_weight: 1.5,
            k1: 1.2,
            b: 0.5,
            synonyms: true,
            synonym_weight: 0.5,
            commands: true,
            fuzzy: true,
            fuzzy_weight: 0.7,
        }
    }
}

/// One tool's weighted term frequencies and length.
#[derive(Debug)]
struct Posting {
    tf: f32,
}

/// BM25F over the tool set. Built once per tool set; immutable afterwards.
#[derive(Debug)]
pub(crate) struct Index {
    names: Vec<String>,
    /// term → (tool index → weighted tf)
    postings: HashMap<String, Vec<(usize, Posting)>>,
    /// Weighted length of each tool's text.
    lengths: Vec<f32>,
    avg_length: f32,
    /// Typo-correction vocabulary: every word of the tools' texts as
    /// written (lower-cased) and every term, split into characters, with
    /// the term each stands for. Sorted by length, so a scan can skip the
    /// words too long or too short to be within reach.
    vocabulary: Vec<(Vec<char>, String)>,
    /// Stemmed synonym groups, term → the other members.
    synonyms: HashMap<String, Vec<String>>,
    options: RouterOptions,
}

impl Index {
    pub(crate) fn build(tools: &[ToolDoc], options: RouterOptions) -> Self {
        let mut postings: HashMap<String, Vec<(usize, Posting)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(tools.len());
        let mut surface: HashMap<String, String> = HashMap::new();
        for (i, tool) in tools.iter().enumerate() {
            let mut tf: HashMap<String, f32> = HashMap::new();
            let mut length = 0.0;
            let examples = tool.examples.join("\n");
            for (text, weight) in [
                (tool.name.as_str(), options.name_weight),
                (tool.description.as_str(), options.description_weight),
                (examples.as_str(), options.example_weight),
            ] {
                for word in words(text).filter(|w| !is_stop(w)) {
                    let term = stem(&word);
                    surface.entry(word).or_insert_with(|| term.clone());
                    *tf.entry(term).or_default() += weight;
                    length += weight;
                }
            }
            lengths.push(length);
            for (term, tf) in tf {
                postings.entry(term).or_default().push((i, Posting { tf }));
            }
        }
        let avg_length = if lengths.is_empty() {
            1.0
        } else {
            (lengths.iter().sum::<f32>() / lengths.len() as f32).max(1.0)
        };
        let mut vocabulary: Vec<(Vec<char>, String)> = surface
            .into_iter()
            .map(|(word, term)| (word.chars().collect(), term))
            .chain(postings.keys().map(|t| (t.chars().collect(), t.clone())))
            .collect();
        vocabulary.sort_unstable_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.cmp(b)));
        vocabulary.dedup();
        let mut synonyms: HashMap<String, Vec<String>> = HashMap::new();
        for group in crate::lexicon::SYNONYMS {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            for s in &stems {
                let others = synonyms.entry(s.clone()).or_default();
                others.extend(stems.iter().filter(|o| *o != s).cloned());
            }
        }
        Self {
            names: tools.iter().map(|t| t.name.clone()).collect(),
            postings,
            lengths,
            avg_length,
            vocabulary,
            synonyms,
            options,
        }
    }

    /// The weighted query: each term the user typed (weight 1), its
    /// corrections when it is unknown, its synonyms, and for a shell
    /// command typed as the first word, the words of the tool doing the
    /// same. A term reached twice keeps its highest weight.
    fn expand(&self, request: &str) -> HashMap<String, f32> {
        let mut query: HashMap<String, f32> = HashMap::new();
        let add = |term: &str, weight: f32, query: &mut HashMap<String, f32>| {
            let w = query.entry(term.to_string()).or_default();
            *w = w.max(weight);
        };
        let mut seeds: Vec<(String, f32)> = Vec::new();
        for (i, word) in words(request).enumerate() {
            let command = (i == 0 && self.options.commands)
                .then(|| crate::lexicon::COMMANDS.iter().find(|(c, _)| *c == word))
                .flatten();
            if let Some((_, meaning)) = command {
                seeds.extend(terms(meaning).into_iter().map(|t| (t, 1.0)));
                continue;
            }
            if is_stop(&word) {
                continue;
            }
            let term = stem(&word);
            // A word the synonym table knows is a real word, not a typo.
            let known = self.postings.contains_key(&term) || self.synonyms.contains_key(&term);
            if !known && self.options.fuzzy {
                seeds.extend(self.corrections(&word, &term));
            }
            seeds.push((term, 1.0));
        }
        for (t, w) in seeds {
            add(&t, w, &mut query);
            if self.options.synonyms
                && let Some(others) = self.synonyms.get(&t)
            {
                for o in others {
                    add(o, w * self.options.synonym_weight, &mut query);
                }
            }
        }
        query
    }

    /// Indexed terms nearest to an unknown word, compared both as typed
    /// against the words of the tools ("runing" → "running" → `run`) and
    /// stemmed against the index terms: edit distance 1 for words of 4–6
    /// letters, 2 for longer ones; shorter words are too ambiguous to
    /// correct. Only the nearest distance found is used.
    fn corrections(&self, word: &str, term: &str) -> Vec<(String, f32)> {
        let limit = |w: &[char]| match w.len() {
            0..=3 => None,
            4..=6 => Some(1),
            _ => Some(2),
        };
        let word: Vec<char> = word.chars().collect();
        let term: Vec<char> = term.chars().collect();
        let mut scratch = Vec::new();
        let mut best = usize::MAX;
        let mut out: Vec<(String, usize)> = Vec::new();
        for probe in [&word, &term] {
            let Some(max) = limit(probe) else {
                continue;
            };
            let lo = probe.len().saturating_sub(max);
            let first = self.vocabulary.partition_point(|(c, _)| c.len() < lo);
            for (candidate, target) in &self.vocabulary[first..] {
                if candidate.len() > probe.len() + max {
                    break;
                }
                if let Some(d) = edit_distance_chars(probe, candidate, max.min(best), &mut scratch)
                {
                    if d < best {
                        best = d;
                        out.clear();
                    }
                    if !out.iter().any(|(t, _)| t == target) {
                        out.push((target.clone(), d));
                    }
                }
            }
        }
        let weight = |d: usize| {
            if d <= 1 {
                self.options.fuzzy_weight
            } else {
                self.options.fuzzy_weight * 0.5
            }
        };
        out.into_iter().map(|(t, d)| (t, weight(d))).collect()
    }

    pub(crate) fn search(&self, request: &str, k: usize) -> Vec<Candidate> {
        let n = self.names.len() as f32;
        let mut scores = vec![0f32; self.names.len()];
        let RouterOptions { k1, b, .. } = self.options;
        for (term, qw) in self.expand(request) {
            let Some(list) = self.postings.get(&term) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for (doc, posting) in list {
                let norm = 1.0 - b + b * self.lengths[*doc] / self.avg_length;
                let tf = posting.tf;
                scores[*doc] += qw * idf * tf * (k1 + 1.0) / (tf + k1 * norm);
            }
        }
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .collect();
        // Ties break by name so results are stable across builds.
        ranked.sort_by(|(a, sa), (b, sb)| {
            sb.total_cmp(sa)
                .then_with(|| self.names[*a].cmp(&self.names[*b]))
        });
        ranked
            .into_iter()
            .take(k)
            .map(|(i, score)| Candidate {
                name: self.names[i].clone(),
                score,
            })
            .collect()
    }
}

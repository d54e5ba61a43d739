//! The semantic side of retrieval: each tool embedded as a few sentences
//! (its split name with the description's first sentence, and each example
//! request), a request ranked against them by cosine similarity, and the
//! two rankings fused by reciprocal rank (RRF, k = 60).
//!
//! The crate stays pure: the caller embeds [`texts`] and the request with
//! whatever model it hosts (gatewayd: all-MiniLM-L6-v2 through
//! `aios-embed`) and hands the vectors in. Lexical retrieval is strong on
//! the words the tools were described with and weak on paraphrases ("add
//! vim to the system", "display ~/.profile"); vectors are the reverse.
//! Measured in `docs/ROUTER.md`.

use crate::{Candidate, RouterError, RouterErrorKind, ToolDoc};

/// How much the semantic ranking weighs in the fusion (0 = lexical only,
/// 1 = semantic only). 0.5 was best at @1 and @3 on the held-out set and
/// no worse at @6 than 0.3 (`docs/ROUTER.md`).
pub const SEMANTIC_RATIO: f32 = 0.5;

/// The RRF constant: rank r counts 1 / (RRF_K + r).
const RRF_K: f32 = 60.0;

/// What to embed for `tools`: (index of the tool, text) pairs, the tool's
/// split name with its description's first sentence, then each example.
pub fn texts(tools: &[ToolDoc]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let first = t
            .description
            .split_once(". ")
            .map_or(t.description.as_str(), |(s, _)| s);
        out.push((i, format!("{}: {first}", t.name.replace(['.', '_'], " "))));
        out.extend(t.examples.iter().map(|e| (i, e.clone())));
    }
    out
}

/// The tools' embedded texts, ready to rank requests against.
#[derive(Debug, Clone)]
pub struct Semantic {
    names: Vec<String>,
    /// For each vector, the index of its tool in `names`.
    owner: Vec<usize>,
    vectors: Vec<Vec<f32>>,
}

impl Semantic {
    /// From `tools` and one unit vector per entry of [`texts`]`(tools)`, in
    /// that order.
    pub fn new(tools: &[ToolDoc], vectors: Vec<Vec<f32>>) -> Result<Semantic, RouterError> {
        let texts = texts(tools);
        if texts.len() != vectors.len() {
            return Err(RouterError::new(
                RouterErrorKind::InvalidTool,
                format!(
                    "{} vectors for {} tool texts: embed exactly semantic::texts(tools)",
                    vectors.len(),
                    texts.len()
                ),
            ));
        }
        let dim = vectors.first().map_or(0, Vec::len);
        if vectors.iter().any(|v| v.len() != dim || dim == 0) {
            return Err(RouterError::new(
                RouterErrorKind::InvalidTool,
                "tool vectors differ in length (or are empty): one model must embed them all",
            ));
        }
        Ok(Semantic {
            names: tools.iter().map(|t| t.name.clone()).collect(),
            owner: texts.into_iter().map(|(i, _)| i).collect(),
            vectors,
        })
    }

    /// Every tool, most similar to `query` (a unit vector of the same
    /// model) first: a tool scores its best text's cosine similarity.
    /// Empty when `query` has another length.
    pub fn rank(&self, query: &[f32]) -> Vec<Candidate> {
        if self.vectors.first().is_none_or(|v| v.len() != query.len()) {
            return Vec::new();
        }
        let mut best = vec![f32::MIN; self.names.len()];
        for (v, &tool) in self.vectors.iter().zip(&self.owner) {
            let s: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
            if s > best[tool] {
                best[tool] = s;
            }
        }
        let mut ranked: Vec<Candidate> = self
            .names
            .iter()
            .zip(best)
            .map(|(name, score)| Candidate {
                name: name.clone(),
                score,
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.name.cmp(&b.name))
        });
        ranked
    }
}

/// The top `k` of two rankings fused by reciprocal rank: a tool scores
/// `(1 - ratio) / (60 + lexical rank) + ratio / (60 + semantic rank)`
/// (ranks from 1; absent from a ranking, nothing from it). Ties by name.
pub fn fuse(lexical: &[Candidate], semantic: &[Candidate], ratio: f32, k: usize) -> Vec<Candidate> {
    let ratio = ratio.clamp(0.0, 1.0);
    let mut fused: Vec<Candidate> = Vec::new();
    for (list, weight) in [(lexical, 1.0 - ratio), (semantic, ratio)] {
        for (rank, c) in list.iter().enumerate() {
            let add = weight / (RRF_K + rank as f32 + 1.0);
            match fused.iter_mut().find(|f| f.name == c.name) {
                Some(f) => f.score += add,
                None => fused.push(Candidate {
                    name: c.name.clone(),
                    score: add,
                }),
            }
        }
    }
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.name.cmp(&b.name))
    });
    fused.truncate(k);
    fused
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

    fn cand(name: &str) -> Candidate {
        Candidate {
            name: name.into(),
            score: 1.0,
        }
    }

    #[test]
    fn texts_are_the_name_with_the_first_sentence_then_the_examples() {
        let t = [doc(
            "pkg.install",
            "Install packages. Needs root.",
            &["add vim"],
        )];
        assert_eq!(
            texts(&t),
            vec![
                (0, "pkg install: Install packages".to_string()),
                (0, "add vim".to_string())
            ]
        );
    }

    #[test]
    fn a_tool_ranks_by_its_best_text() {
        let t = [doc("a.x", "A.", &["one"]), doc("b.y", "B.", &[])];
        // a.x: name text far, example close; b.y: in between.
        let s = Semantic::new(&t, vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![0.6, 0.8]]).unwrap();
        let r = s.rank(&[1.0, 0.0]);
        assert_eq!(r[0].name, "a.x");
        assert_eq!(r[1].name, "b.y");
        assert!(
            s.rank(&[1.0, 0.0, 0.0]).is_empty(),
            "another model's vector"
        );
    }

    #[test]
    fn vectors_must_match_the_texts() {
        let t = [doc("a.x", "A.", &["one"])];
        assert!(Semantic::new(&t, vec![vec![1.0]]).is_err());
        assert!(Semantic::new(&t, vec![vec![1.0], vec![1.0, 0.0]]).is_err());
    }

    #[test]
    fn fusion_rewards_agreement_and_fills_from_either_side() {
        let lexical = [cand("a"), cand("b")];
        let semantic = [cand("c"), cand("b"), cand("a")];
        let f = fuse(&lexical, &semantic, 0.5, 3);
        let names: Vec<&str> = f.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        // Only one side: its order.
        let f = fuse(&[], &semantic, 0.5, 2);
        assert_eq!(f[0].name, "c");
        assert_eq!(f.len(), 2);
        // Ratio 0 ignores the semantic side's order.
        let f = fuse(&lexical, &semantic, 0.0, 3);
        assert_eq!(f[0].name, "a");
    }
}

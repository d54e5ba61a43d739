//! How sure the model was of the tool it named: at each token that decides
//! between candidate names ([`crate::steer::CallSteer::name_branches`]),
//! the probability of the branch taken among the branches open, from the
//! model's own logits. Their product is the name's confidence; the branch
//! most likely after the one taken, at the least certain step, is the
//! runner-up. A caller with a low confidence can ask the user which of the
//! two was meant instead of guessing (`gatewayd`'s clarify).
//!
//! The cost is a softmax over a handful of logits and a tokenisation of
//! each open name, at the one to three steps where names part.

use llama_cpp_2::token::LlamaToken;

use super::Engine;
use crate::steer::CallSteer;

/// One deciding step: the first token of each open branch (deduplicated,
/// in the candidates' order), the full name it leads to first, and its
/// probability among the branches.
pub(super) struct Step {
    options: Vec<(LlamaToken, String, f32)>,
}

/// The confidence gathered over a reply's deciding steps.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NameChoice {
    /// Product of the taken branches' probabilities; 1 with no choice.
    pub(super) confidence: f32,
    /// The likeliest other name at the least certain step.
    pub(super) runner_up: Option<String>,
    lowest: f32,
}

impl Default for NameChoice {
    fn default() -> Self {
        NameChoice {
            confidence: 1.0,
            runner_up: None,
            lowest: f32::INFINITY,
        }
    }
}

impl NameChoice {
    /// Account for `token`, sampled at `step`. A token that begins no
    /// branch the way the tokenizer would (another split of the same
    /// text) says nothing about the choice and is skipped.
    pub(super) fn record(&mut self, step: &Step, token: LlamaToken) {
        let Some(taken) = step.options.iter().position(|(t, _, _)| *t == token) else {
            return;
        };
        let p = step.options[taken].2;
        self.confidence *= p;
        if p < self.lowest {
            self.lowest = p;
            self.runner_up = step
                .options
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != taken)
                .max_by(|a, b| a.1.2.total_cmp(&b.1.2))
                .map(|(_, (_, name, _))| name.clone());
        }
    }
}

impl Engine<'_> {
    /// The deciding step the next token (read from logits `idx`) takes, if
    /// the reply so far (`text`) is inside a name with several open.
    pub(super) fn name_step(&self, steer: &CallSteer, text: &str, idx: i32) -> Option<Step> {
        let branches = steer.name_branches(text);
        if branches.is_empty() {
            return None;
        }
        let mut options: Vec<(LlamaToken, String, f32)> = Vec::new();
        for (name, left) in branches {
            let Some(&first) = self.tokenize_reply(left).first() else {
                continue;
            };
            if !options.iter().any(|(t, _, _)| *t == first) {
                options.push((first, name.to_string(), 0.0));
            }
        }
        if options.len() < 2 {
            return None;
        }
        let logits = self.ctx.get_logits_ith(idx);
        let logit = |t: LlamaToken| {
            usize::try_from(t.0)
                .ok()
                .and_then(|i| logits.get(i).copied())
                .unwrap_or(f32::NEG_INFINITY)
        };
        let max = options
            .iter()
            .map(|(t, _, _)| logit(*t))
            .fold(f32::NEG_INFINITY, f32::max);
        for o in &mut options {
            o.2 = (logit(o.0) - max).exp();
        }
        let sum: f32 = options.iter().map(|o| o.2).sum();
        if !sum.is_finite() || sum <= 0.0 {
            return None;
        }
        for o in &mut options {
            o.2 /= sum;
        }
        Some(Step { options })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(options: &[(i32, &str, f32)]) -> Step {
        Step {
            options: options
                .iter()
                .map(|(t, n, p)| (LlamaToken(*t), n.to_string(), *p))
                .collect(),
        }
    }

    #[test]
    fn confidence_multiplies_and_the_runner_up_comes_from_the_least_certain_step() {
        let mut c = NameChoice::default();
        assert_eq!(c.confidence, 1.0);
        c.record(
            &step(&[(1, "fs.usage", 0.9), (2, "service.start", 0.1)]),
            LlamaToken(2),
        );
        c.record(
            &step(&[
                (3, "service.start", 0.6),
                (4, "service.stop", 0.15),
                (5, "service.status", 0.25),
            ]),
            LlamaToken(3),
        );
        assert!((c.confidence - 0.06).abs() < 1e-6);
        assert_eq!(c.runner_up.as_deref(), Some("fs.usage"));
        // A token outside the options (another split) changes nothing.
        c.record(&step(&[(6, "a", 0.5), (7, "b", 0.5)]), LlamaToken(9));
        assert!((c.confidence - 0.06).abs() < 1e-6);
    }
}

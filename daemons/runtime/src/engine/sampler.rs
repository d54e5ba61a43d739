//! How the next token is chosen: greedy (argmax), under a grammar when
//! the reply has one, and the grammar's check of forced tokens.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

/// How the next token is chosen. Both are greedy (argmax).
pub(super) enum Sampler {
    Greedy(LlamaSampler),
    /// Under a grammar: take the argmax and ask the grammar about that one
    /// token; only when it is rejected, run the grammar over the whole
    /// vocabulary. Tool calls are mostly what the model would say anyway,
    /// and a full pass costs tens of ms per token over Qwen's 151k tokens.
    Grammar(LlamaSampler),
}

impl Sampler {
    pub(super) fn pick(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        match self {
            // `sample` also accepts the token into the sampler's state.
            Sampler::Greedy(s) => s.sample(ctx, idx),
            Sampler::Grammar(grammar) => {
                let logits = ctx.get_logits_ith(idx);
                let (best, logit) =
                    logits
                        .iter()
                        .enumerate()
                        .fold((0usize, f32::NEG_INFINITY), |acc, (i, &l)| {
                            if l > acc.1 { (i, l) } else { acc }
                        });
                let best = LlamaToken(i32::try_from(best).unwrap_or(0));
                let token = if allows(grammar, best, logit) {
                    best
                } else {
                    let mut all = ctx.token_data_array_ith(idx);
                    grammar.apply(&mut all);
                    all.sample_token_greedy()
                };
                grammar.accept(token);
                token
            }
        }
    }
}

impl Sampler {
    /// Take `token` as the next one if the grammar allows it (a forced
    /// token: [`crate::GenOptions::steer`]). Checked first, because
    /// llama.cpp aborts the process on accepting a token its grammar
    /// rejects.
    pub(super) fn admit(&mut self, token: LlamaToken) -> bool {
        match self {
            Sampler::Greedy(_) => true,
            Sampler::Grammar(grammar) => {
                let ok = allows(grammar, token, 0.0);
                if ok {
                    grammar.accept(token);
                }
                ok
            }
        }
    }
}

/// Whether `grammar`, in its current state, allows `token` next.
fn allows(grammar: &mut LlamaSampler, token: LlamaToken, logit: f32) -> bool {
    let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, logit, 0.0)], false);
    grammar.apply(&mut one);
    one.data.first().is_some_and(|d| d.logit().is_finite())
}

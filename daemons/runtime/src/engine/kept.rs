//! The kept prefix, as pure planning over token sequences: which of a
//! request's two prompts runs, and which KV sequence its reused prefix
//! comes from. [`super::Engine`] applies the plan to llama.cpp's cache.
//!
//! The KV cache holds two sequences in one unified cache: the *work*
//! sequence, where requests run, and the *kept* sequence, which holds one
//! long fixed prefix (the tool catalogue), filled while the engine is idle.
//! Copying a prefix from the kept sequence into the work sequence shares
//! the cache cells; it costs nothing and evaluates nothing.

/// Tokens of the kept prefix evaluated per idle step. A request that
/// arrives meanwhile waits for at most one step: about 0.8 s at the 77
/// tokens/s this 2-core machine evaluates a prompt with the 0.5B model.
pub(super) const WARM_STEP: usize = 64;

/// Context left free beside a kept prefix, for the request and its reply;
/// a longer prefix is not kept.
pub(super) const RESERVE: usize = 2048;

/// How a request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Run the kept prompt (which starts with the kept prefix) rather than
    /// the ordinary one.
    pub use_kept: bool,
    /// Leading tokens of the chosen prompt already in the cache.
    pub reuse: usize,
    /// Those tokens are copied from the kept sequence (else they are in
    /// the work sequence already).
    pub from_kept: bool,
    /// The kept sequence must be dropped first: the ordinary prompt and its
    /// reply do not fit beside it.
    pub drop_kept: bool,
}

/// What the cache holds and what a request brings.
#[derive(Debug, Clone, Copy)]
pub(super) struct State<'a, T> {
    /// Tokens in the work sequence.
    pub work: &'a [T],
    /// Tokens in the kept sequence.
    pub kept: &'a [T],
    /// Whether `kept` is the whole kept prefix.
    pub kept_complete: bool,
    /// The context window, in tokens (and cells: the cache is unified).
    pub n_ctx: usize,
    /// Upper bound on the reply.
    pub max_tokens: usize,
}

/// Plan a request with its ordinary prompt `plain` and, when the caller
/// offered one, its kept prompt `with_kept`.
pub(super) fn plan<T: PartialEq>(s: State<'_, T>, plain: &[T], with_kept: Option<&[T]>) -> Plan {
    let room = |len: usize| len + s.max_tokens.min(s.n_ctx / 4) < s.n_ctx;
    let use_kept = s.kept_complete && with_kept.is_some_and(|p| room(p.len()));
    let prompt = match with_kept {
        Some(p) if use_kept => p,
        _ => plain,
    };
    // At least one token is always evaluated: sampling needs its logits.
    let last = prompt.len().saturating_sub(1);
    let in_work = common_prefix(s.work, prompt).min(last);
    let in_kept = common_prefix(s.kept, prompt).min(last);
    // Cells are shared by both sequences: beside the kept prefix, the
    // ordinary prompt's own cells must fit too.
    let drop_kept = !use_kept && !s.kept.is_empty() && !room(s.kept.len() + prompt.len());
    let from_kept = !drop_kept && in_kept > in_work;
    Plan {
        use_kept,
        reuse: if from_kept { in_kept } else { in_work },
        from_kept,
        drop_kept,
    }
}

/// Whether a prefix of `len` tokens may be kept in a context of `n_ctx`.
pub(super) fn keepable(len: usize, n_ctx: usize) -> bool {
    len > 0 && len + RESERVE <= n_ctx
}

/// How many leading elements `a` and `b` share.
pub(super) fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state<'a>(work: &'a [u32], kept: &'a [u32], complete: bool) -> State<'a, u32> {
        State {
            work,
            kept,
            kept_complete: complete,
            n_ctx: 100,
            max_tokens: 10,
        }
    }

    #[test]
    fn a_complete_kept_prefix_serves_the_long_prompt_from_the_kept_sequence() {
        let kept = [1, 2, 3, 4, 5, 6];
        let p = plan(
            state(&[], &kept, true),
            &[1, 9, 8],
            Some(&[1, 2, 3, 4, 5, 6, 7, 8]),
        );
        assert_eq!(
            p,
            Plan {
                use_kept: true,
                reuse: 6,
                from_kept: true,
                drop_kept: false
            }
        );
    }

    #[test]
    fn a_longer_match_in_the_work_sequence_wins() {
        // The previous turn of the same conversation is still in `work`.
        let kept = [1, 2, 3];
        let work = [1, 2, 3, 4, 5, 6];
        let p = plan(
            state(&work, &kept, true),
            &[1],
            Some(&[1, 2, 3, 4, 5, 6, 7]),
        );
        assert!(p.use_kept && !p.from_kept, "{p:?}");
        assert_eq!(p.reuse, 6);
    }

    #[test]
    fn an_incomplete_kept_prefix_runs_the_plain_prompt_and_still_shares_its_start() {
        let kept = [1, 2, 3];
        let p = plan(
            state(&[7], &kept, false),
            &[1, 2, 9, 9],
            Some(&[1, 2, 3, 4, 5]),
        );
        assert_eq!(
            p,
            Plan {
                use_kept: false,
                reuse: 2,
                from_kept: true,
                drop_kept: false
            }
        );
        // No kept prompt offered: the plain prompt, whatever is kept.
        let p = plan(state(&[], &kept, true), &[1, 2, 9], None);
        assert!(!p.use_kept);
    }

    #[test]
    fn one_token_is_always_left_to_evaluate() {
        let kept = [1, 2, 3];
        let p = plan(state(&[], &kept, true), &[1, 2, 3], Some(&[1, 2, 3]));
        assert_eq!(p.reuse, 2);
        let p = plan(state(&[5, 6], &[], false), &[5, 6], None);
        assert_eq!(p.reuse, 1);
    }

    #[test]
    fn a_prompt_that_does_not_fit_beside_the_kept_prefix_drops_it() {
        let kept: Vec<u32> = (0..60).collect();
        // The kept prompt itself is too long for the context.
        let long: Vec<u32> = (0..95).collect();
        let plain: Vec<u32> = (200..240).collect();
        let p = plan(state(&[], &kept, true), &plain, Some(&long));
        assert!(!p.use_kept, "{p:?}");
        assert!(p.drop_kept, "{p:?}");
        assert_eq!(p.reuse, 0);
        // A short plain prompt fits beside it.
        let p = plan(state(&[], &kept, true), &plain[..10], Some(&long));
        assert!(!p.drop_kept, "{p:?}");
    }

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix::<u32>(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
    }

    #[test]
    fn only_a_prefix_with_room_beside_it_is_kept() {
        assert!(keepable(6000, 8192));
        assert!(!keepable(6200, 8192));
        assert!(!keepable(0, 8192));
    }
}

//! Token counts in the model's own tokens (`CountTokens`): the gateway
//! asks the provider a request would go to; the `local` provider asks
//! runtimed's tokenizer, and the others say they cannot count (cloud APIs
//! have no tokenize call worth a round trip per turn), so the caller keeps
//! its estimate.

use std::time::Duration;

use aios_proto::{ApiError, RuntimeClient, TokenCounts};

use crate::error::ProviderError;
use crate::gateway::Gateway;

/// Most texts counted in one request.
pub const MAX_TEXTS: usize = 4096;

/// How long the local provider waits for runtimed's count: it counts
/// between generations, so a long generation for another session makes the
/// count late, and the caller is better served by its estimate.
pub const LOCAL_TIMEOUT: Duration = Duration::from_secs(3);

/// Count `texts` with the provider `provider` names (`None`: the default).
pub async fn count(
    gateway: &Gateway,
    provider: Option<&str>,
    texts: &[String],
) -> Result<TokenCounts, ApiError> {
    if texts.len() > MAX_TEXTS {
        return Err(ApiError::invalid(format!(
            "{} texts to count; at most {MAX_TEXTS} per request",
            texts.len()
        )));
    }
    let p = gateway.route(provider)?;
    let name = p.name();
    match p.count_tokens(texts).await? {
        Some(counts) => Ok(TokenCounts {
            counts: Some(counts),
            detail: format!("counted by {name}"),
        }),
        None => Ok(TokenCounts {
            counts: None,
            detail: format!("{name} offers no token count; keep an estimate"),
        }),
    }
}

/// runtimed's count of `texts` (the `local` provider's answer).
pub(crate) async fn local(
    client: &mut RuntimeClient,
    texts: &[String],
) -> Result<Option<Vec<u32>>, ProviderError> {
    client
        .count_tokens(texts.to_vec(), LOCAL_TIMEOUT)
        .await
        .map(Some)
        .map_err(|e| ProviderError::Unavailable {
            provider: "local",
            detail: format!("runtimed did not count tokens: {e}"),
        })
}

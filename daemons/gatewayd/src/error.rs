//! Errors of providers and of the gateway, and their mapping to the
//! [`ApiError`] kinds a client acts on (fall back, wait, fix a key…).
//!
//! Messages are written for the person at the terminal: they say what
//! failed, where, and what to do. API keys never appear in them: response
//! bodies are redacted before they are quoted (see `http::excerpt`).

use std::time::Duration;

use aios_proto::{ApiError, ApiErrorKind};

/// Why a provider could not produce (or finish) a completion.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The key is missing or was rejected (HTTP 401/403).
    #[error(
        "{provider}: {reason}; set {env_var} to a valid API key (in the environment of gatewayd, or as `{provider} = \"...\"` in ~/.config/aios/keys.toml, mode 600)"
    )]
    Unauthorized {
        /// Provider name.
        provider: &'static str,
        /// Environment variable holding the key.
        env_var: &'static str,
        /// What went wrong, e.g. "the API key was rejected (HTTP 401)".
        reason: String,
    },
    /// HTTP 429, after all retries.
    #[error("{provider} is rate limiting requests (HTTP 429){}: {message}", retry_hint(.retry_after))]
    RateLimited {
        /// Provider name.
        provider: &'static str,
        /// What the server asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// Redacted excerpt of the server's explanation.
        message: String,
    },
    /// HTTP 5xx (including Anthropic's 529 overloaded), after all retries.
    #[error("{provider} server error (HTTP {status}): {body}")]
    Server {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// Redacted excerpt of the body.
        body: String,
        /// What the server asked us to wait, if it said (503 may).
        retry_after: Option<Duration>,
    },
    /// Another 4xx: the request itself was refused (unknown model, bad
    /// schema…). Retrying will not help.
    #[error("{provider} refused the request (HTTP {status}): {body}")]
    Rejected {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// Redacted excerpt of the body.
        body: String,
    },
    /// No connection could be made, after all retries.
    #[error("cannot connect to {provider} at {url}: {detail}")]
    Connect {
        /// Provider name.
        provider: &'static str,
        /// The URL we tried.
        url: String,
        /// Cause.
        detail: String,
    },
    /// The response stream ended or broke before the provider said it was
    /// complete.
    #[error("{provider} stream dropped mid-response: {detail}")]
    StreamDropped {
        /// Provider name.
        provider: &'static str,
        /// Cause.
        detail: String,
    },
    /// The provider sent something that is not its documented format.
    #[error("{provider} sent a response aiOS cannot read: {detail}")]
    BadResponse {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Nothing arrived in time.
    #[error("{provider} did not answer within {} s ({what})", .after.as_secs())]
    Timeout {
        /// Provider name.
        provider: &'static str,
        /// How long we waited.
        after: Duration,
        /// What we were waiting for.
        what: &'static str,
    },
    /// The provider reported an error inside the stream (e.g. Anthropic's
    /// `overloaded_error` event).
    #[error("{provider} reported an error mid-stream ({kind}): {message}")]
    Remote {
        /// Provider name.
        provider: &'static str,
        /// The provider's error type.
        kind: String,
        /// The provider's message.
        message: String,
    },
    /// Our request cannot be expressed for this provider (e.g. a tool name
    /// with characters no provider accepts).
    #[error("{0}")]
    InvalidRequest(String),
    /// The provider cannot serve at all (not built, broken script file…).
    #[error("{provider} provider is not available: {detail}")]
    Unavailable {
        /// Provider name.
        provider: &'static str,
        /// Why, and what to do.
        detail: String,
    },
    /// The scripted provider has no turn for this request.
    #[error(
        "scripted provider: script exhausted after {turns} turns (the request already has {turns} or more assistant messages); add turns to the script"
    )]
    ScriptExhausted {
        /// Turns in the script.
        turns: usize,
    },
    /// A scripted turn that fails on purpose.
    #[error("scripted provider: {0}")]
    Scripted(String),
}

fn retry_hint(after: &Option<Duration>) -> String {
    match after {
        Some(d) => format!(" and asked to wait {} s", d.as_secs()),
        None => String::new(),
    }
}

impl ProviderError {
    /// The same error with every occurrence of `key` in its texts replaced
    /// (a server may echo the key anywhere, also in a broken stream).
    pub fn redacted(self, key: Option<&crate::http::Secret>) -> ProviderError {
        let r = |t: String| crate::http::redact(&t, key);
        match self {
            ProviderError::Unauthorized {
                provider,
                env_var,
                reason,
            } => ProviderError::Unauthorized {
                provider,
                env_var,
                reason: r(reason),
            },
            ProviderError::RateLimited {
                provider,
                retry_after,
                message,
            } => ProviderError::RateLimited {
                provider,
                retry_after,
                message: r(message),
            },
            ProviderError::Server {
                provider,
                status,
                body,
                retry_after,
            } => ProviderError::Server {
                provider,
                status,
                body: r(body),
                retry_after,
            },
            ProviderError::Rejected {
                provider,
                status,
                body,
            } => ProviderError::Rejected {
                provider,
                status,
                body: r(body),
            },
            ProviderError::Connect {
                provider,
                url,
                detail,
            } => ProviderError::Connect {
                provider,
                url: r(url),
                detail: r(detail),
            },
            ProviderError::StreamDropped { provider, detail } => ProviderError::StreamDropped {
                provider,
                detail: r(detail),
            },
            ProviderError::BadResponse { provider, detail } => ProviderError::BadResponse {
                provider,
                detail: r(detail),
            },
            ProviderError::Remote {
                provider,
                kind,
                message,
            } => ProviderError::Remote {
                provider,
                kind: r(kind),
                message: r(message),
            },
            ProviderError::InvalidRequest(m) => ProviderError::InvalidRequest(r(m)),
            ProviderError::Unavailable { provider, detail } => ProviderError::Unavailable {
                provider,
                detail: r(detail),
            },
            ProviderError::Scripted(m) => ProviderError::Scripted(r(m)),
            e @ (ProviderError::Timeout { .. } | ProviderError::ScriptExhausted { .. }) => e,
        }
    }

    /// Whether a fresh attempt may succeed (429, 5xx, connection failures).
    /// Only consulted before any byte of a response stream was received.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Connect { .. }
        )
    }

    /// The API error kind a client sees.
    pub fn api_kind(&self) -> ApiErrorKind {
        match self {
            ProviderError::Unauthorized { .. } => ApiErrorKind::PermissionDenied,
            ProviderError::RateLimited { .. } => ApiErrorKind::ResourceExhausted,
            ProviderError::Remote { kind, .. } if kind == "rate_limit_error" => {
                ApiErrorKind::ResourceExhausted
            }
            ProviderError::Server { .. }
            | ProviderError::Connect { .. }
            | ProviderError::StreamDropped { .. }
            | ProviderError::BadResponse { .. }
            | ProviderError::Remote { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Scripted(_) => ApiErrorKind::Unavailable,
            ProviderError::Rejected { .. } | ProviderError::InvalidRequest(_) => {
                ApiErrorKind::InvalidArgument
            }
            ProviderError::Timeout { .. } => ApiErrorKind::DeadlineExceeded,
            ProviderError::ScriptExhausted { .. } => ApiErrorKind::FailedPrecondition,
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        ApiError {
            kind: e.api_kind(),
            message: e.to_string(),
        }
    }
}

/// Why the gateway could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The HTTP client (TLS roots, resolver) could not be set up.
    #[error("cannot create the HTTP client for {provider}: {detail}")]
    HttpClient {
        /// Provider name.
        provider: &'static str,
        /// Cause.
        detail: String,
    },
    /// The provider instances in the configuration cannot be built.
    #[error("invalid provider configuration: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_names_the_env_var() {
        let e = ProviderError::Unauthorized {
            provider: "openai",
            env_var: "OPENAI_API_KEY",
            reason: "the API key was rejected (HTTP 401)".into(),
        };
        let msg = e.to_string();
        assert!(msg.contains("OPENAI_API_KEY"), "{msg}");
        assert_eq!(ApiError::from(e).kind, ApiErrorKind::PermissionDenied);
    }

    #[test]
    fn kinds_map_to_actionable_api_errors() {
        let rl = ProviderError::RateLimited {
            provider: "anthropic",
            retry_after: Some(Duration::from_secs(3)),
            message: "slow down".into(),
        };
        assert!(rl.to_string().contains("wait 3 s"), "{rl}");
        assert_eq!(rl.api_kind(), ApiErrorKind::ResourceExhausted);
        let timeout = ProviderError::Timeout {
            provider: "openai",
            after: Duration::from_secs(120),
            what: "the next chunk",
        };
        assert_eq!(timeout.api_kind(), ApiErrorKind::DeadlineExceeded);
        assert!(timeout.to_string().contains("120 s"));
        assert!(!timeout.is_retryable());
        let server = ProviderError::Server {
            provider: "openai",
            status: 503,
            body: "busy".into(),
            retry_after: None,
        };
        assert!(server.is_retryable());
        assert_eq!(server.api_kind(), ApiErrorKind::Unavailable);
    }
}

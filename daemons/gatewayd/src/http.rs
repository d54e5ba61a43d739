//! HTTP plumbing shared by the cloud providers: the client, retries with
//! backoff before the stream starts, error classification with redacted
//! body excerpts, and turning a streamed SSE body into completion events
//! through a provider-specific [`Decoder`].
//!
//! Retry rule: a request is retried (429, 5xx, connection failures) only
//! while no response stream has been accepted. Once a 2xx response is
//! handed to the decoder, any failure is final, because the user may
//! already have seen part of the answer.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::time::Duration;

use aios_proto::{CompletionEvent, error_chain};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::{GatewayError, ProviderError};
use crate::provider::ProviderStream;
use crate::sse::{SseEvent, SseParser};

/// Longest quoted excerpt of an error body.
const EXCERPT_CHARS: usize = 300;
/// A server asking us to wait longer than this is not retried: the error
/// (with the requested wait) goes to the user instead of a silent stall.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long to read an error body before quoting what we have.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of an error body read (only an excerpt is quoted).
const ERROR_BODY_BYTES: usize = 8192;
/// Most bytes of a probe's answer read (a model list).
pub const PROBE_BODY_BYTES: usize = 1024 * 1024;
/// Deadline of a reachability probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// An API key that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a key.
    pub fn new(key: impl Into<String>) -> Self {
        Secret(key.into())
    }

    /// The key, for a request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How often and how patiently to retry before a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry.
    pub base_delay: Duration,
    /// Cap of one backoff.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The default backoff (0.5 s doubling to at most 8 s) with `max_retries`.
    pub fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }

    /// The wait before retry number `attempt` (0-based), or `None` when the
    /// server asked for more than [`MAX_RETRY_AFTER`]. A `retry-after` is
    /// honoured exactly; otherwise exponential backoff with jitter in
    /// [50 %, 100 %] so clients that failed together do not retry together.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(ra) = retry_after {
            return (ra <= MAX_RETRY_AFTER).then_some(ra);
        }
        let factor = 2u32.saturating_pow(attempt.min(16));
        let exp = self.base_delay.saturating_mul(factor).min(self.max_delay);
        Some(exp.mul_f64(0.5 + 0.5 * jitter_unit()))
    }
}

/// A uniformly distributed number in [0, 1) from the standard library's
/// randomly seeded hasher (no RNG dependency for one number per retry).
fn jitter_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    // 53 random bits make an exact f64 in [0, 1).
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Who is being called, for error messages and redaction.
#[derive(Debug, Clone)]
pub struct Target {
    /// Provider name.
    pub provider: &'static str,
    /// Environment variable of its key.
    pub env_var: &'static str,
    /// The key sent, if any, so error bodies can be scrubbed of it.
    pub key: Option<Secret>,
}

/// Build the HTTP client. Loopback base URLs (Ollama, llama-server, tests)
/// bypass any configured proxy.
pub fn client(provider: &'static str, base_url: &str) -> Result<reqwest::Client, GatewayError> {
    // reqwest is built without a bundled crypto provider; install ring once
    // per process. A second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("aios-gatewayd/", env!("CARGO_PKG_VERSION")));
    if is_loopback(base_url) {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| GatewayError::HttpClient {
        provider,
        detail: error_chain(&e),
    })
}

fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]" || h == "::1")
}

/// Send a request, retrying retryable failures per `policy`. `build` makes
/// a fresh request for each attempt; `header_timeout` bounds the wait for
/// the response headers of one attempt.
pub async fn send_with_retries(
    target: &Target,
    url: &str,
    policy: &RetryPolicy,
    header_timeout: Duration,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    let mut attempt = 0u32;
    loop {
        let result = send_once(target, url, header_timeout, build()).await;
        let err = match result {
            Ok(resp) => return Ok(resp),
            Err(e) => e,
        };
        if !err.is_retryable() || attempt >= policy.max_retries {
            return Err(err);
        }
        let retry_after = match &err {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Server { retry_after, .. } => *retry_after,
            _ => None,
        };
        let Some(wait) = policy.delay(attempt, retry_after) else {
            return Err(err);
        };
        attempt += 1;
        tracing::warn!(
            provider = target.provider,
            attempt,
            max_retries = policy.max_retries,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying after: {err}"
        );
        tokio::time::sleep(wait).await;
    }
}

/// One attempt: send, wait for headers, classify the status.
pub async fn send_once(
    target: &Target,
    url: &str,
    header_timeout: Duration,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    let resp = match tokio::time::timeout(header_timeout, request.send()).await {
        Err(_) => {
            return Err(ProviderError::Timeout {
                provider: target.provider,
                after: header_timeout,
                what: "the response headers",
            });
        }
        Ok(Err(e)) if e.is_timeout() => {
            return Err(ProviderError::Timeout {
                provider: target.provider,
                after: header_timeout,
                what: "the response headers",
            });
        }
        // Connection refused, DNS, TLS, or a connection closed before any
        // response: nothing of the answer was received, so it is retryable.
        Ok(Err(e)) => {
            return Err(ProviderError::Connect {
                provider: target.provider,
                url: url.to_string(),
                // reqwest repeats the URL we already name; keep the cause.
                detail: redact(
                    &error_chain(&e)
                        .replace(&format!("error sending request for url ({url}): "), ""),
                    target.key.as_ref(),
                ),
            });
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = read_error_body(resp).await;
    let excerpt = excerpt(&body, target.key.as_ref());
    let code = status.as_u16();
    Err(match code {
        401 | 403 => ProviderError::Unauthorized {
            provider: target.provider,
            env_var: target.env_var,
            reason: if target.key.is_some() {
                format!("the API key was rejected (HTTP {code}: {excerpt})")
            } else {
                format!("no API key was sent and the server requires one (HTTP {code}: {excerpt})")
            },
        },
        429 => ProviderError::RateLimited {
            provider: target.provider,
            retry_after,
            message: excerpt,
        },
        500..=599 => ProviderError::Server {
            provider: target.provider,
            status: code,
            body: excerpt,
            retry_after,
        },
        _ => ProviderError::Rejected {
            provider: target.provider,
            status: code,
            body: excerpt,
        },
    })
}

/// `retry-after` in seconds (integer or decimal). The HTTP-date form is
/// not used by either API and falls back to backoff.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

async fn read_error_body(resp: reqwest::Response) -> String {
    let body = read_capped(resp, ERROR_BODY_BYTES, ERROR_BODY_TIMEOUT).await;
    String::from_utf8_lossy(&body).into_owned()
}

/// At most `limit` bytes of a body, read for at most `within`: what
/// arrived by then (a body that is cut short is the caller's to judge).
pub(crate) async fn read_capped(
    resp: reqwest::Response,
    limit: usize,
    within: Duration,
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            let room = limit.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(within, read).await;
    body
}

/// A short, single-line, key-free quote of an error body. JSON error
/// bodies of both APIs (`{"error":{"message":…}}`) are reduced to the
/// message.
pub fn excerpt(body: &str, key: Option<&Secret>) -> String {
    let text = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            let msg = e
                .get("message")
                .and_then(|m| m.as_str())
                .or_else(|| e.as_str())?;
            Some(match e.get("type").and_then(|t| t.as_str()) {
                Some(kind) => format!("{kind}: {msg}"),
                None => msg.to_string(),
            })
        })
        .unwrap_or_else(|| body.to_string());
    let text = redact(&text, key);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "(empty body)".into();
    }
    match one_line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Remove the key from a text, should a server or library echo it.
pub fn redact(text: &str, key: Option<&Secret>) -> String {
    match key {
        Some(k) if k.expose().len() >= 4 => text.replace(k.expose(), "[redacted]"),
        _ => text.to_string(),
    }
}

/// Remove `key` from everything a stream yields: error texts and text
/// deltas (a broken or hostile server may echo the key anywhere).
pub fn scrub(stream: ProviderStream, key: Option<Secret>) -> ProviderStream {
    let Some(key) = key.filter(|k| k.expose().len() >= 4) else {
        return stream;
    };
    Box::pin(stream.map(move |item| match item {
        Ok(CompletionEvent::TextDelta(t)) if t.contains(key.expose()) => {
            Ok(CompletionEvent::TextDelta(redact(&t, Some(&key))))
        }
        Ok(ev) => Ok(ev),
        Err(e) => Err(e.redacted(Some(&key))),
    }))
}

/// A provider's SSE wire format, turned into completion events. Pure: fed
/// parsed events, never touching I/O.
pub trait Decoder: Send + 'static {
    /// Handle one event, appending what it completes to `out`. An `Err`
    /// ends the stream (after the events already in `out`).
    fn event(&mut self, ev: SseEvent, out: &mut Vec<CompletionEvent>) -> Result<(), ProviderError>;
    /// The provider said the response is complete.
    fn finished(&self) -> bool;
    /// The body ended; finish or report a dropped stream.
    fn eof(&mut self, out: &mut Vec<CompletionEvent>) -> Result<(), ProviderError>;
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Pump<D> {
    provider: &'static str,
    body: Body,
    parser: SseParser,
    decoder: D,
    queue: VecDeque<Result<CompletionEvent, ProviderError>>,
    idle: Duration,
    done: bool,
}

impl<D: Decoder> Pump<D> {
    async fn step(&mut self) {
        let next = tokio::time::timeout(self.idle, self.body.next()).await;
        match next {
            Err(_) => self.fail(ProviderError::Timeout {
                provider: self.provider,
                after: self.idle,
                what: "the next part of the response stream",
            }),
            Ok(Some(Err(e))) => self.fail(ProviderError::StreamDropped {
                provider: self.provider,
                detail: error_chain(&e),
            }),
            Ok(None) => {
                let mut out = Vec::new();
                let r = self.decoder.eof(&mut out);
                self.queue.extend(out.into_iter().map(Ok));
                if let Err(e) = r {
                    self.queue.push_back(Err(e));
                }
                self.done = true;
            }
            Ok(Some(Ok(bytes))) => {
                let mut events = Vec::new();
                // Events before a line that passed a bound are still good.
                let overflow = self.parser.feed_into(&bytes, &mut events).err();
                for ev in events {
                    let mut out = Vec::new();
                    let r = self.decoder.event(ev, &mut out);
                    self.queue.extend(out.into_iter().map(Ok));
                    if let Err(e) = r {
                        self.fail(e);
                        return;
                    }
                    if self.decoder.finished() {
                        // Anything after the provider's end marker is ignored.
                        self.done = true;
                        return;
                    }
                }
                if let Some(e) = overflow {
                    self.fail(ProviderError::BadResponse {
                        provider: self.provider,
                        detail: format!("{e}; aiOS stopped reading the response"),
                    });
                }
            }
        }
    }

    fn fail(&mut self, e: ProviderError) {
        self.queue.push_back(Err(e));
        self.done = true;
    }
}

/// Stream the SSE body of an accepted response through `decoder`. No
/// bytes for `idle` is a timeout; a broken connection is a dropped stream.
pub fn sse_stream<D: Decoder>(
    provider: &'static str,
    resp: reqwest::Response,
    idle: Duration,
    decoder: D,
) -> ProviderStream {
    let pump = Pump {
        provider,
        body: Box::pin(resp.bytes_stream()),
        parser: SseParser::new(),
        decoder,
        queue: VecDeque::new(),
        idle,
        done: false,
    };
    Box::pin(futures::stream::unfold(pump, |mut p| async move {
        loop {
            if let Some(item) = p.queue.pop_front() {
                return Some((item, p));
            }
            if p.done {
                return None;
            }
            p.step().await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy::new(5);
        for attempt in 0..10 {
            let d = p.delay(attempt, None).unwrap();
            let full = p
                .base_delay
                .saturating_mul(2u32.pow(attempt))
                .min(p.max_delay);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::new(3);
        assert_eq!(p.delay(0, Some(Duration::ZERO)), Some(Duration::ZERO));
        assert_eq!(
            p.delay(2, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(3600))), None);
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn excerpts_are_short_single_line_and_key_free() {
        let key = Secret::new("sk-secret-123");
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-secret-123.","type":"invalid_request_error"}}"#;
        let e = excerpt(body, Some(&key));
        assert!(!e.contains("sk-secret-123"), "{e}");
        assert!(
            e.contains("Incorrect API key") && e.contains("[redacted]"),
            "{e}"
        );
        let anth = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(excerpt(anth, None), "overloaded_error: Overloaded");
        let long = "x\n".repeat(1000);
        let e = excerpt(&long, None);
        assert!(e.chars().count() <= EXCERPT_CHARS + 1 && !e.contains('\n'));
        assert_eq!(excerpt("", None), "(empty body)");
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("sk-abc");
        assert!(!format!("{s:?}").contains("sk-abc"));
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:11434/v1"));
        assert!(is_loopback("http://localhost:8080"));
        assert!(is_loopback("http://[::1]:8080/v1"));
        assert!(!is_loopback("https://api.openai.com/v1"));
    }
}

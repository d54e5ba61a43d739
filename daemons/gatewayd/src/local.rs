//! The `local` provider: the local model, served by `runtimed` (llama.cpp
//! lives in that process only; this crate does not link it).
//!
//! Each completion narrows the tools to the [`DEFAULT_K`] most relevant to
//! the latest user request ([`ToolSelector`]), sends the conversation and
//! those candidates to runtimed's `Generate`, and turns its stream into
//! [`CompletionEvent`]s: text deltas, at most one tool call (chosen under a
//! grammar from the candidates' own schemas), real token usage, done.
//! Dropping the stream cancels the generation in runtimed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use aios_config::{Config, Daemon, LocalConfig, Paths};
use aios_proto::{
    ApiError, ApiErrorKind, CompletionEvent, CompletionRequest, GenerateEvent, GenerateRequest,
    ModelTool, ProviderStatus, Role, RuntimeClient, Usage,
};
use futures::StreamExt;

use crate::clarify::{self, Clarifier};
use crate::error::ProviderError;
use crate::provider::{Provider, ProviderStream};
use crate::select::{DEFAULT_K, RouterSelector, ToolSelector};

const NAME: &str = "local";

/// What a request's prompt lists for the model to choose from: declared
/// once, with the configuration key (`[providers.local] listing`).
pub use aios_config::ToolListing as Listing;

/// The local provider: a client of runtimed.
#[derive(Clone)]
pub struct LocalProvider {
    model: String,
    socket: PathBuf,
    selector: Arc<dyn ToolSelector>,
    k: usize,
    listing: Listing,
    clarify_below: f32,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("model", &self.model)
            .field("socket", &self.socket)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

impl LocalProvider {
    /// From configuration: the model's name is shown from its path; the
    /// runtime is reached on runtimed's default socket
    /// ([`LocalProvider::with_socket`] to change it).
    pub fn new(config: &LocalConfig) -> Self {
        let model = config
            .model_path
            .as_deref()
            .and_then(|p| p.file_stem())
            .map_or_else(
                || "qwen2.5-coder-0.5b".to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
        let socket = Paths::resolve(&Config::default()).socket(Daemon::Runtimed);
        LocalProvider {
            model,
            socket,
            selector: Arc::new(RouterSelector::default()),
            k: DEFAULT_K,
            listing: config.listing,
            clarify_below: config.clarify_below.unwrap_or(aios_router::CLARIFY_BELOW),
        }
    }

    /// Reach runtimed on `socket`.
    pub fn with_socket(mut self, socket: PathBuf) -> Self {
        self.socket = socket;
        self
    }

    /// Narrow tools with `selector`, offering at most `k`.
    pub fn with_selector(mut self, selector: Arc<dyn ToolSelector>, k: usize) -> Self {
        self.selector = selector;
        self.k = k.max(1);
        self
    }

    async fn client(&self) -> Result<RuntimeClient, ProviderError> {
        let channel = aios_proto::connect(&self.socket)
            .await
            .map_err(|e| ProviderError::Connect {
                provider: NAME,
                url: self.socket.display().to_string(),
                detail: format!(
                    "{e}; is runtimed running? (`aios daemons status`, or start it with `aios daemons start`)"
                ),
            })?;
        Ok(RuntimeClient::new(channel))
    }
}

/// Every tool, in the fixed order runtimed keeps their prompt in (by name):
/// the same catalogue must give the same prefix, request after request.
fn catalog(tools: &[ModelTool]) -> Vec<ModelTool> {
    let mut all = tools.to_vec();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// What the model is shown for a request whose best candidate is
/// `best`: every tool of its group ([`aios_router::groups`]), in catalogue
/// order, so that every request routed to the group has the same prompt
/// prefix and runtimed loads its saved cache instead of evaluating it.
pub fn group_listing(best: &str, tools: &[ModelTool]) -> Vec<ModelTool> {
    let all = catalog(tools);
    let names = aios_router::groups::members(best, all.iter().map(|t| t.name.as_str()));
    by_name(&names, &all)
}

/// The catalogue split into its groups, each in catalogue order (the lists
/// [`group_listing`] shows), largest first: the order runtimed warms them.
pub fn group_lists(tools: &[ModelTool]) -> Vec<Vec<ModelTool>> {
    let all = catalog(tools);
    aios_router::groups::split(all.iter().map(|t| t.name.as_str()))
        .iter()
        .map(|names| by_name(names, &all))
        .collect()
}

/// The tools of `all` named in `names`, in the order of `names`.
fn by_name(names: &[&str], all: &[ModelTool]) -> Vec<ModelTool> {
    names
        .iter()
        .filter_map(|n| all.iter().find(|t| t.name == *n).cloned())
        .collect()
}

/// The request the tools are chosen for: the latest user message.
fn latest_request(req: &CompletionRequest) -> &str {
    req.messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str())
}

/// Whether the conversation ends with the user's words (a new request),
/// not with a tool's result.
fn fresh_request(req: &CompletionRequest) -> bool {
    req.messages.last().is_some_and(|m| m.role == Role::User)
}

/// A runtime error before or during the stream, as the gateway reports it.
fn provider_error(e: ApiError) -> ProviderError {
    match e.kind {
        ApiErrorKind::FailedPrecondition | ApiErrorKind::Unavailable => {
            ProviderError::Unavailable {
                provider: NAME,
                detail: e.message,
            }
        }
        ApiErrorKind::InvalidArgument => ProviderError::InvalidRequest(format!("local: {e}")),
        ApiErrorKind::ResourceExhausted => ProviderError::RateLimited {
            provider: NAME,
            retry_after: None,
            message: e.message,
        },
        ApiErrorKind::Transport => ProviderError::StreamDropped {
            provider: NAME,
            detail: e.message,
        },
        _ => ProviderError::Remote {
            provider: NAME,
            kind: format!("{:?}", e.kind),
            message: e.message,
        },
    }
}

/// runtimed's finish reasons in the gateway's (Anthropic's) vocabulary.
fn stop_reason(finish: &str) -> String {
    match finish {
        "tool_call" => "tool_use",
        "end_of_text" => "end_turn",
        "stop" => "stop_sequence",
        "max_tokens" | "context_full" => "max_tokens",
        other => other,
    }
    .to_string()
}

#[async_trait::async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_model(&self) -> String {
        self.model.clone()
    }

    fn status(&self) -> ProviderStatus {
        let up = self.socket.exists();
        ProviderStatus {
            name: NAME.into(),
            model: self.model.clone(),
            base_url: format!("unix:{}", self.socket.display()),
            configured: up,
            reachable: false,
            detail: if up {
                "served by runtimed".into()
            } else {
                format!(
                    "runtimed is not running (no socket at {})",
                    self.socket.display()
                )
            },
            is_default: false,
        }
    }

    async fn probe(&self) -> Result<String, ProviderError> {
        let info = self.client().await?.info().await.map_err(provider_error)?;
        let cache = if info.warm_pending > 0 {
            format!(
                "saving the prompts of the tool groups: {} to go",
                info.warm_pending
            )
        } else if info.kept_target > 0 && info.kept_tokens < info.kept_target {
            format!(
                "keeping the tool catalogue: {} of {} tokens",
                info.kept_tokens, info.kept_target
            )
        } else if info.kept_target > 0 {
            format!("tool catalogue kept ({} tokens)", info.kept_target)
        } else {
            match self.listing {
                Listing::Group => "tool groups' prompts saved".to_string(),
                Listing::Catalogue => "no tool catalogue kept".to_string(),
                Listing::Candidates => "candidates listed per request".to_string(),
            }
        };
        let routing = self
            .selector
            .status()
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        Ok(format!(
            "{} loaded in {} ms; n_ctx {}, {} threads, {} MiB resident; {cache}{routing}",
            info.model_name,
            info.load_ms,
            info.n_ctx,
            info.threads,
            info.resident_bytes / (1024 * 1024)
        ))
    }

    async fn count_tokens(&self, texts: &[String]) -> Result<Option<Vec<u32>>, ProviderError> {
        crate::count::local(&mut self.client().await?, texts).await
    }

    async fn prepare(&self, system: &str, tools: &[ModelTool]) -> Result<String, ProviderError> {
        if tools.is_empty() {
            return Ok(String::new());
        }
        // The router's tool vectors are built in the background meanwhile.
        self.selector.prepare(tools);
        let mut client = self.client().await?;
        match self.listing {
            Listing::Candidates => Ok(String::new()),
            Listing::Group => {
                let lists = group_lists(tools);
                let groups = lists.len();
                let info = client
                    .warm(system.to_string(), lists)
                    .await
                    .map_err(provider_error)?;
                Ok(format!(
                    "saving the prompts of {groups} tool groups: {} to go",
                    info.warm_pending
                ))
            }
            Listing::Catalogue => {
                let info = client
                    .keep(system.to_string(), catalog(tools))
                    .await
                    .map_err(provider_error)?;
                Ok(if info.kept_target == 0 {
                    format!(
                        "the catalogue of {} tools is too long to keep in n_ctx {}",
                        tools.len(),
                        info.n_ctx
                    )
                } else {
                    format!(
                        "keeping the catalogue of {} tools: {} of {} tokens held",
                        tools.len(),
                        info.kept_tokens,
                        info.kept_target
                    )
                })
            }
        }
    }

    async fn complete(&self, req: CompletionRequest) -> Result<ProviderStream, ProviderError> {
        let started = Instant::now();
        // After a tool result the local model answers from it in words:
        // offered the tools again, a 0.5B model tends to echo the call as
        // text. Multi-step plans belong to a cloud model when one is set.
        // A reply to our own "which one?" names the tool: offer it alone;
        // the original request is still in the conversation for its
        // arguments.
        let answered = clarify::picked(&req.messages)
            .and_then(|name| req.tools.iter().find(|t| t.name == name).cloned());
        let candidates = match answered {
            Some(tool) => vec![tool],
            None if fresh_request(&req) => {
                self.selector
                    .select(latest_request(&req), &req.tools, self.k)
            }
            None => Vec::new(),
        };
        let tools = match (self.listing, candidates.first()) {
            (Listing::Group, Some(best)) => group_listing(&best.name, &req.tools),
            _ => candidates,
        };
        // A fresh request the router judged to need a tool must get a call:
        // a 0.5B model left free mostly answers from its own (wrong)
        // knowledge instead of looking. The router offers no tools for
        // requests that need none (or must be refused), so those are
        // answered in words; after a tool result the model is free again.
        let require_tool = !tools.is_empty() && fresh_request(&req);
        // The whole catalogue, in a fixed order, so runtimed can keep its
        // prompt cached and list every tool at no cost per request (the
        // grammar still allows only the candidates).
        let catalog = if tools.is_empty() || self.listing != Listing::Catalogue {
            Vec::new()
        } else {
            catalog(&req.tools)
        };
        let model = req.model.clone().unwrap_or_else(|| self.model.clone());
        let offered = tools.clone();
        let events = self
            .client()
            .await?
            .generate(GenerateRequest {
                system: req.system,
                messages: req.messages,
                tools,
                catalog,
                max_tokens: req.max_tokens,
                require_tool,
            })
            .await
            .map_err(provider_error)?;
        // An unsure pick among several tools becomes a question.
        let mut clarifier = Clarifier::new(&offered, self.clarify_below);
        let stream = events.filter_map(move |e| {
            let e = match e.map_err(provider_error) {
                Ok(e) => clarifier.on(e),
                Err(e) => return futures::future::ready(Some(Err(e))),
            };
            futures::future::ready(e.and_then(|e| {
                Some(Ok(match e {
                    GenerateEvent::TextDelta(t) => CompletionEvent::TextDelta(t),
                    GenerateEvent::ToolCall(c) => CompletionEvent::ToolCall(c),
                    GenerateEvent::Usage(u) => CompletionEvent::Usage(Usage {
                        input_tokens: u64::from(u.prompt_tokens),
                        output_tokens: u64::from(u.generated_tokens),
                        // Local inference costs no money.
                        cost_usd: Some(0.0),
                        provider: NAME.into(),
                        model: model.clone(),
                        latency_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                        ..Usage::default()
                    }),
                    GenerateEvent::Done { finish } => CompletionEvent::Done {
                        stop_reason: stop_reason(&finish),
                    },
                    // For the clarifier only.
                    GenerateEvent::NameChoice { .. } => return None,
                }))
            }))
        });
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_follow_the_gateway_vocabulary() {
        assert_eq!(stop_reason("tool_call"), "tool_use");
        assert_eq!(stop_reason("end_of_text"), "end_turn");
        assert_eq!(stop_reason("context_full"), "max_tokens");
    }

    #[test]
    fn a_missing_model_is_unavailable_with_its_remedy() {
        let e = provider_error(ApiError::precondition(
            "the local model file /m/q.gguf does not exist; get it with `cargo xtask model fetch`",
        ));
        assert!(matches!(e, ProviderError::Unavailable { .. }), "{e:?}");
        assert!(e.to_string().contains("cargo xtask model fetch"), "{e}");
    }

    #[test]
    fn status_without_runtimed_says_so() {
        let p = LocalProvider::new(&LocalConfig::default())
            .with_socket(PathBuf::from("/nonexistent/runtimed.sock"));
        let s = p.status();
        assert!(!s.configured);
        assert!(s.detail.contains("runtimed is not running"), "{}", s.detail);
    }
}

//! The [`Gateway`]: every provider built from the configuration, routing
//! of requests to them, and the [`ModelApi`] the daemon serves.
//!
//! Rights: anyone local may list providers (`aios doctor`); only another
//! aiOS daemon (same uid) or root may ask for completions, since they
//! spend the owner's API budget.

use std::collections::BTreeMap;
use std::sync::Arc;

use aios_config::Config;
use aios_proto::{
    ApiError, BoxStream, CompletionEvent, CompletionRequest, ModelApi, Principal, ProviderStatus,
    Right,
};
use futures::StreamExt;

use crate::anthropic::AnthropicProvider;
use crate::error::GatewayError;
use crate::local::LocalProvider;
use crate::openai::OpenAiProvider;
use crate::provider::Provider;
use crate::scripted::ScriptedProvider;

/// API keys handed to the cloud providers: `Ok(None)` when there is none,
/// `Err(why)` when the key file could not be used.
pub type KeyResult = Result<Option<String>, String>;

/// The model gateway.
pub struct Gateway {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
    default: String,
    default_model: Option<String>,
}

impl Gateway {
    /// Build every provider from `config`, reading API keys from the
    /// environment (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`) or the key file
    /// (`~/.config/aios/keys.toml`). This is the only place keys are read.
    pub fn from_config(config: &Config) -> Result<Gateway, GatewayError> {
        let file = aios_config::keys::default_key_file();
        let key =
            |p: &str| aios_config::keys::api_key(p, file.as_deref()).map_err(|e| e.to_string());
        Gateway::with_keys(config, key("openai"), key("anthropic"))
    }

    /// Build every provider from `config` with explicit keys (tests and
    /// in-process use; nothing is read from the environment).
    pub fn with_keys(
        config: &Config,
        openai: KeyResult,
        anthropic: KeyResult,
    ) -> Result<Gateway, GatewayError> {
        for (name, key) in [("openai", &openai), ("anthropic", &anthropic)] {
            if let Err(why) = key {
                tracing::warn!(provider = name, "API key unusable: {why}");
            }
        }
        let providers: Vec<Arc<dyn Provider>> = vec![
            Arc::new(OpenAiProvider::new(&config.providers.openai, openai)?),
            Arc::new(AnthropicProvider::new(
                &config.providers.anthropic,
                anthropic,
            )?),
            Arc::new(LocalProvider::new(&config.providers.local).with_socket(
                aios_config::Paths::resolve(config).socket(aios_config::Daemon::Runtimed),
            )),
            Arc::new(ScriptedProvider::from_config(&config.providers.scripted)),
        ];
        Ok(Gateway::with_providers(
            config.model.provider.clone(),
            config.model.model.clone(),
            providers,
        ))
    }

    /// A gateway over an explicit set of providers. `default` names the
    /// provider used when a request names none; `default_model` overrides
    /// that provider's own default model.
    pub fn with_providers(
        default: impl Into<String>,
        default_model: Option<String>,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Gateway {
        Gateway {
            providers: providers.into_iter().map(|p| (p.name(), p)).collect(),
            default: default.into(),
            default_model,
        }
    }

    /// Names of the registered providers, sorted.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.keys().copied().collect()
    }

    /// The provider a request goes to (`None` or empty: the default).
    pub fn route(&self, name: Option<&str>) -> Result<&Arc<dyn Provider>, ApiError> {
        let name = name.filter(|n| !n.is_empty()).unwrap_or(&self.default);
        self.providers.get(name).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown provider {name:?}; valid providers are: {}",
                self.provider_names().join(", ")
            ))
        })
    }

    /// The model a request uses on `provider`: the request's, else the
    /// configured override (for the default provider only), else the
    /// provider's default.
    pub fn model_for(&self, provider: &dyn Provider, requested: Option<&str>) -> String {
        if let Some(m) = requested.filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        if let (Some(m), true) = (&self.default_model, provider.name() == self.default) {
            return m.clone();
        }
        provider.default_model()
    }

    /// Status of every provider, probed concurrently when `probe` is set.
    pub async fn statuses(&self, probe: bool) -> Vec<ProviderStatus> {
        let futures = self.providers.values().map(|p| async move {
            let mut s = p.status();
            s.is_default = p.name() == self.default;
            if s.is_default {
                s.model = self.model_for(p.as_ref(), None);
            }
            if probe {
                match p.probe().await {
                    Ok(detail) => {
                        s.reachable = true;
                        // Probes of local providers repeat their status.
                        if s.detail.is_empty() {
                            s.detail = detail;
                        } else if !s.detail.contains(&detail) {
                            s.detail = format!("{}; {detail}", s.detail);
                        }
                    }
                    Err(e) => {
                        s.reachable = false;
                        s.detail = e.to_string();
                    }
                }
            }
            s
        });
        futures::future::join_all(futures).await
    }

    /// Route and start one completion, without a rights check (in-process
    /// callers that already hold the right).
    pub async fn start(
        &self,
        mut req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        let provider = self.route(req.provider.as_deref())?.clone();
        let model = self.model_for(provider.as_ref(), req.model.as_deref());
        req.provider = Some(provider.name().to_string());
        req.model = Some(model.clone());
        let name = provider.name();
        let stream = provider.complete(req).await.map_err(|e| {
            tracing::warn!(provider = name, %model, "completion failed before streaming: {e}");
            ApiError::from(e)
        })?;
        Ok(stream
            .map(move |item| {
                item.map_err(|e| {
                    tracing::warn!(provider = name, "completion failed mid-stream: {e}");
                    ApiError::from(e)
                })
            })
            .boxed())
    }
}

#[async_trait::async_trait]
impl ModelApi for Gateway {
    async fn providers(
        &self,
        who: Principal,
        probe: bool,
    ) -> Result<Vec<ProviderStatus>, ApiError> {
        who.require(Right::AnyUser)?;
        Ok(self.statuses(probe).await)
    }

    async fn complete(
        &self,
        who: Principal,
        req: CompletionRequest,
    ) -> Result<BoxStream<CompletionEvent>, ApiError> {
        who.require(Right::Daemon)?;
        self.start(req).await
    }
}

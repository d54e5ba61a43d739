//! The local llama.cpp runtime: registered so it shows up (honestly) in
//! `aios doctor` and routing, but not built yet; every call says so.

use aios_config::LocalConfig;
use aios_proto::{CompletionRequest, ProviderStatus};

use crate::error::ProviderError;
use crate::provider::{Provider, ProviderStream};

const NAME: &str = "local";

/// What the user is told until the runtime exists.
pub const NOT_BUILT: &str =
    "the local llama.cpp runtime is not built yet; use --provider openai|anthropic|scripted";

/// The placeholder local provider.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    model: String,
}

impl LocalProvider {
    /// From configuration (only the model path is shown).
    pub fn new(config: &LocalConfig) -> Self {
        let model = config
            .model_path
            .as_deref()
            .and_then(|p| p.file_stem())
            .map_or_else(|| "local".to_string(), |s| s.to_string_lossy().into_owned());
        LocalProvider { model }
    }

    fn error() -> ProviderError {
        ProviderError::Unavailable {
            provider: NAME,
            detail: NOT_BUILT.into(),
        }
    }
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
        ProviderStatus {
            name: NAME.into(),
            model: self.model.clone(),
            base_url: String::new(),
            configured: false,
            reachable: false,
            detail: NOT_BUILT.into(),
            is_default: false,
        }
    }

    async fn probe(&self) -> Result<String, ProviderError> {
        Err(Self::error())
    }

    async fn complete(&self, _req: CompletionRequest) -> Result<ProviderStream, ProviderError> {
        Err(Self::error())
    }
}

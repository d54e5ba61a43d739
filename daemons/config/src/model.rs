//! The configuration schema, with the built-in defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which provider and model to use by default.
    pub model: ModelConfig,
    /// Per-provider settings.
    pub providers: ProvidersConfig,
    /// Limits of the turn loop.
    pub turn: TurnConfig,
    /// Where logs go and how verbose.
    pub logging: LoggingConfig,
    /// Overrides of well-known directories.
    pub paths: PathsConfig,
}

/// Provider choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// `openai`, `anthropic`, `local` or `scripted`.
    pub provider: String,
    /// Model override for the chosen provider.
    pub model: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        // Until the local model lands, the embedded default is the scripted
        // demo provider (README says so).
        ModelConfig {
            provider: "scripted".into(),
            model: None,
        }
    }
}

/// Every provider's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// OpenAI and OpenAI-compatible servers.
    pub openai: OpenAiConfig,
    /// Anthropic Messages API.
    pub anthropic: AnthropicConfig,
    /// Replays a file of model turns.
    pub scripted: ScriptedConfig,
    /// Local llama.cpp runtime.
    pub local: LocalConfig,
}

/// OpenAI-compatible Chat Completions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Base URL including `/v1`.
    pub base_url: String,
    /// Default model.
    pub model: String,
    /// Per-request timeout, seconds.
    pub timeout_secs: u64,
    /// Retries on 429/5xx/connect errors.
    pub max_retries: u32,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            timeout_secs: 120,
            max_retries: 3,
        }
    }
}

/// Anthropic Messages API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnthropicConfig {
    /// Base URL without `/v1`.
    pub base_url: String,
    /// Default model.
    pub model: String,
    /// Per-request timeout, seconds.
    pub timeout_secs: u64,
    /// Retries on 429/5xx/connect errors.
    pub max_retries: u32,
    /// Output token limit.
    pub max_tokens: u32,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        AnthropicConfig {
            base_url: "https://api.anthropic.com".into(),
            model: "claude-sonnet-4-5".into(),
            timeout_secs: 120,
            max_retries: 3,
            max_tokens: 4096,
        }
    }
}

/// The scripted provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptedConfig {
    /// Script file; `None` = the embedded demo script.
    pub script: Option<PathBuf>,
}

/// The local runtime (a later issue wires llama.cpp).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// GGUF model file.
    pub model_path: Option<PathBuf>,
}

/// Limits of the turn loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// Model round trips per turn before giving up.
    pub max_iterations: u32,
    /// Deadline of one model call, seconds.
    pub model_timeout_secs: u64,
    /// Deadline of one tool call, seconds.
    pub tool_timeout_secs: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            max_iterations: 8,
            model_timeout_secs: 180,
            tool_timeout_secs: 30,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `tracing` filter, e.g. `info` or `aiosd=debug,info`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".into(),
        }
    }
}

/// Overrides of the well-known directories.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    /// Sockets live here.
    pub runtime_dir: Option<PathBuf>,
    /// Databases and logs live here.
    pub state_dir: Option<PathBuf>,
}

/// Provider names the gateway knows.
pub const PROVIDERS: &[&str] = &["openai", "anthropic", "local", "scripted"];

impl Config {
    /// Apply the environment layer.
    pub(crate) fn apply_env(&mut self, env: fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(p) = env("AIOS_PROVIDER") {
            self.model.provider = p;
        }
        if let Some(m) = env("AIOS_MODEL") {
            self.model.model = Some(m);
        }
        if let Some(u) = env("OPENAI_BASE_URL") {
            self.providers.openai.base_url = u;
        }
        if let Some(u) = env("ANTHROPIC_BASE_URL") {
            self.providers.anthropic.base_url = u;
        }
        if let Some(s) = env("AIOS_SCRIPT") {
            self.providers.scripted.script = Some(PathBuf::from(s));
        }
        if let Some(m) = env("AIOS_LOCAL_MODEL") {
            self.providers.local.model_path = Some(PathBuf::from(m));
        }
        if let Some(d) = env("AIOS_RUNTIME_DIR") {
            self.paths.runtime_dir = Some(PathBuf::from(d));
        }
        if let Some(d) = env("AIOS_STATE_DIR") {
            self.paths.state_dir = Some(PathBuf::from(d));
        }
        if let Some(l) = env("AIOS_LOG") {
            self.logging.level = l;
        }
        if let Some(n) = env("AIOS_MAX_ITERATIONS") {
            self.turn.max_iterations = n.parse().map_err(|_| ConfigError::Env {
                var: "AIOS_MAX_ITERATIONS".into(),
                message: format!("{n:?} is not a whole number"),
            })?;
        }
        Ok(())
    }

    /// Cross-field checks after all layers.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !PROVIDERS.contains(&self.model.provider.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "unknown provider {:?}; choose one of {} (set with --provider, AIOS_PROVIDER or [model] provider)",
                self.model.provider,
                PROVIDERS.join(", ")
            )));
        }
        if self.turn.max_iterations == 0 {
            return Err(ConfigError::Invalid(
                "turn.max_iterations must be at least 1".into(),
            ));
        }
        for (name, url) in [
            ("providers.openai.base_url", &self.providers.openai.base_url),
            (
                "providers.anthropic.base_url",
                &self.providers.anthropic.base_url,
            ),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "{name} = {url:?} must start with http:// or https://"
                )));
            }
        }
        Ok(())
    }
}

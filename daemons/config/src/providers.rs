//! Named provider instances: the one definition of every provider kind
//! ([`KINDS`]), the `[providers.NAME]` tables that instantiate them, prices
//! and budgets, and their resolution into the typed settings each provider
//! is built from.
//!
//! `aios doctor`, `docs/PROVIDERS.md` (checked by a test against
//! [`providers_markdown`]) and validation all read [`KINDS`], so a kind's
//! keys and help are written once.
//!
//! The instances `openai`, `anthropic`, `local` and `scripted` always exist
//! (their kind is their name), so configuration files written before
//! instances existed keep working unchanged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::{AnthropicConfig, LocalConfig, OpenAiConfig, ScriptedConfig, ToolListing};

/// What a provider instance talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// OpenAI's Chat Completions API.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Any server speaking Chat Completions (Ollama, llama-server, vLLM,
    /// LM Studio, llama-cpp-python).
    OpenaiCompatible,
    /// The local llama.cpp runtime.
    Local,
    /// Replays a script of model turns (tests, demos).
    Scripted,
}

/// One key of a `[providers.NAME]` table.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The TOML key.
    pub key: &'static str,
    /// What it means, for docs and errors.
    pub help: &'static str,
}

const BASE_URL: Field = Field {
    key: "base_url",
    help: "endpoint; Chat Completions servers include `/v1`",
};
const MODEL: Field = Field {
    key: "model",
    help: "model used when a request names none",
};
const TIMEOUT: Field = Field {
    key: "timeout_secs",
    help: "deadline of the response headers and of each silence in the stream (1-3600)",
};
const RETRIES: Field = Field {
    key: "max_retries",
    help: "retries on 429, 5xx and connection failures before the stream starts (0-10)",
};
const MAX_TOKENS: Field = Field {
    key: "max_tokens",
    help: "output token limit when a request sets none",
};
const KEY_ENV: Field = Field {
    key: "api_key_env",
    help: "environment variable holding the API key (the key file's entry is the instance name)",
};
const PRICE: Field = Field {
    key: "price",
    help: "`{ input_per_mtok = 3.0, output_per_mtok = 15.0 }` in USD per million tokens; overrides `[prices]`",
};
const SCRIPT: Field = Field {
    key: "script",
    help: "script file of model turns; absent = the embedded demo",
};
const MODEL_PATH: Field = Field {
    key: "model_path",
    help: "GGUF model file",
};

const LISTING: Field = Field {
    key: "listing",
    help: "what a request's prompt lists: `candidates` (the router's, the default), `group` (the best candidate's tool group, its prompt saved at start; faster, chooses worse at 0.5B) or `catalogue` (every tool, kept in the cache)",
};

const CLARIFY: Field = Field {
    key: "clarify_below",
    help: "ask which tool was meant when the model's confidence in the one it named is below this (0 never asks, 1 asks whenever it chose among several; default 0.5)",
};

/// The one definition of a provider kind.
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    /// The kind.
    pub kind: ProviderKind,
    /// Its spelling in `kind = "..."`.
    pub name: &'static str,
    /// One line for help and docs.
    pub summary: &'static str,
    /// Keys an instance of this kind accepts (besides `kind`).
    pub fields: &'static [Field],
    /// Whether `base_url` must be given (no sensible default exists).
    pub requires_base_url: bool,
    /// `base_url` when none is given.
    pub default_base_url: Option<&'static str>,
    /// `model` when none is given (empty: the server's only model).
    pub default_model: &'static str,
    /// Environment variable of the key when `api_key_env` is not given.
    pub default_key_env: Option<&'static str>,
    /// Whether calls cost money by default (budgets apply).
    pub paid: bool,
    /// A configuration example.
    pub example: &'static str,
}

/// Every provider kind, in the order docs list them.
pub const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: ProviderKind::Anthropic,
        name: "anthropic",
        summary: "Anthropic Messages API (streaming, native tool use)",
        fields: &[
            BASE_URL, MODEL, TIMEOUT, RETRIES, MAX_TOKENS, KEY_ENV, PRICE,
        ],
        requires_base_url: false,
        default_base_url: Some("https://api.anthropic.com"),
        default_model: "claude-sonnet-4-5",
        default_key_env: Some("ANTHROPIC_API_KEY"),
        paid: true,
        example: "[providers.claude]\nkind = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n",
    },
    KindSpec {
        kind: ProviderKind::Openai,
        name: "openai",
        summary: "OpenAI Chat Completions (streaming, native tool calls)",
        fields: &[BASE_URL, MODEL, TIMEOUT, RETRIES, KEY_ENV, PRICE],
        requires_base_url: false,
        default_base_url: Some("https://api.openai.com/v1"),
        default_model: "gpt-4o-mini",
        default_key_env: Some("OPENAI_API_KEY"),
        paid: true,
        example: "[providers.gpt]\nkind = \"openai\"\nmodel = \"gpt-4.1-mini\"\n",
    },
    KindSpec {
        kind: ProviderKind::OpenaiCompatible,
        name: "openai-compatible",
        summary: "any Chat Completions server: Ollama, llama-server, llama-cpp-python, vLLM, LM Studio",
        fields: &[BASE_URL, MODEL, TIMEOUT, RETRIES, KEY_ENV, PRICE],
        requires_base_url: true,
        default_base_url: None,
        default_model: "",
        default_key_env: None,
        paid: false,
        example: "[providers.lab]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"qwen2.5-7b\"\n",
    },
    KindSpec {
        kind: ProviderKind::Local,
        name: "local",
        summary: "the local llama.cpp runtime (GGUF models, offline)",
        fields: &[MODEL_PATH, LISTING, CLARIFY],
        requires_base_url: false,
        default_base_url: None,
        default_model: "local",
        default_key_env: None,
        paid: false,
        example: "[providers.local]\nmodel_path = \"/usr/share/aios/models/qwen2.5-coder-0.5b.gguf\"\n",
    },
    KindSpec {
        kind: ProviderKind::Scripted,
        name: "scripted",
        summary: "replays a script of model turns, or the embedded keyword demo (tests)",
        fields: &[SCRIPT],
        requires_base_url: false,
        default_base_url: None,
        default_model: "script",
        default_key_env: None,
        paid: false,
        example: "[providers.demo]\nkind = \"scripted\"\nscript = \"/tmp/turns.json\"\n",
    },
];

impl ProviderKind {
    /// This kind's definition.
    pub fn spec(self) -> &'static KindSpec {
        // Every variant has a row in KINDS (tested by `every_kind_is_defined_once`).
        KINDS.iter().find(|k| k.kind == self).unwrap_or(&KINDS[0])
    }

    /// Its spelling in configuration.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }
}

/// The kind of a built-in instance name.
pub fn builtin_kind(name: &str) -> Option<ProviderKind> {
    match name {
        "openai" => Some(ProviderKind::Openai),
        "anthropic" => Some(ProviderKind::Anthropic),
        "local" => Some(ProviderKind::Local),
        "scripted" => Some(ProviderKind::Scripted),
        _ => None,
    }
}

/// Longest instance name.
pub const MAX_NAME_LEN: usize = 32;

/// A price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Prompt tokens.
    pub input_per_mtok: f64,
    /// Completion tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// Cost of a call.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_mtok + output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        for (k, v) in [
            ("input_per_mtok", self.input_per_mtok),
            ("output_per_mtok", self.output_per_mtok),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "{k} = {v} must be a non-negative number of US dollars per million tokens"
                ));
            }
        }
        Ok(())
    }
}

/// When the built-in prices were taken from the providers' price pages.
pub const BUILTIN_PRICES_AS_OF: &str = "2025-11";

/// Built-in list prices (USD per million tokens, input and output) of
/// well-known models as of [`BUILTIN_PRICES_AS_OF`], matched by the
/// longest prefix of the model name. `[prices]` and an instance's `price`
/// override them; a model matching none has an unknown cost.
pub const BUILTIN_PRICES: &[(&str, f64, f64)] = &[
    ("claude-opus-4-5", 5.0, 25.0),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-haiku", 0.25, 1.25),
    ("gpt-5-nano", 0.05, 0.4),
    ("gpt-5-mini", 0.25, 2.0),
    ("gpt-5", 1.25, 10.0),
    ("gpt-4.1-nano", 0.1, 0.4),
    ("gpt-4.1-mini", 0.4, 1.6),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4o-mini", 0.15, 0.6),
    ("gpt-4o", 2.5, 10.0),
    ("o4-mini", 1.1, 4.4),
    ("o3", 2.0, 8.0),
];

/// The built-in price of `model`, by longest matching prefix.
pub fn builtin_price(model: &str) -> Option<Price> {
    BUILTIN_PRICES
        .iter()
        .filter(|(prefix, _, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, i, o)| Price {
            input_per_mtok: i,
            output_per_mtok: o,
        })
}

/// One `[providers.NAME]` table as written. Which keys apply depends on
/// the kind ([`KindSpec::fields`]); the rest are refused by validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// The kind; optional for the built-in names.
    pub kind: Option<ProviderKind>,
    /// Endpoint.
    pub base_url: Option<String>,
    /// Default model.
    pub model: Option<String>,
    /// Per-request timeout, seconds.
    #[serde(deserialize_with = "crate::model::opt_timeout_secs")]
    pub timeout_secs: Option<u64>,
    /// Retries before the stream starts.
    #[serde(deserialize_with = "crate::model::opt_retries")]
    pub max_retries: Option<u32>,
    /// Output token limit (Anthropic needs one).
    pub max_tokens: Option<u32>,
    /// Environment variable of the API key.
    pub api_key_env: Option<String>,
    /// Price override for every model of this instance.
    pub price: Option<Price>,
    /// Script file (scripted).
    pub script: Option<PathBuf>,
    /// GGUF file (local).
    pub model_path: Option<PathBuf>,
    /// What a request's prompt lists (local).
    pub listing: Option<ToolListing>,
    /// Confidence below which the local model's pick becomes a question.
    #[serde(deserialize_with = "crate::model::opt_confidence")]
    pub clarify_below: Option<f32>,
}

impl ProviderConfig {
    /// The keys set in this table, besides `kind`.
    fn set_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |set: bool, k: &'static str| {
            if set {
                keys.push(k);
            }
        };
        add(self.base_url.is_some(), BASE_URL.key);
        add(self.model.is_some(), MODEL.key);
        add(self.timeout_secs.is_some(), TIMEOUT.key);
        add(self.max_retries.is_some(), RETRIES.key);
        add(self.max_tokens.is_some(), MAX_TOKENS.key);
        add(self.api_key_env.is_some(), KEY_ENV.key);
        add(self.price.is_some(), PRICE.key);
        add(self.script.is_some(), SCRIPT.key);
        add(self.model_path.is_some(), MODEL_PATH.key);
        add(self.listing.is_some(), LISTING.key);
        add(self.clarify_below.is_some(), CLARIFY.key);
        keys
    }
}

/// Every `[providers.NAME]` table, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProvidersConfig(pub BTreeMap<String, ProviderConfig>);

impl ProvidersConfig {
    /// The table of `name`, created empty if absent (for the environment
    /// layer and tests).
    pub fn entry(&mut self, name: &str) -> &mut ProviderConfig {
        self.0.entry(name.to_string()).or_default()
    }
}

/// Budgets of money spent on paid providers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Most US dollars one session may spend.
    pub session_usd: Option<f64>,
    /// Most US dollars all sessions may spend in one UTC day.
    pub day_usd: Option<f64>,
    /// The instance requests go to once a budget is exhausted.
    pub fallback: String,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            session_usd: None,
            day_usd: None,
            fallback: "local".into(),
        }
    }
}

/// The settings one provider is built from, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Settings {
    /// `openai` and `openai-compatible`.
    OpenAi(OpenAiConfig),
    /// `anthropic`.
    Anthropic(AnthropicConfig),
    /// `local`.
    Local(LocalConfig),
    /// `scripted`.
    Scripted(ScriptedConfig),
}

/// A resolved provider instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Its name (`[providers.NAME]`).
    pub name: String,
    /// Its kind.
    pub kind: ProviderKind,
    /// What the provider is built from.
    pub settings: Settings,
    /// Environment variable of its key, if it takes one.
    pub key_env: Option<String>,
    /// Its price override.
    pub price: Option<Price>,
}

impl Instance {
    /// The default model of this instance.
    pub fn model(&self) -> String {
        match &self.settings {
            Settings::OpenAi(c) => c.model.clone(),
            Settings::Anthropic(c) => c.model.clone(),
            Settings::Local(_) | Settings::Scripted(_) => self.kind.spec().default_model.into(),
        }
    }
}

/// A problem with the merged configuration: the dotted key it concerns
/// (so the loader can name the file that set it) and what to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub key: String,
    pub message: String,
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

fn kinds_list() -> String {
    KINDS
        .iter()
        .map(|k| format!("\"{}\"", k.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check an instance name.
pub(crate) fn check_name(name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(problem(
            format!("providers.{name}"),
            format!(
                "provider name {name:?} is not valid: use 1-{MAX_NAME_LEN} lowercase letters, digits, `-` or `_`, starting with a letter or digit"
            ),
        ))
    }
}

/// Check what can be checked of one table alone: keys that do not apply
/// to its kind (when the kind is known here), prices.
pub(crate) fn check_table(name: &str, p: &ProviderConfig) -> Result<(), Problem> {
    check_name(name)?;
    if let Some(price) = &p.price {
        price
            .check()
            .map_err(|m| problem(format!("providers.{name}.price"), m))?;
    }
    let Some(kind) = p.kind.or_else(|| builtin_kind(name)) else {
        return Ok(());
    };
    let spec = kind.spec();
    for key in p.set_keys() {
        if !spec.fields.iter().any(|f| f.key == key) {
            let owners: Vec<String> = KINDS
                .iter()
                .filter(|k| k.fields.iter().any(|f| f.key == key))
                .map(|k| format!("\"{}\"", k.name))
                .collect();
            return Err(problem(
                format!("providers.{name}.{key}"),
                format!(
                    "`{key}` does not apply to provider {name:?} of kind \"{}\" (it is a setting of kind {}); remove it, or set the right kind; kind \"{}\" accepts: {}",
                    spec.name,
                    owners.join(", "),
                    spec.name,
                    spec.fields
                        .iter()
                        .map(|f| f.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if let Some(url) = &p.base_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(problem(
            format!("providers.{name}.base_url"),
            format!("{url:?} must start with http:// or https://"),
        ));
    }
    Ok(())
}

/// Resolve one instance: its kind, defaults and typed settings.
pub(crate) fn resolve(name: &str, p: &ProviderConfig) -> Result<Instance, Problem> {
    check_table(name, p)?;
    let Some(kind) = p.kind.or_else(|| builtin_kind(name)) else {
        return Err(problem(
            format!("providers.{name}"),
            format!(
                "provider {name:?} has no kind; add `kind = ...` to [providers.{name}], one of {}",
                kinds_list()
            ),
        ));
    };
    let spec = kind.spec();
    let base_url = match (&p.base_url, spec.default_base_url) {
        (Some(u), _) => u.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) if spec.requires_base_url => {
            return Err(problem(
                format!("providers.{name}"),
                format!(
                    "provider {name:?} of kind \"{}\" needs a base_url; add e.g. `base_url = \"http://127.0.0.1:8080/v1\"` to [providers.{name}]",
                    spec.name
                ),
            ));
        }
        (None, None) => String::new(),
    };
    let model = p
        .model
        .clone()
        .unwrap_or_else(|| spec.default_model.to_string());
    let settings = match kind {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => {
            let d = OpenAiConfig::default();
            Settings::OpenAi(OpenAiConfig {
                base_url,
                model,
                timeout_secs: p.timeout_secs.unwrap_or(d.timeout_secs),
                max_retries: p.max_retries.unwrap_or(d.max_retries),
            })
        }
        ProviderKind::Anthropic => {
            let d = AnthropicConfig::default();
            Settings::Anthropic(AnthropicConfig {
                base_url,
                model,
                timeout_secs: p.timeout_secs.unwrap_or(d.timeout_secs),
                max_retries: p.max_retries.unwrap_or(d.max_retries),
                max_tokens: p.max_tokens.unwrap_or(d.max_tokens),
            })
        }
        ProviderKind::Local => Settings::Local(LocalConfig {
            model_path: p.model_path.clone(),
            listing: p.listing.unwrap_or_default(),
            clarify_below: p.clarify_below,
        }),
        ProviderKind::Scripted => Settings::Scripted(ScriptedConfig {
            script: p.script.clone(),
        }),
    };
    Ok(Instance {
        name: name.to_string(),
        kind,
        settings,
        key_env: p
            .api_key_env
            .clone()
            .or_else(|| spec.default_key_env.map(str::to_string)),
        price: p.price,
    })
}

/// Built-in instance names, in the order they are listed.
pub const BUILTIN: &[&str] = &["openai", "anthropic", "local", "scripted"];

/// Every instance: the built-ins, then configured ones, by name.
pub(crate) fn resolve_all(providers: &ProvidersConfig) -> Result<Vec<Instance>, Problem> {
    let empty = ProviderConfig::default();
    let mut out = Vec::new();
    for name in BUILTIN {
        out.push(resolve(name, providers.0.get(*name).unwrap_or(&empty))?);
    }
    for (name, p) in &providers.0 {
        if !BUILTIN.contains(&name.as_str()) {
            out.push(resolve(name, p)?);
        }
    }
    Ok(out)
}

/// The reference of every kind, as Markdown (`docs/PROVIDERS.md` is this
/// text; a test keeps them equal).
pub fn providers_markdown() -> String {
    let mut s = String::from(
        "# Providers\n\n<!-- Generated from aios_config::KINDS by `providers_markdown()`; a test checks this file. Do not edit by hand. -->\n\n\
Model providers are **named instances**, each of a **kind**. The instances `openai`, `anthropic`, `local` and `scripted` always exist; \
any other name needs a `kind`. Add instances in `aios.toml`:\n\n\
```toml\n[providers.claude]\nkind = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\n\
[providers.lab]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"qwen2.5-7b\"\n\n\
[model]\nprovider = \"claude\"           # the default instance\nfallback = [\"openai\", \"local\"]  # tried in order before any output reached you\n\
breaker_failures = 3              # consecutive failures that open an instance's circuit\nbreaker_cooldown_secs = 30        # then one trial call is let through\n\n\
[budget]\nsession_usd = 1.00\nday_usd = 5.00\nfallback = \"local\"               # where requests go once a budget is spent\n\n\
[prices.\"my-model\"]\ninput_per_mtok = 0.5\noutput_per_mtok = 1.5\n```\n\n\
API keys are read only by gatewayd: from the instance's `api_key_env` variable (default per kind, below), \
else from `~/.config/aios/keys.toml` (mode 600) under the instance name (`claude = \"sk-...\"`), \
or the kind name for the `openai` and `anthropic` kinds.\n\n## Kinds\n\n| kind | what | needs `base_url` | default model | key variable |\n|---|---|---|---|---|\n",
    );
    for k in KINDS {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            k.name,
            k.summary,
            if k.requires_base_url { "yes" } else { "no" },
            if k.default_model.is_empty() {
                "(the server's)".to_string()
            } else {
                format!("`{}`", k.default_model)
            },
            k.default_key_env
                .map_or_else(|| "none".to_string(), |v| format!("`{v}`"))
        ));
    }
    for k in KINDS {
        s.push_str(&format!("\n### `{}`\n\n{}.\n\n", k.name, k.summary));
        if let Some(u) = k.default_base_url {
            s.push_str(&format!("Default `base_url`: `{u}`.\n\n"));
        }
        s.push_str("| key | meaning |\n|---|---|\n| `kind` | `\"");
        s.push_str(k.name);
        s.push_str("\"` (optional for the built-in instance of the same name) |\n");
        for f in k.fields {
            s.push_str(&format!("| `{}` | {} |\n", f.key, f.help));
        }
        s.push_str(&format!("\n```toml\n{}```\n", k.example));
    }
    s.push_str(&format!(
        "\n## Built-in prices\n\nList prices in USD per million tokens (input / output) as of {BUILTIN_PRICES_AS_OF}, \
matched by the longest prefix of the model name. `[prices.\"MODEL\"]` and an instance's `price` override them. \
`local`, `scripted` and `openai-compatible` instances cost 0 unless given a price; any other model's cost is unknown \
(reported as null, and not counted against a budget).\n\n| model prefix | input | output |\n|---|---|---|\n"
    ));
    for (m, i, o) in BUILTIN_PRICES {
        s.push_str(&format!("| `{m}` | {i} | {o} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_defined_once() {
        for kind in [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::OpenaiCompatible,
            ProviderKind::Local,
            ProviderKind::Scripted,
        ] {
            assert_eq!(KINDS.iter().filter(|k| k.kind == kind).count(), 1);
            #[derive(Deserialize)]
            struct W {
                k: ProviderKind,
            }
            let parsed: W = toml::from_str(&format!("k = \"{}\"", kind.as_str())).unwrap();
            assert_eq!(parsed.k, kind);
        }
    }

    #[test]
    fn prices_match_the_longest_prefix() {
        assert_eq!(
            builtin_price("gpt-4o-mini-2024").unwrap().input_per_mtok,
            0.15
        );
        assert_eq!(
            builtin_price("gpt-4o-2024-08-06").unwrap().input_per_mtok,
            2.5
        );
        assert_eq!(
            builtin_price("claude-opus-4-5").unwrap().output_per_mtok,
            25.0
        );
        assert_eq!(
            builtin_price("claude-opus-4-1").unwrap().output_per_mtok,
            75.0
        );
        assert!(builtin_price("qwen2.5").is_none());
        let p = Price {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        };
        assert!((p.cost(1_000_000, 100_000) - 4.5).abs() < 1e-9);
    }

    #[test]
    fn the_providers_doc_is_generated_from_the_kinds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROVIDERS.md");
        let want = providers_markdown();
        if std::env::var_os("AIOS_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/PROVIDERS.md is out of date; regenerate it with `AIOS_BLESS=1 cargo test -p aios-config`"
        );
    }
}

//! The configuration schema, with the built-in defaults and the bounds of
//! every number in it.
//!
//! Durations and counts are checked when each file is read (so an error
//! names the file, line and key) and again after the environment layer.
//! The bounds keep a configured value from overflowing when it meets a
//! clock (`Instant + Duration`) and from meaning "wait for ever".

use std::path::PathBuf;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::providers::{self, BudgetConfig, Instance, Price, Problem, ProvidersConfig};

/// Longest allowed deadline of a model or tool call, in seconds (an hour).
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// Most retries of one model request.
pub const MAX_RETRIES: u32 = 10;
/// Most model round trips in one turn.
pub const MAX_ITERATIONS: u32 = 100;

/// Serde check of a `*_timeout_secs` value: 1..=[`MAX_TIMEOUT_SECS`].
fn timeout_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    check_timeout(v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn check_timeout(v: u64) -> Result<(), String> {
    if (1..=MAX_TIMEOUT_SECS).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{v} seconds is out of range: a timeout must be between 1 and {MAX_TIMEOUT_SECS} seconds"
        ))
    }
}

/// [`timeout_secs`] for an optional key.
pub(crate) fn opt_timeout_secs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    timeout_secs(d).map(Some)
}

/// Serde check of `clarify_below`: a confidence, 0 to 1.
pub(crate) fn opt_confidence<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<f32>, D::Error> {
    let v = f32::deserialize(d)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "clarify_below is {v}; give a confidence from 0 (never ask) to 1 (ask whenever the model chose among several tools)"
        )));
    }
    Ok(Some(v))
}

/// [`retries`] for an optional key.
pub(crate) fn opt_retries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    retries(d).map(Some)
}

/// Serde check of `max_retries`: 0..=[`MAX_RETRIES`].
fn retries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    check_retries(v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn check_retries(v: u32) -> Result<(), String> {
    if v <= MAX_RETRIES {
        Ok(())
    } else {
        Err(format!(
            "{v} retries is out of range: at most {MAX_RETRIES}"
        ))
    }
}

/// Fewest and most tokens of conversation a model call may carry
/// (`turn.context_tokens`).
pub const CONTEXT_TOKENS_RANGE: std::ops::RangeInclusive<u32> = 512..=1_048_576;

/// Serde check of `context_tokens`: within [`CONTEXT_TOKENS_RANGE`].
fn context_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    check_context_tokens(v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn check_context_tokens(v: u32) -> Result<(), String> {
    if CONTEXT_TOKENS_RANGE.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{v} is out of range: the conversation sent with a model call takes between {} and {} tokens",
            CONTEXT_TOKENS_RANGE.start(),
            CONTEXT_TOKENS_RANGE.end()
        ))
    }
}

/// Serde check of `max_iterations`: 1..=[`MAX_ITERATIONS`].
fn iterations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    check_iterations(v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn check_iterations(v: u32) -> Result<(), String> {
    if (1..=MAX_ITERATIONS).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{v} is out of range: a turn needs between 1 and {MAX_ITERATIONS} model calls"
        ))
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which provider and model to use by default.
    pub model: ModelConfig,
    /// Provider instances, by name (`[providers.NAME]`).
    pub providers: ProvidersConfig,
    /// Prices by model name, USD per million tokens (`[prices."MODEL"]`).
    pub prices: BTreeMap<String, Price>,
    /// Spending limits.
    pub budget: BudgetConfig,
    /// Limits of the turn loop.
    pub turn: TurnConfig,
    /// Where logs go and how verbose.
    pub logging: LoggingConfig,
    /// Overrides of well-known directories.
    pub paths: PathsConfig,
    /// The full-screen shell's look.
    pub ui: UiConfig,
    /// What memoryd indexes of the machine's documentation.
    pub memory: crate::memory::MemoryConfig,
}

/// The full-screen shell's look (`[ui]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// The theme (a file in `themes/` or `~/.config/aios/themes/`, by
    /// name); unset: `console-16` on the Linux console, else
    /// `default-dark`. Also `AIOS_THEME`.
    pub theme: Option<String>,
}

/// Provider choice and the fallback chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// The default provider instance (`openai`, `anthropic`, `local`,
    /// `scripted`, or a `[providers.NAME]`).
    pub provider: String,
    /// Model override for the chosen provider.
    pub model: Option<String>,
    /// Instances tried in order when the default fails before any output
    /// reached the user.
    pub fallback: Vec<String>,
    /// Consecutive failures that open an instance's circuit breaker.
    pub breaker_failures: u32,
    /// Seconds an open breaker waits before letting one trial call through.
    #[serde(deserialize_with = "timeout_secs")]
    pub breaker_cooldown_secs: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        // The embedded default is the local model served by runtimed
        // (`aios model pull` puts it in place; the README's first command
        // does): offline, no key, nothing leaves the machine.
        ModelConfig {
            provider: "local".into(),
            model: None,
            fallback: Vec::new(),
            breaker_failures: 3,
            breaker_cooldown_secs: 30,
        }
    }
}

/// Settings of an `openai` or `openai-compatible` instance (resolved from
/// its `[providers.NAME]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Base URL including `/v1`.
    pub base_url: String,
    /// Default model.
    pub model: String,
    /// Per-request timeout, seconds (1..=[`MAX_TIMEOUT_SECS`]).
    #[serde(deserialize_with = "timeout_secs")]
    pub timeout_secs: u64,
    /// Retries on 429/5xx/connect errors (0..=[`MAX_RETRIES`]).
    #[serde(deserialize_with = "retries")]
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

/// Settings of an `anthropic` instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnthropicConfig {
    /// Base URL without `/v1`.
    pub base_url: String,
    /// Default model.
    pub model: String,
    /// Per-request timeout, seconds (1..=[`MAX_TIMEOUT_SECS`]).
    #[serde(deserialize_with = "timeout_secs")]
    pub timeout_secs: u64,
    /// Retries on 429/5xx/connect errors (0..=[`MAX_RETRIES`]).
    #[serde(deserialize_with = "retries")]
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

/// Settings of a `scripted` instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptedConfig {
    /// Script file; `None` = the embedded demo script.
    pub script: Option<PathBuf>,
}

/// Settings of a `local` instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// GGUF model file.
    pub model_path: Option<PathBuf>,
    /// What each request's prompt lists for the model to choose from.
    pub listing: ToolListing,
    /// Ask which tool was meant when the model named one with less
    /// confidence than this (0 never asks); `None`: the router's default.
    pub clarify_below: Option<f32>,
}

/// What a local request's prompt lists for the model to choose from
/// (`[providers.local] listing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolListing {
    /// The router's candidates (one when its two rankings agree, else the
    /// top k): a new prompt per request, evaluated in full every time.
    /// The default: on the held-out set the 0.5B model chose best from
    /// these (`docs/ROUTER.md`).
    #[default]
    Candidates,
    /// Every tool of the best candidate's group (`aios_router::groups`):
    /// the same prompt for every request routed to the group, so runtimed
    /// saves its cache once (warmed at start) and loads it afterwards.
    /// Faster per request; the 0.5B model chooses worse among 8–17 tools.
    Group,
    /// The whole catalogue, kept in runtimed's KV cache beside requests,
    /// with the candidates named after it. Every token then attends over
    /// the ~5,800-token catalogue, which costs about 40 ms a token.
    Catalogue,
}

/// Limits of the turn loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// Model round trips per turn before giving up (1..=[`MAX_ITERATIONS`]).
    #[serde(deserialize_with = "iterations")]
    pub max_iterations: u32,
    /// Deadline of one model call, seconds (1..=[`MAX_TIMEOUT_SECS`]).
    #[serde(deserialize_with = "timeout_secs")]
    pub model_timeout_secs: u64,
    /// Deadline of one tool call, seconds (1..=[`MAX_TIMEOUT_SECS`]; the
    /// executor caps it lower).
    #[serde(deserialize_with = "timeout_secs")]
    pub tool_timeout_secs: u64,
    /// How long a call that needs the user's approval waits for it,
    /// seconds (1..=[`MAX_TIMEOUT_SECS`]). toolsd refuses the call as
    /// expired after it, also when it kept the call through an aiosd
    /// restart.
    #[serde(deserialize_with = "timeout_secs")]
    pub approval_timeout_secs: u64,
    /// Tokens of conversation (summary, retrieved memories, turns) sent
    /// with one model call; older turns are summarised past it. The default
    /// fits the local runtime's 8,192-token context beside the tool listing;
    /// a provider with a larger window can be given more.
    #[serde(deserialize_with = "context_tokens")]
    pub context_tokens: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            max_iterations: 8,
            model_timeout_secs: 180,
            tool_timeout_secs: 30,
            approval_timeout_secs: 15 * 60,
            context_tokens: 3072,
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
    /// The system policy file toolsd decides with (default
    /// `/etc/aios/policy.toml` for a root toolsd, else
    /// `$XDG_CONFIG_HOME/aios/system-policy.toml`).
    pub system_policy: Option<PathBuf>,
}

/// The built-in provider instances (which always exist); configured
/// instances come on top ([`Config::provider_names`]).
pub const PROVIDERS: &[&str] = providers::BUILTIN;

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
            self.providers.entry("openai").base_url = Some(u);
        }
        if let Some(u) = env("ANTHROPIC_BASE_URL") {
            self.providers.entry("anthropic").base_url = Some(u);
        }
        if let Some(s) = env("AIOS_SCRIPT") {
            self.providers.entry("scripted").script = Some(PathBuf::from(s));
        }
        if let Some(t) = env("AIOS_THEME") {
            self.ui.theme = Some(t);
        }
        if let Some(m) = env("AIOS_LOCAL_MODEL") {
            self.providers.entry("local").model_path = Some(PathBuf::from(m));
        }
        if let Some(d) = env("AIOS_RUNTIME_DIR") {
            self.paths.runtime_dir = Some(PathBuf::from(d));
        }
        if let Some(d) = env("AIOS_STATE_DIR") {
            self.paths.state_dir = Some(PathBuf::from(d));
        }
        if let Some(p) = env("AIOS_SYSTEM_POLICY") {
            self.paths.system_policy = Some(PathBuf::from(p));
        }
        if let Some(l) = env("AIOS_LOG") {
            self.logging.level = l;
        }
        if let Some(m) = env("MANPATH") {
            self.memory.manpath = Some(m);
        }
        if let Some(v) = env("AIOS_MEMORY_DOCS") {
            self.memory.docs = crate::memory::parse_flag("AIOS_MEMORY_DOCS", &v)?;
        }
        if let Some(n) = env("AIOS_MAX_ITERATIONS") {
            self.turn.max_iterations = n.parse().map_err(|_| ConfigError::Env {
                var: "AIOS_MAX_ITERATIONS".into(),
                message: format!("{n:?} is not a whole number"),
            })?;
        }
        Ok(())
    }

    /// Every provider instance, resolved: the built-ins, then the
    /// configured ones by name.
    pub fn instances(&self) -> Result<Vec<Instance>, ConfigError> {
        providers::resolve_all(&self.providers)
            .map_err(|p| ConfigError::Invalid(format!("{}: {}", p.key, p.message)))
    }

    /// Names of every provider instance, built-ins first.
    pub fn provider_names(&self) -> Vec<String> {
        let mut names: Vec<String> = PROVIDERS.iter().map(|s| s.to_string()).collect();
        names.extend(
            self.providers
                .0
                .keys()
                .filter(|k| !PROVIDERS.contains(&k.as_str()))
                .cloned(),
        );
        names
    }

    /// The built-in `local` instance's configured model file
    /// (`[providers.local] model_path`), if any.
    pub fn local_model_path(&self) -> Option<PathBuf> {
        self.providers
            .0
            .get("local")
            .and_then(|p| p.model_path.clone())
    }

    /// Files the providers read (scripts, model files), for confinement.
    pub fn provider_files(&self) -> Vec<PathBuf> {
        self.providers
            .0
            .values()
            .flat_map(|p| [p.script.clone(), p.model_path.clone()])
            .flatten()
            .collect()
    }

    /// The price of `model` on `instance`: the instance's own, else
    /// `[prices]`, else the built-in list; `local`, `scripted` and
    /// `openai-compatible` instances cost nothing unless priced. `None`:
    /// unknown.
    pub fn price(&self, instance: &Instance, model: &str) -> Option<Price> {
        if let Some(p) = instance.price {
            return Some(p);
        }
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        if !instance.kind.spec().paid {
            return Some(Price {
                input_per_mtok: 0.0,
                output_per_mtok: 0.0,
            });
        }
        providers::builtin_price(model)
    }

    /// Checks of one file alone (so the error names that file): instance
    /// names, keys that do not apply to a kind, prices, budgets.
    pub(crate) fn check_layer(&self) -> Result<(), Problem> {
        for (name, p) in &self.providers.0 {
            providers::check_table(name, p)?;
        }
        self.check_lists()
    }

    fn check_lists(&self) -> Result<(), Problem> {
        let mut seen = Vec::new();
        for f in &self.model.fallback {
            if seen.contains(&f) {
                return Err(Problem {
                    key: "model.fallback".into(),
                    message: format!("{f:?} is listed twice; name each instance once"),
                });
            }
            seen.push(f);
        }
        for (model, p) in &self.prices {
            if let Err(m) = p.check() {
                return Err(Problem {
                    key: format!("prices.{model}"),
                    message: m,
                });
            }
        }
        for (key, v) in [
            ("budget.session_usd", self.budget.session_usd),
            ("budget.day_usd", self.budget.day_usd),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(Problem {
                    key: key.into(),
                    message: format!("{v} must be a non-negative number of US dollars"),
                });
            }
        }
        if !(1..=100).contains(&self.model.breaker_failures) {
            return Err(Problem {
                key: "model.breaker_failures".into(),
                message: format!(
                    "{} is out of range: a breaker opens after 1 to 100 consecutive failures",
                    self.model.breaker_failures
                ),
            });
        }
        Ok(())
    }

    /// Cross-field checks after all layers. A [`Problem`] names the key;
    /// the loader turns it into an error naming the file that set it.
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        // Files were checked as they were read; this catches the
        // environment layer and values built in code.
        let checks = [
            (
                "turn.max_iterations",
                check_iterations(self.turn.max_iterations),
            ),
            (
                "turn.model_timeout_secs",
                check_timeout(self.turn.model_timeout_secs),
            ),
            (
                "turn.context_tokens",
                check_context_tokens(self.turn.context_tokens),
            ),
            (
                "turn.tool_timeout_secs",
                check_timeout(self.turn.tool_timeout_secs),
            ),
            (
                "turn.approval_timeout_secs",
                check_timeout(self.turn.approval_timeout_secs),
            ),
            (
                "model.breaker_cooldown_secs",
                check_timeout(self.model.breaker_cooldown_secs),
            ),
        ];
        for (key, check) in checks {
            if let Err(why) = check {
                return Err(Problem {
                    key: key.into(),
                    message: why,
                });
            }
        }
        self.check_lists()?;
        let instances = providers::resolve_all(&self.providers)?;
        for i in &instances {
            let (t, r) = match &i.settings {
                providers::Settings::OpenAi(c) => (c.timeout_secs, c.max_retries),
                providers::Settings::Anthropic(c) => (c.timeout_secs, c.max_retries),
                _ => continue,
            };
            for (key, check) in [
                ("timeout_secs", check_timeout(t)),
                ("max_retries", check_retries(r)),
            ] {
                if let Err(why) = check {
                    return Err(Problem {
                        key: format!("providers.{}.{key}", i.name),
                        message: why,
                    });
                }
            }
        }
        let names = self.provider_names();
        let known = |n: &str| names.iter().any(|x| x == n);
        if !known(&self.model.provider) {
            return Err(Problem {
                key: "model.provider".into(),
                message: format!(
                    "unknown provider {:?}; choose one of {} (set with --provider, AIOS_PROVIDER or [model] provider), or define it as [providers.{}] with a kind",
                    self.model.provider,
                    names.join(", "),
                    self.model.provider
                ),
            });
        }
        for f in &self.model.fallback {
            if !known(f) {
                return Err(Problem {
                    key: "model.fallback".into(),
                    message: format!(
                        "the fallback chain names {f:?}, which is no provider instance; define [providers.{f}] with a kind, or use one of {}",
                        names.join(", ")
                    ),
                });
            }
        }
        if !known(&self.budget.fallback) {
            return Err(Problem {
                key: "budget.fallback".into(),
                message: format!(
                    "{:?} is no provider instance; use one of {}",
                    self.budget.fallback,
                    names.join(", ")
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod bounds_tests {
    use crate::{Overrides, Sources, load_from};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Load with one user file holding `text`.
    fn load_user(text: &str) -> Result<crate::Config, crate::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(&user, text).unwrap();
        let sources = Sources {
            system_file: dir.path().join("etc.toml"),
            user_file: Some(user),
            env: no_env,
        };
        load_from(&sources, &Overrides::default())
    }

    #[test]
    fn an_absurd_timeout_names_file_line_and_key() {
        for (table, key) in [
            ("turn", "model_timeout_secs"),
            ("turn", "tool_timeout_secs"),
            ("turn", "approval_timeout_secs"),
            ("providers.openai", "timeout_secs"),
            ("providers.anthropic", "timeout_secs"),
        ] {
            for bad in ["3601", "0", "18446744073709551615"] {
                let text = format!("# bounds\n[{table}]\n{key} = {bad}\n");
                let msg = load_user(&text).unwrap_err().to_string();
                assert!(msg.contains("user.toml:3:"), "{msg}");
                assert!(msg.contains(&format!("(key `{table}.{key}`)")), "{msg}");
                assert!(msg.contains("between 1 and 3600 seconds"), "{msg}");
            }
            // The bound itself is fine.
            let c = load_user(&format!("[{table}]\n{key} = 3600\n")).unwrap();
            assert!(c != crate::Config::default());
        }
    }

    #[test]
    fn retries_and_iterations_past_their_bounds_are_refused() {
        let msg = load_user("[providers.openai]\nmax_retries = 11\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("user.toml:2:"), "{msg}");
        assert!(msg.contains("providers.openai.max_retries"), "{msg}");
        assert!(msg.contains("at most 10"), "{msg}");
        let msg = load_user("[turn]\nmax_iterations = 101\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("turn.max_iterations"), "{msg}");
        assert!(msg.contains("between 1 and 100"), "{msg}");
        let msg = load_user("[turn]\nmax_iterations = 0\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("turn.max_iterations"), "{msg}");
        load_user("[turn]\nmax_iterations = 100\n[providers.anthropic]\nmax_retries = 10\n")
            .unwrap();
    }

    #[test]
    fn context_tokens_are_bounded_and_named_in_the_error() {
        let msg = load_user("[turn]\ncontext_tokens = 100\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("turn.context_tokens"), "{msg}");
        assert!(msg.contains("between 512 and 1048576"), "{msg}");
        let c = load_user("[turn]\ncontext_tokens = 32768\n").unwrap();
        assert_eq!(c.turn.context_tokens, 32768);
    }

    #[test]
    fn the_environment_is_bounded_too() {
        fn env(k: &str) -> Option<String> {
            (k == "AIOS_MAX_ITERATIONS").then(|| "101".to_string())
        }
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources {
            system_file: dir.path().join("etc.toml"),
            user_file: None,
            env,
        };
        let msg = load_from(&sources, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("turn.max_iterations: 101 is out of range"),
            "{msg}"
        );
    }
}

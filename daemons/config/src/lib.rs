//! # aios-config: configuration and well-known paths
//!
//! Configuration is TOML, layered from weakest to strongest:
//! built-in defaults < `/etc/aios/aios.toml` < `$XDG_CONFIG_HOME/aios/aios.toml`
//! < environment < command-line flags ([`Overrides`]).
//!
//! Each file is validated on its own before merging, so an error names the
//! file, line, column and key that is wrong. Unknown keys are errors (a typo
//! must not silently fall back to a default).
//!
//! API keys are deliberately **not** part of [`Config`]: only the gateway
//! reads them, through [`keys`].
//!
//! Runtime and state directories are trusted only once [`private_dir`]
//! (or, for a shared socket directory, [`check_socket_dir`]) has checked
//! their owner and mode; files in them are opened with
//! [`open_private_file`], which never follows a symbolic link.
#![deny(missing_docs)]

mod error;
pub mod keys;
mod memory;
mod model;
mod paths;
mod private;
mod providers;

pub use error::{ConfigError, KeyFileProblem};
pub use memory::{DEFAULT_DOC_MAX_BYTES, DEFAULT_MAN_DIRS, MemoryConfig};
pub use model::{
    AnthropicConfig, Config, LocalConfig, LoggingConfig, MAX_ITERATIONS, MAX_RETRIES,
    MAX_TIMEOUT_SECS, ModelConfig, OpenAiConfig, PROVIDERS, PathsConfig, ScriptedConfig,
    ToolListing, TurnConfig, UiConfig,
};
pub use paths::{Daemon, Paths, user_policy_file, xdg_config_home};
pub use private::{
    PathError, PathErrorKind, check_private_dir, check_socket_dir, open_private_file, private_dir,
    write_private_file,
};
pub use providers::{
    BUILTIN_PRICES, BUILTIN_PRICES_AS_OF, BudgetConfig, Field, Instance, KINDS, KindSpec,
    MAX_NAME_LEN, Price, ProviderConfig, ProviderKind, ProvidersConfig, Settings, builtin_kind,
    builtin_price, providers_markdown,
};

use std::path::{Path, PathBuf};

/// Values from flags and explicit choices, strongest of all layers.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--provider`.
    pub provider: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--config FILE`: an extra file layered above the XDG one.
    pub config_file: Option<PathBuf>,
}

/// Where configuration layers come from; tests point these elsewhere.
#[derive(Debug, Clone)]
pub struct Sources {
    /// System file (default `/etc/aios/aios.toml`).
    pub system_file: PathBuf,
    /// User file (default `$XDG_CONFIG_HOME/aios/aios.toml`).
    pub user_file: Option<PathBuf>,
    /// Environment lookup.
    pub env: fn(&str) -> Option<String>,
}

fn real_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            system_file: PathBuf::from("/etc/aios/aios.toml"),
            user_file: paths::xdg_config_home().map(|d| d.join("aios/aios.toml")),
            env: real_env,
        }
    }
}

/// Load the configuration from the real system, user and environment layers.
pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
    load_from(&Sources::default(), overrides)
}

/// Load the configuration from explicit sources.
pub fn load_from(sources: &Sources, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut merged = toml::Table::new();
    // Each file's table and text, so a problem found only after merging
    // still names the file (and line) that set the key.
    let mut layers: Vec<Layer> = Vec::new();
    let mut files: Vec<&Path> = vec![sources.system_file.as_path()];
    if let Some(u) = &sources.user_file {
        files.push(u);
    }
    for file in files {
        if let Some(layer) = read_layer(file, false)? {
            merge(&mut merged, layer.table.clone());
            layers.push(layer);
        }
    }
    // `--config`, or `AIOS_CONFIG` (how a supervisor hands the shell's
    // `--config` to the daemons it starts).
    let extra = overrides
        .config_file
        .clone()
        .or_else(|| (sources.env)("AIOS_CONFIG").map(PathBuf::from));
    if let Some(extra) = &extra {
        // An explicitly named file must exist.
        if let Some(layer) = read_layer(extra, true)? {
            merge(&mut merged, layer.table.clone());
            layers.push(layer);
        }
    }
    let mut config: Config = toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Merge(e.to_string()))?;
    config.apply_env(sources.env)?;
    if let Some(p) = &overrides.provider {
        config.model.provider = p.clone();
    }
    if let Some(m) = &overrides.model {
        config.model.model = Some(m.clone());
    }
    if let Err(p) = config.validate() {
        // A provider chosen by flag or environment is not the files' fault.
        let outside = p.key == "model.provider"
            && (overrides.provider.is_some() || (sources.env)("AIOS_PROVIDER").is_some());
        let origin = if outside {
            None
        } else {
            layers.iter().rev().find(|l| l.sets(&p.key))
        };
        return Err(match origin {
            Some(l) => ConfigError::at_key(&l.file, &l.text, &p.key, p.message),
            None => ConfigError::Invalid(format!("{}: {}", p.key, p.message)),
        });
    }
    Ok(config)
}

/// One configuration file as read.
struct Layer {
    file: PathBuf,
    text: String,
    table: toml::Table,
}

impl Layer {
    /// Whether this file sets the dotted `key` (or, for a key it lacks,
    /// the table holding it: a missing `base_url` is the table's fault).
    fn sets(&self, key: &str) -> bool {
        let parts: Vec<&str> = key.splitn(3, '.').collect();
        let mut t = &self.table;
        for (i, part) in parts.iter().enumerate() {
            match t.get(*part) {
                Some(toml::Value::Table(inner)) => t = inner,
                Some(_) => return true,
                None => return i >= 2,
            }
        }
        true
    }
}

/// Read and validate one layer. Missing optional files are skipped.
fn read_layer(path: &Path, required: bool) -> Result<Option<Layer>, ConfigError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
            file: path.to_path_buf(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                file: path.to_path_buf(),
                source: e,
            });
        }
    };
    // Validate the layer alone so errors point into this file.
    let alone = toml::from_str::<Config>(&text).map_err(|e| ConfigError::parse(path, &text, &e))?;
    if let Err(p) = alone.check_layer() {
        return Err(ConfigError::at_key(path, &text, &p.key, p.message));
    }
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigError::parse(path, &text, &e))?;
    Ok(Some(Layer {
        file: path.to_path_buf(),
        text,
        table,
    }))
}

/// Deep-merge `over` into `base`: tables merge, everything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests;

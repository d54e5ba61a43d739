//! API keys: read only by the gateway, from the environment or a key file
//! that must not be readable by others.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ConfigError;

/// Default key file: `$XDG_CONFIG_HOME/aios/keys.toml`.
pub fn default_key_file() -> Option<PathBuf> {
    crate::paths::xdg_config_home().map(|d| d.join("aios/keys.toml"))
}

/// Environment variable conventionally holding a provider's key.
pub fn env_var_for(provider: &str) -> Option<&'static str> {
    match provider {
        "openai" => Some("OPENAI_API_KEY"),
        "anthropic" => Some("ANTHROPIC_API_KEY"),
        _ => None,
    }
}

/// A provider's API key: the environment wins over the key file.
///
/// The key file is TOML (`openai = "sk-..."`) and is refused when its mode
/// lets group or others read it, as ssh does for private keys.
pub fn api_key(provider: &str, key_file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    if let Some(var) = env_var_for(provider)
        && let Ok(v) = std::env::var(var)
        && !v.trim().is_empty()
    {
        return Ok(Some(v.trim().to_string()));
    }
    let Some(file) = key_file else {
        return Ok(None);
    };
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                file: file.to_path_buf(),
                source: e,
            });
        }
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError::Invalid(format!(
            "{} is readable by other users; run `chmod 600 {}`",
            file.display(),
            file.display()
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Read {
        file: file.to_path_buf(),
        source: e,
    })?;
    let keys: BTreeMap<String, String> =
        toml::from_str(&text).map_err(|e| ConfigError::parse(file, &text, &e))?;
    Ok(keys.get(provider).cloned())
}

//! API keys: read only by the gateway, from the environment or a key file
//! that must not be readable by others.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{ConfigError, KeyFileProblem};

/// Default key file: `$AIOS_KEY_FILE` when set (the image points gatewayd
/// at `/etc/aios/keys.toml`), else `$XDG_CONFIG_HOME/aios/keys.toml`.
pub fn default_key_file() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("AIOS_KEY_FILE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(f));
    }
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
    instance_key(&[provider], env_var_for(provider), key_file)
}

/// The key of a provider instance: the variable `env_var` wins, else the
/// first of `entries` (the instance name, then its kind's) in the key file.
pub fn instance_key(
    entries: &[&str],
    env_var: Option<&str>,
    key_file: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    if let Some(var) = env_var
        && let Ok(v) = std::env::var(var)
        && !v.trim().is_empty()
    {
        return Ok(Some(v.trim().to_string()));
    }
    let Some(file) = key_file else {
        return Ok(None);
    };
    // One open file for the mode check and the read: no window between.
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                file: file.to_path_buf(),
                source: e,
            });
        }
    };
    let read_err = |e| ConfigError::Read {
        file: file.to_path_buf(),
        source: e,
    };
    let meta = f.metadata().map_err(read_err)?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError::Invalid(format!(
            "{} is readable by other users; run `chmod 600 {}`",
            file.display(),
            file.display()
        )));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(read_err)?;
    let keys = parse_key_file(file, bytes)?;
    Ok(entries.iter().find_map(|e| keys.get(*e).cloned()))
}

/// Parse a key file into provider → key. Errors carry the place and the
/// kind of problem only ([`ConfigError::KeyFile`]), never text from the
/// file: toml's own messages may quote a value, which here is a secret.
fn parse_key_file(file: &Path, bytes: Vec<u8>) -> Result<BTreeMap<String, String>, ConfigError> {
    let at = |text: &str, pos: usize, problem| {
        let (line, column) = crate::error::line_column(text, pos);
        ConfigError::KeyFile {
            file: file.to_path_buf(),
            line,
            column,
            problem,
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            return Err(at(&prefix, valid, KeyFileProblem::NotUtf8));
        }
    };
    let table: BTreeMap<String, toml::Spanned<toml::Value>> = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            let pos = e.span().map(|s| s.start).unwrap_or(0);
            // Only the kind is taken from toml's message, never its text.
            let problem = if e.message().starts_with("duplicate key") {
                KeyFileProblem::DuplicateKey
            } else {
                KeyFileProblem::Syntax
            };
            return Err(at(&text, pos, problem));
        }
    };
    let mut keys = BTreeMap::new();
    for (provider, value) in table {
        let start = value.span().start;
        match value.into_inner() {
            toml::Value::String(key) => {
                keys.insert(provider, key);
            }
            _ => return Err(at(&text, start, KeyFileProblem::NotAString)),
        }
    }
    Ok(keys)
}

//! Which model file the runtime loads, and what the model directory's
//! manifest says about it. One small lookup, kept apart so the model
//! catalogue (`aios-models`, coming) can replace it.

use std::path::{Path, PathBuf};

/// The model used when the configuration names none.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b";

/// The GGUF to load: `providers.local.model_path` when configured, else
/// the default model's file in the model directory (`$AIOS_MODEL_DIR`,
/// else `~/.cache/aios/models`).
pub fn model_path(configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(p) => p.to_path_buf(),
        None => aios_config::Paths::model_dir().join(format!("{DEFAULT_MODEL}.gguf")),
    }
}

/// What to tell a user whose model file is missing.
pub fn missing_model_help(path: &Path) -> String {
    format!(
        "the local model file {} does not exist; get the default model with \
         `cargo xtask model fetch` (or `aios model pull {DEFAULT_MODEL}`), or point \
         providers.local.model_path in the configuration at a GGUF file",
        path.display()
    )
}

/// The model's name: its file name without `.gguf`.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// The sha256 the directory's `manifest.json` records for `path`'s file
/// (written by `cargo xtask model fetch`), if any.
pub fn manifest_sha256(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    let file = path.file_name()?.to_str()?;
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    sha_in_manifest(&text, file)
}

fn sha_in_manifest(manifest: &str, file: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(manifest).ok()?;
    v.get("models")?
        .as_array()?
        .iter()
        .find(|m| m.get("file").and_then(|f| f.as_str()) == Some(file))?
        .get("sha256")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_path_wins() {
        let p = Path::new("/models/x.gguf");
        assert_eq!(model_path(Some(p)), p);
        assert!(model_path(None).ends_with("qwen2.5-coder-0.5b.gguf"));
        assert_eq!(model_name(p), "x");
    }

    #[test]
    fn help_names_the_file_and_the_command() {
        let h = missing_model_help(Path::new("/m/q.gguf"));
        assert!(h.contains("/m/q.gguf"), "{h}");
        assert!(h.contains("cargo xtask model fetch"), "{h}");
        assert!(h.contains("aios model pull qwen2.5-coder-0.5b"), "{h}");
    }

    #[test]
    fn manifest_lookup() {
        let m = r#"{"models":[{"file":"a.gguf","sha256":"aa"},{"file":"b.gguf","sha256":"bb"}]}"#;
        assert_eq!(sha_in_manifest(m, "b.gguf").as_deref(), Some("bb"));
        assert_eq!(sha_in_manifest(m, "c.gguf"), None);
        assert_eq!(sha_in_manifest("not json", "a.gguf"), None);
    }
}

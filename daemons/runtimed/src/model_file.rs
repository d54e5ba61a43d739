//! Which model file the runtime loads, and what the model directory's
//! manifest says about it: `aios-models`' catalogue and directories, the
//! same ones `aios model` and `cargo xtask model` use.

use std::path::{Path, PathBuf};

/// The GGUF to load: `configured` (`[providers.local] model_path`) when
/// set, else the default model in the first model directory holding it.
/// The error says exactly how to get the model.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, String> {
    aios_models::locate(configured, None, &aios_models::model_dirs())
        .map(|l| l.path)
        .map_err(|e| e.to_string())
}

/// The model's name: its file name without `.gguf`.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// The sha256 the directory's `manifest.json` records for `path`'s file
/// (written when the model was fetched and verified), if any.
pub fn manifest_sha256(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    aios_models::Manifest::read(path.parent()?)
        .ok()?
        .models
        .into_iter()
        .find(|m| m.file == file)
        .map(|m| m.sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sha_is_found_by_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = aios_models::Manifest::default();
        m.upsert(aios_models::spec("smollm2-135m").unwrap().into());
        m.write(dir.path()).unwrap();
        let sha = manifest_sha256(&dir.path().join("smollm2-135m.gguf"));
        assert_eq!(
            sha.as_deref(),
            Some(aios_models::spec("smollm2-135m").unwrap().sha256)
        );
        assert_eq!(manifest_sha256(&dir.path().join("other.gguf")), None);
        assert_eq!(model_name(Path::new("/m/qwen.gguf")), "qwen");
    }

    #[test]
    fn a_missing_configured_model_says_how_to_fix_it() {
        let e = locate(Some(Path::new("/nonexistent/m.gguf"))).unwrap_err();
        assert!(
            e.contains("/nonexistent/m.gguf") && e.contains("model_path"),
            "{e}"
        );
    }
}

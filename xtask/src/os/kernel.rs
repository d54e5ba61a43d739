//! `cargo xtask kernel`: a minimal x86-64 bzImage from Debian's
//! `linux-source-6.12` (or `linux-source-6.1`) and
//! `kernel/aios-kernel.config`.
//!
//! Steps: install the source package and build tools if missing, unpack the
//! source once, `make tinyconfig`, merge the fragment with
//! `scripts/kconfig/merge_config.sh`, `make olddefconfig`, check that every
//! option the fragment sets survived ([`check_config`]), then
//! `make -j$(nproc) bzImage`.
//!
//! The result is cached as
//! `$HOME/.cache/aios/kernel/<key>/bzImage`, where the key is a SHA-256 of
//! the fragment, the source package and its version, and [`RECIPE`]; a
//! build costs about 8 CPU-minutes, so an unchanged key skips it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::{apt, cache_dir, copy_atomic, run, workspace_root};

/// Source packages, preferred first.
pub const SOURCE_PACKAGES: [&str; 2] = ["linux-source-6.12", "linux-source-6.1"];

/// Host packages the kernel build needs.
pub const BUILD_DEPS: [&str; 9] = [
    "bc",
    "bison",
    "flex",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "xz-utils",
    "make",
    "gcc",
];

/// Bumped when the build steps change in a way that changes the output, so
/// cached kernels built the old way are not reused.
pub const RECIPE: &str =
    "aios-kernel-recipe-1 ARCH=x86_64 tinyconfig+fragment+olddefconfig bzImage";

/// The fragment, relative to the workspace root.
pub const FRAGMENT: &str = "kernel/aios-kernel.config";

/// Options of a kernel build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rebuild even when the cache has this key.
    pub force: bool,
}

/// A kernel option's wanted value: `Some("y")`, `Some("\"landlock\"")`, or
/// `None` for `# CONFIG_X is not set`.
pub type Wanted = Option<String>;

/// Parse `CONFIG_X=v` and `# CONFIG_X is not set` lines of a fragment or a
/// `.config`; comments and blank lines are skipped. Returns an error naming
/// the line for anything else, so a typo in the fragment is caught.
pub fn parse_config(text: &str) -> Result<BTreeMap<String, Wanted>, String> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(name) = rest.strip_suffix(" is not set")
                && name.starts_with("CONFIG_")
                && !name.contains(' ')
            {
                out.insert(name.to_string(), None);
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "line {}: {raw:?} is neither CONFIG_NAME=value nor a comment",
                n + 1
            ));
        };
        if !name.starts_with("CONFIG_") || value.is_empty() {
            return Err(format!(
                "line {}: {raw:?} must look like CONFIG_NAME=value",
                n + 1
            ));
        }
        out.insert(name.to_string(), Some(value.to_string()));
    }
    Ok(out)
}

/// Every option of `fragment` whose value in the final `.config` differs,
/// as human-readable lines (empty when all survived). An option the
/// fragment wants unset may also be absent from `.config`.
pub fn check_config(
    fragment: &BTreeMap<String, Wanted>,
    config: &BTreeMap<String, Wanted>,
) -> Vec<String> {
    let mut dropped = Vec::new();
    for (name, want) in fragment {
        let got = config.get(name).cloned().flatten();
        if *want != got {
            let show = |v: &Wanted| v.clone().unwrap_or_else(|| "is not set".into());
            dropped.push(format!(
                "{name}: wanted {}, got {} (a dependency is missing or the option was renamed)",
                show(want),
                show(&got)
            ));
        }
    }
    dropped
}

/// The cache key of a build: SHA-256 over the fragment, the source package
/// and version, and [`RECIPE`].
pub fn cache_key(fragment: &[u8], package: &str, version: &str) -> String {
    let mut h = Sha256::new();
    h.update(fragment);
    h.update(b"\0");
    h.update(package.as_bytes());
    h.update(b"\0");
    h.update(version.as_bytes());
    h.update(b"\0");
    h.update(RECIPE.as_bytes());
    hex::encode(h.finalize())
}

/// Which source package to use: the first of [`SOURCE_PACKAGES`] that is
/// installed, else the first apt can install.
fn choose_source() -> anyhow::Result<String> {
    for p in SOURCE_PACKAGES {
        if apt::installed_version(p).is_ok() {
            return Ok(p.to_string());
        }
    }
    apt::update()?;
    for p in SOURCE_PACKAGES {
        if apt::candidate(p)?.is_some() {
            return Ok(p.to_string());
        }
    }
    bail!(
        "apt offers none of {}; add a Debian bookworm (or newer) mirror to /etc/apt/sources.list",
        SOURCE_PACKAGES.join(", ")
    )
}

/// Build the kernel (or find it in the cache) and return the bzImage path.
pub fn build(opts: &Options) -> anyhow::Result<PathBuf> {
    let fragment_path = workspace_root().join(FRAGMENT);
    let fragment_bytes = std::fs::read(&fragment_path)
        .with_context(|| format!("cannot read {}", fragment_path.display()))?;
    let fragment = parse_config(&String::from_utf8_lossy(&fragment_bytes))
        .map_err(|e| anyhow::anyhow!("{}: {e}", fragment_path.display()))?;

    let package = choose_source()?;
    apt::ensure(&[package.as_str()])?;
    let version = apt::installed_version(&package)?;
    let key = cache_key(&fragment_bytes, &package, &version);
    let root = cache_dir()?.join("kernel");
    let out_dir = root.join(&key[..16]);
    let image = out_dir.join("bzImage");
    if image.is_file() && !opts.force {
        eprintln!("xtask: kernel cached: {}", image.display());
        return Ok(image);
    }
    apt::ensure(&BUILD_DEPS)?;

    let src = unpack(&root, &package, &version)?;
    let log_path = root.join(format!("build-{}.log", &key[..16]));
    eprintln!(
        "xtask: building the kernel from {package} {version} (about 8 CPU-minutes; log: {})",
        log_path.display()
    );
    let started = Instant::now();
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let make = |args: &[&str]| -> anyhow::Result<()> {
        let mut c = Command::new("make");
        c.current_dir(&src)
            .arg("ARCH=x86_64")
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        run(c)
            .with_context(|| format!("kernel build failed; see the end of {}", log_path.display()))
    };
    make(&["tinyconfig"])?;
    let mut merge = Command::new("scripts/kconfig/merge_config.sh");
    merge
        .current_dir(&src)
        .env("ARCH", "x86_64")
        .args(["-m", ".config"])
        .arg(&fragment_path)
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    run(merge).with_context(|| format!("merge_config.sh failed; see {}", log_path.display()))?;
    make(&["olddefconfig"])?;

    let config_path = src.join(".config");
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = parse_config(&config_text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
    let dropped = check_config(&fragment, &config);
    if !dropped.is_empty() {
        bail!(
            "{} option(s) of {FRAGMENT} did not survive `make olddefconfig` on {package} {version}:\n  {}",
            dropped.len(),
            dropped.join("\n  ")
        );
    }

    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    make(&[&format!("-j{jobs}"), "bzImage"])?;
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    copy_atomic(&config_path, &out_dir.join("config"))?;
    std::fs::write(
        out_dir.join("source"),
        format!("{package} {version}\n{RECIPE}\n"),
    )
    .with_context(|| format!("cannot write into {}", out_dir.display()))?;
    copy_atomic(&src.join("arch/x86/boot/bzImage"), &image)?;
    eprintln!(
        "xtask: kernel built in {:.0?}: {}",
        started.elapsed(),
        image.display()
    );
    Ok(image)
}

/// Unpack `/usr/src/<package>.tar.xz` once per package version under
/// `root`, and return the source tree. The tree is kept so a changed
/// fragment rebuilds incrementally.
fn unpack(root: &Path, package: &str, version: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!(
        "src-{package}-{}",
        version.replace(['~', ':'], "_")
    ));
    let tree = dir.join(package);
    let marker = dir.join(".unpacked");
    if marker.is_file() && tree.join("Makefile").is_file() {
        return Ok(tree);
    }
    let tarball = PathBuf::from(format!("/usr/src/{package}.tar.xz"));
    if !tarball.is_file() {
        bail!(
            "{} is missing although {package} is installed; reinstall it with `apt-get install --reinstall {package}`",
            tarball.display()
        );
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!("xtask: unpacking {}", tarball.display());
    let mut tar = Command::new("tar");
    tar.arg("-xf").arg(&tarball).arg("-C").arg(&dir);
    run(tar)?;
    if !tree.join("Makefile").is_file() {
        bail!("{} did not unpack to {}", tarball.display(), tree.display());
    }
    std::fs::write(&marker, b"").with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_lines_parse_into_wanted_values() {
        let f = "# comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_LSM=\"landlock\"\n#CONFIG_C=y\n";
        let m = parse_config(f).unwrap();
        assert_eq!(m.get("CONFIG_A"), Some(&Some("y".to_string())));
        assert_eq!(m.get("CONFIG_B"), Some(&None));
        assert_eq!(m.get("CONFIG_LSM"), Some(&Some("\"landlock\"".to_string())));
        assert!(!m.contains_key("CONFIG_C"));
    }

    #[test]
    fn malformed_fragment_lines_are_rejected_with_the_line() {
        let e = parse_config("CONFIG_A=y\nEFI_STUB=y\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_config("CONFIG_A\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let e = parse_config("CONFIG_A=\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn dropped_options_are_named() {
        let frag = parse_config(
            "CONFIG_EFI_STUB=y\nCONFIG_VIRTIO_PCI=y\n# CONFIG_X is not set\nCONFIG_OK=y\n",
        )
        .unwrap();
        let cfg = parse_config("# CONFIG_EFI_STUB is not set\nCONFIG_OK=y\nCONFIG_X=y\n").unwrap();
        let d = check_config(&frag, &cfg);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d[0].starts_with("CONFIG_EFI_STUB: wanted y, got is not set"),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.starts_with("CONFIG_VIRTIO_PCI")));
        assert!(
            d.iter()
                .any(|l| l.starts_with("CONFIG_X: wanted is not set, got y"))
        );
        assert!(check_config(&frag, &frag).is_empty());
    }

    #[test]
    fn unset_options_may_be_absent_from_the_config() {
        let frag = parse_config("# CONFIG_X is not set\n").unwrap();
        assert!(check_config(&frag, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn cache_key_changes_with_fragment_and_version() {
        let a = cache_key(b"CONFIG_A=y\n", "linux-source-6.12", "6.12.1");
        assert_eq!(a.len(), 64);
        assert_eq!(a, cache_key(b"CONFIG_A=y\n", "linux-source-6.12", "6.12.1"));
        assert_ne!(a, cache_key(b"CONFIG_A=n\n", "linux-source-6.12", "6.12.1"));
        assert_ne!(a, cache_key(b"CONFIG_A=y\n", "linux-source-6.12", "6.12.2"));
        assert_ne!(a, cache_key(b"CONFIG_A=y\n", "linux-source-6.1", "6.12.1"));
    }

    #[test]
    fn the_repository_fragment_parses_and_keeps_the_critical_options() {
        let text = std::fs::read_to_string(workspace_root().join(FRAGMENT)).unwrap();
        let m = parse_config(&text).unwrap();
        for critical in [
            "CONFIG_EFI_STUB",
            "CONFIG_VIRTIO_PCI",
            "CONFIG_ACPI",
            "CONFIG_BLK_DEV_INITRD",
            "CONFIG_RD_GZIP",
            "CONFIG_SERIAL_8250_CONSOLE",
            "CONFIG_DEVTMPFS",
            "CONFIG_CGROUPS",
            "CONFIG_SECURITY_LANDLOCK",
            "CONFIG_UNIX",
        ] {
            assert_eq!(m.get(critical), Some(&Some("y".to_string())), "{critical}");
        }
    }
}

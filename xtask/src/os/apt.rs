//! Host packages from Debian: which are installed, and installing the
//! missing ones with `apt-get` (one `apt-get update` first, as apt-cache
//! look-ups need it too).

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context, bail};

use super::{output, run};

/// Names among `wanted` that `dpkg-query` output does not list as installed.
///
/// `listing` is `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n'`
/// output: `busybox-static ii ` for an installed package.
pub fn missing_from(listing: &str, wanted: &[&str]) -> Vec<String> {
    let installed: BTreeSet<&str> = listing
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let status = parts.next()?;
            // `ii` = wanted install, installed. Strip any `:arch` suffix.
            (status == "ii").then(|| name.split(':').next().unwrap_or(name))
        })
        .collect();
    wanted
        .iter()
        .filter(|w| !installed.contains(**w))
        .map(|w| w.to_string())
        .collect()
}

/// The installed packages among `wanted` is all of them: nothing to do.
/// Otherwise `apt-get update` and install the missing ones.
pub fn ensure(wanted: &[&str]) -> anyhow::Result<()> {
    let mut q = Command::new("dpkg-query");
    q.args(["-W", "-f=${Package} ${db:Status-Abbrev}\n"])
        .args(wanted);
    // dpkg-query exits 1 when a name is unknown; its stdout still lists the
    // known ones, so read it whatever the status.
    let out = q
        .output()
        .context("cannot run dpkg-query: this step needs a Debian host with apt")?;
    let missing = missing_from(&String::from_utf8_lossy(&out.stdout), wanted);
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} with apt-get", missing.join(" "));
    update()?;
    let mut c = Command::new("apt-get");
    c.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing);
    run(c).with_context(|| {
        format!(
            "cannot install {}: run `apt-get install {}` as root",
            missing.join(" "),
            missing.join(" ")
        )
    })
}

/// `apt-get update`, once per xtask process.
pub fn update() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    let mut c = Command::new("apt-get");
    c.args(["update", "-q"]);
    run(c).context("apt-get update failed (are you root, with a configured mirror?)")?;
    let _ = DONE.set(());
    Ok(())
}

/// The candidate version apt would install for `package`, if any.
pub fn candidate(package: &str) -> anyhow::Result<Option<String>> {
    let mut c = Command::new("apt-cache");
    c.args(["policy", package]);
    Ok(parse_candidate(&output(c)?))
}

/// The `Candidate:` of `apt-cache policy` output (`(none)` is none).
pub fn parse_candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "(none)")
        .map(str::to_string)
}

/// The installed version of `package`.
pub fn installed_version(package: &str) -> anyhow::Result<String> {
    let mut c = Command::new("dpkg-query");
    c.args(["-W", "-f=${Version}", package]);
    let v = output(c)?;
    if v.trim().is_empty() {
        bail!("{package} is not installed");
    }
    Ok(v.trim().to_string())
}

/// The first `Depends:` package of `package` matching `prefix`, from
/// `apt-cache depends` output (how `linux-image-amd64` names its kernel).
pub fn parse_depends(depends: &str, prefix: &str) -> Option<String> {
    depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|d| d.starts_with(prefix))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_packages_are_those_not_fully_installed() {
        let listing = "bc ii \nbison rc \nflex:amd64 ii \n";
        assert_eq!(
            missing_from(listing, &["bc", "bison", "flex", "cpio"]),
            vec!["bison".to_string(), "cpio".to_string()]
        );
        assert!(missing_from(listing, &["bc"]).is_empty());
    }

    #[test]
    fn candidate_is_read_from_apt_cache_policy() {
        let p = "linux-source-6.12:\n  Installed: (none)\n  Candidate: 6.12.117-1~deb12u1\n  Version table:\n";
        assert_eq!(parse_candidate(p).as_deref(), Some("6.12.117-1~deb12u1"));
        let none = "linux-source-6.12:\n  Installed: (none)\n  Candidate: (none)\n";
        assert_eq!(parse_candidate(none), None);
        assert_eq!(parse_candidate(""), None);
    }

    #[test]
    fn kernel_package_is_found_among_the_dependencies() {
        let d =
            "linux-image-amd64\n  Depends: linux-image-6.1.0-41-amd64\n  Recommends: firmware\n";
        assert_eq!(
            parse_depends(d, "linux-image-").as_deref(),
            Some("linux-image-6.1.0-41-amd64")
        );
        assert_eq!(parse_depends(d, "nope"), None);
    }
}

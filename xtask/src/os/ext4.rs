//! Pack a [`Tree`] into an ext4 disk image without root privileges:
//! `mke2fs` makes an empty filesystem and `debugfs -w` fills it from a
//! generated command script, setting every owner, mode and device number
//! from the tree (a plain `mke2fs -d DIR` would take owners from a scratch
//! directory, which needs root to get right).
//!
//! The image boots as a disk root (`root=/dev/vda rw`), which is what the
//! disk boot test needs to see initd's shutdown leave the filesystem clean.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::tree::{Data, Entry, Kind, Tree};
use super::{apt, output, run};

/// Room left free on top of the contents: the daemons' state, logs and a
/// test's scratch files live on this filesystem.
const HEADROOM: u64 = 96 * 1024 * 1024;

/// File type bits of the ext4 inode mode (`S_IF*`).
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// Write `tree` as an ext4 image at `out` (replaced atomically); `scratch`
/// holds generated file contents while debugfs copies them in.
pub fn write(tree: &Tree, out: &Path, scratch: &Path) -> anyhow::Result<()> {
    if !super::on_path("debugfs") || !super::on_path("mke2fs") {
        apt::ensure(&["e2fsprogs"])?;
    }
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)
            .with_context(|| format!("cannot clear {}", scratch.display()))?;
    }
    std::fs::create_dir_all(scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let (script, bytes) = script(tree, scratch)?;
    let script_path = scratch.join("debugfs.script");
    std::fs::write(&script_path, script)
        .with_context(|| format!("cannot write {}", script_path.display()))?;

    let tmp = out.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let size_mib = (bytes + bytes / 4 + HEADROOM).div_ceil(1024 * 1024);
    // One inode per entry, twice over, plus room for what the system
    // creates at run time.
    let inodes = tree.entry_count() * 2 + 8192;
    // A sparse file of the final size (mke2fs would announce creating it).
    std::fs::File::create(&tmp)
        .and_then(|f| f.set_len(size_mib * 1024 * 1024))
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut mk = Command::new("mke2fs");
    mk.args(["-q", "-F", "-t", "ext4", "-L", "aios-root"])
        .args(["-E", "root_owner=0:0"])
        .arg("-N")
        .arg(inodes.to_string())
        .arg(&tmp);
    run(mk)?;

    let mut fill = Command::new("debugfs");
    fill.arg("-w").arg("-f").arg(&script_path).arg(&tmp);
    let shown = format!("{fill:?}");
    let done = fill
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    // debugfs goes on after a failed command and exits 0; its errors are
    // the standard error lines after the version banner.
    let errors: Vec<String> = String::from_utf8_lossy(&done.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .map(str::to_string)
        .collect();
    if !done.status.success() || !errors.is_empty() {
        bail!(
            "{shown} failed ({}); script {}:\n{}",
            done.status,
            script_path.display(),
            errors.join("\n")
        );
    }
    let mut check = Command::new("e2fsck");
    check.arg("-fn").arg(&tmp);
    output(check).context("the new ext4 image does not pass e2fsck")?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot rename to {}", out.display()))
}

/// The debugfs commands that recreate `tree`, and the bytes of file data
/// they copy. Generated contents are written under `scratch`.
fn script(tree: &Tree, scratch: &Path) -> anyhow::Result<(String, u64)> {
    let mut s = String::new();
    let mut bytes = 0u64;
    for (n, path) in tree.paths().enumerate() {
        let Some(e) = tree.entry(path) else { continue };
        let at = quote(&format!("/{path}"))?;
        match &e.kind {
            Kind::Dir => {
                let _ = writeln!(s, "mkdir {at}");
                set_inode(&mut s, &at, Some(S_IFDIR), e);
            }
            Kind::File(data) => {
                let host: PathBuf = match data {
                    Data::Host(h) => h.clone(),
                    Data::Bytes(b) => {
                        let p = scratch.join(format!("file-{n}"));
                        std::fs::write(&p, b)
                            .with_context(|| format!("cannot write {}", p.display()))?;
                        p
                    }
                };
                bytes += std::fs::metadata(&host)
                    .with_context(|| format!("cannot stat {}", host.display()))?
                    .len();
                let _ = writeln!(s, "write {} {at}", quote(&host.to_string_lossy())?);
                set_inode(&mut s, &at, Some(S_IFREG), e);
            }
            Kind::Symlink(target) => {
                let _ = writeln!(s, "symlink {at} {}", quote(target)?);
                set_inode(&mut s, &at, None, e);
            }
            Kind::CharDev(major, minor) => {
                // debugfs's mknod takes the name literally: create it from
                // inside its directory.
                let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                let _ = writeln!(s, "cd {}", quote(&format!("/{parent}"))?);
                let _ = writeln!(s, "mknod {} c {major} {minor}", quote(name)?);
                let _ = writeln!(s, "cd /");
                set_inode(&mut s, &at, Some(S_IFCHR), e);
            }
        }
    }
    Ok((s, bytes))
}

/// Owner and (with a type) mode of the inode at `at`.
fn set_inode(s: &mut String, at: &str, file_type: Option<u32>, e: &Entry) {
    if let Some(t) = file_type {
        let _ = writeln!(s, "sif {at} mode 0{:o}", t | (e.mode & 0o7777));
    }
    let _ = writeln!(s, "sif {at} uid {}", e.uid);
    let _ = writeln!(s, "sif {at} gid {}", e.gid);
}

/// A debugfs argument in double quotes; names debugfs cannot quote are
/// refused rather than mangled.
fn quote(s: &str) -> anyhow::Result<String> {
    if s.contains(['"', '\n', '\\']) {
        bail!(
            "cannot put {s:?} into an ext4 image with debugfs: quotes, backslashes and newlines in names are not supported"
        );
    }
    Ok(format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debugfs(img: &Path, cmd: &str) -> String {
        let out = Command::new("debugfs")
            .arg("-R")
            .arg(cmd)
            .arg(img)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn owners_modes_links_and_devices_reach_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("hello");
        std::fs::write(&host, "hello from the host\n").unwrap();
        let mut tree = Tree::new();
        tree.insert("etc/aios/key", Entry::bytes("secret\n", 0o600))
            .unwrap();
        tree.own("etc/aios/key", 900, 901, 0o600).unwrap();
        tree.insert("usr/bin/hello", Entry::host(&host, 0o755))
            .unwrap();
        tree.insert("bin", Entry::symlink("usr/bin")).unwrap();
        tree.own("var/lib/aios", 900, 900, 0o700).unwrap();
        tree.insert("dev/console", Entry::char_dev(5, 1, 0o600))
            .unwrap();
        let img = dir.path().join("root.ext4");
        write(&tree, &img, &dir.path().join("scratch")).unwrap();

        assert_eq!(debugfs(&img, "cat /etc/aios/key"), "secret\n");
        assert_eq!(debugfs(&img, "cat /usr/bin/hello"), "hello from the host\n");
        let key = debugfs(&img, "stat /etc/aios/key");
        assert!(key.contains("Mode:  0600"), "{key}");
        assert!(
            key.contains("User:   900") && key.contains("Group:   901"),
            "{key}"
        );
        let state = debugfs(&img, "stat /var/lib/aios");
        assert!(
            state.contains("Type: directory") && state.contains("Mode:  0700"),
            "{state}"
        );
        let link = debugfs(&img, "stat /bin");
        assert!(
            link.contains("Type: symlink") && link.contains("usr/bin"),
            "{link}"
        );
        let console = debugfs(&img, "stat /dev/console");
        assert!(console.contains("Type: character special"), "{console}");
        assert!(
            console.contains("Device major/minor number: 05:01"),
            "{console}"
        );
    }

    #[test]
    fn names_debugfs_cannot_quote_are_refused() {
        assert!(quote("/etc/ok name").is_ok());
        assert!(quote("/etc/bad\"name").is_err());
        assert!(quote("/etc/bad\nname").is_err());
    }
}

//! `cargo xtask rootfs`: assemble the aiOS root and pack it as a gzip'd
//! newc initramfs whose `/init` is `initd`.
//!
//! Layers, weakest first:
//! 1. the base: Debian's `busybox-static` (small, used in CI) or a cached
//!    `debootstrap --variant=minbase` tree (`--full`);
//! 2. the skeleton: API mount points, `/dev/console`, `/tmp`, homes;
//! 3. `rootfs/overlay/` (and `rootfs/full/` for the full base);
//! 4. accounts ([`super::accounts`]) merged into `/etc/passwd`, `group`,
//!    `shadow`;
//! 5. our binaries ([`BINARIES`], debug info stripped) and, because the
//!    musl target cannot be installed here, the glibc libraries and ELF
//!    interpreter they need (from `ldd`);
//! 6. owners and modes of the shared directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use super::accounts::{Accounts, merge_accounts, small_base_accounts};
use super::tree::{Entry, Kind, Tree, normalize};
use super::{apt, cache_dir, image_dir, output, run, workspace_root};

/// How the assembled root is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A gzip'd newc cpio initramfs (`/init` is initd).
    Initramfs,
    /// An ext4 disk image to boot with `root=/dev/vda rw` (`/sbin/init` is
    /// initd).
    Ext4,
}

/// Options of a root filesystem build.
#[derive(Debug, Clone)]
pub struct Options {
    /// Use the debootstrap base instead of busybox.
    pub full: bool,
    /// Where the workspace binaries were built.
    pub bin_dir: PathBuf,
    /// The image to write.
    pub out: PathBuf,
    /// How to pack it.
    pub format: Format,
    /// Overlays applied after the repository's (e.g. the disk boot test's
    /// services); their manifests are checked with the others.
    pub extra_overlays: Vec<PathBuf>,
}

/// Our binaries and where they go in the image.
pub const BINARIES: [(&str, &str); 7] = [
    ("initd", "usr/sbin/initd"),
    ("aios", "usr/bin/aios"),
    ("aiosd", "usr/bin/aiosd"),
    ("toolsd", "usr/bin/toolsd"),
    ("memoryd", "usr/bin/memoryd"),
    ("runtimed", "usr/bin/runtimed"),
    ("gatewayd", "usr/bin/gatewayd"),
];

/// busybox applets we do not install: PID 1 is initd, and power control
/// goes through initd (busybox's poweroff signals init with SIGUSR2, which
/// initd does not use; `rootfs/overlay/usr/sbin` has ours).
pub const EXCLUDED_APPLETS: [&str; 5] = [
    "sbin/init",
    "linuxrc",
    "sbin/poweroff",
    "sbin/reboot",
    "sbin/halt",
];

/// Owners and modes set last: `(path, uid, gid, mode)`. Each daemon user
/// has a state directory of its own (0700): `aios` (aiosd, memoryd: the
/// session store), `aios-gateway` (gatewayd), root (toolsd's logs). The
/// API key file belongs to `aios-gateway` alone.
pub const OWNERS: [(&str, u32, u32, u32); 11] = [
    ("tmp", 0, 0, 0o1777),
    ("var/tmp", 0, 0, 0o1777),
    ("root", 0, 0, 0o700),
    ("run", 0, 0, 0o755),
    ("home/admin", 1000, 1000, 0o700),
    ("var/lib/aios", 900, 900, 0o700),
    ("var/lib/aios/log", 900, 900, 0o700),
    ("var/lib/aios-gateway", 902, 902, 0o700),
    ("var/lib/aios-toolsd", 0, 0, 0o700),
    ("etc/aios/keys.toml", 902, 902, 0o600),
    ("var/log/aios", 0, 0, 0o755),
];

/// The shared libraries (and ELF interpreter) in `ldd` output. `Ok(empty)`
/// for a static binary; an error for a library ldd cannot find.
pub fn parse_ldd(text: &str) -> Result<Vec<String>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.contains("not a dynamic executable") || line.contains("statically linked") {
            continue;
        }
        if let Some((name, rest)) = line.split_once("=>") {
            let rest = rest.trim();
            if rest.starts_with("not found") {
                return Err(format!("{} is not found on this host", name.trim()));
            }
            if let Some(path) = rest
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
            {
                libs.push(path.to_string());
            }
        } else if let Some(path) = line
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            // The interpreter: `/lib64/ld-linux-x86-64.so.2 (0x...)`.
            libs.push(path.to_string());
        }
        // Anything else (linux-vdso.so.1) lives in the kernel.
    }
    Ok(libs)
}

/// Assemble the root and write the image; returns its path.
pub fn build(o: &Options) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    for (name, _) in BINARIES {
        let p = o.bin_dir.join(name);
        if !p.is_file() {
            bail!(
                "{} is missing; build the workspace first (`cargo build --workspace --bins`)",
                p.display()
            );
        }
    }
    let root = workspace_root().join("rootfs");
    let mut overlays = vec![root.join("overlay")];
    if o.full {
        overlays.push(root.join("full"));
    }
    overlays.extend(o.extra_overlays.iter().cloned());
    check_manifests(&o.bin_dir.join("initd"), &overlays)?;

    let mut tree = Tree::new();
    let base_accounts = if o.full {
        let base = debootstrap_base()?;
        tree.add_host_dir(&base, "/", true)?;
        let read = |p: &str| std::fs::read_to_string(base.join(p)).unwrap_or_default();
        Accounts {
            passwd: read("etc/passwd"),
            group: read("etc/group"),
            shadow: read("etc/shadow"),
            shells: read("etc/shells"),
        }
    } else {
        add_busybox(&mut tree)?;
        // TLS roots for cloud model providers (gatewayd refuses to start
        // without any).
        apt::ensure(&["ca-certificates"])?;
        tree.insert(
            "etc/ssl/certs/ca-certificates.crt",
            Entry::host(Path::new(CA_BUNDLE), 0o644),
        )?;
        tree.insert(
            "etc/nsswitch.conf",
            Entry::bytes(
                "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
                0o644,
            ),
        )?;
        small_base_accounts()
    };
    skeleton(&mut tree)?;
    networking(&mut tree, o.full)?;
    for dir in &overlays {
        add_overlay(&mut tree, dir)?;
    }
    let accounts = merge_accounts(&base_accounts).map_err(|e| anyhow::anyhow!("accounts: {e}"))?;
    replace_contents(&mut tree, "etc/passwd", accounts.passwd.into_bytes(), 0o644)?;
    replace_contents(&mut tree, "etc/group", accounts.group.into_bytes(), 0o644)?;
    replace_contents(&mut tree, "etc/shadow", accounts.shadow.into_bytes(), 0o600)?;
    replace_contents(&mut tree, "etc/shells", accounts.shells.into_bytes(), 0o644)?;
    add_binaries(&mut tree, &o.bin_dir)?;
    for (path, uid, gid, mode) in OWNERS {
        tree.own(path, uid, gid, mode)?;
    }

    let out = &o.out;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match o.format {
        Format::Initramfs => pack_gzip(&tree, out)?,
        Format::Ext4 => super::ext4::write(&tree, out, &out.with_extension("scratch"))?,
    }
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "xtask: {} ({} base, {} entries, {:.1} MiB) in {:.1?}: {}",
        match o.format {
            Format::Initramfs => "initramfs",
            Format::Ext4 => "ext4 disk image",
        },
        if o.full { "debootstrap" } else { "busybox" },
        tree.entry_count(),
        size as f64 / (1024.0 * 1024.0),
        started.elapsed(),
        out.display()
    );
    Ok(out.clone())
}

/// Validate the service manifests with the real parser (`initd check`), so
/// a bad manifest fails the build instead of the boot.
fn check_manifests(initd: &Path, overlays: &[PathBuf]) -> anyhow::Result<()> {
    let dir = image_dir().join("services-check");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for o in overlays {
        let src = o.join("etc/aios/services");
        let Ok(rd) = std::fs::read_dir(&src) else {
            continue;
        };
        for e in rd {
            let e = e.with_context(|| format!("cannot read {}", src.display()))?;
            std::fs::copy(e.path(), dir.join(e.file_name()))
                .with_context(|| format!("cannot copy {}", e.path().display()))?;
        }
    }
    let mut c = Command::new(initd);
    c.arg("check").arg(&dir);
    let shown = output(c).context("the image's service manifests are invalid")?;
    eprintln!("xtask: manifests: {}", shown.trim());
    Ok(())
}

/// busybox-static and one symlink per applet.
fn add_busybox(tree: &mut Tree) -> anyhow::Result<()> {
    apt::ensure(&["busybox-static"])?;
    let bb = Path::new("/bin/busybox");
    let mut ldd = Command::new("ldd");
    ldd.arg(bb);
    // ldd exits non-zero for a static binary; only its text matters.
    let text = ldd
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default();
    if !parse_ldd(&text).map(|l| l.is_empty()).unwrap_or(false) {
        bail!(
            "{} is not statically linked (the dynamic `busybox` package replaced busybox-static?); run `apt-get install busybox-static`",
            bb.display()
        );
    }
    tree.insert("bin/busybox", Entry::host(bb, 0o755))?;
    let mut list = Command::new(bb);
    list.arg("--list-full");
    for applet in output(list)?.lines().map(normalize) {
        if applet.is_empty()
            || applet == "bin/busybox"
            || EXCLUDED_APPLETS.contains(&applet.as_str())
        {
            continue;
        }
        tree.insert(&applet, Entry::symlink("/bin/busybox"))?;
    }
    if tree.get("usr/sbin/nologin").is_none() {
        tree.insert("usr/sbin/nologin", Entry::symlink("/bin/busybox"))?;
    }
    Ok(())
}

/// Mount points and the few things that must exist before initd runs.
fn skeleton(tree: &mut Tree) -> anyhow::Result<()> {
    for d in [
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "root",
        "home/admin",
        "etc/aios/services",
        "var/lib/aios/log",
        "var/log/aios",
        "var/tmp",
        "mnt",
    ] {
        if tree.get(d).is_none() {
            tree.insert(d, Entry::dir(0o755))?;
        }
    }
    // The kernel opens /dev/console for init's stdio before anything is
    // mounted; devtmpfs later covers /dev.
    tree.insert("dev/console", Entry::char_dev(5, 1, 0o600))?;
    Ok(())
}

/// What the `network` service needs on either base: busybox at a fixed
/// path for `udhcpc` (the full base has no DHCP client), `/etc/resolv.conf`
/// pointing at the lease's `/run/resolv.conf` (so a read-only root still
/// gets name servers), and `/etc/hosts`.
fn networking(tree: &mut Tree, full: bool) -> anyhow::Result<()> {
    if full {
        apt::ensure(&["busybox-static"])?;
        tree.insert(
            "usr/lib/aios/busybox",
            Entry::host(Path::new("/bin/busybox"), 0o755),
        )?;
    } else {
        tree.insert("usr/lib/aios/busybox", Entry::symlink("/bin/busybox"))?;
    }
    tree.insert("etc/resolv.conf", Entry::symlink("../run/resolv.conf"))?;
    if tree.get("etc/hosts").is_none() {
        tree.insert(
            "etc/hosts",
            Entry::bytes(
                "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
                0o644,
            ),
        )?;
    }
    Ok(())
}

/// Add an overlay directory: files replace, directories that exist (also as
/// symlinks, like `/sbin -> usr/sbin`) are kept, and modes are normalized.
fn add_overlay(tree: &mut Tree, dir: &Path) -> anyhow::Result<()> {
    let mut staged = Tree::new();
    staged.add_host_dir(dir, "/", false)?;
    let paths: Vec<String> = staged.paths().map(str::to_string).collect();
    for p in paths {
        let Some(mut e) = staged.get(&p).cloned() else {
            continue;
        };
        if e.kind == Kind::Dir && tree.get(&p).is_some() {
            continue;
        }
        // The checkout's umask must not leak into the image: directories
        // and programs 0755, everything else 0644.
        e.mode = match e.kind {
            Kind::Dir => 0o755,
            Kind::File(_) if e.mode & 0o111 != 0 => 0o755,
            Kind::File(_) => 0o644,
            _ => e.mode,
        };
        tree.insert(&p, e)?;
    }
    Ok(())
}

/// Replace a file's contents, keeping its owner and mode when the base has
/// it.
fn replace_contents(tree: &mut Tree, path: &str, data: Vec<u8>, mode: u32) -> anyhow::Result<()> {
    let (mode, uid, gid) = match tree.get(path) {
        Some(e) => (e.mode, e.uid, e.gid),
        None => (mode, 0, 0),
    };
    let mut e = Entry::bytes(data, mode);
    e.uid = uid;
    e.gid = gid;
    tree.insert(path, e)
}

/// Our binaries (debug info stripped into the image directory) plus the
/// shared libraries they need that the base does not have.
fn add_binaries(tree: &mut Tree, bin_dir: &Path) -> anyhow::Result<()> {
    let stripped = image_dir().join("bin");
    std::fs::create_dir_all(&stripped)
        .with_context(|| format!("cannot create {}", stripped.display()))?;
    let can_strip = super::on_path("strip");
    let mut libs: Vec<String> = Vec::new();
    for (name, at) in BINARIES {
        let src = bin_dir.join(name);
        let bin = if can_strip {
            let dst = stripped.join(name);
            let mut s = Command::new("strip");
            s.arg("--strip-debug").arg("-o").arg(&dst).arg(&src);
            run(s)?;
            dst
        } else {
            src.clone()
        };
        tree.insert(at, Entry::host(&bin, 0o755))?;
        let mut ldd = Command::new("ldd");
        ldd.arg(&src).stdin(Stdio::null());
        let text = ldd
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .with_context(|| format!("cannot run ldd on {}", src.display()))?;
        for lib in parse_ldd(&text).map_err(|e| anyhow::anyhow!("{}: {e}", src.display()))? {
            if !libs.contains(&lib) {
                libs.push(lib);
            }
        }
    }
    for lib in libs {
        if tree.get(&lib).is_some() {
            continue;
        }
        tree.insert(&lib, Entry::host(Path::new(&lib), 0o755))?;
    }
    tree.insert("init", Entry::symlink("/usr/sbin/initd"))?;
    if tree.get("sbin/init").is_none() {
        tree.insert("sbin/init", Entry::symlink("/usr/sbin/initd"))?;
    }
    Ok(())
}

/// Pack the tree through `gzip -n` (no name or time stamp: reproducible).
fn pack_gzip(tree: &Tree, out: &Path) -> anyhow::Result<()> {
    let tmp = out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut gz = Command::new("gzip")
        .args(["-n", "-6"])
        .stdin(Stdio::piped())
        .stdout(file)
        .spawn()
        .context("cannot run gzip")?;
    let stdin = gz.stdin.take().context("gzip has no stdin")?;
    let writer = std::io::BufWriter::new(stdin);
    // Flush and close gzip's input whatever happened, then wait for it
    // before reporting either failure.
    let packed = tree.write_cpio(writer).and_then(|w| {
        w.into_inner()
            .map(drop)
            .map_err(|e| anyhow::anyhow!("cannot write to gzip: {}", e.error()))
    });
    let st = gz.wait().context("gzip failed")?;
    packed.with_context(|| format!("cannot write {}", tmp.display()))?;
    if !st.success() {
        bail!("gzip failed with {st}");
    }
    std::fs::rename(&tmp, out).with_context(|| format!("cannot rename to {}", out.display()))
}

/// The configured apt mirror and suite of this host: the first `deb` source
/// in `/etc/apt/sources.list` or a deb822 `.sources` file.
pub fn parse_mirror(sources_list: &str, deb822: &str) -> Option<(String, String)> {
    for line in sources_list.lines().map(str::trim) {
        let mut f = line.split_whitespace();
        if f.next() != Some("deb") {
            continue;
        }
        let mut uri = f.next()?;
        if uri.starts_with('[') {
            // Options: `deb [arch=amd64] URI SUITE`.
            uri = f.find(|x| x.ends_with(']')).and_then(|_| f.next())?;
        }
        let suite = f.next()?;
        if !suite.contains('-') {
            return Some((uri.to_string(), suite.to_string()));
        }
    }
    let mut uri: Option<String> = None;
    let mut suite: Option<String> = None;
    for line in deb822.lines().map(str::trim) {
        if line.is_empty() {
            if let (Some(u), Some(s)) = (&uri, &suite) {
                return Some((u.clone(), s.clone()));
            }
            uri = None;
            suite = None;
        } else if let Some(v) = line.strip_prefix("URIs:") {
            uri = v.split_whitespace().next().map(str::to_string);
        } else if let Some(v) = line.strip_prefix("Suites:") {
            suite = v
                .split_whitespace()
                .find(|s| !s.contains('-'))
                .map(str::to_string);
        }
    }
    uri.zip(suite)
}

/// Debian's bundle of trusted CA certificates.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Packages added to minbase.
pub const FULL_INCLUDE: &str = "openssh-server,ca-certificates,procps,iproute2";

/// A `debootstrap --variant=minbase` tree through the configured mirror,
/// cached under `$HOME/.cache/aios/debootstrap`.
fn debootstrap_base() -> anyhow::Result<PathBuf> {
    apt::ensure(&["debootstrap"])?;
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    let mut deb822 = String::new();
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if f.extension().is_some_and(|e| e == "sources") {
                deb822.push_str(&text);
                deb822.push_str("\n\n");
            }
        }
    }
    let (mirror, suite) = parse_mirror(&list, &deb822).context(
        "no apt mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources",
    )?;
    let dir = cache_dir()?.join("debootstrap").join(format!(
        "{suite}-minbase-{}",
        FULL_INCLUDE.replace(',', "+")
    ));
    let done = dir.with_extension("complete");
    if done.is_file() {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!("xtask: debootstrap {suite} minbase from {mirror} (several minutes, cached)");
    let mut c = Command::new("debootstrap");
    c.args([
        "--variant=minbase",
        &format!("--include={FULL_INCLUDE}"),
        &suite,
    ])
    .arg(&dir)
    .arg(&mirror);
    run(c)?;
    std::fs::write(&done, b"").with_context(|| format!("cannot write {}", done.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_yields_libraries_and_the_interpreter() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x1)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            vec![
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
        assert!(
            parse_ldd("\tnot a dynamic executable\n")
                .unwrap()
                .is_empty()
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        let e = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(e.contains("libfoo.so.1"), "{e}");
    }

    #[test]
    fn the_mirror_comes_from_either_sources_format() {
        let list = "# comment\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://deb.example/debian bookworm main\n";
        assert_eq!(
            parse_mirror(list, ""),
            Some(("http://deb.example/debian".into(), "bookworm".into()))
        );
        let updates_only = "deb http://x/debian bookworm-updates main\n";
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n";
        assert_eq!(
            parse_mirror(updates_only, deb822),
            Some(("http://mirror.example/debian".into(), "bookworm".into()))
        );
        assert_eq!(parse_mirror("", ""), None);
    }

    #[test]
    fn overlay_files_replace_and_directories_stay() {
        let d = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(d.path().join("sbin")).unwrap();
        std::fs::write(d.path().join("sbin/tool"), "x").unwrap();
        std::fs::set_permissions(
            d.path().join("sbin/tool"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(d.path().join("conf"), "x").unwrap();
        std::fs::set_permissions(
            d.path().join("conf"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let mut t = Tree::new();
        t.insert("usr/sbin", Entry::dir(0o755)).unwrap();
        t.insert("sbin", Entry::symlink("usr/sbin")).unwrap();
        add_overlay(&mut t, d.path()).unwrap();
        assert_eq!(
            t.get("sbin").unwrap().kind,
            Kind::Symlink("usr/sbin".into())
        );
        assert!(t.paths().any(|p| p == "usr/sbin/tool"));
        // A restrictive umask at checkout does not reach the image.
        assert_eq!(t.get("usr/sbin/tool").unwrap().mode, 0o755);
        assert_eq!(t.get("conf").unwrap().mode, 0o644);
    }

    #[test]
    fn the_repository_overlay_has_a_manifest_per_daemon_and_executable_scripts() {
        use std::os::unix::fs::PermissionsExt;
        let o = workspace_root().join("rootfs/overlay");
        for d in ["aiosd", "toolsd", "memoryd", "runtimed", "gatewayd"] {
            let m = std::fs::read_to_string(o.join(format!("etc/aios/services/{d}.toml"))).unwrap();
            assert!(m.contains("readiness = \"notify\""), "{d}");
        }
        let aiosd = std::fs::read_to_string(o.join("etc/aios/services/aiosd.toml")).unwrap();
        assert!(aiosd.contains("requires = [\"memoryd\", \"toolsd\", \"gatewayd\"]"));
        for s in [
            "usr/lib/aios/setup",
            "usr/lib/aios/autologin",
            "usr/lib/aios/boot-test",
            "usr/sbin/poweroff",
        ] {
            let mode = std::fs::metadata(o.join(s)).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{s} must be executable");
        }
        // No AppArmor profiles: the kernel's only LSM is Landlock.
        assert!(!o.join("etc/apparmor.d").exists());
    }

    /// gatewayd runs as a user of its own, which alone owns the key file it
    /// is pointed at; toolsd (root) and gatewayd log outside /var/lib/aios.
    #[test]
    fn the_gateway_alone_owns_the_key_file() {
        use super::super::accounts::USERS;
        let o = workspace_root().join("rootfs/overlay");
        let manifest = std::fs::read_to_string(o.join("etc/aios/services/gatewayd.toml")).unwrap();
        assert!(manifest.contains("user = \"aios-gateway\""), "{manifest}");
        assert!(manifest.contains("AIOS_KEY_FILE = \"/etc/aios/keys.toml\""));
        assert!(manifest.contains("AIOS_STATE_DIR = \"/var/lib/aios-gateway\""));
        let toolsd = std::fs::read_to_string(o.join("etc/aios/services/toolsd.toml")).unwrap();
        assert!(toolsd.contains("AIOS_STATE_DIR = \"/var/lib/aios-toolsd\""));
        let gateway = USERS.iter().find(|u| u.name == "aios-gateway").unwrap();
        assert!(o.join("etc/aios/keys.toml").is_file());
        let owner = OWNERS
            .iter()
            .find(|(p, ..)| *p == "etc/aios/keys.toml")
            .unwrap();
        assert_eq!((owner.1, owner.3), (gateway.uid, 0o600));
        let state = OWNERS
            .iter()
            .find(|(p, ..)| *p == "var/lib/aios-gateway")
            .unwrap();
        assert_eq!((state.1, state.3), (gateway.uid, 0o700));
        assert!(
            USERS
                .iter()
                .all(|u| u.name == "aios-gateway" || u.uid != gateway.uid)
        );
    }
}

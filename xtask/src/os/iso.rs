//! `cargo xtask iso`: a hybrid ISO that boots on BIOS (El Torito and as a
//! disk image) and UEFI, made by `grub-mkrescue` from the kernel, the
//! initramfs and a GRUB menu with the serial console enabled.
//!
//! The menu's third entry runs the boot self-test (`aios.boot_test=1`, the
//! same in-VM script as `tests/tests/boot.rs`); its hotkey lets
//! `tests/tests/boot_iso.rs` pick it by typing one key on the serial port,
//! while a person who touches nothing gets the default entry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use super::{apt, image_dir, run};

/// Host packages `grub-mkrescue` needs for both firmware kinds.
pub const PACKAGES: [&str; 5] = [
    "grub-common",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "xorriso",
    "mtools",
];

/// Title of the boot self-test's menu entry (the ISO boot test waits for
/// it on the serial console before pressing [`SELF_TEST_HOTKEY`]).
pub const SELF_TEST_TITLE: &str = "aiOS (boot self-test)";

/// The key that boots the self-test entry from the GRUB menu.
pub const SELF_TEST_HOTKEY: char = 't';

/// Kernel command line of the self-test entry: the serial port alone (a
/// framebuffer console slows emulation), initd's full log on it, and the
/// self-test, which ends by powering the machine off.
pub const SELF_TEST_APPEND: &str = "console=ttyS0,115200 panic=-1 aios.boot_test=1 AIOS_LOG=info";

/// The GRUB menu: on the screen and the serial port.
pub fn grub_cfg() -> String {
    format!(
        "\
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=3
set default=0

menuentry \"aiOS\" {{
    linux /boot/bzImage {}
    initrd /boot/initramfs.cpio.gz
}}

menuentry \"aiOS (serial console only)\" {{
    linux /boot/bzImage console=ttyS0,115200 panic=-1
    initrd /boot/initramfs.cpio.gz
}}

menuentry \"{SELF_TEST_TITLE}\" --hotkey={SELF_TEST_HOTKEY} {{
    linux /boot/bzImage {SELF_TEST_APPEND}
    initrd /boot/initramfs.cpio.gz
}}
",
        super::qemu::DEFAULT_APPEND
    )
}

/// Build the ISO at `out` and return its path.
pub fn build(kernel: &Path, initrd: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    apt::ensure(&PACKAGES)?;
    let started = Instant::now();
    let stage = image_dir().join("iso-root");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .with_context(|| format!("cannot clear {}", stage.display()))?;
    }
    let boot = stage.join("boot");
    std::fs::create_dir_all(boot.join("grub"))
        .with_context(|| format!("cannot create {}", boot.display()))?;
    std::fs::copy(kernel, boot.join("bzImage"))
        .with_context(|| format!("cannot copy {}", kernel.display()))?;
    std::fs::copy(initrd, boot.join("initramfs.cpio.gz"))
        .with_context(|| format!("cannot copy {}", initrd.display()))?;
    std::fs::write(boot.join("grub/grub.cfg"), grub_cfg()).context("cannot write grub.cfg")?;
    let tmp = out.with_extension("partial.iso");
    let mut c = Command::new("grub-mkrescue");
    c.arg("-o").arg(&tmp).arg(&stage);
    run(c)
        .context("grub-mkrescue failed (needs grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools)")?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot rename to {}", out.display()))?;
    eprintln!(
        "xtask: ISO built in {:.1?}: {}",
        started.elapsed(),
        out.display()
    );
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_menu_boots_the_staged_files_with_a_serial_console() {
        let cfg = grub_cfg();
        assert!(cfg.contains("linux /boot/bzImage console=tty1 console=ttyS0"));
        assert!(cfg.contains("initrd /boot/initramfs.cpio.gz"));
        assert!(cfg.contains("terminal_output console serial"));
        // The person's entry stays the default; the self-test needs its key.
        assert!(cfg.contains("set default=0"));
        let first = cfg.find("menuentry").unwrap();
        assert!(cfg[first..].starts_with("menuentry \"aiOS\" {"));
        assert!(cfg.contains(
            "menuentry \"aiOS (boot self-test)\" --hotkey=t {\n    linux /boot/bzImage console=ttyS0,115200 panic=-1 aios.boot_test=1 AIOS_LOG=info\n"
        ));
    }
}

//! QEMU command lines: always `-accel tcg` (`/dev/kvm` exists here but does
//! not work), 1 GiB of memory, no reboot (a reboot or a panic ends QEMU),
//! and the serial port as the console.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

use super::apt;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// Kernel command line for a person: the screen and the serial port, the
/// serial port last so it is `/dev/console` (where initd and panics write).
pub const DEFAULT_APPEND: &str = "console=tty1 console=ttyS0,115200 panic=-1";

/// What to boot.
#[derive(Debug, Clone)]
pub enum Boot {
    /// A kernel and initramfs directly (`-kernel`/`-initrd`).
    Direct {
        /// bzImage.
        kernel: PathBuf,
        /// initramfs.
        initrd: PathBuf,
        /// Kernel command line.
        append: String,
    },
    /// The hybrid ISO as a CD-ROM, through the firmware and GRUB.
    Iso(PathBuf),
    /// A kernel with an ext4 disk image as the root (virtio-blk,
    /// `root=/dev/vda rw`), no initramfs.
    Disk {
        /// bzImage.
        kernel: PathBuf,
        /// The ext4 image; QEMU writes to it.
        image: PathBuf,
        /// Kernel command line; the root options are added.
        append: String,
    },
}

/// The kernel command line options that make a virtio disk the root.
pub const DISK_ROOT: &str = "root=/dev/vda rw rootfstype=ext4 rootwait";

/// Arguments common to every run, plus the boot media.
pub fn args(boot: &Boot, smp: u32) -> Vec<String> {
    let mut a: Vec<String> = ["-accel", "tcg", "-m", "1024", "-no-reboot", "-smp"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(smp.to_string());
    // Entropy for getrandom() early in boot (the daemons use it for ids).
    a.extend(["-device", "virtio-rng-pci"].map(String::from));
    match boot {
        Boot::Direct {
            kernel,
            initrd,
            append,
        } => {
            a.push("-kernel".into());
            a.push(kernel.display().to_string());
            a.push("-initrd".into());
            a.push(initrd.display().to_string());
            a.push("-append".into());
            a.push(append.clone());
        }
        Boot::Disk {
            kernel,
            image,
            append,
        } => {
            a.push("-kernel".into());
            a.push(kernel.display().to_string());
            a.push("-drive".into());
            a.push(format!(
                "file={},format=raw,if=virtio,cache=writeback",
                image.display()
            ));
            a.push("-append".into());
            a.push(format!("{DISK_ROOT} {append}"));
        }
        Boot::Iso(iso) => {
            a.push("-cdrom".into());
            a.push(iso.display().to_string());
            a.push("-boot".into());
            a.push("d".into());
        }
    }
    a
}

/// Install QEMU when it is missing.
pub fn ensure_installed() -> anyhow::Result<()> {
    if super::on_path(QEMU) {
        return Ok(());
    }
    apt::ensure(&["qemu-system-x86"])
}

/// UEFI firmware for QEMU, from Debian's `ovmf`.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Boot for a person: the serial console (and QEMU's monitor, Ctrl-A c) on
/// this terminal. Ctrl-A x quits. With `uefi`, the firmware is OVMF instead
/// of SeaBIOS (meaningful with an ISO).
pub fn interactive(boot: &Boot, uefi: bool) -> anyhow::Result<()> {
    ensure_installed()?;
    eprintln!(
        "xtask: booting under TCG emulation; Ctrl-A x quits QEMU, `poweroff` inside shuts down; \
         guest port 22 is forwarded to 127.0.0.1:2222"
    );
    let mut c = Command::new(QEMU);
    c.args(args(boot, 2))
        .args(["-nographic", "-serial", "mon:stdio"])
        // User-mode networking: the `network` service gets a DHCP lease
        // (10.0.2.15, the host is 10.0.2.2), and with the full base
        // `ssh -p 2222 admin@127.0.0.1` reaches the guest's sshd.
        .args([
            "-nic",
            "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22",
        ]);
    if uefi {
        apt::ensure(&["ovmf"])?;
        c.args(["-bios", OVMF]);
    }
    let st = c.status().with_context(|| format!("cannot run {QEMU}"))?;
    if !st.success() {
        anyhow::bail!("{QEMU} exited with {st}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_uses_tcg_and_no_reboot() {
        let a = args(
            &Boot::Direct {
                kernel: "/k".into(),
                initrd: "/i".into(),
                append: "console=ttyS0".into(),
            },
            1,
        );
        let s = a.join(" ");
        assert!(s.starts_with("-accel tcg -m 1024 -no-reboot -smp 1"), "{s}");
        assert!(
            s.contains("-kernel /k -initrd /i -append console=ttyS0"),
            "{s}"
        );
        let iso = args(&Boot::Iso("/x.iso".into()), 2).join(" ");
        assert!(
            iso.contains("-accel tcg") && iso.contains("-cdrom /x.iso -boot d"),
            "{iso}"
        );
        let disk = args(
            &Boot::Disk {
                kernel: "/k".into(),
                image: "/r.ext4".into(),
                append: "console=ttyS0".into(),
            },
            1,
        )
        .join(" ");
        assert!(
            disk.contains("-drive file=/r.ext4,format=raw,if=virtio")
                && disk.contains("root=/dev/vda rw")
                && !disk.contains("-initrd"),
            "{disk}"
        );
    }
}

//! The ISO boot test: boot the hybrid ISO that `cargo xtask iso` makes
//! (`grub-mkrescue`: El Torito for BIOS, an EFI system partition for UEFI)
//! as a CD-ROM in QEMU under TCG, once through SeaBIOS and once through
//! OVMF, and check from the serial console, in order:
//!
//! 1. GRUB showed its menu on the serial port: the person's default entry
//!    first, then the serial-only and the boot self-test entries;
//! 2. pressing the self-test entry's hotkey (typed on the serial port, as a
//!    person at a serial terminal would) booted the kernel with that
//!    entry's command line, and, under OVMF, the kernel saw UEFI;
//! 3. `/init` (initd) ran, started the services without a failure, and
//!    `aios` came up on the serial console (motd, prompt);
//! 4. the in-VM self-test (`/usr/lib/aios/boot-test`, the same script as
//!    `tests/tests/boot.rs`) ran one request through the real daemons and
//!    powered off: initd stopped every service, the kernel powered down,
//!    and QEMU exited 0 by itself.
//!
//! GRUB's `timeout=3` boots the default entry when nobody presses a key;
//! the default entry's command line has no `aios.boot_test=1`, so the test
//! selects the self-test entry, which is what makes a clean, checked power
//! off possible (the default entry has nothing that would power off: initd
//! does not listen for the ACPI power button).
//!
//! Markers are substrings of the serial log with ANSI escapes removed (GRUB
//! and the firmware draw with escape codes). Nothing here asserts on time;
//! the only limit is the outer [`qemu::LIMIT`] after which QEMU is killed.
//!
//! The ISO comes from `AIOS_BOOT_ISO`, which `cargo xtask test` sets after
//! building it from the same kernel and initramfs as the other boot tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use aios_tests::qemu::{self, Reader, artifact, strip_ansi};

/// Prefix of the in-VM self-test's lines.
const TAG: &str = "AIOS-BOOT-TEST: ";

/// UEFI firmware for QEMU, from Debian's `ovmf` (xtask's `qemu::OVMF`).
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// GRUB menu entries, in menu order (xtask's `iso::grub_cfg`). GRUB marks
/// the highlighted entry, the default, with `*` on a serial terminal.
const ENTRY_DEFAULT_HIGHLIGHTED: &str = "*aiOS ";
const ENTRY_SERIAL: &str = "aiOS (serial console only)";
const ENTRY_SELF_TEST: &str = "aiOS (boot self-test)";
/// The self-test entry's hotkey (xtask's `iso::SELF_TEST_HOTKEY`).
const SELF_TEST_HOTKEY: &[u8] = b"t";
/// On the self-test entry's kernel command line only.
const SELF_TEST_OPTION: &str = "aios.boot_test=1";

/// Which firmware boots the CD.
#[derive(Clone, Copy, PartialEq)]
enum Firmware {
    SeaBios,
    Ovmf,
}

#[test]
fn the_iso_boots_through_seabios_and_grub_to_aios_and_powers_off() {
    boot_iso_to_aios(Firmware::SeaBios, "boot-iso-bios-serial.log");
}

#[test]
fn the_iso_boots_through_ovmf_and_grub_to_aios_and_powers_off() {
    boot_iso_to_aios(Firmware::Ovmf, "boot-iso-uefi-serial.log");
}

fn boot_iso_to_aios(firmware: Firmware, log_name: &str) {
    let iso = artifact("AIOS_BOOT_ISO");
    let mut args: Vec<OsString> = Vec::new();
    if firmware == Firmware::Ovmf {
        assert!(
            Path::new(OVMF).is_file(),
            "{OVMF} does not exist: install Debian's `ovmf` (`cargo xtask test` does)"
        );
        args.extend(["-bios".into(), OVMF.into()]);
    }
    args.extend(["-cdrom".into(), iso.into(), "-boot".into(), "d".into()]);
    let started = Instant::now();
    let mut menu_after = None;
    let mut cmdline_seen = false;
    let boot = qemu::boot_watching(
        &args,
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        log_name,
        |console| {
            if menu_after.is_none() {
                // The title is whole only once the escapes GRUB draws with
                // are removed.
                let text = strip_ansi(&String::from_utf8_lossy(console.raw));
                if text.contains(ENTRY_SELF_TEST) {
                    menu_after = Some(started.elapsed());
                    // One key, once: more would reach the shell after boot.
                    // QEMU hands it to the UART only when the guest can take
                    // it, so it is not lost however slow the emulation.
                    let _ = console.input.write_all(SELF_TEST_HOTKEY);
                    let _ = console.input.flush();
                }
            } else if !cmdline_seen {
                // Had the key come after GRUB's timeout, the default entry
                // would boot and never power off: stop at once rather than
                // at the limit (the test then names the command line).
                let text = String::from_utf8_lossy(console.raw);
                if let Some(at) = text.find("Command line: ")
                    && let Some(end) = text[at..].find('\n')
                {
                    cmdline_seen = true;
                    if !text[at..at + end].contains(SELF_TEST_OPTION) {
                        console.kill();
                    }
                }
            }
        },
    );
    eprintln!(
        "boot_iso: {log_name}: QEMU ran {:.1?} (GRUB menu after {:.1?})",
        started.elapsed(),
        menu_after.unwrap_or_default()
    );
    let mut r = Reader::new(&boot, TAG);

    // 1. GRUB's menu on the serial port, the person's entry first.
    r.expect("GRUB's menu", "GNU GRUB");
    r.expect(
        "the person's entry first and highlighted (the default)",
        ENTRY_DEFAULT_HIGHLIGHTED,
    );
    r.expect("the serial-only menu entry", ENTRY_SERIAL);
    r.expect("the self-test menu entry", ENTRY_SELF_TEST);

    // 2. The kernel, started by GRUB from the self-test entry.
    r.expect("the kernel banner", "Linux version ");
    let cmdline = r.expect("the kernel command line", "Command line: ");
    let line = r.line_at(cmdline).to_string();
    if !line.contains(SELF_TEST_OPTION) {
        r.fail(&format!(
            "GRUB did not boot the self-test entry (the hotkey came too late?): {line}"
        ));
    }
    let efi = r.find_from(cmdline, "efi: EFI v2.");
    match (firmware, efi) {
        (Firmware::Ovmf, None) => {
            r.fail("under OVMF the kernel did not report UEFI (efi: EFI v2.)")
        }
        (Firmware::SeaBios, Some(at)) => r.fail(&format!(
            "under SeaBIOS the kernel saw UEFI: {}",
            r.line_at(at)
        )),
        _ => {}
    }
    r.expect("the initramfs unpacked", "Unpacking initramfs");
    let init = r.expect(
        "the kernel starting /init (initd)",
        "Run /init as init process",
    );

    // 3. initd, the services and the console shell.
    r.expect("initd's supervisor running", "initd running");
    r.no_failed_services(init, &[]);
    let aiosd_ready = r.at(init, "ready service=aiosd");
    r.pos = aiosd_ready;
    r.expect("the motd of the autologin", "Welcome to aiOS.");
    let prompt = r.expect("the aios prompt on the serial console", "aios> ");

    // 4. The self-test: one request through the daemons, then power off.
    r.pos = aiosd_ready;
    r.expect("the in-VM self-test starting", &format!("{TAG}started"));
    r.expect_completed_request();
    let (shutdown, _) = r.expect_clean_power_off();
    assert!(prompt < shutdown);
}

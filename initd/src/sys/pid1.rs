//! What only PID 1 does: mount the API filesystems, set the hostname, take
//! Ctrl-Alt-Del as a signal, end the machine (kill everything left, sync,
//! unmount, power off or reboot), and the recovery console that replaces
//! any fatal failure, because PID 1 exiting is a kernel panic.

use std::path::Path;
use std::time::Duration;

use nix::mount::{MsFlags, mount};

/// One API filesystem.
struct ApiMount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

fn api_mounts() -> [ApiMount; 7] {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    [
        ApiMount {
            source: "proc",
            target: "/proc",
            fstype: "proc",
            flags: nosuid_nodev_noexec,
            data: None,
        },
        ApiMount {
            source: "sysfs",
            target: "/sys",
            fstype: "sysfs",
            flags: nosuid_nodev_noexec,
            data: None,
        },
        ApiMount {
            source: "devtmpfs",
            target: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID,
            data: Some("mode=0755"),
        },
        ApiMount {
            source: "devpts",
            target: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some("mode=0620,ptmxmode=0666"),
        },
        ApiMount {
            source: "tmpfs",
            target: "/dev/shm",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=1777"),
        },
        ApiMount {
            source: "tmpfs",
            target: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=0755"),
        },
        ApiMount {
            source: "cgroup2",
            target: "/sys/fs/cgroup",
            fstype: "cgroup2",
            flags: nosuid_nodev_noexec,
            data: None,
        },
    ]
}

/// `(mount point, fstype)` of every mount, from `/proc/self/mountinfo`.
fn mounted() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            Some((
                left.split_whitespace().nth(4)?.to_string(),
                right.split_whitespace().next()?.to_string(),
            ))
        })
        .collect()
}

/// Mount `/proc`, `/sys`, `/dev`, `/dev/pts`, `/dev/shm`, `/run` and
/// `/sys/fs/cgroup`. A filesystem already mounted there (by the kernel, an
/// initramfs or a container runtime) is kept; `EBUSY` is not an error.
/// Returns a description of what could not be mounted.
pub fn mount_api_filesystems() -> Vec<String> {
    let mut problems = Vec::new();
    for m in api_mounts() {
        // The topmost mount at a point is the last one listed.
        let present = mounted()
            .iter()
            .rev()
            .find(|(point, _)| point == m.target)
            .is_some_and(|(_, fs)| fs == m.fstype);
        if present {
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(m.target) {
            problems.push(format!("cannot create {}: {e}", m.target));
            continue;
        }
        match mount(Some(m.source), m.target, Some(m.fstype), m.flags, m.data) {
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => problems.push(format!("cannot mount {} on {}: {e}", m.fstype, m.target)),
        }
    }
    problems
}

/// The hostname to set: `/etc/hostname`'s first line, else `default`.
pub fn hostname_from(etc_hostname: &Path, default: &str) -> String {
    std::fs::read_to_string(etc_hostname)
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
        })
        .filter(|h| h.len() <= 64)
        .unwrap_or_else(|| default.to_string())
}

/// Set the hostname.
pub fn set_hostname(name: &str) -> Result<(), String> {
    nix::unistd::sethostname(name).map_err(|e| format!("cannot set the hostname to {name:?}: {e}"))
}

/// Make Ctrl-Alt-Del send SIGINT to PID 1 instead of rebooting at once.
/// In a PID namespace the kernel refuses (`EINVAL`); that is harmless.
pub fn disable_ctrl_alt_del() {
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        tracing::debug!("cannot disable Ctrl-Alt-Del: {e}");
    }
}

/// Whether this is the machine's initial PID namespace (kernel threads
/// are visible), rather than a container's. Only there are filesystems
/// remounted read-only: in a container they belong to the host.
pub fn in_initial_pid_namespace() -> bool {
    std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd")
}

/// Sync, unmount what can be unmounted, and remount the rest read-only.
/// Only on the real machine: in a container the mounts are the host's.
pub fn unmount_all() {
    nix::unistd::sync();
    if !in_initial_pid_namespace() {
        tracing::info!("in a PID namespace: leaving filesystems to the host");
        return;
    }
    let api = [
        "/",
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/run",
        "/sys/fs/cgroup",
    ];
    let mut points: Vec<String> = mounted().into_iter().map(|(p, _)| p).collect();
    points.reverse();
    for p in points.iter().filter(|p| !api.contains(&p.as_str())) {
        if nix::mount::umount(p.as_str()).is_err() {
            let _ = mount(
                None::<&str>,
                p.as_str(),
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            );
        }
    }
    if let Err(e) = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    ) {
        tracing::warn!("cannot remount / read-only: {e}");
    } else {
        // The disk boot test waits for this line before checking the disk.
        tracing::info!("remounted / read-only");
    }
    nix::unistd::sync();
}

/// What the machine does at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// Power off.
    Poweroff,
    /// Reboot.
    Reboot,
}

/// Power off or reboot. Returns only on failure. In a PID namespace this
/// ends the namespace: its parent sees PID 1 killed by SIGINT (power off)
/// or SIGHUP (reboot).
pub fn reboot(how: Halt) -> String {
    use nix::sys::reboot::RebootMode;
    let mode = match how {
        Halt::Poweroff => RebootMode::RB_POWER_OFF,
        Halt::Reboot => RebootMode::RB_AUTOBOOT,
    };
    match nix::sys::reboot::reboot(mode) {
        Ok(never) => match never {},
        Err(e) => format!("reboot({mode:?}) failed: {e}"),
    }
}

/// Write to the console directly (stderr may be gone).
pub fn console(msg: &str) {
    use std::io::Write;
    let line = format!("initd: {msg}\n");
    match std::fs::OpenOptions::new().write(true).open("/dev/console") {
        Ok(mut c) => {
            let _ = c.write_all(line.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// The last resort of PID 1: say why, then keep a root shell on the
/// console (respawned when it exits) while reaping every process, forever.
/// Without `/bin/sh` it just reaps forever.
pub fn recovery_console(reason: &str) -> ! {
    console(&format!("FATAL: {reason}"));
    console("dropping to a recovery shell on /dev/console; the system is not running normally");
    loop {
        let shell_pid = spawn_console_shell();
        if shell_pid.is_none() {
            console("no /bin/sh or no /dev/console: reaping processes only");
        }
        loop {
            match nix::sys::wait::waitpid(None, None) {
                Ok(status) => {
                    if shell_pid.is_some() && status.pid() == shell_pid {
                        break;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => {
                    // No children at all: wait a little before trying again.
                    std::thread::sleep(Duration::from_secs(1));
                    if shell_pid.is_some() {
                        break;
                    }
                }
            }
        }
        // A shell that exits at once must not spin the CPU.
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn spawn_console_shell() -> Option<nix::unistd::Pid> {
    use std::os::unix::process::CommandExt;
    if !Path::new("/bin/sh").exists() {
        return None;
    }
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/console")
            .ok()
    };
    let (i, o, e) = (open()?, open()?, open()?);
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.env_clear()
        .env("PATH", super::spawn::SYSTEM_PATH)
        .env("HOME", "/root")
        .env("TERM", "linux")
        .stdin(i)
        .stdout(o)
        .stderr(e);
    // SAFETY: setsid and ioctl are async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 1);
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd.spawn().ok()?;
    let pid = i32::try_from(child.id()).ok()?;
    Some(nix::unistd::Pid::from_raw(pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_comes_from_the_file_or_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hostname");
        assert_eq!(hostname_from(&f, "aios"), "aios");
        std::fs::write(&f, "# comment\n\n  box1  \nother\n").unwrap();
        assert_eq!(hostname_from(&f, "aios"), "box1");
        std::fs::write(&f, "\n").unwrap();
        assert_eq!(hostname_from(&f, "aios"), "aios");
    }

    #[test]
    fn api_mount_table_covers_the_required_filesystems() {
        let targets: Vec<_> = api_mounts().iter().map(|m| m.target).collect();
        assert_eq!(
            targets,
            vec![
                "/proc",
                "/sys",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/run",
                "/sys/fs/cgroup"
            ]
        );
    }
}

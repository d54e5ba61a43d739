//! The `sys.*` tools beyond `sys.overview`: identity of the machine
//! (`info`), its clock (`time`), and the changes `hostname`, `reboot` and
//! `poweroff`. One file each (`power` holds reboot and poweroff); the
//! small readers they share live here.

mod hostname;
mod info;
mod power;
mod time;

pub use hostname::SysHostname;
pub use info::SysInfo;
pub use power::{SysPoweroff, SysReboot};
pub use time::SysTime;

use std::collections::BTreeMap;

/// A `KEY=value` file (`/etc/os-release`, `timedatectl show`), quotes
/// removed.
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            if k.is_empty() || k.starts_with('#') {
                return None;
            }
            Some((
                k.to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            ))
        })
        .collect()
}

/// The machine's host name (this UTS namespace's).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The command name of pid 1, which names the init system.
pub fn init_system() -> (String, &'static str) {
    let comm = std::fs::read_to_string("/proc/1/comm")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let kind = match comm.as_str() {
        "initd" => "aios-initd",
        "systemd" => "systemd",
        _ if std::path::Path::new("/run/systemd/system").exists() => "systemd",
        "init" => "sysvinit or busybox init",
        _ => "other",
    };
    (comm, kind)
}

/// Whether systemd is the running service manager (not merely installed).
pub fn systemd_running() -> bool {
    std::path::Path::new("/run/systemd/system").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_files_parse() {
        let m = parse_kv("# c\nNAME=\"Debian GNU/Linux\"\nVERSION_ID='12'\nID=debian\nbad line\n");
        assert_eq!(m["NAME"], "Debian GNU/Linux");
        assert_eq!(m["VERSION_ID"], "12");
        assert_eq!(m["ID"], "debian");
        assert_eq!(m.len(), 3);
    }
}

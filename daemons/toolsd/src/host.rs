//! Facts about this host that the built-in denials need
//! ([`aios_proto::HostFacts`]): the ports sshd listens on, the mounted
//! block devices, the running kernel, and where the ledger lives. Read
//! from the kernel and sshd's configuration when toolsd starts.

use std::path::Path;

use aios_proto::HostFacts;

/// Gather the facts; `ledger` is the audit ledger's path.
pub fn gather(ledger: &Path) -> HostFacts {
    HostFacts {
        ssh_ports: ssh_ports(Path::new("/etc/ssh")),
        mounted_devices: mounted_devices(
            &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        ),
        ledger_path: ledger.to_string_lossy().into_owned(),
        kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_string())
            .unwrap_or_default(),
    }
}

/// `Port` lines of `sshd_config` and `sshd_config.d/*.conf` under `dir`;
/// sshd's default, 22, when none is set (and sshd is configured at all).
pub fn ssh_ports(dir: &Path) -> Vec<u16> {
    let mut files = vec![dir.join("sshd_config")];
    if let Ok(rd) = std::fs::read_dir(dir.join("sshd_config.d")) {
        let mut extra: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    let mut configured = false;
    let mut ports = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        configured = true;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("port"))
                && let Some(Ok(p)) = words.next().map(str::parse::<u16>)
                && !ports.contains(&p)
            {
                ports.push(p);
            }
        }
    }
    if configured && ports.is_empty() {
        ports.push(22);
    }
    ports
}

/// Block devices that are mounted, from `/proc/self/mountinfo` text.
pub fn mounted_devices(mountinfo: &str) -> Vec<String> {
    let mut devs: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| {
            // Fields after the " - " separator: fstype, source, options.
            let (_, tail) = l.split_once(" - ")?;
            let source = tail.split_whitespace().nth(1)?;
            source.starts_with("/dev/").then(|| source.to_string())
        })
        .collect();
    devs.sort();
    devs.dedup();
    devs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_ports_come_from_the_config_or_default_to_22() {
        let d = tempfile::tempdir().unwrap();
        assert!(ssh_ports(d.path()).is_empty(), "no sshd configured");
        std::fs::write(
            d.path().join("sshd_config"),
            "# Port 1\nPermitRootLogin no\n",
        )
        .unwrap();
        assert_eq!(ssh_ports(d.path()), [22]);
        std::fs::create_dir(d.path().join("sshd_config.d")).unwrap();
        std::fs::write(
            d.path().join("sshd_config.d/10-port.conf"),
            "Port 2222\nport 2200\n",
        )
        .unwrap();
        assert_eq!(ssh_ports(d.path()), [2222, 2200]);
    }

    #[test]
    fn mounted_devices_are_the_dev_sources() {
        let info = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    23 22 0:5 / /proc rw - proc proc rw\n\
                    24 22 8:2 / /home rw - xfs /dev/sda2 rw\n";
        assert_eq!(mounted_devices(info), ["/dev/sda1", "/dev/sda2"]);
    }
}

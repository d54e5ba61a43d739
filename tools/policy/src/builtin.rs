//! Built-in denials: catastrophic calls that no policy file can allow.
//! Each is decided from the typed call and the host's facts alone.

use aios_domain::{PolicyInput, Resource, Risk};

use crate::glob::normalize;
use crate::rule::Call;

/// Every built-in denial's id. The router's refusal gate mirrors each
/// (`aios_router::refuse::MIRRORED`, checked by a test), so the model is
/// not offered tools for a request that only these rules would stop.
pub const RULES: &[&str] = &[
    "builtin.wipe-system-dir",
    "builtin.kernel-or-init",
    "builtin.mounted-device",
    "builtin.audit-ledger",
    "builtin.ssh-lockout",
];

/// `/` and the top-level system directories: deleting any of them wholesale
/// wrecks the machine.
const SYSTEM_DIRS: &[&str] = &[
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/usr", "/var",
];

/// Packages whose removal takes init away from a running system.
const INIT_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "init",
    "sysvinit-core",
    "aios-initd",
];

/// Files of init itself.
const INIT_PATHS: &[&str] = &[
    "/sbin/init",
    "/usr/sbin/init",
    "/lib/systemd/systemd",
    "/usr/lib/systemd/systemd",
];

/// Units whose stopping cuts off ssh logins.
const SSH_UNITS: &[&str] = &[
    "ssh",
    "sshd",
    "ssh.service",
    "sshd.service",
    "ssh.socket",
    "sshd.socket",
];

/// One built-in denial that applies: its id and the sentence why.
pub(crate) struct Hit {
    pub(crate) id: &'static str,
    pub(crate) reason: String,
}

/// Appends the built-in denials that apply to `out`; stops at the first
/// unless `all`.
pub(crate) fn check(input: &PolicyInput, call: &Call<'_>, all: bool, out: &mut Vec<Hit>) {
    // No early return for reads: the ssh, package and firewall denials go
    // by the tool's name, so a tool that under-reports its effect cannot
    // slip past them.
    let effect = input.effect;
    let changes = effect != Risk::Read;
    let mut push = |id: &'static str, reason: String| {
        out.push(Hit { id, reason });
        !all
    };
    let destructive = effect == Risk::Destructive;
    let host = &input.host;
    let ledger = (!host.ledger_path.is_empty()).then(|| normalize(&host.ledger_path));

    for path in &call.paths {
        let p: &str = path;
        if destructive && SYSTEM_DIRS.contains(&p) {
            let hint = if p == "/" {
                "name the files you mean instead"
            } else {
                "name the files inside it you mean instead"
            };
            if push(
                "builtin.wipe-system-dir",
                format!(
                    "Deleting or wiping `{p}` would wreck the system, so built-in rule builtin.wipe-system-dir denies {} and no policy file can allow it; {hint}.",
                    input.tool
                ),
            ) {
                return;
            }
        }
        if destructive
            && is_kernel_or_init_path(p, &host.kernel_release)
            && push(
                "builtin.kernel-or-init",
                format!(
                    "`{p}` belongs to the running kernel or init, so built-in rule builtin.kernel-or-init denies {}; boot another kernel or init first.",
                    input.tool
                ),
            )
        {
            return;
        }
        if destructive
            && host.mounted_devices.iter().any(|m| normalize(m) == p)
            && push(
                "builtin.mounted-device",
                format!(
                    "`{p}` is a mounted device, so built-in rule builtin.mounted-device denies {}; unmount it first.",
                    input.tool
                ),
            )
        {
            return;
        }
        if changes
            && let Some(ledger) = &ledger
            && touches_ledger(p, ledger, destructive)
            && push(
                "builtin.audit-ledger",
                format!(
                    "`{p}` holds the audit ledger ({ledger}), which nothing but toolsd may change, so built-in rule builtin.audit-ledger denies {}; read it with `aios audit log`.",
                    input.tool
                ),
            )
        {
            return;
        }
    }

    for r in call.resources {
        let stop = match r {
            Resource::Ledger if changes => push(
                "builtin.audit-ledger",
                format!(
                    "{} would change the audit ledger, which nothing but toolsd may write, so built-in rule builtin.audit-ledger denies it; read it with `aios audit log`.",
                    input.tool
                ),
            ),
            Resource::Device(d) if destructive => {
                let d = normalize(d);
                match host.mounted_devices.iter().find(|m| holds(&d, m)) {
                    Some(m) => push(
                        "builtin.mounted-device",
                        format!(
                            "`{d}` is mounted (as `{m}`), so formatting or partitioning it is denied by built-in rule builtin.mounted-device; unmount it first."
                        ),
                    ),
                    None => false,
                }
            }
            Resource::Package(name)
                if matches!(input.tool.as_str(), "pkg.remove" | "pkg.purge")
                    && is_kernel_or_init_package(name, &host.kernel_release) =>
            {
                push(
                    "builtin.kernel-or-init",
                    format!(
                        "Package `{name}` is the running kernel or init, so built-in rule builtin.kernel-or-init denies removing it; boot another kernel or init first."
                    ),
                )
            }
            Resource::Service(unit)
                if matches!(input.tool.as_str(), "service.stop" | "service.disable")
                    && SSH_UNITS.contains(&unit.as_str()) =>
            {
                push(
                    "builtin.ssh-lockout",
                    format!(
                        "Stopping or disabling `{unit}` would cut off ssh logins to this machine, so built-in rule builtin.ssh-lockout denies {}; restart it instead, or do it at the console.",
                        input.tool
                    ),
                )
            }
            Resource::Port(port)
                if matches!(input.tool.as_str(), "firewall.deny" | "firewall.delete")
                    && host.ssh_ports.contains(port) =>
            {
                push(
                    "builtin.ssh-lockout",
                    format!(
                        "Port {port} is how ssh reaches this machine, so built-in rule builtin.ssh-lockout denies {} on it; leave that port out.",
                        input.tool
                    ),
                )
            }
            _ => false,
        };
        if stop {
            return;
        }
    }

    if input.tool == "firewall.deny"
        && call
            .resources
            .iter()
            .any(|r| matches!(r, Resource::Firewall))
        && !call
            .resources
            .iter()
            .any(|r| matches!(r, Resource::Port(_)))
    {
        let ports: Vec<String> = host.ssh_ports.iter().map(u16::to_string).collect();
        let ports = if ports.is_empty() {
            String::from("ssh")
        } else {
            format!("ssh on port {}", ports.join(", "))
        };
        push(
            "builtin.ssh-lockout",
            format!(
                "A firewall deny without a port would block {ports} too, so built-in rule builtin.ssh-lockout denies it; name the ports to block."
            ),
        );
    }
}

fn is_kernel_or_init_path(p: &str, release: &str) -> bool {
    if INIT_PATHS.contains(&p) {
        return true;
    }
    if release.is_empty() {
        return false;
    }
    [
        "/boot/vmlinuz-",
        "/boot/initrd.img-",
        "/lib/modules/",
        "/usr/lib/modules/",
    ]
    .iter()
    .any(|prefix| p.strip_prefix(prefix) == Some(release))
}

fn is_kernel_or_init_package(name: &str, release: &str) -> bool {
    // Debian names may carry an architecture, `systemd:amd64`.
    let name = name.split_once(':').map_or(name, |(n, _)| n);
    INIT_PACKAGES.contains(&name)
        || (!release.is_empty() && name.strip_prefix("linux-image-") == Some(release))
}

/// Whether changing `p` would delete or truncate the ledger at `ledger`:
/// the file, its SQLite siblings or its directory for any change, and any
/// directory above it for a destructive call (a recursive delete).
fn touches_ledger(p: &str, ledger: &str, destructive: bool) -> bool {
    if p == ledger {
        return true;
    }
    if let Some(suffix) = p.strip_prefix(ledger)
        && matches!(suffix, "-wal" | "-shm" | "-journal")
    {
        return true;
    }
    let dir = ledger
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    if p == dir {
        return true;
    }
    destructive
        && (p == "/"
            || ledger
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// Whether device `d` is the mounted device `mounted` or the disk that
/// holds it as a partition (`/dev/sda` holds `/dev/sda1`, `/dev/nvme0n1`
/// holds `/dev/nvme0n1p2`).
fn holds(d: &str, mounted: &str) -> bool {
    let m = normalize(mounted);
    let Some(rest) = m.strip_prefix(d) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.is_empty() || digits(rest) || rest.strip_prefix('p').is_some_and(digits)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_lists_every_id_this_file_denies_with() {
        let source = include_str!("builtin.rs");
        let mut ids: Vec<&str> = source
            .split('"')
            .filter(|s| *s != "builtin.rs")
            .filter(|s| {
                s.strip_prefix("builtin.").is_some_and(|id| {
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                })
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut listed = super::RULES.to_vec();
        listed.sort_unstable();
        assert_eq!(ids, listed);
    }
}

//! The `net.*` tools, one file each, and what they share: running
//! `ip -j` (iproute2) in the host's or a named network namespace, checking
//! interface and namespace names before they reach a command line, and the
//! socket tables of [`sockets`].
//!
//! Back-ends are chosen at run time: `ip -j` when iproute2 is installed,
//! else `/sys/class/net`, `getifaddrs` and `/proc/net`. A named namespace
//! (`netns`) needs `ip`, because sysfs and procfs show the namespace this
//! process lives in.

mod addresses;
mod connections;
mod dns;
mod interfaces;
mod link;
pub(crate) mod listening;
mod ping;
mod routes;
pub(crate) mod sockets;

use std::time::Duration;

use serde_json::Value;

pub use addresses::NetAddresses;
pub use connections::NetConnections;
pub use dns::NetDns;
pub use interfaces::NetInterfaces;
pub use link::NetLink;
pub use listening::NetListening;
pub use ping::NetPing;
pub use routes::NetRoutes;

use crate::command::run_command;
use crate::{ToolCtx, ToolError, ToolErrorKind};

/// Where `ip` lives on Debian; also found through `PATH` by `run_command`.
const IP: &str = "ip";

/// Check an interface name the way the kernel does (`dev_valid_name`): 1 to
/// 15 bytes, no `/`, `:` or whitespace; and, since it goes on a command
/// line, only letters, digits and `-_.@`, not starting with `-`.
pub(crate) fn check_ifname(name: &str) -> Result<(), ToolError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "field `interface`: {name:?} is not an interface name (1 to 15 letters, digits, `-`, `_`, `.` or `@`); \
             net.interfaces lists them"
        )))
    }
}

/// Check a network namespace name (a file under `/run/netns`).
pub(crate) fn check_netns(name: &str) -> Result<(), ToolError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "field `netns`: {name:?} is not a namespace name (letters, digits, `-`, `_`, `.`); `ip netns list` shows them"
        )))
    }
}

/// Run `ip [-n NS] -j ARGS…` and parse its JSON. `Ok(None)` when iproute2
/// is not installed and no namespace was asked for (the caller falls back
/// to sysfs/procfs); an error when it is needed but missing or fails.
pub(crate) async fn ip_json(
    ctx: &ToolCtx,
    netns: Option<&str>,
    args: &[&str],
) -> Result<Option<Value>, ToolError> {
    let mut argv: Vec<&str> = Vec::new();
    if let Some(ns) = netns {
        check_netns(ns)?;
        argv.extend(["-n", ns]);
    }
    argv.push("-j");
    argv.extend_from_slice(args);
    let out = match run_command(ctx, IP, &argv, Duration::from_secs(10), 8 << 20).await {
        Ok(out) => out,
        Err(e) if e.kind() == ToolErrorKind::Unsupported && netns.is_none() => return Ok(None),
        Err(e) if e.kind() == ToolErrorKind::Unsupported => {
            return Err(ToolError::unsupported(
                "a named network namespace needs iproute2 (`ip`), which is not installed: apt-get install iproute2",
            ));
        }
        Err(e) => return Err(e),
    };
    if out.code != Some(0) {
        return Err(ip_failure(&argv, &out.stderr));
    }
    if out.truncated {
        return Err(ToolError::failed(format!(
            "ip {}: output over 8 MiB, refusing a partial answer",
            argv.join(" ")
        )));
    }
    let text = out.stdout.trim();
    // `ip -j` prints nothing at all for an empty table on some versions.
    if text.is_empty() {
        return Ok(Some(Value::Array(Vec::new())));
    }
    serde_json::from_str(text).map(Some).map_err(|e| {
        ToolError::failed(format!(
            "ip {}: unreadable JSON ({e}); is iproute2 older than 4.14?",
            argv.join(" ")
        ))
    })
}

/// An `ip` failure as the caller should read it.
pub(crate) fn ip_failure(argv: &[&str], stderr: &str) -> ToolError {
    let msg = crate::util::truncate(stderr.trim(), 500);
    let cmd = format!("ip {}", argv.join(" "));
    if msg.contains("Operation not permitted") || msg.contains("Permission denied") {
        ToolError::denied(format!(
            "{cmd}: {msg}: needs root: approve it as an administrator"
        ))
    } else if msg.contains("does not exist")
        || msg.contains("Cannot find device")
        || msg.contains("No such file")
    {
        ToolError::not_found(format!("{cmd}: {msg}"))
    } else {
        ToolError::failed(format!("{cmd}: {msg}"))
    }
}

/// `limit` checked against 1..=`max`, with a message naming the tool.
pub(crate) fn check_limit(tool: &str, limit: usize, max: usize) -> Result<(), ToolError> {
    if limit == 0 || limit > max {
        return Err(ToolError::invalid(format!(
            "{tool}: field `limit` must be 1..={max}, got {limit}"
        )));
    }
    Ok(())
}

/// Test support: a network namespace created for one test and deleted when
/// dropped. Requires root; `None` (with the reason printed) otherwise.
#[cfg(test)]
pub(crate) mod testns {
    use std::process::Command;

    /// A throwaway namespace.
    pub struct TestNs(pub String);

    impl TestNs {
        /// Create `aios-test-<tag>-<pid>` with a veth pair, `veth0`
        /// (192.0.2.10/24, up, carrying a default route) and `veth1`
        /// (198.51.100.7/24, up).
        pub fn with_veth(tag: &str) -> Option<TestNs> {
            if !nix::unistd::geteuid().is_root() {
                eprintln!("skipped: creating a network namespace needs root");
                return None;
            }
            if Command::new("ip").arg("-V").output().is_err() {
                eprintln!("skipped: iproute2 (`ip`) is not installed");
                return None;
            }
            let name = format!("aios-test-{tag}-{}", std::process::id());
            // Left over from a crashed run, if any.
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(std::process::Stdio::null())
                .status();
            let ns = TestNs(name);
            let n = ns.0.as_str();
            for args in [
                vec!["netns", "add", n],
                vec!["-n", n, "link", "set", "lo", "up"],
                // A veth pair: the dummy driver is often missing in containers.
                vec![
                    "-n", n, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
                ],
                vec!["-n", n, "addr", "add", "192.0.2.10/24", "dev", "veth0"],
                vec!["-n", n, "addr", "add", "198.51.100.7/24", "dev", "veth1"],
                vec!["-n", n, "link", "set", "veth0", "up"],
                vec!["-n", n, "link", "set", "veth1", "up"],
                vec!["-n", n, "route", "add", "default", "via", "192.0.2.1"],
            ] {
                let st = Command::new("ip").args(&args).status().ok()?;
                if !st.success() {
                    eprintln!("skipped: `ip {}` failed", args.join(" "));
                    return None;
                }
            }
            Some(ns)
        }
    }

    impl Drop for TestNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_command() {
        for good in ["eth0", "veth-a.10", "wlp2s0", "br_lan", "a@b"] {
            check_ifname(good).unwrap();
        }
        for bad in ["", "-x", "eth0;rm", "a b", "0123456789abcdef", "..", "a/b"] {
            let e = check_ifname(bad).unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::InvalidArgs, "{bad}");
        }
        check_netns("blue").unwrap();
        assert!(check_netns("../etc").is_err());
        assert!(check_netns("-n").is_err());
    }
}

//! What the host offers the system-changing tools (`service`, `firewall`,
//! `pkg`, `log`): which helper programs to run, whether systemd and
//! journald are there, and whether the caller has root. One small value
//! per tool instance, so tests swap in clearly marked fakes (a directory of
//! fake `systemctl`/`apt-get` scripts, a forced "systemd is running", a
//! network namespace for `nft`) without touching process-wide state.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::command::{CommandOutput, run_command};
use crate::util::truncate;
use crate::{ToolCtx, ToolError};

/// Where helpers come from and what the host runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// Take helper programs from this directory instead of `PATH`
    /// (tests only: fake `systemctl`, `apt-get`).
    pub(crate) bin: Option<PathBuf>,
    /// Override the "is systemd running" probe (tests only).
    pub(crate) systemd: Option<bool>,
    /// Override the "is journald running" probe (tests only).
    pub(crate) journald: Option<bool>,
    /// Run `nft` inside this network namespace (tests only: never touch
    /// the host's own rule set).
    pub(crate) netns: Option<String>,
    /// Root of the plain-file logs `log.vacuum` cleans (tests only).
    pub(crate) log_root: Option<PathBuf>,
}

impl Host {
    /// The program to run for `name`.
    pub(crate) fn program(&self, name: &str) -> String {
        match &self.bin {
            Some(dir) => dir.join(name).display().to_string(),
            None => name.to_string(),
        }
    }

    /// Whether systemd is the running service manager.
    pub(crate) fn systemd(&self) -> bool {
        self.systemd
            .unwrap_or_else(|| Path::new("/run/systemd/system").exists())
    }

    /// Whether journald is running.
    pub(crate) fn journald(&self) -> bool {
        self.journald
            .unwrap_or_else(|| Path::new("/run/systemd/journal/socket").exists())
    }

    /// The root of the plain-file logs.
    pub(crate) fn log_root(&self) -> PathBuf {
        self.log_root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/log"))
    }

    /// Run helper `name` with `args` (no shell; see [`run_command`]).
    pub(crate) async fn run(
        &self,
        ctx: &ToolCtx,
        name: &str,
        args: &[&str],
        timeout: Duration,
        cap: usize,
    ) -> Result<CommandOutput, ToolError> {
        let program = self.program(name);
        run_command(ctx, &program, args, timeout, cap).await
    }

    /// Run `nft args…`, inside the test namespace when one is set.
    pub(crate) async fn nft(
        &self,
        ctx: &ToolCtx,
        args: &[&str],
    ) -> Result<CommandOutput, ToolError> {
        let t = Duration::from_secs(10);
        let cap = 4 * 1024 * 1024;
        match &self.netns {
            Some(ns) => {
                let mut full = vec!["netns", "exec", ns.as_str(), "nft"];
                full.extend_from_slice(args);
                run_command(ctx, "ip", &full, t, cap).await
            }
            None => self.run(ctx, "nft", args, t, cap).await,
        }
    }

    /// Run helper `name` and require exit 0; the error names the command
    /// and quotes its standard error.
    pub(crate) async fn run_ok(
        &self,
        ctx: &ToolCtx,
        name: &str,
        args: &[&str],
        timeout: Duration,
        cap: usize,
    ) -> Result<CommandOutput, ToolError> {
        let out = self.run(ctx, name, args, timeout, cap).await?;
        check_ok(name, args, out)
    }
}

/// `Ok(out)` when it exited 0, else a failure quoting its standard error.
pub(crate) fn check_ok(
    name: &str,
    args: &[&str],
    out: CommandOutput,
) -> Result<CommandOutput, ToolError> {
    if out.code == Some(0) {
        return Ok(out);
    }
    let shown: Vec<&str> = args.iter().take(6).copied().collect();
    let err = if out.stderr.trim().is_empty() {
        out.stdout.trim()
    } else {
        out.stderr.trim()
    };
    Err(ToolError::failed(format!(
        "{name} {} failed ({}): {}",
        shown.join(" "),
        out.code
            .map_or_else(|| "killed".to_string(), |c| format!("exit {c}")),
        truncate(err, 800)
    )))
}

/// Fail with a clear denial when the call does not run as root: `tool`
/// changes the system through a helper (`systemctl`, `apt-get`, `nft`)
/// that needs it. The preview never calls this.
pub(crate) fn require_root(ctx: &ToolCtx, tool: &str) -> Result<(), ToolError> {
    if ctx.access().identity().uid == 0 {
        return Ok(());
    }
    Err(ToolError::denied(format!(
        "{tool} needs root: approve it as an administrator (it runs as {} now)",
        ctx.access().who()
    )))
}

/// A Debian package name (policy §5.6.1: lower-case letters, digits and
/// `+ - .`, at least two characters, starting with a letter or digit),
/// optionally with an architecture qualifier `:amd64`.
pub(crate) fn check_package_name(s: &str) -> Result<(), String> {
    let (name, arch) = match s.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (s, None),
    };
    let ok_name = name.len() >= 2
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let ok_arch = arch.is_none_or(|a| {
        !a.is_empty()
            && a.len() <= 32
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    if ok_name && ok_arch {
        Ok(())
    } else {
        Err(format!(
            "package name {s:?} is not a Debian package name: use lower-case letters, digits and + - . \
             (at least 2 characters, starting with a letter or digit), optionally :ARCH"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_follow_debian_policy() {
        for ok in [
            "hello",
            "libc6",
            "g++",
            "libstdc++6",
            "python3.11",
            "zlib1g:amd64",
            "0ad",
        ] {
            assert!(check_package_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "-y", "Hello", "a b", "x;y", "../x", "a:", "a:AMD", "$(x)", "a/b",
        ] {
            assert!(check_package_name(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn failures_quote_the_helper() {
        let host = Host::default();
        let e = host
            .run_ok(
                &ToolCtx::local(),
                "sh",
                &["-c", "echo boom >&2; exit 4"],
                Duration::from_secs(5),
                1024,
            )
            .await
            .unwrap_err();
        assert!(
            e.message().contains("exit 4") && e.message().contains("boom"),
            "{e}"
        );
    }
}

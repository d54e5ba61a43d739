//! Running a helper program when no kernel interface exists (`systemctl`,
//! `journalctl`): no shell, a minimal environment, a time limit, an output
//! cap, and the child killed on timeout or cancellation. When the call acts
//! for another user, the helper runs as that user (uid, gid and
//! supplementary groups set in the child before `exec`), so the kernel and
//! the helper's own checks see the caller, never toolsd's root.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::{ToolCtx, ToolError};

/// What a finished helper produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded, at most the cap.
    pub stdout: String,
    /// Standard error, lossily decoded, at most the cap.
    pub stderr: String,
    /// Whether either stream was cut at the cap.
    pub truncated: bool,
}

/// Run `program args…` with `timeout` and at most `cap` bytes kept of each
/// stream. The child is killed when the time runs out, when `ctx` is
/// cancelled, or when this future is dropped.
pub async fn run_command(
    ctx: &ToolCtx,
    program: &str,
    args: &[&str],
    timeout: Duration,
    cap: usize,
) -> Result<CommandOutput, ToolError> {
    let mut cmd = Command::new(program);
    if let Some(creds) = ctx.access().credentials() {
        let (uid, gid, groups) = (creds.uid, creds.gid, creds.groups.clone());
        // SAFETY: between fork and exec the child only makes the three
        // system calls below on memory prepared before the fork; in the
        // single-threaded child, glibc's wrappers change just that process.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        // journalctl and systemctl must not page or colour.
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                ToolError::unsupported(format!("{program} is not installed"))
            }
            _ => ToolError::failed(format!("cannot start {program}: {e}")),
        })?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ToolError::failed(format!("{program}: no output pipes")));
    };
    let work = async {
        let (o, e) = tokio::join!(read_capped(out, cap), read_capped(err, cap));
        let status = child.wait().await;
        (o, e, status)
    };
    let ((stdout, t1), (stderr, t2), status) = tokio::select! {
        r = work => r,
        _ = tokio::time::sleep(timeout) => {
            return Err(ToolError::failed(format!(
                "{program} did not finish within {} ms and was killed",
                timeout.as_millis()
            )));
        }
        _ = ctx.cancelled() => return Err(ToolError::cancelled()),
    };
    let status = status.map_err(|e| ToolError::failed(format!("{program}: {e}")))?;
    Ok(CommandOutput {
        code: status.code(),
        stdout,
        stderr,
        truncated: t1 || t2,
    })
}

/// Read at most `cap` bytes, then keep draining (so the child never blocks
/// on a full pipe) while discarding the rest.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (String, bool) {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let ctx = ToolCtx::local();
        let out = run_command(
            &ctx,
            "sh",
            &["-c", "echo hi; echo err >&2; exit 3"],
            Duration::from_secs(5),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.code, Some(3));
        assert!(!out.truncated);
    }

    #[tokio::test]
    async fn a_helper_for_another_user_runs_as_that_user() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test must run as root to act for another user (CI does)"
        );
        let nobody = crate::Identity {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
            name: None,
            home: None,
        };
        let ctx = ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            crate::OutputSink::discard(),
            crate::Access::as_user(nobody),
        );
        let out = run_command(
            &ctx,
            "sh",
            &[
                "-c",
                "id -u; id -g; id -G; cat /proc/self/status | grep CapEff",
            ],
            Duration::from_secs(5),
            4096,
        )
        .await
        .unwrap();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[..3], ["65534", "65534", "65534"], "{}", out.stdout);
        assert!(lines[3].ends_with("0000000000000000"), "{}", out.stdout);
    }

    #[tokio::test]
    async fn caps_endless_output() {
        let ctx = ToolCtx::local();
        let out = run_command(
            &ctx,
            "sh",
            &["-c", "head -c 1000000 /dev/zero | tr '\\0' x"],
            Duration::from_secs(10),
            100,
        )
        .await
        .unwrap();
        assert_eq!(out.stdout.len(), 100);
        assert!(out.truncated);
    }

    #[tokio::test]
    async fn kills_on_timeout() {
        let ctx = ToolCtx::local();
        let t = Instant::now();
        let e = run_command(&ctx, "sleep", &["30"], Duration::from_millis(100), 100)
            .await
            .unwrap_err();
        assert!(e.message().contains("did not finish"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn missing_program_is_unsupported() {
        let ctx = ToolCtx::local();
        let e = run_command(
            &ctx,
            "no-such-program-aios",
            &[],
            Duration::from_secs(1),
            10,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Unsupported);
    }
}

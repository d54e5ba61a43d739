//! `exec.run`: one command in the sandbox ([`aios_sandbox`]), as the
//! caller, with nothing writable but what the call lists and no network
//! unless asked. The escape hatch, never the default when a typed tool
//! exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_domain::{Preview, PreviewDetail, Risk};
use aios_sandbox::{Enforcement, SandboxErrorKind, SandboxSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `exec.run`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecRun;

fn default_cwd() -> String {
    "~".into()
}

fn default_timeout() -> u64 {
    30
}

/// Longest allowed wall-clock limit, seconds.
const MAX_TIMEOUT: u64 = 600;
/// Output kept (stdout and stderr together).
const MAX_OUTPUT: usize = 1024 * 1024;
/// Processes the command may have at once.
const MAX_PROCESSES: u64 = 256;
/// Address space per process.
const MAX_MEMORY: u64 = 4 << 30;

/// Arguments of `exec.run`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecRunArgs {
    /// The command and its arguments, executed directly (no shell). For a pipeline pass ["sh", "-c", "…"]; policy then sees `sh`.
    pub argv: Vec<String>,
    /// Working directory (default: the caller's home).
    #[serde(default = "default_cwd")]
    pub cwd: String,
    /// The only paths the command may write to (default none; a private /tmp is always writable).
    #[serde(default)]
    pub writable: Vec<String>,
    /// Whether the command may use the network (default false).
    #[serde(default)]
    pub network: bool,
    /// Wall-clock limit in seconds (default 30, at most 600); the whole process tree is killed when it passes.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Text fed to the command's standard input (default none).
    #[serde(default)]
    pub stdin: Option<String>,
}

/// How the command ended.
#[derive(Debug, Clone, Serialize)]
pub struct ExecResult {
    /// `exit 0 in 12 ms`.
    pub summary: String,
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Signal that killed it, when one did.
    pub signal: Option<i32>,
    /// Standard output (capped).
    pub stdout: String,
    /// Standard error (capped).
    pub stderr: String,
    /// Whether output past 1 MiB was discarded.
    pub output_truncated: bool,
    /// Whether the time limit killed it.
    pub timed_out: bool,
    /// What confinement was in force.
    pub enforcement: Enforcement,
}

fn check(args: &ExecRunArgs) -> Result<(), ToolError> {
    if args.argv.first().is_none_or(String::is_empty) {
        return Err(ToolError::invalid(
            "exec.run: field `argv` must name a command, e.g. [\"ls\", \"-l\"]",
        ));
    }
    if args.timeout_secs == 0 || args.timeout_secs > MAX_TIMEOUT {
        return Err(ToolError::invalid(format!(
            "exec.run: field `timeout_secs` must be 1..={MAX_TIMEOUT}, got {}",
            args.timeout_secs
        )));
    }
    Ok(())
}

/// The effect of one call: reads only when nothing is writable, there is
/// no network and the host stops writes; a change when every writable
/// path is in the caller's home; destructive otherwise.
fn effect_of(args: &ExecRunArgs, home: Option<&Path>, enforced: &Enforcement) -> Risk {
    if args.writable.is_empty() && !args.network && enforced.stops_writes() {
        return Risk::Read;
    }
    let in_home =
        |w: &String| home.is_some_and(|h| h != Path::new("/") && Path::new(w).starts_with(h));
    if !enforced.stops_writes() || !args.writable.iter().all(in_home) {
        return Risk::Destructive;
    }
    Risk::Change
}

/// The directories a command must not see, for the sandbox to cover: the
/// aiOS runtime directory (toolsd's socket: a command could answer a
/// waiting approval with its user's uid) and the user's runtime directory
/// (the session bus: a command could ask `systemd --user` to start
/// something outside the sandbox), wherever toolsd's environment puts
/// them (`env`: `AIOS_RUNTIME_DIR`, `XDG_RUNTIME_DIR`). One that holds the
/// working directory or a writable path is left visible: the caller asked
/// for it.
fn hidden_dirs(
    uid: u32,
    cwd: &str,
    writable: &[String],
    env: [Option<std::ffi::OsString>; 2],
) -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("/run/aios"),
        PathBuf::from(format!("/run/user/{uid}")),
    ];
    dirs.extend(
        env.into_iter()
            .flatten()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    );
    dirs.retain(|d| {
        d.is_absolute()
            && d != Path::new("/")
            && !Path::new(cwd).starts_with(d)
            && !writable.iter().any(|w| Path::new(w).starts_with(d))
    });
    dirs.sort();
    dirs.dedup();
    dirs
}

fn sandbox_error(e: aios_sandbox::SandboxError) -> ToolError {
    let msg = format!("exec.run: {}", e.message());
    match e.kind() {
        SandboxErrorKind::InvalidSpec => ToolError::invalid(msg),
        SandboxErrorKind::NotFound => ToolError::not_found(msg),
        SandboxErrorKind::PermissionDenied => ToolError::denied(format!(
            "{msg} (needs root: approve it as an administrator)"
        )),
        SandboxErrorKind::Cancelled => ToolError::cancelled(),
        _ => ToolError::failed(msg),
    }
}

impl Tool for ExecRun {
    type Args = ExecRunArgs;

    fn name(&self) -> &'static str {
        "exec.run"
    }

    fn description(&self) -> &'static str {
        "Run a command in the sandbox as the caller: no shell, read-only system, nothing writable but the listed \
         paths and a private /tmp, no network unless asked, a time limit that kills the whole process tree, \
         output capped at 1 MiB. Use a typed tool instead whenever one exists. The result says what \
         confinement the host could not enforce."
    }

    fn effect(&self) -> Risk {
        Risk::Destructive
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[
            ResourceKind::Path,
            ResourceKind::Network,
            ResourceKind::System,
        ]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "run uname -a",
                args: r#"{"argv": ["uname", "-a"]}"#,
            },
            Example {
                request: "count the lines of the python files in ~/project",
                args: r#"{"argv": ["sh", "-c", "cat *.py | wc -l"], "cwd": "~/project"}"#,
            },
            Example {
                request: "run make in ~/src/tool, letting it write there",
                args: r#"{"argv": ["make"], "cwd": "~/src/tool", "writable": ["~/src/tool"], "timeout_secs": 300}"#,
            },
            Example {
                request: "fetch https://example.com with curl",
                args: r#"{"argv": ["curl", "-sS", "https://example.com"], "network": true}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut ExecRunArgs, home: Option<&Path>) -> Result<(), ToolError> {
        // Bounds first, so a bad call fails before policy sees it.
        check(args)?;
        if home.is_none() && args.cwd == "~" {
            args.cwd = "/".into();
        }
        crate::access::normalize_in_place(&mut args.cwd, home)?;
        for w in &mut args.writable {
            crate::access::normalize_in_place(w, home)?;
        }
        args.writable.sort();
        args.writable.dedup();
        Ok(())
    }

    fn resources(&self, args: &ExecRunArgs) -> Vec<Resource> {
        let mut r: Vec<Resource> = args
            .writable
            .iter()
            .map(|w| Resource::Path(w.clone()))
            .collect();
        if args.network {
            r.push(Resource::Network);
        }
        if r.is_empty() {
            r.push(Resource::System);
        }
        r
    }

    fn preview(&self, args: &ExecRunArgs) -> String {
        format!("run `{}` in the sandbox", args.argv.join(" "))
    }

    async fn assess(&self, ctx: &ToolCtx, args: &ExecRunArgs) -> Result<Assessment, ToolError> {
        check(args)?;
        let enforced = tokio::task::spawn_blocking(aios_sandbox::probe)
            .await
            .map_err(|e| ToolError::failed(format!("exec.run: probing the sandbox: {e}")))?;
        let effect = effect_of(args, ctx.access().identity().home.as_deref(), &enforced);
        let mut items = vec![
            args.argv.join(" "),
            format!("in: {}", args.cwd),
            if args.writable.is_empty() {
                "writable: nothing (a private /tmp only)".to_string()
            } else {
                format!("writable: {}", args.writable.join(", "))
            },
            format!("network: {}", if args.network { "yes" } else { "no" }),
            format!("time limit: {} s", args.timeout_secs),
        ];
        items.extend(
            enforced
                .missing
                .iter()
                .map(|m| format!("not enforced: {m}")),
        );
        Ok(Assessment {
            effect,
            resources: self.resources(args),
            preview: Preview {
                summary: format!(
                    "run `{}` in the sandbox as {}",
                    args.argv.join(" "),
                    ctx.access().who()
                ),
                detail: PreviewDetail::Affected { items, bytes: None },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: ExecRunArgs) -> Result<Value, ToolError> {
        check(&args)?;
        let id = ctx.access().identity();
        let home = id
            .home
            .as_deref()
            .map_or("/".to_string(), |h| h.display().to_string());
        let spec = SandboxSpec {
            argv: args.argv.clone(),
            env: SandboxSpec::minimal_env(&home),
            cwd: PathBuf::from(&args.cwd),
            uid: id.uid,
            gid: id.gid,
            groups: id.groups.clone(),
            writable: args.writable.iter().map(PathBuf::from).collect(),
            network: args.network,
            hidden: hidden_dirs(
                id.uid,
                &args.cwd,
                &args.writable,
                [
                    std::env::var_os("AIOS_RUNTIME_DIR"),
                    std::env::var_os("XDG_RUNTIME_DIR"),
                ],
            ),
            timeout: Duration::from_secs(args.timeout_secs),
            max_output_bytes: MAX_OUTPUT,
            max_processes: MAX_PROCESSES,
            max_memory_bytes: MAX_MEMORY,
            max_cpu_secs: args.timeout_secs,
            stdin: args.stdin.map(String::into_bytes),
        };
        let out = aios_sandbox::run(spec, ctx.cancel_token().clone())
            .await
            .map_err(sandbox_error)?;
        let ms = out.duration.as_millis();
        let mut summary = match (out.timed_out, out.exit_code, out.signal) {
            (true, _, _) => format!(
                "timed out after {} s; the process tree was killed",
                args.timeout_secs
            ),
            (false, Some(c), _) => format!("exit {c} in {ms} ms"),
            (false, None, Some(s)) => format!("killed by signal {s} after {ms} ms"),
            (false, None, None) => format!("ended after {ms} ms"),
        };
        if out.output_truncated {
            summary.push_str(", output cut at 1 MiB");
        }
        if !out.enforcement.missing.is_empty() {
            summary.push_str(&format!(
                " ({} confinement gaps: see enforcement.missing)",
                out.enforcement.missing.len()
            ));
        }
        super::to_value(&ExecResult {
            summary,
            exit_code: out.exit_code,
            signal: out.signal,
            stdout: out.stdout,
            stderr: out.stderr,
            output_truncated: out.output_truncated,
            timed_out: out.timed_out,
            enforcement: out.enforcement,
        })
    }
}

#[cfg(test)]
#[path = "exec_run_tests.rs"]
mod tests;

//! `process.signal`: send TERM (default), KILL, HUP, INT, USR1, USR2, STOP
//! or CONT to one process, pinned by pidfd and start time so a reused pid
//! is never signalled. Refuses pid 1, the executor itself and kernel
//! threads. The preview names the target and the children a terminating
//! signal would orphan.

use std::path::Path;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pin::Pinned;
use super::{Proc, cmdline_of, must_exist, read_stat, uid_of};
use crate::procfs::UserNames;
use crate::util::truncate;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `process.signal`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSignal;

/// The signals this tool sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Sig {
    /// Ask to terminate (the process may clean up).
    #[default]
    Term,
    /// Terminate at once (no clean-up).
    Kill,
    /// Hang up: many daemons reload their configuration.
    Hup,
    /// Interrupt, like Ctrl-C.
    Int,
    /// User-defined 1.
    Usr1,
    /// User-defined 2.
    Usr2,
    /// Stop (pause) the process.
    Stop,
    /// Continue a stopped process.
    Cont,
}

impl Sig {
    fn number(self) -> i32 {
        match self {
            Sig::Term => libc::SIGTERM,
            Sig::Kill => libc::SIGKILL,
            Sig::Hup => libc::SIGHUP,
            Sig::Int => libc::SIGINT,
            Sig::Usr1 => libc::SIGUSR1,
            Sig::Usr2 => libc::SIGUSR2,
            Sig::Stop => libc::SIGSTOP,
            Sig::Cont => libc::SIGCONT,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sig::Term => "TERM",
            Sig::Kill => "KILL",
            Sig::Hup => "HUP",
            Sig::Int => "INT",
            Sig::Usr1 => "USR1",
            Sig::Usr2 => "USR2",
            Sig::Stop => "STOP",
            Sig::Cont => "CONT",
        }
    }

    /// Whether the default action ends the process (so children are orphaned).
    fn ends_it(self) -> bool {
        matches!(self, Sig::Term | Sig::Kill | Sig::Int | Sig::Hup)
    }
}

/// Arguments of `process.signal`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessSignalArgs {
    /// The process id.
    pub pid: u32,
    /// TERM (default), KILL, HUP, INT, USR1, USR2, STOP or CONT.
    #[serde(default)]
    pub signal: Sig,
    /// Guard against pid reuse: the process's start time in clock ticks after boot (`start_ticks` of process.info). Filled in when the call is prepared, so an approval covers this exact process; a different process with the same pid is refused.
    #[serde(default)]
    pub start_time: Option<u64>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct SignalResult {
    /// One line for a human.
    pub summary: String,
    /// The process.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// The signal sent.
    pub signal: &'static str,
    /// Whether it had exited by the time we looked again (TERM may take longer).
    pub exited: bool,
}

/// Why `p` must not be signalled, if it must not.
fn refusal(p: &Proc) -> Option<String> {
    if p.pid == 1 {
        return Some(
            "pid 1 is the init process: signalling it can bring the whole system down".into(),
        );
    }
    if p.pid == std::process::id() {
        return Some(format!("pid {} is the tool executor itself", p.pid));
    }
    if p.is_kernel_thread() {
        return Some(format!(
            "pid {} ({}) is a kernel thread; signals do not apply",
            p.pid, p.comm
        ));
    }
    None
}

fn describe(names: &mut UserNames, p: &Proc) -> String {
    let cmd = cmdline_of(p.pid);
    format!(
        "pid {} {} (user {}): {}",
        p.pid,
        p.comm,
        uid_of(p.pid).map_or_else(|| "?".to_string(), |u| names.name(u)),
        if cmd.is_empty() {
            format!("[{}]", p.comm)
        } else {
            truncate(&cmd, 200)
        }
    )
}

impl Tool for ProcessSignal {
    type Args = ProcessSignalArgs;

    fn name(&self) -> &'static str {
        "process.signal"
    }

    fn description(&self) -> &'static str {
        "Send a signal to one process: TERM (default, ask it to exit), KILL, HUP (reload), INT, USR1, USR2, STOP \
         or CONT. Refuses pid 1, the executor and kernel threads; a pid reused by another process is never \
         signalled. The preview names the process and the children a terminating signal would orphan."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Process]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "kill process 4242",
                args: r#"{"pid": 4242}"#,
            },
            Example {
                request: "force kill pid 4242, it is hung",
                args: r#"{"pid": 4242, "signal": "KILL"}"#,
            },
            Example {
                request: "tell nginx (pid 880) to reload its config",
                args: r#"{"pid": 880, "signal": "HUP"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut ProcessSignalArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        // Bind the call to the process that has this pid now: the approval
        // hash then covers this process only.
        if args.start_time.is_none() {
            args.start_time = read_stat(args.pid).map(|p| p.start_ticks);
        }
        Ok(())
    }

    fn resources(&self, args: &ProcessSignalArgs) -> Vec<Resource> {
        vec![Resource::Process(args.pid)]
    }

    fn preview(&self, args: &ProcessSignalArgs) -> String {
        format!("send {} to pid {}", args.signal.name(), args.pid)
    }

    async fn assess(
        &self,
        ctx: &ToolCtx,
        args: &ProcessSignalArgs,
    ) -> Result<Assessment, ToolError> {
        let args = args.clone();
        ctx.blocking(move |_| {
            let p = must_exist(args.pid)?;
            if let Some(want) = args.start_time
                && p.start_ticks != want
            {
                return Err(ToolError::not_found(format!(
                    "pid {} is now a different process ({}): the one the call was about has exited",
                    args.pid, p.comm
                )));
            }
            if let Some(why) = refusal(&p) {
                return Err(ToolError::denied(format!("process.signal refuses: {why}")));
            }
            let mut names = UserNames::default();
            let mut items = vec![describe(&mut names, &p)];
            let children: Vec<Proc> = if args.signal.ends_it() {
                super::children_of(p.pid)
                    .into_iter()
                    .filter_map(read_stat)
                    .collect()
            } else {
                Vec::new()
            };
            for c in children.iter().take(20) {
                items.push(format!("orphaned child: {}", describe(&mut names, c)));
            }
            if children.len() > 20 {
                items.push(format!("… and {} more children", children.len() - 20));
            }
            let summary = format!(
                "send {} to pid {} ({}){}",
                args.signal.name(),
                p.pid,
                p.comm,
                if children.is_empty() {
                    String::new()
                } else {
                    format!("; {} child process(es) would be orphaned", children.len())
                }
            );
            Ok(Assessment {
                effect: Risk::Change,
                resources: vec![Resource::Process(p.pid)],
                preview: Preview {
                    summary,
                    detail: PreviewDetail::Affected { items, bytes: None },
                },
            })
        })
        .await
    }

    async fn run(&self, ctx: ToolCtx, args: ProcessSignalArgs) -> Result<Value, ToolError> {
        let creds = ctx.access().credentials().cloned();
        let who = ctx.access().who();
        // Not `ctx.blocking`: signalling as the caller forks a child that
        // needs this process's own credentials to switch (see `pin`).
        let task = tokio::task::spawn_blocking(move || -> Result<SignalResult, ToolError> {
            let pinned = Pinned::open(args.pid, args.start_time)?;
            if let Some(why) = refusal(&pinned.proc) {
                return Err(ToolError::denied(format!("process.signal refuses: {why}")));
            }
            let name = pinned.proc.comm.clone();
            pinned
                .signal(creds.as_ref(), args.signal.number())
                .map_err(|e| match e {
                    libc::EPERM => ToolError::denied(format!(
                        "permission denied: {who} may not signal pid {} ({name}); a process of another user needs \
                         root: approve it as an administrator",
                        args.pid
                    )),
                    libc::ESRCH => ToolError::not_found(format!("pid {} exited before the signal", args.pid)),
                    e => ToolError::failed(format!(
                        "signal {} to pid {}: {}",
                        args.signal.name(),
                        args.pid,
                        std::io::Error::from_raw_os_error(e)
                    )),
                })?;
            // A brief look: KILL is immediate, TERM may take its time.
            let exited = !pinned.alive() || read_stat(args.pid).is_none_or(|p| p.state == 'Z');
            Ok(SignalResult {
                summary: format!(
                    "sent {} to pid {} ({name}){}",
                    args.signal.name(),
                    args.pid,
                    if exited { "; it has exited" } else { "" }
                ),
                pid: args.pid,
                name,
                signal: args.signal.name(),
                exited,
            })
        });
        let r = task
            .await
            .map_err(|e| ToolError::failed(format!("process.signal: {e}")))??;
        if args.signal == Sig::Stop {
            ctx.set_undo(UndoRecord {
                tool: "process.signal".into(),
                args: crate::builtin::to_value(&ProcessSignalArgs {
                    signal: Sig::Cont,
                    ..args.clone()
                })?,
                summary: format!("continue pid {} ({})", args.pid, r.name),
            });
        }
        crate::builtin::to_value(&r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testchild::Sleeper;
    use super::*;
    use crate::{Registry, ToolErrorKind};

    fn wait_for(pid: u32, pred: impl Fn(Option<Proc>) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !pred(read_stat(pid)) {
            assert!(
                std::time::Instant::now() < deadline,
                "pid {pid} never reached the state"
            );
            std::thread::yield_now();
        }
    }

    #[tokio::test]
    async fn term_a_child_with_preview_of_orphans() {
        let s = Sleeper::start(2);
        let r = Registry::builtin();
        let p = r
            .prepare("process.signal", serde_json::json!({"pid": s.pid()}))
            .unwrap();
        // Canonical form pins the start time.
        let start = read_stat(s.pid()).unwrap().start_ticks;
        assert_eq!(p.canonical["start_time"], start);
        assert_eq!(p.canonical["signal"], "TERM");
        let a = p.assess(&ToolCtx::local()).await.unwrap();
        assert!(
            a.preview
                .summary
                .contains("2 child process(es) would be orphaned"),
            "{:?}",
            a.preview
        );
        match &a.preview.detail {
            PreviewDetail::Affected { items, .. } => {
                assert!(
                    items[0].contains(&format!("pid {} sh", s.pid())),
                    "{items:?}"
                );
                assert_eq!(
                    items
                        .iter()
                        .filter(|i| i.starts_with("orphaned child"))
                        .count(),
                    2
                );
            }
            d => panic!("{d:?}"),
        }
        let v = p.run(ToolCtx::local()).await.unwrap();
        assert_eq!(v["signal"], "TERM");
        // sh dies on TERM; as our child it stays a zombie until reaped.
        wait_for(s.pid(), |p| p.is_none_or(|p| p.state == 'Z'));
    }

    #[tokio::test]
    async fn a_reused_pid_is_not_signalled() {
        let s = Sleeper::start(0);
        let start = read_stat(s.pid()).unwrap().start_ticks;
        let r = Registry::builtin();
        let args = serde_json::json!({"pid": s.pid(), "signal": "KILL", "start_time": start + 7});
        let e = r
            .prepare("process.signal", args.clone())
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::NotFound);
        assert!(e.message().contains("reused"), "{e}");
        let e = r
            .prepare("process.signal", args)
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("different process"), "{e}");
        let p = read_stat(s.pid()).unwrap();
        assert_ne!(p.state, 'Z', "still running");
    }

    #[tokio::test]
    async fn stop_then_undo_continues() {
        let s = Sleeper::start(0);
        let r = Registry::builtin();
        let ctx = ToolCtx::local();
        r.prepare(
            "process.signal",
            serde_json::json!({"pid": s.pid(), "signal": "STOP"}),
        )
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
        wait_for(s.pid(), |p| p.is_some_and(|p| p.state == 'T'));
        let undo = ctx.take_undo().unwrap();
        assert_eq!(undo.args["signal"], "CONT");
        r.prepare(&undo.tool, undo.args)
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        wait_for(s.pid(), |p| p.is_some_and(|p| p.state == 'S'));
    }

    #[tokio::test]
    async fn refuses_init_self_kernel_threads_and_other_users() {
        let r = Registry::builtin();
        let mut pids = vec![1, std::process::id()];
        if read_stat(2).is_some_and(|p| p.comm == "kthreadd") {
            pids.push(2);
        }
        for pid in pids {
            let e = r
                .prepare("process.signal", serde_json::json!({"pid": pid}))
                .unwrap()
                .run(ToolCtx::local())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{pid}: {e}");
            assert!(e.message().contains("refuses"), "{e}");
        }
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: acting for another user needs root");
            return;
        }
        let s = Sleeper::start(0);
        let nobody = ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            crate::OutputSink::discard(),
            crate::Access::as_user(crate::Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
                name: None,
                home: None,
            }),
        );
        let e = r
            .prepare(
                "process.signal",
                serde_json::json!({"pid": s.pid(), "signal": "KILL"}),
            )
            .unwrap()
            .run(nobody)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("uid 65534"), "{e}");
        assert_ne!(read_stat(s.pid()).unwrap().state, 'Z');
    }
}

//! `process.nice`: set the nice value of one process (every thread of it),
//! with the caller's rights: anyone may lower the priority of their own
//! processes, raising it needs root. Undo sets the old value back.

use std::path::Path;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pin::{Pinned, as_caller};
use super::{must_exist, read_stat};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `process.nice`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessNice;

/// Arguments of `process.nice`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessNiceArgs {
    /// The process id.
    pub pid: u32,
    /// The new nice value, -20 (highest priority) to 19 (lowest).
    pub nice: i32,
    /// Guard against pid reuse: the process's start time in clock ticks after boot (`start_ticks` of process.info); filled in when the call is prepared.
    #[serde(default)]
    pub start_time: Option<u64>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct NiceResult {
    /// One line for a human.
    pub summary: String,
    /// The process.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Nice value before.
    pub old_nice: i32,
    /// Nice value now.
    pub nice: i32,
    /// Threads changed.
    pub threads: usize,
}

/// Thread ids of `pid`.
fn tids(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_else(|_| vec![pid])
}

impl Tool for ProcessNice {
    type Args = ProcessNiceArgs;

    fn name(&self) -> &'static str {
        "process.nice"
    }

    fn description(&self) -> &'static str {
        "Change the scheduling priority (nice value, -20 highest to 19 lowest) of one process and all its \
         threads. Lowering the priority of one's own process is allowed; raising it needs root. Undo restores \
         the old value."
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
                request: "lower the priority of pid 4242",
                args: r#"{"pid": 4242, "nice": 10}"#,
            },
            Example {
                request: "make the backup job (pid 777) as nice as possible",
                args: r#"{"pid": 777, "nice": 19}"#,
            },
            Example {
                request: "give process 900 a higher priority",
                args: r#"{"pid": 900, "nice": -5}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut ProcessNiceArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        if !(-20..=19).contains(&args.nice) {
            return Err(ToolError::invalid(format!(
                "process.nice: field `nice` must be -20..=19 (lower is higher priority), got {}",
                args.nice
            )));
        }
        if args.start_time.is_none() {
            args.start_time = read_stat(args.pid).map(|p| p.start_ticks);
        }
        Ok(())
    }

    fn resources(&self, args: &ProcessNiceArgs) -> Vec<Resource> {
        vec![Resource::Process(args.pid)]
    }

    fn preview(&self, args: &ProcessNiceArgs) -> String {
        format!("set the nice value of pid {} to {}", args.pid, args.nice)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &ProcessNiceArgs) -> Result<Assessment, ToolError> {
        let args = args.clone();
        ctx.blocking(move |_| {
            let p = must_exist(args.pid)?;
            if args.start_time.is_some_and(|t| t != p.start_ticks) {
                return Err(ToolError::not_found(format!(
                    "pid {} is now a different process ({}): the one the call was about has exited",
                    args.pid, p.comm
                )));
            }
            let raise = args.nice < p.nice;
            Ok(Assessment {
                effect: if args.nice == p.nice {
                    Risk::Read
                } else {
                    Risk::Change
                },
                resources: vec![Resource::Process(p.pid)],
                preview: Preview {
                    summary: format!(
                        "pid {} ({}): nice {} → {}{}",
                        p.pid,
                        p.comm,
                        p.nice,
                        args.nice,
                        if raise {
                            " (a higher priority: needs root)"
                        } else {
                            ""
                        }
                    ),
                    detail: PreviewDetail::Affected {
                        items: vec![format!(
                            "pid {} {}: {} thread(s), nice {}",
                            p.pid, p.comm, p.threads, p.nice
                        )],
                        bytes: None,
                    },
                },
            })
        })
        .await
    }

    async fn run(&self, ctx: ToolCtx, args: ProcessNiceArgs) -> Result<Value, ToolError> {
        let creds = ctx.access().credentials().cloned();
        let who = ctx.access().who();
        let a = args.clone();
        // Not `ctx.blocking`: see `pin::as_caller`.
        let r = tokio::task::spawn_blocking(move || -> Result<NiceResult, ToolError> {
            let pinned = Pinned::open(a.pid, a.start_time)?;
            let old = pinned.proc.nice;
            let name = pinned.proc.comm.clone();
            let threads = tids(a.pid);
            as_caller(creds.as_ref(), || {
                for &t in &threads {
                    // SAFETY: setpriority takes plain integers.
                    if unsafe { libc::setpriority(libc::PRIO_PROCESS, t, a.nice) } != 0 {
                        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
                        // A thread that exited meanwhile is no failure.
                        if e != libc::ESRCH {
                            return e;
                        }
                    }
                }
                0
            })
            .map_err(|e| match e {
                libc::EACCES | libc::EPERM => ToolError::denied(format!(
                    "permission denied: {who} may not set pid {} ({name}) to nice {}: {}: approve it as an administrator",
                    a.pid,
                    a.nice,
                    if a.nice < old { "raising a priority needs root" } else { "it belongs to another user" }
                )),
                e => ToolError::failed(format!("setpriority({}): {}", a.pid, std::io::Error::from_raw_os_error(e))),
            })?;
            let now = read_stat(a.pid).map_or(a.nice, |p| p.nice);
            Ok(NiceResult {
                summary: format!("pid {} ({name}): nice {old} → {now}", a.pid),
                pid: a.pid,
                name,
                old_nice: old,
                nice: now,
                threads: threads.len(),
            })
        })
        .await
        .map_err(|e| ToolError::failed(format!("process.nice: {e}")))??;
        if r.old_nice != r.nice {
            ctx.set_undo(UndoRecord {
                tool: "process.nice".into(),
                args: crate::builtin::to_value(&ProcessNiceArgs {
                    nice: r.old_nice,
                    ..args
                })?,
                summary: format!("set pid {} ({}) back to nice {}", r.pid, r.name, r.old_nice),
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

    #[tokio::test]
    async fn renice_a_child_and_undo() {
        let s = Sleeper::start(0);
        let before = read_stat(s.pid()).unwrap().nice;
        let r = Registry::builtin();
        let p = r
            .prepare(
                "process.nice",
                serde_json::json!({"pid": s.pid(), "nice": 12}),
            )
            .unwrap();
        let a = p.assess(&ToolCtx::local()).await.unwrap();
        assert!(
            a.preview.summary.contains(&format!("nice {before} → 12")),
            "{:?}",
            a.preview
        );
        let ctx = ToolCtx::local();
        let v = p.run(ctx.clone()).await.unwrap();
        assert_eq!(v["nice"], 12, "{v}");
        assert_eq!(read_stat(s.pid()).unwrap().nice, 12, "really reniced");
        let undo = ctx.take_undo().unwrap();
        assert_eq!(undo.args["nice"], before);
        r.prepare(&undo.tool, undo.args)
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(read_stat(s.pid()).unwrap().nice, before);
    }

    #[tokio::test]
    async fn out_of_range_reused_and_other_users_are_refused() {
        let r = Registry::builtin();
        let e = r
            .prepare("process.nice", serde_json::json!({"pid": 1, "nice": 20}))
            .unwrap_err();
        assert!(e.message().contains("`nice`"), "{e}");
        let s = Sleeper::start(0);
        let (start, before) = read_stat(s.pid()).map(|p| (p.start_ticks, p.nice)).unwrap();
        let e = r
            .prepare(
                "process.nice",
                serde_json::json!({"pid": s.pid(), "nice": 5, "start_time": start + 1}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: acting for another user needs root");
            return;
        }
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
                "process.nice",
                serde_json::json!({"pid": s.pid(), "nice": (before + 1).min(19)}),
            )
            .unwrap()
            .run(nobody)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
        assert_eq!(read_stat(s.pid()).unwrap().nice, before);
    }
}

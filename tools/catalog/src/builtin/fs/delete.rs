//! `fs.delete`: delete a file (snapshotted first, so `fs.restore` brings
//! it back), or a directory with everything in it when `recursive` is
//! set. Never follows a link, never crosses into another filesystem.

use std::os::fd::AsFd;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use nix::sys::stat::FileStat;
use nix::unistd::{UnlinkatFlags, unlinkat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::at::{Kind, Target};
use super::change::{self, ChangeResult, Prior};
use super::tree::{self, Tally};
use crate::util::human_bytes;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.delete`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsDelete;

/// Arguments of `fs.delete`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsDeleteArgs {
    /// File or directory to delete (absolute, or starting with ~). A symbolic link is refused, never followed.
    pub path: String,
    /// Delete a directory and everything in it (default false: directories are refused).
    #[serde(default)]
    pub recursive: bool,
}

/// Entries a recursive delete's preview counts before it says "at least".
const SCAN_CAP: u64 = 200_000;

/// What a delete will remove.
enum Doomed {
    File(Prior),
    Dir { st: FileStat, tally: Tally },
}

fn inspect(ctx: &ToolCtx, args: &FsDeleteArgs) -> Result<(Target, Doomed), ToolError> {
    let access = ctx.access();
    let t = Target::open(access, &args.path, "delete")?;
    let (kind, st) = t.kind(access)?;
    match (kind, st) {
        (Kind::Missing, _) => Err(t.refuse("fs.delete", Kind::Missing)),
        (Kind::Dir, Some(st)) => {
            if !args.recursive {
                return Err(ToolError::invalid(format!(
                    "{} is a directory; set recursive: true to delete it and everything in it",
                    t.path.display()
                )));
            }
            let fd = tree::open_sub(&t.dir, &t.name).map_err(|e| t.err(access, "delete", e))?;
            let tally = tree::scan(ctx, &fd, &t.path, st.st_dev, SCAN_CAP)?;
            if let Some(m) = tally.mounts.first() {
                return Err(ToolError::invalid(format!(
                    "{m} is a mount point inside {}; unmount it first",
                    t.path.display()
                )));
            }
            Ok((t, Doomed::Dir { st, tally }))
        }
        (Kind::File, _) => {
            let prior = change::capture(&t, access, "fs.delete")?;
            Ok((t, Doomed::File(prior)))
        }
        (k, _) => Err(t.refuse("fs.delete", k)),
    }
}

impl Tool for FsDelete {
    type Args = FsDeleteArgs;

    fn name(&self) -> &'static str {
        "fs.delete"
    }

    fn description(&self) -> &'static str {
        "Delete a file, or a directory and everything in it when recursive is true. A deleted file is \
         snapshotted first (up to 64 MiB) so fs.restore can bring it back; a recursive delete cannot be undone. \
         Symbolic links are refused, mount points are never crossed."
    }

    fn effect(&self) -> Risk {
        Risk::Destructive
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "delete ~/Downloads/old.iso",
                args: r#"{"path": "~/Downloads/old.iso"}"#,
            },
            Example {
                request: "remove the build directory ~/project/target",
                args: r#"{"path": "~/project/target", "recursive": true}"#,
            },
            Example {
                request: "get rid of /tmp/scratch.txt",
                args: r#"{"path": "/tmp/scratch.txt"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsDeleteArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsDeleteArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsDeleteArgs) -> String {
        if args.recursive {
            format!("delete {} and everything in it", args.path)
        } else {
            format!("delete {}", args.path)
        }
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsDeleteArgs) -> Result<Assessment, ToolError> {
        let a = args.clone();
        let (_, doomed) = ctx.blocking(move |ctx| inspect(&ctx, &a)).await?;
        let preview = match doomed {
            Doomed::File(prior) => {
                let b = prior.size().unwrap_or(0);
                Preview {
                    summary: format!("delete {} ({})", args.path, human_bytes(b)),
                    detail: PreviewDetail::Affected {
                        items: vec![format!("{} ({})", args.path, human_bytes(b))],
                        bytes: Some(b),
                    },
                }
            }
            Doomed::Dir { tally, .. } => {
                let more = if tally.truncated { "at least " } else { "" };
                let mut items = vec![format!("{}/", args.path)];
                items.extend(tally.first.iter().cloned());
                if tally.entries() > tally.first.len() as u64 {
                    items.push(format!(
                        "… and {more}{} more",
                        tally.entries() - tally.first.len() as u64
                    ));
                }
                if tally.unreadable > 0 {
                    items.push(format!(
                        "({} entries could not be read; the delete may fail on them)",
                        tally.unreadable
                    ));
                }
                Preview {
                    summary: format!(
                        "delete {} and {more}{} files and {} directories in it ({more}{}); cannot be undone",
                        args.path,
                        tally.files,
                        tally.dirs,
                        human_bytes(tally.bytes)
                    ),
                    detail: PreviewDetail::Affected {
                        items,
                        bytes: Some(tally.bytes),
                    },
                }
            }
        };
        Ok(Assessment {
            effect: Risk::Destructive,
            resources: self.resources(args),
            preview,
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FsDeleteArgs) -> Result<Value, ToolError> {
        let a = args.clone();
        let (t, doomed) = ctx.blocking(move |ctx| inspect(&ctx, &a)).await?;
        let path = args.path.clone();
        let r = match doomed {
            Doomed::File(prior) => {
                let snap = change::save(&ctx, &path, &prior).await?;
                let before = prior.size();
                let seen = prior.stat().map(|st| (st.st_dev, st.st_ino));
                ctx.blocking(move |ctx| {
                    // Delete only the file that was snapshotted.
                    let now = t.lstat(ctx.access())?.map(|st| (st.st_dev, st.st_ino));
                    if now != seen {
                        return Err(ToolError::failed(format!(
                            "{} was replaced before it could be deleted; nothing was deleted, try again",
                            t.path.display()
                        )));
                    }
                    unlinkat(
                        t.dir.as_fd(),
                        t.name.as_os_str(),
                        UnlinkatFlags::NoRemoveDir,
                    )
                    .map_err(|e| t.err(ctx.access(), "delete", e))?;
                    change::sync_dir(&t.dir);
                    Ok(())
                })
                .await?;
                let undo = snap
                    .id
                    .as_deref()
                    .map(|id| change::restore_undo(&path, id, "the deleted file"));
                ChangeResult {
                    summary: format!("deleted {path} ({})", human_bytes(before.unwrap_or(0))),
                    path,
                    bytes: 0,
                    previous_bytes: before,
                    undo,
                    undo_note: snap.note,
                    snapshot: snap.id,
                    note: None,
                }
            }
            Doomed::Dir { st, tally } => {
                let removed = ctx
                    .blocking(move |ctx| {
                        let access = ctx.access();
                        let fd = tree::open_sub(&t.dir, &t.name)
                            .map_err(|e| t.err(access, "delete", e))?;
                        let now = nix::sys::stat::fstat(&fd).map_err(|e| t.err(access, "delete", e))?;
                        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
                            return Err(ToolError::failed(format!(
                                "{} was replaced before it could be deleted; nothing was deleted, try again",
                                t.path.display()
                            )));
                        }
                        let n = tree::remove_contents(&ctx, access, &fd, &t.path, st.st_dev, 0)?;
                        drop(fd);
                        unlinkat(t.dir.as_fd(), t.name.as_os_str(), UnlinkatFlags::RemoveDir)
                            .map_err(|e| t.err(access, "delete", e))?;
                        change::sync_dir(&t.dir);
                        Ok(n)
                    })
                    .await?;
                // An empty directory comes back with fs.mkdir; contents do not.
                let (undo, undo_note) = if removed == 0 {
                    (
                        Some(UndoRecord {
                            tool: "fs.mkdir".into(),
                            args: json!({"path": path, "parents": false, "mode": format!("{:o}", st.st_mode & 0o7777)}),
                            summary: format!("recreate the empty directory {path}"),
                        }),
                        None,
                    )
                } else {
                    (
                        None,
                        Some(
                            "no undo: a recursive delete keeps no snapshot of what it removed"
                                .into(),
                        ),
                    )
                };
                ChangeResult {
                    summary: format!(
                        "deleted {path} and the {removed} entries in it ({})",
                        human_bytes(tally.bytes)
                    ),
                    path,
                    bytes: 0,
                    previous_bytes: Some(tally.bytes),
                    undo,
                    undo_note,
                    snapshot: None,
                    note: None,
                }
            }
        };
        if let Some(u) = &r.undo {
            ctx.set_undo(u.clone());
        }
        crate::builtin::to_value(&r)
    }
}

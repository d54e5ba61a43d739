//! `fs.chmod`: set a file's or directory's permission bits. Never through
//! a link: the final component is pinned with `O_PATH | O_NOFOLLOW` and
//! changed through `/proc/self/fd`, so the inode inspected is the one
//! changed. Undone by setting the old mode back.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, fchmodat, fstat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::at::{Kind, Target};
use super::change::{mode_text, parse_mode};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.chmod`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsChmod;

/// Arguments of `fs.chmod`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsChmodArgs {
    /// File or directory (absolute, or starting with ~). A symbolic link is refused.
    pub path: String,
    /// New mode in octal, such as "644", "0755" or "600".
    pub mode: String,
}

/// The result of a permission or ownership change.
#[derive(Debug, Clone, Serialize)]
pub struct AttrResult {
    /// One line: what changed.
    pub summary: String,
    /// The path.
    pub path: String,
    /// Before.
    pub old: String,
    /// After.
    pub new: String,
    /// The call that reverses this one.
    pub undo: Option<UndoRecord>,
}

/// Pin the final component of `t` (a regular file or directory) with
/// `O_PATH | O_NOFOLLOW`.
pub(crate) fn pin(ctx: &ToolCtx, t: &Target, tool: &str) -> Result<(OwnedFd, FileStat), ToolError> {
    let access = ctx.access();
    let fd = openat(
        t.dir.as_fd(),
        t.name.as_os_str(),
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| t.err(access, "inspect", e))?;
    let st = fstat(&fd).map_err(|e| t.err(access, "inspect", e))?;
    match Kind::of(&st) {
        Kind::File | Kind::Dir => Ok((fd, st)),
        k => Err(t.refuse(tool, k)),
    }
}

fn inspect(ctx: &ToolCtx, path: &str) -> Result<(Target, OwnedFd, FileStat), ToolError> {
    let t = Target::open(ctx.access(), path, "change the mode of")?;
    let (fd, st) = pin(ctx, &t, "fs.chmod")?;
    Ok((t, fd, st))
}

impl Tool for FsChmod {
    type Args = FsChmodArgs;

    fn name(&self) -> &'static str {
        "fs.chmod"
    }

    fn description(&self) -> &'static str {
        "Set the permission bits of a file or directory (octal mode such as 644 or 755). Never follows a \
         symbolic link. The preview shows the old and new mode; undo sets the old one back."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "make ~/bin/backup.sh executable",
                args: r#"{"path": "~/bin/backup.sh", "mode": "755"}"#,
            },
            Example {
                request: "make my ssh private key readable only by me",
                args: r#"{"path": "~/.ssh/id_ed25519", "mode": "600"}"#,
            },
            Example {
                request: "set /srv/share to 775",
                args: r#"{"path": "/srv/share", "mode": "775"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsChmodArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.mode = format!("{:04o}", parse_mode("mode", &args.mode)?);
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsChmodArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsChmodArgs) -> String {
        format!("set the mode of {} to {}", args.path, args.mode)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsChmodArgs) -> Result<Assessment, ToolError> {
        let new = parse_mode("mode", &args.mode)?;
        let p = args.path.clone();
        let st = ctx
            .blocking(move |ctx| inspect(&ctx, &p).map(|(_, _, st)| st))
            .await?;
        let line = format!(
            "{}: {} → {}",
            args.path,
            mode_text(st.st_mode),
            mode_text(new)
        );
        Ok(Assessment {
            effect: Risk::Change,
            resources: self.resources(args),
            preview: Preview {
                summary: format!("change the mode of {}", line),
                detail: PreviewDetail::Affected {
                    items: vec![line],
                    bytes: None,
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FsChmodArgs) -> Result<Value, ToolError> {
        let new = parse_mode("mode", &args.mode)?;
        let p = args.path.clone();
        let old = ctx
            .blocking(move |ctx| {
                let (t, fd, st) = inspect(&ctx, &p)?;
                // An O_PATH descriptor cannot be fchmod'ed; its /proc link
                // names exactly the pinned inode.
                let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
                fchmodat(
                    AT_FDCWD,
                    via.as_str(),
                    Mode::from_bits_truncate(new),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| match e {
                    nix::errno::Errno::EPERM => ToolError::denied(format!(
                        "permission denied: only the owner of {} or root may change its mode; \
                             it needs root: approve it as an administrator",
                        t.path.display()
                    )),
                    e => t.err(ctx.access(), "change the mode of", e),
                })?;
                Ok(st.st_mode & 0o7777)
            })
            .await?;
        let undo = UndoRecord {
            tool: "fs.chmod".into(),
            args: json!({"path": args.path, "mode": format!("{old:04o}")}),
            summary: format!("set the mode of {} back to {old:04o}", args.path),
        };
        ctx.set_undo(undo.clone());
        let r = AttrResult {
            summary: format!(
                "changed the mode of {} from {} to {}",
                args.path,
                mode_text(old),
                mode_text(new)
            ),
            path: args.path,
            old: format!("{old:04o}"),
            new: format!("{new:04o}"),
            undo: Some(undo),
        };
        crate::builtin::to_value(&r)
    }
}

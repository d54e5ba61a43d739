//! `fs.append`: add text to the end of a file (creating it unless told
//! not to), with `O_APPEND` so concurrent writers such as loggers keep
//! their lines; snapshot first.

use std::io::Write;
use std::os::fd::AsFd;

use aios_domain::Risk;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};
use nix::unistd::fsync;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::at::{Kind, Target};
use super::change::{self, ChangeResult, NEW_FILE_MODE, Prior};
use super::diff;
use crate::util::human_bytes;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError, ToolErrorKind};

/// `fs.append`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsAppend;

fn yes() -> bool {
    true
}

/// Arguments of `fs.append`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsAppendArgs {
    /// File to append to (absolute, or starting with ~).
    pub path: String,
    /// Text to add at the end, as is (include the final newline).
    pub content: String,
    /// Create the file (mode 644) when it does not exist (default true).
    #[serde(default = "yes")]
    pub create: bool,
}

fn check(args: &FsAppendArgs, prior: &Prior, path: &str) -> Result<(), ToolError> {
    if args.content.is_empty() {
        return Err(ToolError::invalid(
            "fs.append: field `content` is empty; nothing to add",
        ));
    }
    if matches!(prior, Prior::Missing) && !args.create {
        return Err(ToolError::not_found(format!(
            "{path} does not exist and `create` is false; set create: true to create it"
        )));
    }
    Ok(())
}

fn append(t: &Target, ctx: &ToolCtx, prior: &Prior, content: &[u8]) -> Result<u64, ToolError> {
    let access = ctx.access();
    let mut flags = OFlag::O_WRONLY
        | OFlag::O_APPEND
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC;
    if prior.stat().is_none() {
        flags |= OFlag::O_CREAT | OFlag::O_EXCL;
    }
    let fd = openat(
        t.dir.as_fd(),
        t.name.as_os_str(),
        flags,
        Mode::from_bits_truncate(NEW_FILE_MODE),
    )
    .map_err(|e| match e {
        nix::errno::Errno::ELOOP => t.refuse("fs.append", Kind::Symlink),
        nix::errno::Errno::EEXIST => ToolError::failed(format!(
            "{} appeared while appending; nothing was changed, try again",
            t.path.display()
        )),
        e => t.err(access, "append to", e),
    })?;
    let st = fstat(&fd).map_err(|e| t.err(access, "append to", e))?;
    let same = prior
        .stat()
        .is_none_or(|p| (p.st_dev, p.st_ino) == (st.st_dev, st.st_ino));
    if Kind::of(&st) != Kind::File || !same {
        return Err(ToolError::failed(format!(
            "{} was replaced while appending; nothing was changed, try again",
            t.path.display()
        )));
    }
    if prior.stat().is_none() {
        // The umask may have narrowed the creation mode.
        let _ = nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(NEW_FILE_MODE));
    }
    let mut f = std::fs::File::from(fd);
    f.write_all(content)
        .map_err(|e| access.io_error(&t.path, "append to", &e))?;
    fsync(&f).map_err(|e| t.err(access, "sync", e))?;
    let size = fstat(&f)
        .map_err(|e| t.err(access, "append to", e))?
        .st_size;
    Ok(u64::try_from(size).unwrap_or(0))
}

impl Tool for FsAppend {
    type Args = FsAppendArgs;

    fn name(&self) -> &'static str {
        "fs.append"
    }

    fn description(&self) -> &'static str {
        "Add text to the end of a file (creating it unless create is false). The previous content is \
         snapshotted, so fs.restore can undo it. Use fs.edit to change text in the middle of a file."
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
                request: "add 'export EDITOR=vim' to my .bashrc",
                args: r#"{"path": "~/.bashrc", "content": "export EDITOR=vim\n"}"#,
            },
            Example {
                request: "add a hosts entry for 10.0.0.5 nas",
                args: r#"{"path": "/etc/hosts", "content": "10.0.0.5 nas\n", "create": false}"#,
            },
            Example {
                request: "note in ~/notes.txt that the backup ran",
                args: r#"{"path": "~/notes.txt", "content": "backup ran today\n"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsAppendArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsAppendArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsAppendArgs) -> String {
        format!("append {} bytes to {}", args.content.len(), args.path)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsAppendArgs) -> Result<Assessment, ToolError> {
        let resources = self.resources(args);
        let a = args.clone();
        let r = ctx
            .blocking(move |ctx| {
                let (_, prior) = change::current(&ctx, &a.path, "fs.append")?;
                check(&a, &prior, &a.path)?;
                Ok(prior)
            })
            .await;
        let n = args.content.len() as u64;
        let summary = format!("append {} to {}", human_bytes(n), args.path);
        let preview = match r {
            Ok(Prior::File {
                content: Some(old), ..
            }) => {
                let mut new = old.clone();
                new.extend_from_slice(args.content.as_bytes());
                diff::preview(summary, &args.path, Some(&old), Some(&new))
            }
            Ok(Prior::Missing) => diff::preview(
                format!("{summary} (creates it)"),
                &args.path,
                None,
                Some(args.content.as_bytes()),
            ),
            Ok(Prior::File { st, .. }) => aios_domain::Preview::text(format!(
                "{summary} (now {}, too big to diff)",
                human_bytes(u64::try_from(st.st_size).unwrap_or(0))
            )),
            Err(e) if e.kind() == ToolErrorKind::PermissionDenied => {
                aios_domain::Preview::text(format!(
                    "{summary}: no diff, {}; the real run needs root (approve it as an administrator)",
                    e.message()
                ))
            }
            Err(e) => return Err(e),
        };
        Ok(Assessment {
            effect: Risk::Change,
            resources,
            preview,
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FsAppendArgs) -> Result<Value, ToolError> {
        let a = args.clone();
        let (t, prior) = ctx
            .blocking(move |ctx| {
                let (t, prior) = change::current(&ctx, &a.path, "fs.append")?;
                check(&a, &prior, &a.path)?;
                Ok((t, prior))
            })
            .await?;
        let snap = change::save(&ctx, &args.path, &prior).await?;
        let before = prior.size();
        let content = args.content.clone();
        let size = ctx
            .blocking(move |ctx| append(&t, &ctx, &prior, content.as_bytes()))
            .await?;
        let undo = snap.id.as_deref().map(|id| {
            change::restore_undo(
                &args.path,
                id,
                &match before {
                    Some(b) => format!("its previous {}", human_bytes(b)),
                    None => "not existing (delete it)".into(),
                },
            )
        });
        if let Some(u) = &undo {
            ctx.set_undo(u.clone());
        }
        let r = ChangeResult {
            summary: format!(
                "appended {} to {}, now {}",
                human_bytes(args.content.len() as u64),
                args.path,
                change::sized(size, before)
            ),
            path: args.path,
            bytes: size,
            previous_bytes: before,
            undo,
            undo_note: snap.note,
            snapshot: snap.id,
            note: None,
        };
        crate::builtin::to_value(&r)
    }
}

//! `fs.copy`: copy one regular file to a new path or over an existing
//! file (snapshotted first), atomically like `fs.write`.

use std::fs::File;

use aios_domain::{Preview, PreviewDetail, Risk};
use nix::sys::stat::FileStat;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::at::{Kind, Target};
use super::change::{self, ChangeResult, Prior};
use crate::util::human_bytes;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.copy`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsCopy;

/// Arguments of `fs.copy` and `fs.move`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsCopyArgs {
    /// The file to copy (absolute, or starting with ~).
    pub source: String,
    /// The full path of the copy, not a directory to put it in. An existing file there is replaced (snapshotted first).
    pub destination: String,
}

/// Both ends of a copy or move, inspected as the caller.
pub(crate) struct Ends {
    pub src: Target,
    pub src_kind: Kind,
    pub src_st: FileStat,
    pub dst: Target,
    pub prior: Prior,
}

/// Open both ends; `tool` names refusals. Directories are accepted as a
/// source only when `dirs`.
pub(crate) fn ends(
    ctx: &ToolCtx,
    source: &str,
    destination: &str,
    tool: &str,
    dirs: bool,
) -> Result<Ends, ToolError> {
    let access = ctx.access();
    let src = Target::open(access, source, "read")?;
    let (src_kind, st) = src.kind(access)?;
    let src_st = match (src_kind, st) {
        (Kind::File, Some(st)) => st,
        (Kind::Dir, Some(st)) if dirs => st,
        (Kind::Dir, _) => {
            return Err(ToolError::invalid(format!(
                "{source} is a directory; {tool} copies one regular file"
            )));
        }
        (k, _) => return Err(src.refuse(tool, k)),
    };
    if source == destination {
        return Err(ToolError::invalid(format!(
            "source and destination are the same path ({source})"
        )));
    }
    let dst = Target::open(access, destination, "write")?;
    let (dst_kind, _) = dst.kind(access)?;
    let prior = match dst_kind {
        Kind::Missing | Kind::File => change::capture(&dst, access, tool)?,
        Kind::Dir => {
            return Err(ToolError::invalid(format!(
                "{destination} is a directory; give the full destination path, such as {destination}/{}",
                src.name.to_string_lossy()
            )));
        }
        k => return Err(dst.refuse(tool, k)),
    };
    if src_kind == Kind::Dir && !matches!(prior, Prior::Missing) {
        return Err(ToolError::invalid(format!(
            "{destination} exists; {tool} moves a directory only to a free name"
        )));
    }
    Ok(Ends {
        src,
        src_kind,
        src_st,
        dst,
        prior,
    })
}

/// The assessment of a copy or move: destructive when it replaces a file.
pub(crate) fn assessment(verb: &str, source: &str, destination: &str, e: &Ends) -> Assessment {
    let size = u64::try_from(e.src_st.st_size).unwrap_or(0);
    let what = if e.src_kind == Kind::Dir {
        "directory".to_string()
    } else {
        human_bytes(size)
    };
    let mut items = vec![
        format!("source: {source} ({what})"),
        format!("destination: {destination}"),
    ];
    let effect = match e.prior.size() {
        Some(b) => {
            items.push(format!("overwrites {destination} ({})", human_bytes(b)));
            Risk::Destructive
        }
        None => Risk::Change,
    };
    let over = if effect == Risk::Destructive {
        ", replacing the file there"
    } else {
        ""
    };
    Assessment {
        effect,
        resources: vec![
            Resource::Path(source.into()),
            Resource::Path(destination.into()),
        ],
        preview: Preview {
            summary: format!("{verb} {source} to {destination}{over}"),
            detail: PreviewDetail::Affected {
                items,
                bytes: (e.src_kind == Kind::File).then_some(size),
            },
        },
    }
}

impl Tool for FsCopy {
    type Args = FsCopyArgs;

    fn name(&self) -> &'static str {
        "fs.copy"
    }

    fn description(&self) -> &'static str {
        "Copy one regular file to a new full path, atomically. A new copy gets the source's mode; an existing \
         destination file keeps its mode and owner and is snapshotted first, so fs.restore can undo it."
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
                request: "back up /etc/fstab to /etc/fstab.bak",
                args: r#"{"source": "/etc/fstab", "destination": "/etc/fstab.bak"}"#,
            },
            Example {
                request: "copy ~/report.pdf to ~/Documents/report.pdf",
                args: r#"{"source": "~/report.pdf", "destination": "~/Documents/report.pdf"}"#,
            },
            Example {
                request: "make a copy of my nginx config before I change it",
                args: r#"{"source": "/etc/nginx/nginx.conf", "destination": "/etc/nginx/nginx.conf.orig"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsCopyArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.source, home)?;
        crate::access::normalize_in_place(&mut args.destination, home)
    }

    fn resources(&self, args: &FsCopyArgs) -> Vec<Resource> {
        vec![
            Resource::Path(args.source.clone()),
            Resource::Path(args.destination.clone()),
        ]
    }

    fn preview(&self, args: &FsCopyArgs) -> String {
        format!("copy {} to {}", args.source, args.destination)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsCopyArgs) -> Result<Assessment, ToolError> {
        let a = args.clone();
        let e = ctx
            .blocking(move |ctx| ends(&ctx, &a.source, &a.destination, "fs.copy", false))
            .await?;
        Ok(assessment("copy", &args.source, &args.destination, &e))
    }

    async fn run(&self, ctx: ToolCtx, args: FsCopyArgs) -> Result<Value, ToolError> {
        let a = args.clone();
        let (e, src_file): (Ends, File) = ctx
            .blocking(move |ctx| {
                let e = ends(&ctx, &a.source, &a.destination, "fs.copy", false)?;
                let (f, st) = e.src.open_read(ctx.access(), "fs.copy")?;
                if (st.st_dev, st.st_ino) != (e.src_st.st_dev, e.src_st.st_ino) {
                    return Err(ToolError::failed(format!(
                        "{} was replaced while copying; nothing was changed, try again",
                        a.source
                    )));
                }
                Ok((e, f))
            })
            .await?;
        let snap = change::save(&ctx, &args.destination, &e.prior).await?;
        let before = e.prior.size();
        let mode = e.src_st.st_mode & 0o777;
        let (dst, prior) = (e.dst, e.prior);
        let (written, bytes) = ctx
            .blocking(move |ctx| {
                let mut src = src_file;
                let w =
                    change::write_file(&dst, ctx.access(), prior.stat(), &mut src, mode, false)?;
                let n = nix::sys::stat::fstat(&src).map(|s| s.st_size).unwrap_or(0);
                Ok((w, u64::try_from(n).unwrap_or(0)))
            })
            .await?;
        let undo = snap.id.as_deref().map(|id| {
            change::restore_undo(
                &args.destination,
                id,
                &match before {
                    Some(b) => format!("its previous {}", human_bytes(b)),
                    None => "not existing (delete the copy)".into(),
                },
            )
        });
        if let Some(u) = &undo {
            ctx.set_undo(u.clone());
        }
        let was = before.map_or_else(String::new, |b| format!(", replacing {}", human_bytes(b)));
        let r = ChangeResult {
            summary: format!(
                "copied {} to {} ({}{was})",
                args.source,
                args.destination,
                human_bytes(bytes)
            ),
            path: args.destination,
            bytes,
            previous_bytes: before,
            undo,
            undo_note: snap.note,
            snapshot: snap.id,
            note: change::in_place_note(written),
        };
        crate::builtin::to_value(&r)
    }
}

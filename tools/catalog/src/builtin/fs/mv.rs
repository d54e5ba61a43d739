//! `fs.move`: rename a file or directory within one filesystem, through
//! both parents' descriptors. A file it replaces is snapshotted first; a
//! move that replaced nothing is undone by moving back.

use aios_domain::{Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::change::{self, ChangeResult};
use super::copy::{FsCopyArgs, assessment, ends};
use crate::util::human_bytes;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.move`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsMove;

/// Arguments of `fs.move`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsMoveArgs {
    /// The file or directory to move (absolute, or starting with ~).
    pub source: String,
    /// Its new full path, not a directory to put it in. An existing file there is replaced (snapshotted first); a directory moves only to a free name.
    pub destination: String,
}

impl Tool for FsMove {
    type Args = FsMoveArgs;

    fn name(&self) -> &'static str {
        "fs.move"
    }

    fn description(&self) -> &'static str {
        "Move or rename a file or directory within one filesystem. A file it replaces is snapshotted first; \
         a move that replaced nothing is undone by moving it back. Across filesystems use fs.copy then fs.delete."
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
                request: "rename ~/notes.txt to ~/notes-2024.txt",
                args: r#"{"source": "~/notes.txt", "destination": "~/notes-2024.txt"}"#,
            },
            Example {
                request: "move ~/Downloads/photos into ~/Pictures/photos",
                args: r#"{"source": "~/Downloads/photos", "destination": "~/Pictures/photos"}"#,
            },
            Example {
                request: "put the new config in place of /etc/app.conf",
                args: r#"{"source": "/etc/app.conf.new", "destination": "/etc/app.conf"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsMoveArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.source, home)?;
        crate::access::normalize_in_place(&mut args.destination, home)
    }

    fn resources(&self, args: &FsMoveArgs) -> Vec<Resource> {
        vec![
            Resource::Path(args.source.clone()),
            Resource::Path(args.destination.clone()),
        ]
    }

    fn preview(&self, args: &FsMoveArgs) -> String {
        format!("move {} to {}", args.source, args.destination)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsMoveArgs) -> Result<Assessment, ToolError> {
        let a = FsCopyArgs {
            source: args.source.clone(),
            destination: args.destination.clone(),
        };
        let e = ctx
            .blocking(move |ctx| ends(&ctx, &a.source, &a.destination, "fs.move", true))
            .await?;
        Ok(assessment("move", &args.source, &args.destination, &e))
    }

    async fn run(&self, ctx: ToolCtx, args: FsMoveArgs) -> Result<Value, ToolError> {
        let a = args.clone();
        let e = ctx
            .blocking(move |ctx| ends(&ctx, &a.source, &a.destination, "fs.move", true))
            .await?;
        let snap = match e.prior.size() {
            Some(_) => change::save(&ctx, &args.destination, &e.prior).await?,
            None => change::Snap::default(),
        };
        let before = e.prior.size();
        let size = u64::try_from(e.src_st.st_size).unwrap_or(0);
        ctx.blocking(move |ctx| change::rename(&e.src, &e.dst, ctx.access(), before.is_none()))
            .await?;
        let (undo, undo_note) = match (&before, &snap.id) {
            (None, _) => (
                Some(UndoRecord {
                    tool: "fs.move".into(),
                    args: json!({"source": args.destination, "destination": args.source}),
                    summary: format!("move {} back to {}", args.destination, args.source),
                }),
                None,
            ),
            (Some(_), Some(id)) => (
                None,
                Some(format!(
                    "no single undo: move {} back to {} with fs.move, then fs.restore {} with snapshot {id} \
                     brings back the file it replaced",
                    args.destination, args.source, args.destination
                )),
            ),
            (Some(_), None) => (None, snap.note.clone()),
        };
        if let Some(u) = &undo {
            ctx.set_undo(u.clone());
        }
        let was = before.map_or_else(String::new, |b| {
            format!(", replacing a file of {}", human_bytes(b))
        });
        let r = ChangeResult {
            summary: format!("moved {} to {}{was}", args.source, args.destination),
            path: args.destination,
            bytes: size,
            previous_bytes: before,
            undo,
            undo_note,
            snapshot: snap.id,
            note: None,
        };
        crate::builtin::to_value(&r)
    }
}

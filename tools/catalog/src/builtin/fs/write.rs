//! `fs.write`: create or replace a file with the given content,
//! atomically, keeping an existing file's mode and owner; snapshot first.

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::change::{NEW_FILE_MODE, parse_mode};
use super::content;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.write`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsWrite;

fn default_mode() -> String {
    format!("{NEW_FILE_MODE:o}")
}

/// Arguments of `fs.write`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsWriteArgs {
    /// File to create or replace (absolute, or starting with ~). Never followed if it is a symbolic link.
    pub path: String,
    /// The whole new content (text).
    pub content: String,
    /// Octal mode of a NEW file (default "644"); an existing file keeps its own mode and owner.
    #[serde(default = "default_mode")]
    pub mode: String,
}

fn compute(args: &FsWriteArgs) -> Result<content::Compute, ToolError> {
    parse_mode("mode", &args.mode)?;
    let new = args.content.clone().into_bytes();
    Ok(Box::new(move |_| Ok((Some(new), None))))
}

impl Tool for FsWrite {
    type Args = FsWriteArgs;

    fn name(&self) -> &'static str {
        "fs.write"
    }

    fn description(&self) -> &'static str {
        "Create a file or replace its whole content, atomically (temporary file, fsync, rename). \
         An existing file keeps its mode and owner and is snapshotted first, so fs.restore can undo it. \
         Use fs.edit to change part of a file and fs.append to add to its end."
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
                request: "set the message of the day to 'Welcome to aiOS'",
                args: r#"{"path": "/etc/motd", "content": "Welcome to aiOS\n"}"#,
            },
            Example {
                request: "create ~/notes/todo.txt with 'buy milk'",
                args: r#"{"path": "~/notes/todo.txt", "content": "buy milk\n"}"#,
            },
            Example {
                request: "write a backup script to ~/bin/backup.sh and make it executable",
                args: r##"{"path": "~/bin/backup.sh", "content": "#!/bin/sh\nrsync -a ~/ /mnt/backup/\n", "mode": "755"}"##,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsWriteArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.mode = format!("{:o}", parse_mode("mode", &args.mode)?);
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsWriteArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsWriteArgs) -> String {
        format!("write {} bytes to {}", args.content.len(), args.path)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsWriteArgs) -> Result<Assessment, ToolError> {
        let n = args.content.len() as u64;
        content::assess(
            ctx,
            &args.path,
            "fs.write",
            false,
            compute(args)?,
            |p| match p.prior.size() {
                Some(b) => format!(
                    "replace {} with {}",
                    args.path,
                    super::change::sized(n, Some(b))
                ),
                None => format!("create {} with {}", args.path, crate::util::human_bytes(n)),
            },
        )
        .await
    }

    async fn run(&self, ctx: ToolCtx, args: FsWriteArgs) -> Result<Value, ToolError> {
        let mode = parse_mode("mode", &args.mode)?;
        let plan = content::plan(&ctx, &args.path, "fs.write", compute(&args)?).await?;
        let (r, _) = content::apply(&ctx, plan, "wrote", mode).await?;
        crate::builtin::to_value(&r)
    }
}

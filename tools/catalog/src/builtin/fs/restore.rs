//! `fs.restore`: put a file back as a snapshot recorded it (content and
//! mode), or delete it when the snapshot says it did not exist. The undo
//! of every content change; itself snapshotted, so it can be undone too.

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::change::NEW_FILE_MODE;
use super::content;
use super::snapshot::{Manifest, Store, check_id};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.restore`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsRestore;

/// Arguments of `fs.restore`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsRestoreArgs {
    /// The file to restore (absolute): the path the snapshot was taken of.
    pub path: String,
    /// Snapshot id (64 hex digits) from an undo record or a change's result.
    pub snapshot: String,
}

/// Load the snapshot with toolsd's credentials and check that this caller
/// may restore it to this path.
async fn load(
    ctx: &ToolCtx,
    args: &FsRestoreArgs,
) -> Result<(Manifest, Option<Vec<u8>>), ToolError> {
    check_id(&args.snapshot)?;
    let Some(dir) = ctx.state_dir().map(std::path::Path::to_path_buf) else {
        return Err(ToolError::unsupported(
            "fs.restore: toolsd has no state directory, so it keeps no snapshots",
        ));
    };
    let id = args.snapshot.clone();
    let (m, content) = tokio::task::spawn_blocking(move || Store::open(&dir)?.load(&id))
        .await
        .map_err(|e| ToolError::failed(format!("snapshot store: {e}")))??;
    let uid = ctx.access().identity().uid;
    // The store is toolsd's: a snapshot of a file the caller could not
    // read must not be shown (as a diff) or written anywhere else.
    if m.taken_by != uid && uid != 0 {
        return Err(ToolError::denied(format!(
            "permission denied: snapshot {} was taken for uid {}; only that user or root may restore it",
            args.snapshot, m.taken_by
        )));
    }
    if m.path != args.path {
        return Err(ToolError::invalid(format!(
            "snapshot {} is of {}, not {}; restore it to its own path",
            args.snapshot, m.path, args.path
        )));
    }
    Ok((m, content))
}

fn compute(m: &Manifest, content: Option<Vec<u8>>) -> content::Compute {
    let (existed, mode) = (m.existed, m.mode);
    Box::new(move |_| {
        Ok(if existed {
            (Some(content.unwrap_or_default()), Some(mode))
        } else {
            (None, None)
        })
    })
}

impl Tool for FsRestore {
    type Args = FsRestoreArgs;

    fn name(&self) -> &'static str {
        "fs.restore"
    }

    fn description(&self) -> &'static str {
        "Undo a file change: restore a file's content and mode from a snapshot that fs.write, fs.edit, \
         fs.append, fs.delete, fs.copy or fs.move took before changing it, or delete the file when it did not \
         exist before. The preview is the diff back to the snapshot."
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
                request: "undo my change to /etc/motd",
                args: r#"{"path": "/etc/motd", "snapshot": "5f2b9c1e0d4a7b3c6e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"}"#,
            },
            Example {
                request: "bring back the ~/notes.txt I deleted",
                args: r#"{"path": "~/notes.txt", "snapshot": "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"}"#,
            },
            Example {
                request: "restore sshd_config to how it was before the edit",
                args: r#"{"path": "/etc/ssh/sshd_config", "snapshot": "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsRestoreArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.snapshot = args.snapshot.trim().to_ascii_lowercase();
        check_id(&args.snapshot)?;
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsRestoreArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsRestoreArgs) -> String {
        format!("restore {} from snapshot {}", args.path, &args.snapshot)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsRestoreArgs) -> Result<Assessment, ToolError> {
        let (m, content) = load(ctx, args).await?;
        let existed = m.existed;
        content::assess(
            ctx,
            &args.path,
            "fs.restore",
            true,
            compute(&m, content),
            |p| match (existed, p.prior.size()) {
                (false, Some(_)) => format!(
                    "delete {}: it did not exist when the snapshot was taken",
                    args.path
                ),
                (false, None) => format!(
                    "{} does not exist, as in the snapshot: nothing to do",
                    args.path
                ),
                (true, _) => format!(
                    "restore {} to the snapshot ({} bytes, mode {:04o})",
                    args.path, m.size, m.mode
                ),
            },
        )
        .await
    }

    async fn run(&self, ctx: ToolCtx, args: FsRestoreArgs) -> Result<Value, ToolError> {
        let (m, content) = load(&ctx, &args).await?;
        let plan = content::plan(&ctx, &args.path, "fs.restore", compute(&m, content)).await?;
        let (r, _) = content::apply(&ctx, plan, "restored", NEW_FILE_MODE).await?;
        crate::builtin::to_value(&r)
    }
}

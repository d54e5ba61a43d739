//! The pipeline of the tools that replace a file's content (`fs.write`,
//! `fs.edit`, `fs.restore`): plan (read the current file as the caller and
//! compute the new content), assess (effect and diff preview from the
//! plan), apply (snapshot with toolsd's credentials, then an atomic write
//! as the caller through the same directory descriptor).

use aios_domain::{Preview, Resource, Risk};

use super::at::Target;
use super::change::{self, ChangeResult, Prior, Snap};
use super::diff;
use crate::{Assessment, ToolCtx, ToolError, ToolErrorKind};

/// What a content change will do.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The file, with its parent open.
    pub t: Target,
    /// What is there now.
    pub prior: Prior,
    /// The content it will have; `None` deletes it (restore of a file that
    /// did not exist).
    pub new: Option<Vec<u8>>,
    /// Mode to give it: `Some` forces it, `None` keeps the current mode
    /// (or uses the default for a new file).
    pub mode: Option<u32>,
}

/// Computes the new content and mode from the current state.
pub(crate) type Compute =
    Box<dyn FnOnce(&Plan0) -> Result<(Option<Vec<u8>>, Option<u32>), ToolError> + Send>;

/// The current state a [`Compute`] sees.
#[derive(Debug)]
pub(crate) struct Plan0 {
    /// The file.
    pub t: Target,
    /// What is there now.
    pub prior: Prior,
}

impl Plan0 {
    /// The current content, or an error saying why `tool` needs it.
    pub fn content(&self, tool: &str) -> Result<&[u8], ToolError> {
        match &self.prior {
            Prior::Missing => Err(ToolError::not_found(format!(
                "{} does not exist; {tool} changes an existing file (fs.write creates one)",
                self.t.path.display()
            ))),
            Prior::File { content: None, st } => Err(ToolError::invalid(format!(
                "{} is {}; {tool} handles files up to {}",
                self.t.path.display(),
                crate::util::human_bytes(u64::try_from(st.st_size).unwrap_or(0)),
                crate::util::human_bytes(super::snapshot::MAX_SNAPSHOT)
            ))),
            Prior::File {
                content: Some(c), ..
            } => Ok(c),
        }
    }
}

/// Read the current state as the caller and compute the change.
pub(crate) async fn plan(
    ctx: &ToolCtx,
    path: &str,
    tool: &'static str,
    compute: Compute,
) -> Result<Plan, ToolError> {
    let path = path.to_string();
    ctx.blocking(move |ctx| {
        let (t, prior) = change::current(&ctx, &path, tool)?;
        let p0 = Plan0 { t, prior };
        let (new, mode) = compute(&p0)?;
        Ok(Plan {
            t: p0.t,
            prior: p0.prior,
            new,
            mode,
        })
    })
    .await
}

/// The assessment of a content change: a new file is a change, replacing
/// or deleting an existing one destructive (unless `always_change`); the
/// preview is the diff. When the caller cannot read the file, the preview
/// says so and the effect is the strictest.
pub(crate) async fn assess(
    ctx: &ToolCtx,
    path: &str,
    tool: &'static str,
    always_change: bool,
    compute: Compute,
    summary: impl FnOnce(&Plan) -> String,
) -> Result<Assessment, ToolError> {
    let resources = vec![Resource::Path(path.to_string())];
    match plan(ctx, path, tool, compute).await {
        Ok(p) => {
            let effect = match (&p.prior, always_change) {
                (Prior::Missing, _) | (_, true) => Risk::Change,
                _ => Risk::Destructive,
            };
            let old = match &p.prior {
                Prior::File {
                    content: Some(c), ..
                } => Some(c.as_slice()),
                _ => None,
            };
            let preview = match (&p.prior, &p.new) {
                (Prior::File { content: None, st }, new) => Preview::text(format!(
                    "{}; the current file is {} bytes, too big to diff ({} bytes after)",
                    summary(&p),
                    st.st_size,
                    new.as_ref().map_or(0, Vec::len)
                )),
                _ => diff::preview(summary(&p), path, old, p.new.as_deref()),
            };
            Ok(Assessment {
                effect,
                resources,
                preview,
            })
        }
        Err(e) if e.kind() == ToolErrorKind::PermissionDenied => Ok(Assessment {
            effect: if always_change {
                Risk::Change
            } else {
                Risk::Destructive
            },
            resources,
            preview: Preview::text(format!(
                "{tool} {path}: no diff, {}; the real run needs root (approve it as an administrator)",
                e.message()
            )),
        }),
        Err(e) => Err(e),
    }
}

/// Snapshot the prior state, then write (or delete) as planned.
/// `what` names the result: "wrote", "edited", "restored".
pub(crate) async fn apply(
    ctx: &ToolCtx,
    plan: Plan,
    verb: &str,
    new_mode: u32,
) -> Result<(ChangeResult, Snap), ToolError> {
    let path = plan.t.path.to_string_lossy().into_owned();
    let snap = change::save(ctx, &path, &plan.prior).await?;
    let before = plan.prior.size();
    let Plan {
        t,
        prior,
        new,
        mode,
    } = plan;
    let (bytes, written) = ctx
        .blocking(move |ctx| {
            let access = ctx.access();
            match new {
                Some(content) => {
                    let w = change::write_file(
                        &t,
                        access,
                        prior.stat(),
                        &mut content.as_slice(),
                        mode.unwrap_or(new_mode),
                        mode.is_some(),
                    )?;
                    Ok((content.len() as u64, Some(w)))
                }
                None => {
                    if prior.stat().is_some() {
                        nix::unistd::unlinkat(
                            std::os::fd::AsFd::as_fd(&*t.dir),
                            t.name.as_os_str(),
                            nix::unistd::UnlinkatFlags::NoRemoveDir,
                        )
                        .map_err(|e| t.err(access, "delete", e))?;
                        change::sync_dir(&t.dir);
                    }
                    Ok((0, None))
                }
            }
        })
        .await?;
    let h = crate::util::human_bytes;
    let was = before.map_or_else(|| " (new file)".to_string(), |b| format!(" (was {})", h(b)));
    let summary = match written {
        Some(_) if verb == "wrote" => format!("wrote {} to {path}{was}", h(bytes)),
        Some(_) => format!("{verb} {path}: {} now{was}", h(bytes)),
        None => match before {
            Some(b) => format!(
                "{verb} {path}: deleted it ({} removed)",
                crate::util::human_bytes(b)
            ),
            None => format!("{verb} {path}: nothing to do, it does not exist"),
        },
    };
    let undo = snap.id.as_deref().map(|id| {
        change::restore_undo(
            &path,
            id,
            match before {
                Some(b) => format!("its previous {}", crate::util::human_bytes(b)),
                None => "not existing (delete it)".into(),
            }
            .as_str(),
        )
    });
    if let Some(u) = &undo {
        ctx.set_undo(u.clone());
    }
    Ok((
        ChangeResult {
            summary,
            path,
            bytes,
            previous_bytes: before,
            undo,
            undo_note: snap.note.clone(),
            snapshot: snap.id.clone(),
            note: written.and_then(change::in_place_note),
        },
        snap,
    ))
}

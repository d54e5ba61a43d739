//! `fs.mkdir`: create a directory (and its missing parents with
//! `parents`), one component at a time through descriptors, never
//! following a link. Undone by deleting what it created.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, fchmod, fstatat, mkdirat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::at::Kind;
use super::change::parse_mode;
use super::tree::open_sub;
use crate::{Access, Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.mkdir`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsMkdir;

fn default_mode() -> String {
    "0755".into()
}

/// Arguments of `fs.mkdir`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsMkdirArgs {
    /// Directory to create (absolute, or starting with ~).
    pub path: String,
    /// Also create missing parent directories, and succeed if it already exists (default false).
    #[serde(default)]
    pub parents: bool,
    /// Octal mode of the directories created (default "0755").
    #[serde(default = "default_mode")]
    pub mode: String,
}

/// What a mkdir found or made.
#[derive(Debug, Clone, Serialize)]
pub struct MkdirResult {
    /// One line: what happened.
    pub summary: String,
    /// The directory.
    pub path: String,
    /// The directories created, outermost first.
    pub created: Vec<String>,
    /// The call that removes what was created, or null when nothing was.
    pub undo: Option<UndoRecord>,
}

/// Walk `path` from `/` without following links; `create` makes missing
/// components (only the last one unless `parents`). Returns the paths
/// created, or (with `create` false) the ones that would be.
fn walk(
    access: &Access,
    path: &Path,
    parents: bool,
    mode: u32,
    create: bool,
) -> Result<Vec<String>, ToolError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let io = |p: &Path, e: Errno| access.io_error(p, "create", &std::io::Error::from(e));
    let mut fd: Option<OwnedFd> =
        Some(nix::fcntl::open("/", flags, Mode::empty()).map_err(|e| io(Path::new("/"), e))?);
    let names: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err(ToolError::invalid(
            "`/` always exists; name a directory under it",
        ));
    }
    let mut cur = PathBuf::from("/");
    let mut made = Vec::new();
    for (i, name) in names.iter().enumerate() {
        cur.push(name);
        let last = i + 1 == names.len();
        // Once a component is missing in a dry run, the rest are too.
        let Some(dir) = fd.take() else {
            made.push(cur.to_string_lossy().into_owned());
            continue;
        };
        match fstatat(dir.as_fd(), *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => match Kind::of(&st) {
                Kind::Dir if last && !parents => {
                    return Err(ToolError::invalid(format!(
                        "{} already exists; set parents: true to accept an existing directory",
                        cur.display()
                    )));
                }
                Kind::Dir => fd = Some(open_sub(&dir, name).map_err(|e| io(&cur, e))?),
                Kind::Symlink => {
                    return Err(ToolError::invalid(format!(
                        "{} is a symbolic link; fs.mkdir never follows links, give the path without it",
                        cur.display()
                    )));
                }
                k => {
                    return Err(ToolError::invalid(format!(
                        "{} exists and is {}, not a directory",
                        cur.display(),
                        k.describe()
                    )));
                }
            },
            Err(Errno::ENOENT) => {
                if !last && !parents {
                    return Err(ToolError::not_found(format!(
                        "{} does not exist; set parents: true to create it too",
                        cur.display()
                    )));
                }
                made.push(cur.to_string_lossy().into_owned());
                if create {
                    mkdirat(dir.as_fd(), *name, Mode::from_bits_truncate(mode))
                        .map_err(|e| io(&cur, e))?;
                    let sub = open_sub(&dir, name).map_err(|e| io(&cur, e))?;
                    // The umask narrowed the mode mkdirat was given.
                    fchmod(&sub, Mode::from_bits_truncate(mode)).map_err(|e| io(&cur, e))?;
                    let _ = nix::unistd::fsync(&dir);
                    fd = Some(sub);
                }
            }
            Err(e) => return Err(io(&cur, e)),
        }
    }
    Ok(made)
}

impl Tool for FsMkdir {
    type Args = FsMkdirArgs;

    fn name(&self) -> &'static str {
        "fs.mkdir"
    }

    fn description(&self) -> &'static str {
        "Create a directory; with parents true also its missing parents, and an existing directory is fine. \
         Never follows symbolic links. Undo deletes what it created."
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
                request: "make a folder ~/projects",
                args: r#"{"path": "~/projects"}"#,
            },
            Example {
                request: "create /srv/backups/daily and any missing parents",
                args: r#"{"path": "/srv/backups/daily", "parents": true}"#,
            },
            Example {
                request: "create a private directory ~/secrets",
                args: r#"{"path": "~/secrets", "mode": "0700"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsMkdirArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.mode = format!("{:04o}", parse_mode("mode", &args.mode)?);
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsMkdirArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsMkdirArgs) -> String {
        format!("create the directory {}", args.path)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsMkdirArgs) -> Result<Assessment, ToolError> {
        let mode = parse_mode("mode", &args.mode)?;
        let a = args.clone();
        let would = ctx
            .blocking(move |ctx| walk(ctx.access(), Path::new(&a.path), a.parents, mode, false))
            .await?;
        let summary = if would.is_empty() {
            format!("{} already exists: nothing to do", args.path)
        } else {
            format!(
                "create {} director{} (mode {mode:04o})",
                would.len(),
                if would.len() == 1 { "y" } else { "ies" }
            )
        };
        Ok(Assessment {
            effect: Risk::Change,
            resources: self.resources(args),
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected {
                    items: would,
                    bytes: None,
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FsMkdirArgs) -> Result<Value, ToolError> {
        let mode = parse_mode("mode", &args.mode)?;
        let a = args.clone();
        let created = ctx
            .blocking(move |ctx| walk(ctx.access(), Path::new(&a.path), a.parents, mode, true))
            .await?;
        let undo = created.first().map(|top| UndoRecord {
            tool: "fs.delete".into(),
            args: json!({"path": top, "recursive": created.len() > 1}),
            summary: format!("delete the created directory {top}"),
        });
        if let Some(u) = &undo {
            ctx.set_undo(u.clone());
        }
        let summary = match created.len() {
            0 => format!("{} already exists", args.path),
            1 => format!("created {} (mode {mode:04o})", args.path),
            n => format!(
                "created {} and {} missing parents (mode {mode:04o})",
                args.path,
                n - 1
            ),
        };
        crate::builtin::to_value(&MkdirResult {
            summary,
            path: args.path,
            created,
            undo,
        })
    }
}

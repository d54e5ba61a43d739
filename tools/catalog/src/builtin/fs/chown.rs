//! `fs.chown`: set a file's or directory's owner and/or group, by name or
//! numeric id, never through a link (`fchownat` with
//! `AT_SYMLINK_NOFOLLOW` on the parent's descriptor). Giving a file away
//! needs root; the preview works without it. Undone by chown back.

use std::os::fd::AsFd;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use nix::fcntl::AtFlags;
use nix::unistd::{Gid, Group, Uid, User, fchownat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::at::Target;
use super::chmod::{AttrResult, pin};
use super::stat::{group_name, user_name};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.chown`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsChown;

/// Arguments of `fs.chown`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsChownArgs {
    /// File or directory (absolute, or starting with ~). A symbolic link is refused.
    pub path: String,
    /// New owner: a user name or numeric uid (default: unchanged).
    #[serde(default)]
    pub owner: Option<String>,
    /// New group: a group name or numeric gid (default: unchanged).
    #[serde(default)]
    pub group: Option<String>,
}

fn check_name(field: &str, s: &str) -> Result<(), ToolError> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$'));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "field `{field}`: {s:?} is not a user or group name or a numeric id"
        )))
    }
}

fn uid_of(s: &str) -> Result<u32, ToolError> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    User::from_name(s)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
        .ok_or_else(|| {
            ToolError::not_found(format!("no user named {s:?} (user.list shows the users)"))
        })
}

fn gid_of(s: &str) -> Result<u32, ToolError> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    Group::from_name(s)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
        .ok_or_else(|| ToolError::not_found(format!("no group named {s:?}")))
}

/// The ids a call asks for.
fn wanted(args: &FsChownArgs) -> Result<(Option<u32>, Option<u32>), ToolError> {
    if args.owner.is_none() && args.group.is_none() {
        return Err(ToolError::invalid(
            "fs.chown: give `owner`, `group` or both",
        ));
    }
    let u = args.owner.as_deref().map(uid_of).transpose()?;
    let g = args.group.as_deref().map(gid_of).transpose()?;
    Ok((u, g))
}

fn inspect(ctx: &ToolCtx, path: &str) -> Result<(Target, u32, u32), ToolError> {
    let t = Target::open(ctx.access(), path, "change the owner of")?;
    let (_, st) = pin(ctx, &t, "fs.chown")?;
    Ok((t, st.st_uid, st.st_gid))
}

impl Tool for FsChown {
    type Args = FsChownArgs;

    fn name(&self) -> &'static str {
        "fs.chown"
    }

    fn description(&self) -> &'static str {
        "Set the owner and/or group of a file or directory, by name or numeric id. Never follows a symbolic \
         link. Giving a file to another user needs root; the preview shows old and new owner either way."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path, ResourceKind::User, ResourceKind::Group]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "give /srv/www to www-data",
                args: r#"{"path": "/srv/www", "owner": "www-data", "group": "www-data"}"#,
            },
            Example {
                request: "make the group of ~/shared be staff",
                args: r#"{"path": "~/shared", "group": "staff"}"#,
            },
            Example {
                request: "change the owner of /opt/app/data.db to uid 1001",
                args: r#"{"path": "/opt/app/data.db", "owner": "1001"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsChownArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        for (field, v) in [("owner", &mut args.owner), ("group", &mut args.group)] {
            if let Some(s) = v {
                *s = s.trim().to_string();
                check_name(field, s)?;
            }
        }
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsChownArgs) -> Vec<Resource> {
        let mut r = vec![Resource::Path(args.path.clone())];
        r.extend(args.owner.clone().map(Resource::User));
        r.extend(args.group.clone().map(Resource::Group));
        r
    }

    fn preview(&self, args: &FsChownArgs) -> String {
        format!("change the owner of {}", args.path)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsChownArgs) -> Result<Assessment, ToolError> {
        let (u, g) = wanted(args)?;
        let p = args.path.clone();
        let (_, ou, og) = ctx.blocking(move |ctx| inspect(&ctx, &p)).await?;
        let (nu, ng) = (u.unwrap_or(ou), g.unwrap_or(og));
        let line = format!(
            "{}: {}:{} → {}:{}",
            args.path,
            user_name(ou),
            group_name(og),
            user_name(nu),
            group_name(ng)
        );
        let root = if ctx.access().identity().uid != 0 && nu != ou {
            " (needs root)"
        } else {
            ""
        };
        Ok(Assessment {
            effect: Risk::Change,
            resources: self.resources(args),
            preview: Preview {
                summary: format!("change the owner of {line}{root}"),
                detail: PreviewDetail::Affected {
                    items: vec![line],
                    bytes: None,
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: FsChownArgs) -> Result<Value, ToolError> {
        let (u, g) = wanted(&args)?;
        let p = args.path.clone();
        let (ou, og) = ctx
            .blocking(move |ctx| {
                let (t, ou, og) = inspect(&ctx, &p)?;
                fchownat(
                    t.dir.as_fd(),
                    t.name.as_os_str(),
                    u.map(Uid::from_raw),
                    g.map(Gid::from_raw),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| match e {
                    nix::errno::Errno::EPERM => ToolError::denied(format!(
                        "permission denied: {} may not give {} to another owner or to a group it is not in; \
                         it needs root: approve it as an administrator",
                        ctx.access().who(),
                        t.path.display()
                    )),
                    e => t.err(ctx.access(), "change the owner of", e),
                })?;
                Ok((ou, og))
            })
            .await?;
        let (nu, ng) = (u.unwrap_or(ou), g.unwrap_or(og));
        let (old, new) = (
            format!("{}:{}", user_name(ou), group_name(og)),
            format!("{}:{}", user_name(nu), group_name(ng)),
        );
        let undo = UndoRecord {
            tool: "fs.chown".into(),
            args: json!({"path": args.path, "owner": ou.to_string(), "group": og.to_string()}),
            summary: format!("give {} back to {old}", args.path),
        };
        ctx.set_undo(undo.clone());
        let r = AttrResult {
            summary: format!("changed the owner of {} from {old} to {new}", args.path),
            path: args.path,
            old,
            new,
            undo: Some(undo),
        };
        crate::builtin::to_value(&r)
    }
}

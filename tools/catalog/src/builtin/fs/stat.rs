//! `fs.stat`: what a path is (type, size, mode in octal and rwx, owner and
//! group names, times, link target), without following a final link.

use std::os::unix::ffi::OsStrExt;

use aios_domain::Risk;
use nix::fcntl::{AT_FDCWD, AtFlags, readlinkat};
use nix::sys::stat::fstatat;
use nix::unistd::{Gid, Group, Uid, User};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::at::Kind;
use super::change::rwx;
use crate::util::{human_bytes, rfc3339};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsStat;

/// Arguments of `fs.stat`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsStatArgs {
    /// Path to inspect (absolute, or starting with ~). A symbolic link is described, not followed.
    pub path: String,
}

/// What is at a path.
#[derive(Debug, Clone, Serialize)]
pub struct StatResult {
    /// One line: `/etc/motd: regular file, 1.2 KiB, 0644 (rw-r--r--), root:root`.
    pub summary: String,
    /// The path.
    pub path: String,
    /// `file`, `dir`, `symlink`, `fifo`, `socket`, `char_device`, `block_device`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
    /// Disk usage in bytes (allocated blocks).
    pub disk_usage: u64,
    /// Permission bits in octal, `0644`.
    pub mode: String,
    /// Permission bits as `rw-r--r--`.
    pub permissions: String,
    /// Owner's name (the uid when unknown).
    pub owner: String,
    /// Owner's uid.
    pub uid: u32,
    /// Group's name (the gid when unknown).
    pub group: String,
    /// Group's gid.
    pub gid: u32,
    /// Hard links.
    pub links: u64,
    /// Inode number.
    pub inode: u64,
    /// Last modification, RFC 3339 UTC.
    pub modified: String,
    /// Last access, RFC 3339 UTC.
    pub accessed: String,
    /// Last status change, RFC 3339 UTC.
    pub changed: String,
    /// Where a symbolic link points (not followed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

fn type_name(mode: u32) -> &'static str {
    use nix::sys::stat::SFlag;
    match SFlag::from_bits_truncate(mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => "file",
        SFlag::S_IFDIR => "dir",
        SFlag::S_IFLNK => "symlink",
        SFlag::S_IFIFO => "fifo",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "char_device",
        SFlag::S_IFBLK => "block_device",
        _ => "unknown",
    }
}

/// `alice` for uid 1000, or `1000` when the user database does not know it.
pub(crate) fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// The group's name, or its gid.
pub(crate) fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

fn stat(ctx: &ToolCtx, raw: &str) -> Result<StatResult, ToolError> {
    let access = ctx.access();
    let path = access.resolve(raw)?;
    let st = fstatat(AT_FDCWD, &path, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| access.io_error(&path, "inspect", &std::io::Error::from(e)))?;
    let kind = Kind::of(&st);
    let target = (kind == Kind::Symlink)
        .then(|| readlinkat(AT_FDCWD, &path).ok())
        .flatten()
        .map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned());
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let (owner, group) = (user_name(st.st_uid), group_name(st.st_gid));
    let perms = rwx(st.st_mode);
    let p = path.to_string_lossy().into_owned();
    let what = match (&target, kind) {
        (Some(t), _) => format!("symbolic link to {t}"),
        (None, Kind::File) => format!("regular file, {}", human_bytes(size)),
        (None, k) => k.describe().trim_start_matches("a ").to_string(),
    };
    Ok(StatResult {
        summary: format!(
            "{p}: {what}, {:04o} ({perms}), {owner}:{group}, modified {}",
            st.st_mode & 0o7777,
            rfc3339(st.st_mtime)
        ),
        path: p,
        kind: type_name(st.st_mode),
        size,
        disk_usage: u64::try_from(st.st_blocks).unwrap_or(0) * 512,
        mode: format!("{:04o}", st.st_mode & 0o7777),
        permissions: perms,
        owner,
        uid: st.st_uid,
        group,
        gid: st.st_gid,
        links: st.st_nlink,
        inode: st.st_ino,
        modified: rfc3339(st.st_mtime),
        accessed: rfc3339(st.st_atime),
        changed: rfc3339(st.st_ctime),
        target,
    })
}

impl Tool for FsStat {
    type Args = FsStatArgs;

    fn name(&self) -> &'static str {
        "fs.stat"
    }

    fn description(&self) -> &'static str {
        "Describe one path: type, size, permissions (octal and rwx), owner and group, modification, access and \
         change times, and where a symbolic link points (links are described, not followed)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "who owns /var/www and what are its permissions",
                args: r#"{"path": "/var/www"}"#,
            },
            Example {
                request: "when was ~/.bashrc last modified",
                args: r#"{"path": "~/.bashrc"}"#,
            },
            Example {
                request: "where does /etc/localtime point",
                args: r#"{"path": "/etc/localtime"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsStatArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsStatArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsStatArgs) -> String {
        format!("describe {}", args.path)
    }

    async fn run(&self, ctx: ToolCtx, args: FsStatArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| crate::builtin::to_value(&stat(&ctx, &args.path)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use serde_json::json;

    use super::super::tests::call;
    use crate::ToolCtx;

    #[tokio::test]
    async fn describes_files_dirs_and_links_without_following() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "12345").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4750)).unwrap();
        let ctx = ToolCtx::local();
        let v = call(&ctx, "fs.stat", json!({"path": &f})).await.unwrap();
        assert_eq!(v["type"], "file");
        assert_eq!(v["size"], 5);
        assert_eq!(v["mode"], "4750");
        assert_eq!(v["permissions"], "rwsr-x---");
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(v["uid"], me);
        assert_eq!(v["owner"], super::user_name(me));
        assert!(
            v["summary"].as_str().unwrap().contains("regular file, 5 B"),
            "{v}"
        );
        let l = dir.path().join("l");
        symlink("f", &l).unwrap();
        let v = call(&ctx, "fs.stat", json!({"path": &l})).await.unwrap();
        assert_eq!(v["type"], "symlink");
        assert_eq!(v["target"], "f");
        let v = call(&ctx, "fs.stat", json!({"path": dir.path()}))
            .await
            .unwrap();
        assert_eq!(v["type"], "dir");
        let e = call(&ctx, "fs.stat", json!({"path": dir.path().join("missing")}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound, "{e}");
    }
}

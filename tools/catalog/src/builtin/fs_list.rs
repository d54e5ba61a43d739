//! `fs.list`: a directory listing with type, size, mode and mtime, sorted
//! by name and capped.

use std::path::PathBuf;

use aios_domain::Risk;
use nix::dir::Dir;
use nix::fcntl::{AtFlags, readlinkat};
use nix::sys::stat::{SFlag, fstatat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::util::{human_bytes, rfc3339};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.list`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsList;

/// Arguments of `fs.list`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsListArgs {
    /// Directory to list (absolute, or starting with ~).
    pub path: String,
    /// Include hidden entries (names starting with a dot). Default false.
    #[serde(default)]
    pub all: bool,
    /// Most entries to return (default 200, at most 5000).
    pub limit: Option<usize>,
}

const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 5000;

/// Kind of a directory entry.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link (not followed).
    Symlink,
    /// Socket, FIFO or device.
    Other,
}

/// One listed entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// File name.
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Size in bytes (of the link itself for symlinks).
    pub size: u64,
    /// Permission bits in octal, e.g. `0644`.
    pub mode: String,
    /// Last modification, RFC 3339 UTC.
    pub mtime: String,
    /// Where a symlink points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The listing.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// One line: `/etc: 120 entries (showing 100), files 1.2 MiB`.
    pub summary: String,
    /// The directory, canonical.
    pub path: PathBuf,
    /// Entries, sorted by name.
    pub entries: Vec<Entry>,
    /// Entries that matched (before the cap).
    pub total: usize,
    /// Whether entries were left out by `limit`.
    pub truncated: bool,
    /// Sum of the sizes of the returned regular files.
    pub files_size: String,
}

fn list(ctx: &ToolCtx, args: FsListArgs) -> Result<Listing, ToolError> {
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ToolError::invalid(format!(
            "fs.list: field `limit` must be 1..={MAX_LIMIT}, got {limit}"
        )));
    }
    let access = ctx.access();
    let pinned = super::paths::pin(ctx, &args.path, "list")?;
    let fd = pinned.open_dir(access, "fs.list", "use fs.read to read a file")?;
    let dir = pinned.path;
    // One descriptor iterates, a duplicate serves the per-entry lookups,
    // which are relative to the directory opened and never follow links.
    let at = fd
        .try_clone()
        .map_err(|e| access.io_error(&dir, "list", &e))?;
    let mut stream =
        Dir::from_fd(fd).map_err(|e| access.io_error(&dir, "list", &std::io::Error::from(e)))?;
    let mut entries = Vec::new();
    for (i, ent) in stream.iter().enumerate() {
        if i % 1024 == 0 {
            ctx.check_cancelled()?;
        }
        let Ok(ent) = ent else { continue };
        let cname = ent.file_name();
        let raw = cname.to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        let name = String::from_utf8_lossy(raw).into_owned();
        if !args.all && name.starts_with('.') {
            continue;
        }
        // The entry may vanish between readdir and the lookup: skip it.
        let Ok(st) = fstatat(&at, cname, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        let kind = match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFLNK => EntryType::Symlink,
            SFlag::S_IFDIR => EntryType::Dir,
            SFlag::S_IFREG => EntryType::File,
            _ => EntryType::Other,
        };
        let target = (kind == EntryType::Symlink)
            .then(|| readlinkat(&at, cname).ok())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned());
        entries.push(Entry {
            name,
            kind,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mode: format!("{:04o}", st.st_mode & 0o7777),
            mtime: rfc3339(st.st_mtime),
            target,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let total = entries.len();
    entries.truncate(limit);
    let files: u64 = entries
        .iter()
        .filter(|e| e.kind == EntryType::File)
        .map(|e| e.size)
        .sum();
    let shown = if total > entries.len() {
        format!(" (showing {})", entries.len())
    } else {
        String::new()
    };
    Ok(Listing {
        summary: format!(
            "{}: {total} entries{shown}, files {}",
            dir.display(),
            human_bytes(files)
        ),
        path: dir,
        truncated: total > entries.len(),
        total,
        entries,
        files_size: human_bytes(files),
    })
}

impl Tool for FsList {
    type Args = FsListArgs;

    fn name(&self) -> &'static str {
        "fs.list"
    }

    fn description(&self) -> &'static str {
        "List a directory: each entry's name, type (file, dir, symlink, other), size in bytes, permission mode and \
         modification time, sorted by name. Hidden entries only with all=true. Capped by limit."
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
                request: "what is in /etc/nginx?",
                args: r#"{"path": "/etc/nginx"}"#,
            },
            Example {
                request: "list my home directory",
                args: r#"{"path": "~"}"#,
            },
            Example {
                request: "show the files in /var/log",
                args: r#"{"path": "/var/log"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsListArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsListArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsListArgs) -> String {
        format!("list the directory {}", args.path)
    }

    async fn run(&self, ctx: ToolCtx, args: FsListArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| super::to_value(&list(&ctx, args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("fs.list", args)?
            .run(ToolCtx::local())
            .await
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "hello").unwrap();
        std::fs::write(dir.path().join(".hidden"), "h").unwrap();
        std::fs::create_dir(dir.path().join("a_dir")).unwrap();
        std::os::unix::fs::symlink("b.txt", dir.path().join("c_link")).unwrap();
        dir
    }

    #[tokio::test]
    async fn lists_sorted_with_types_sizes_and_modes() {
        let dir = fixture();
        let v = call(serde_json::json!({"path": dir.path()})).await.unwrap();
        let names: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a_dir", "b.txt", "c_link"]);
        let e = &v["entries"];
        assert_eq!(e[0]["type"], "dir");
        assert_eq!(e[1]["type"], "file");
        assert_eq!(e[1]["size"], 5);
        assert_eq!(e[2]["type"], "symlink");
        assert_eq!(e[2]["target"], "b.txt");
        assert!(e[1]["mode"].as_str().unwrap().starts_with('0'));
        assert!(e[1]["mtime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["truncated"], false);
        assert_eq!(v["total"], 3);
    }

    #[tokio::test]
    async fn all_shows_hidden_and_limit_truncates() {
        let dir = fixture();
        let v = call(serde_json::json!({"path": dir.path(), "all": true, "limit": 2}))
            .await
            .unwrap();
        assert_eq!(v["entries"].as_array().unwrap().len(), 2);
        assert_eq!(v["entries"][0]["name"], ".hidden");
        assert_eq!(v["total"], 4);
        assert_eq!(v["truncated"], true);
    }

    #[tokio::test]
    async fn bad_paths_and_args_are_clear() {
        let dir = fixture();
        let e = call(serde_json::json!({"path": dir.path().join("b.txt")}))
            .await
            .unwrap_err();
        assert!(e.message().contains("not a directory"), "{e}");
        let e = call(serde_json::json!({"path": dir.path().join("nope")}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
        let e = call(serde_json::json!({"path": "relative/dir"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("relative"), "{e}");
        let e = call(serde_json::json!({"path": dir.path(), "limit": 0}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`limit`"), "{e}");
        let e = call(serde_json::json!({"path": dir.path(), "all": "yes"}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`all`"), "{e}");
    }

    #[tokio::test]
    async fn unreadable_dir_is_denied_for_non_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = fixture();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let r = call(serde_json::json!({"path": &locked})).await;
        if nix::unistd::geteuid().is_root() {
            // Root bypasses mode bits; the listing works.
            assert!(r.is_ok(), "{r:?}");
        } else {
            assert_eq!(
                r.unwrap_err().kind(),
                crate::ToolErrorKind::PermissionDenied
            );
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

//! `fs.usage`: size, used and available space of the filesystem holding a
//! path (statvfs, mount from mountinfo), or of every real filesystem.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::procfs::{self, Mount};
use crate::util::{human_bytes, percent};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.usage`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsUsage;

/// Arguments of `fs.usage`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsUsageArgs {
    /// A path on the filesystem to measure (absolute, or starting with ~). Omit to list every real mounted filesystem.
    pub path: Option<String>,
}

/// Usage of one filesystem.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FsUsageInfo {
    /// `12.3 GiB of 50 GiB used (25%), 37.7 GiB available` (first, so a
    /// reader sees it before the figures).
    pub summary: String,
    /// Mount point.
    pub mount_point: PathBuf,
    /// Device or source.
    pub source: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Total bytes.
    pub size_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Bytes available to unprivileged users.
    pub avail_bytes: u64,
    /// Used / (used + available), as `df` computes it.
    pub use_percent: f64,
    /// Inodes used / total, when the filesystem has a fixed count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inodes_use_percent: Option<f64>,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Pseudo filesystems that hold no user data.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "mqueue",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "hugetlbfs",
    "autofs",
    "binfmt_misc",
    "nsfs",
    "devtmpfs",
    "efivarfs",
    "rpc_pipefs",
    "selinuxfs",
    "ramfs",
];

/// statvfs `path` and describe it as mounted at `m`.
pub(crate) fn usage_of(path: &Path, m: Option<&Mount>) -> Result<FsUsageInfo, ToolError> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| ToolError::io(path, "measure", &std::io::Error::from(e)))?;
    let frsize = st.fragment_size();
    let size = st.blocks() * frsize;
    let free = st.blocks_free() * frsize;
    let avail = st.blocks_available() * frsize;
    let used = size.saturating_sub(free);
    let pct = percent(used, used + avail);
    let files = st.files();
    let inodes = (files > 0).then(|| percent(files.saturating_sub(st.files_free()), files));
    Ok(FsUsageInfo {
        mount_point: m.map_or_else(|| path.to_path_buf(), |m| m.mount_point.clone()),
        source: m.map(|m| m.source.clone()).unwrap_or_default(),
        fs_type: m.map(|m| m.fs_type.clone()).unwrap_or_default(),
        size_bytes: size,
        used_bytes: used,
        avail_bytes: avail,
        use_percent: pct,
        summary: format!(
            "{} of {} used ({pct}%), {} available",
            human_bytes(used),
            human_bytes(size),
            human_bytes(avail)
        ),
        inodes_use_percent: inodes,
        read_only: st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
    })
}

/// Every real filesystem once: pseudo and empty ones skipped, bind mounts
/// of the same device collapsed to the shortest mount point.
fn all_filesystems(ctx: &ToolCtx) -> Result<Vec<FsUsageInfo>, ToolError> {
    let mut mounts =
        procfs::mounts().map_err(|e| ToolError::failed(format!("cannot read mountinfo: {e}")))?;
    mounts.sort_by_key(|m| m.mount_point.as_os_str().len());
    let mut seen = HashSet::new();
    let mut seen_points = HashSet::new();
    let mut out = Vec::new();
    for m in &mounts {
        ctx.check_cancelled()?;
        // Stacked mounts on one point would all measure the top one.
        if PSEUDO.contains(&m.fs_type.as_str())
            || !seen_points.insert(m.mount_point.clone())
            || !seen.insert(m.device.clone())
        {
            continue;
        }
        // Runs as the caller: a mount point they cannot reach fails here
        // with a permission error and is left out.
        match usage_of(&m.mount_point, Some(m)) {
            Ok(u) if u.size_bytes > 0 => out.push(u),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    Ok(out)
}

impl Tool for FsUsage {
    type Args = FsUsageArgs;

    fn name(&self) -> &'static str {
        "fs.usage"
    }

    fn description(&self) -> &'static str {
        "Disk space of the filesystem containing a path: size, used, available, use percent, mount point and type. \
         Without a path, lists every real mounted filesystem. Use it first when a disk is full."
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
                request: "how full is the disk?",
                args: r#"{}"#,
            },
            Example {
                request: "how much space is left on /var",
                args: r#"{"path": "/var"}"#,
            },
            Example {
                request: "why is the disk full",
                args: r#"{"path": "/"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsUsageArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        match args.path.as_mut() {
            Some(p) => crate::access::normalize_in_place(p, home),
            None => Ok(()),
        }
    }

    fn resources(&self, args: &FsUsageArgs) -> Vec<Resource> {
        vec![Resource::Path(
            args.path.as_deref().unwrap_or("/").to_string(),
        )]
    }

    fn preview(&self, args: &FsUsageArgs) -> String {
        match &args.path {
            Some(p) => format!("show disk usage of the filesystem holding {p}"),
            None => "show disk usage of every mounted filesystem".into(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: FsUsageArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| match args.path {
            None => {
                let fss = all_filesystems(&ctx)?;
                let fullest = fss
                    .iter()
                    .max_by(|a, b| a.use_percent.total_cmp(&b.use_percent))
                    .map(|f| {
                        format!(
                            "; fullest: {} at {}%",
                            f.mount_point.display(),
                            f.use_percent
                        )
                    })
                    .unwrap_or_default();
                let summary = format!("{} filesystems{fullest}", fss.len());
                super::to_value(&serde_json::json!({ "summary": summary, "filesystems": fss }))
            }
            Some(raw) => {
                // statvfs needs only to reach the path (search permission on
                // the directories leading to it), which the kernel checks as
                // the caller; it opens nothing, so a FIFO or device is
                // measured like any file.
                let access = ctx.access();
                let path = access.resolve(&raw)?;
                let path = path
                    .canonicalize()
                    .map_err(|e| access.io_error(&path, "reach", &e))?;
                let mounts = procfs::mounts().unwrap_or_default();
                let info = usage_of(&path, procfs::mount_of(&mounts, &path))?;
                let mut v = super::to_value(&info)?;
                v["path"] = Value::from(path.display().to_string());
                Ok(v)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("fs.usage", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn usage_of_temp_dir_matches_statvfs() {
        let dir = tempfile::tempdir().unwrap();
        let v = call(serde_json::json!({"path": dir.path()})).await.unwrap();
        let st = nix::sys::statvfs::statvfs(dir.path()).unwrap();
        assert_eq!(v["size_bytes"], st.blocks() * st.fragment_size());
        let mp = PathBuf::from(v["mount_point"].as_str().unwrap());
        assert!(dir.path().canonicalize().unwrap().starts_with(&mp), "{v}");
        assert!(!v["fs_type"].as_str().unwrap().is_empty(), "{v}");
        let pct = v["use_percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&pct));
    }

    #[tokio::test]
    async fn all_filesystems_include_root_once() {
        let v = call(serde_json::json!({})).await.unwrap();
        let fss = v["filesystems"].as_array().unwrap();
        assert!(!fss.is_empty(), "{v}");
        assert!(
            fss.iter()
                .all(|f| f["fs_type"] != "proc" && f["size_bytes"].as_u64().unwrap() > 0)
        );
        let mut points: Vec<&str> = fss
            .iter()
            .map(|f| f["mount_point"].as_str().unwrap())
            .collect();
        let n = points.len();
        points.dedup();
        assert_eq!(points.len(), n, "each mount point once: {v}");
    }

    #[tokio::test]
    async fn on_behalf_of_another_uid_only_the_way_there_is_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let hidden = dir.path().join("private");
        std::fs::create_dir(&hidden).unwrap();
        std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o700)).unwrap();
        let stranger = crate::Identity {
            uid: nix::unistd::geteuid().as_raw().wrapping_add(777),
            gid: 777_777,
            groups: vec![],
            name: None,
            home: None,
        };
        let ctx = || {
            ToolCtx::new(
                Default::default(),
                crate::OutputSink::discard(),
                crate::Access::as_user(stranger.clone()),
            )
        };
        let r = Registry::builtin();
        // An unreadable file on a reachable path can still be measured.
        r.prepare("fs.usage", serde_json::json!({"path": &file}))
            .unwrap()
            .run(ctx())
            .await
            .unwrap();
        let e = r
            .prepare("fs.usage", serde_json::json!({"path": hidden.join("x")}))
            .unwrap()
            .run(ctx())
            .await;
        // `private/x` does not exist; as the stranger cannot enter `private`
        // either way, the answer must not be a measurement.
        assert!(e.is_err());
        std::fs::write(hidden.join("x"), "").unwrap();
        let e = r
            .prepare("fs.usage", serde_json::json!({"path": hidden.join("x")}))
            .unwrap()
            .run(ctx())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::PermissionDenied, "{e}");
    }

    #[tokio::test]
    async fn nonexistent_path_is_not_found() {
        let e = call(serde_json::json!({"path": "/no/such/dir/aios"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
        assert!(e.message().contains("/no/such/dir/aios"), "{e}");
        let e = call(serde_json::json!({"path": 5})).await.unwrap_err();
        assert!(e.message().contains("`path`"), "{e}");
    }
}

//! `sec.world_writable`: files anyone may write, and directories anyone
//! may write without the sticky bit (anyone could delete or replace
//! other users' files there), under given roots.

use aios_domain::Risk;
use nix::sys::stat::FileStat;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::scan::{self, LIMITS, ScanStats};
use crate::procfs::UserNames;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.world_writable`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecWorldWritable;

/// Arguments of `sec.world_writable`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldWritableArgs {
    /// Directories to scan. Default /etc, /usr, /var.
    #[serde(default = "default_roots")]
    pub roots: Vec<String>,
    /// Subtrees never entered. Default /proc, /sys, /dev, /run.
    #[serde(default = "default_exclude")]
    pub exclude: Vec<String>,
    /// At most this many findings (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_roots() -> Vec<String> {
    ["/etc", "/usr", "/var"].map(String::from).to_vec()
}

pub(crate) fn default_exclude() -> Vec<String> {
    ["/proc", "/sys", "/dev", "/run"].map(String::from).to_vec()
}

fn default_limit() -> usize {
    100
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Writable {
    /// Path.
    pub path: String,
    /// `file` or `dir`.
    pub kind: &'static str,
    /// Permission bits, octal (`0777`).
    pub mode: String,
    /// Owner.
    pub owner: String,
    /// Why it matters.
    pub issue: &'static str,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct WorldWritable {
    /// One line for people.
    pub summary: String,
    /// Findings, by path.
    pub findings: Vec<Writable>,
    /// Findings before the limit.
    pub total: usize,
    /// Whether `findings` was cut at the limit.
    pub truncated: bool,
    /// What the walk covered.
    pub scan: ScanStats,
}

/// Whether an entry is a finding, and why.
pub(crate) fn classify(st: &FileStat) -> Option<(&'static str, &'static str)> {
    let mode = st.st_mode;
    if mode & 0o002 == 0 {
        return None;
    }
    if scan::is_file(st) {
        Some(("file", "any user can modify this file"))
    } else if scan::is_directory(st) && mode & 0o1000 == 0 {
        Some((
            "dir",
            "any user can create, delete or replace files here (no sticky bit)",
        ))
    } else {
        None
    }
}

fn check_args(args: &WorldWritableArgs) -> Result<(), ToolError> {
    if args.limit == 0 || args.limit > 1000 {
        return Err(ToolError::invalid(format!(
            "sec.world_writable: field `limit` must be 1..=1000, got {}",
            args.limit
        )));
    }
    if args.roots.is_empty() || args.roots.len() > 32 {
        return Err(ToolError::invalid(
            "field `roots` must name 1 to 32 directories",
        ));
    }
    Ok(())
}

fn scan_tree(ctx: &ToolCtx, args: &WorldWritableArgs) -> Result<WorldWritable, ToolError> {
    let mut names = UserNames::default();
    let mut findings = Vec::new();
    let mut total = 0;
    let stats = scan::walk(ctx, &args.roots, &args.exclude, LIMITS, |path, st| {
        if let Some((kind, issue)) = classify(st) {
            total += 1;
            if findings.len() < args.limit {
                findings.push(Writable {
                    path: path.display().to_string(),
                    kind,
                    mode: format!("{:04o}", st.st_mode & 0o7777),
                    owner: names.name(st.st_uid),
                    issue,
                });
            }
        }
    })?;
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    let mut summary = format!(
        "{total} world-writable item(s) under {} ({} entries scanned)",
        stats.roots.join(", "),
        stats.entries
    );
    if let Some(why) = &stats.stopped {
        summary.push_str(&format!("; stopped early: {why}"));
    }
    if stats.unreadable > 0 {
        summary.push_str(&format!("; {} director(ies) unreadable", stats.unreadable));
    }
    Ok(WorldWritable {
        summary,
        truncated: total > findings.len(),
        findings,
        total,
        scan: stats,
    })
}

impl Tool for SecWorldWritable {
    type Args = WorldWritableArgs;

    fn name(&self) -> &'static str {
        "sec.world_writable"
    }

    fn description(&self) -> &'static str {
        "Find world-writable files, and world-writable directories without the sticky bit, under the given \
         roots (default /etc /usr /var; /proc /sys /dev /run excluded). Never follows symbolic links; stops \
         after a bounded number of entries or seconds and says so."
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
                request: "are there world-writable files on the system?",
                args: r#"{}"#,
            },
            Example {
                request: "check /srv for files anyone can write",
                args: r#"{"roots": ["/srv"]}"#,
            },
            Example {
                request: "find insecure permissions under /etc",
                args: r#"{"roots": ["/etc"]}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut WorldWritableArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        scan::normalize_all(&mut args.roots, "roots")?;
        scan::normalize_all(&mut args.exclude, "exclude")
    }

    fn resources(&self, args: &WorldWritableArgs) -> Vec<Resource> {
        args.roots
            .iter()
            .map(|r| Resource::Path(r.clone()))
            .collect()
    }

    fn preview(&self, args: &WorldWritableArgs) -> String {
        format!("scan {} for world-writable files", args.roots.join(", "))
    }

    async fn run(&self, ctx: ToolCtx, args: WorldWritableArgs) -> Result<Value, ToolError> {
        check_args(&args)?;
        ctx.blocking(move |ctx| super::super::to_value(&scan_tree(&ctx, &args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::{Registry, ToolCtx};

    #[tokio::test]
    async fn finds_writable_files_and_unsticky_dirs_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let set = |p: &std::path::Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        std::fs::write(root.join("open"), b"x").unwrap();
        set(&root.join("open"), 0o666);
        std::fs::write(root.join("closed"), b"x").unwrap();
        set(&root.join("closed"), 0o644);
        std::fs::create_dir(root.join("tmpish")).unwrap();
        set(&root.join("tmpish"), 0o1777);
        std::fs::create_dir(root.join("drop")).unwrap();
        set(&root.join("drop"), 0o777);
        // A link to a world-writable file is not itself a finding, and is not followed.
        std::os::unix::fs::symlink(root.join("open"), root.join("link")).unwrap();
        std::fs::create_dir(root.join("excluded")).unwrap();
        std::fs::write(root.join("excluded/x"), b"x").unwrap();
        set(&root.join("excluded/x"), 0o666);

        let v = Registry::builtin()
            .prepare(
                "sec.world_writable",
                serde_json::json!({"roots": [format!("{}/./", root.display())], "exclude": [root.join("excluded")]}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let paths: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        let want = [root.join("drop"), root.join("open")];
        assert_eq!(
            paths,
            want.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>(),
            "{v}"
        );
        assert_eq!(v["findings"][0]["kind"], "dir");
        assert_eq!(v["findings"][1]["mode"], "0666");
        assert_eq!(v["total"], 2);
        assert_eq!(v["truncated"], false);

        let v = Registry::builtin()
            .prepare(
                "sec.world_writable",
                serde_json::json!({"roots": [root], "limit": 1}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["findings"].as_array().unwrap().len(), 1);
        assert_eq!(v["total"], 3);
        assert_eq!(v["truncated"], true);
    }

    #[test]
    fn defaults_are_in_the_canonical_form() {
        let c = Registry::builtin()
            .prepare("sec.world_writable", serde_json::json!({}))
            .unwrap();
        assert_eq!(
            c.canonical["roots"],
            serde_json::json!(["/etc", "/usr", "/var"])
        );
        assert_eq!(
            c.canonical["exclude"],
            serde_json::json!(["/proc", "/sys", "/dev", "/run"])
        );
        let e = Registry::builtin()
            .prepare("sec.world_writable", serde_json::json!({"roots": ["etc"]}))
            .unwrap_err();
        assert!(e.message().contains("`roots`"), "{e}");
    }
}

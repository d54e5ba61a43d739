//! `log.vacuum`: free disk space taken by old logs. Where journald runs,
//! `journalctl --vacuum-time` (and `--vacuum-size` when given); always,
//! the rotated plain files under `/var/log` (`*.1`, `*.2.gz`, `*.gz`,
//! `*.xz`, `*.bz2`, `*.zst`) last modified more than N days ago. Live logs
//! and `/var/log/journal` are never touched. No undo: deleted logs are gone.
//!
//! The walk opens each directory relative to its parent without following
//! links, and deletes with `unlinkat` relative to the directory it was
//! found in, after checking the entry again, so a directory swapped for a
//! link mid-walk cannot send the deletion elsewhere.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_domain::{Preview, PreviewDetail, Risk};
use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::now;
use crate::builtin::host::{Host, check_ok, require_root};
use crate::util::human_bytes;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// Most files one call lists or deletes.
const MAX_FILES: usize = 100_000;
const MAX_DEPTH: usize = 16;

fn default_days() -> u32 {
    7
}

/// `log.vacuum`.
#[derive(Debug, Clone, Default)]
pub struct LogVacuum {
    host: Host,
}

impl LogVacuum {
    /// With a test host (a temporary log root, no journald).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> LogVacuum {
        LogVacuum { host }
    }
}

/// Arguments of `log.vacuum`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogVacuumArgs {
    /// Delete logs older than this many days (default 7, 1 to 3650).
    #[serde(default = "default_days")]
    pub older_than_days: u32,
    /// Also shrink the journal to at most this size, e.g. 500M or 2G
    /// (journald only). Null: by age only.
    #[serde(default)]
    pub max_journal_size: Option<String>,
}

/// A rotated log file.
#[derive(Debug, Clone, Serialize)]
pub struct OldLog {
    /// Path.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What a vacuum did.
#[derive(Debug, Clone, Serialize)]
pub struct Vacuumed {
    /// One line for the human.
    pub summary: String,
    /// Files deleted (at most 200 listed).
    pub deleted: Vec<OldLog>,
    /// Files deleted in all.
    pub total: usize,
    /// Whether the list was cut.
    pub truncated: bool,
    /// Bytes freed by the files.
    pub bytes_freed: u64,
    /// What journalctl said, when it ran.
    pub journal: Option<String>,
}

/// Whether a name is a rotated log: ends in a compression suffix, or in
/// `.N` (digits).
pub(crate) fn is_rotated(name: &str) -> bool {
    if [".gz", ".xz", ".bz2", ".zst", ".lz4"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        return true;
    }
    name.rsplit_once('.').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

fn open_dir_at(at: Option<&OwnedFd>, name: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match at {
        Some(fd) => openat(fd, name, flags, Mode::empty()),
        None => nix::fcntl::open(name, flags, Mode::empty()),
    }
}

/// Walk `root` for rotated logs older than `cutoff` (Unix seconds); with
/// `delete`, unlink each as it is found. Returns the files and whether
/// the cap cut the walk.
fn walk(
    ctx: &ToolCtx,
    root: &Path,
    cutoff: i64,
    delete: bool,
) -> Result<(Vec<OldLog>, bool), ToolError> {
    let access = ctx.access();
    let top = open_dir_at(None, root)
        .map_err(|e| access.io_error(root, "open", &std::io::Error::from(e)))?;
    let mut stack: Vec<(OwnedFd, PathBuf, usize)> = vec![(top, root.to_path_buf(), 0)];
    let mut found = Vec::new();
    while let Some((fd, dir, depth)) = stack.pop() {
        ctx.check_cancelled()?;
        let at = fd
            .try_clone()
            .map_err(|e| access.io_error(&dir, "read", &e))?;
        let Ok(mut stream) = Dir::from_fd(fd) else {
            continue;
        };
        for ent in stream.iter().flatten() {
            let cname = ent.file_name();
            let raw = cname.to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            let name = String::from_utf8_lossy(raw).into_owned();
            let Ok(st) = fstatat(&at, cname, AtFlags::AT_SYMLINK_NOFOLLOW) else {
                continue;
            };
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            let path = dir.join(&name);
            if kind == SFlag::S_IFDIR {
                // journald owns its directory; vacuum it through journalctl.
                if depth + 1 < MAX_DEPTH
                    && !(depth == 0 && name == "journal")
                    && let Ok(sub) = open_dir_at(Some(&at), Path::new(&name))
                {
                    stack.push((sub, path, depth + 1));
                }
                continue;
            }
            if kind != SFlag::S_IFREG || !is_rotated(&name) || st.st_mtime >= cutoff {
                continue;
            }
            if found.len() >= MAX_FILES {
                return Ok((found, true));
            }
            if delete {
                unlinkat(&at, cname, UnlinkatFlags::NoRemoveDir)
                    .map_err(|e| access.io_error(&path, "delete", &std::io::Error::from(e)))?;
            }
            found.push(OldLog {
                path: path.display().to_string(),
                bytes: u64::try_from(st.st_blocks).unwrap_or(0) * 512,
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((found, false))
}

fn check_size(s: &str) -> Result<(), ToolError> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let ok = !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && n.len() <= 6
        && matches!(unit, "K" | "M" | "G");
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "field `max_journal_size`: {s:?} is not a size; write e.g. 500M or 2G (K, M or G)"
        )))
    }
}

impl LogVacuum {
    fn check(&self, args: &LogVacuumArgs) -> Result<(), ToolError> {
        if !(1..=3650).contains(&args.older_than_days) {
            return Err(ToolError::invalid(format!(
                "field `older_than_days` must be 1..=3650, got {}",
                args.older_than_days
            )));
        }
        args.max_journal_size
            .as_deref()
            .map(check_size)
            .transpose()?;
        Ok(())
    }

    fn cutoff(args: &LogVacuumArgs) -> i64 {
        now() - i64::from(args.older_than_days) * 86_400
    }
}

impl Tool for LogVacuum {
    type Args = LogVacuumArgs;

    fn name(&self) -> &'static str {
        "log.vacuum"
    }

    fn description(&self) -> &'static str {
        "Free disk space taken by old logs: journal entries older than N days (journald), and rotated log files \
         (*.1, *.gz …) under /var/log last written more than N days ago. The preview lists the files and bytes. \
         No undo."
    }

    fn effect(&self) -> Risk {
        Risk::Destructive
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path, ResourceKind::Journal]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "clean the old journal logs",
                args: r#"{"older_than_days": 7}"#,
            },
            Example {
                request: "delete logs older than a month",
                args: r#"{"older_than_days": 30}"#,
            },
            Example {
                request: "shrink the journal to 500 MB and drop old rotated logs",
                args: r#"{"older_than_days": 14, "max_journal_size": "500M"}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut LogVacuumArgs, _: Option<&Path>) -> Result<(), ToolError> {
        if let Some(s) = &mut args.max_journal_size {
            *s = s.trim().to_ascii_uppercase();
        }
        self.check(args)
    }

    fn resources(&self, _: &LogVacuumArgs) -> Vec<Resource> {
        let mut r = vec![Resource::Path(self.host.log_root().display().to_string())];
        if self.host.journald() {
            r.push(Resource::Journal("*".into()));
        }
        r
    }

    fn preview(&self, args: &LogVacuumArgs) -> String {
        format!(
            "delete logs older than {} days under {}",
            args.older_than_days,
            self.host.log_root().display()
        )
    }

    async fn assess(&self, ctx: &ToolCtx, args: &LogVacuumArgs) -> Result<Assessment, ToolError> {
        self.check(args)?;
        let root = self.host.log_root();
        let cutoff = Self::cutoff(args);
        let r2 = root.clone();
        let (files, cut) = ctx
            .blocking(move |ctx| walk(&ctx, &r2, cutoff, false))
            .await?;
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        let mut summary = format!(
            "delete {}{} rotated log file{} older than {} days under {} ({})",
            files.len(),
            if cut { "+" } else { "" },
            if files.len() == 1 { "" } else { "s" },
            args.older_than_days,
            root.display(),
            human_bytes(bytes)
        );
        if self.host.journald() {
            let out = self
                .host
                .run(
                    ctx,
                    "journalctl",
                    &["--disk-usage"],
                    Duration::from_secs(15),
                    4096,
                )
                .await?;
            summary.push_str(&format!(
                "; vacuum the journal to {} days{} ({})",
                args.older_than_days,
                args.max_journal_size
                    .as_deref()
                    .map_or_else(String::new, |s| format!(" and at most {s}")),
                out.stdout.trim()
            ));
        }
        if ctx.access().identity().uid != 0 {
            summary.push_str(" (the real run needs root)");
        }
        let mut items: Vec<String> = files
            .iter()
            .take(200)
            .map(|f| format!("{} ({})", f.path, human_bytes(f.bytes)))
            .collect();
        if files.len() > 200 {
            items.push(format!("… and {} more", files.len() - 200));
        }
        Ok(Assessment {
            effect: Risk::Destructive,
            resources: self.resources(args),
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected {
                    items,
                    bytes: Some(bytes),
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: LogVacuumArgs) -> Result<Value, ToolError> {
        self.check(&args)?;
        require_root(&ctx, "log.vacuum")?;
        let journal = if self.host.journald() {
            let time = format!("--vacuum-time={}d", args.older_than_days);
            let size = args
                .max_journal_size
                .as_ref()
                .map(|s| format!("--vacuum-size={s}"));
            let mut a = vec![time.as_str()];
            a.extend(size.as_deref());
            let out = self
                .host
                .run(&ctx, "journalctl", &a, Duration::from_secs(300), 64 * 1024)
                .await?;
            let out = check_ok("journalctl", &a, out)?;
            // journalctl reports on stderr.
            Some(crate::util::truncate(
                format!("{}{}", out.stdout, out.stderr).trim(),
                2000,
            ))
        } else {
            None
        };
        let root = self.host.log_root();
        let cutoff = Self::cutoff(&args);
        let (mut files, cut) = ctx
            .blocking(move |ctx| walk(&ctx, &root, cutoff, true))
            .await?;
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        let total = files.len();
        files.truncate(200);
        crate::builtin::to_value(&Vacuumed {
            summary: format!(
                "deleted {total} rotated log file{} ({} freed){}{}",
                if total == 1 { "" } else { "s" },
                human_bytes(bytes),
                if journal.is_some() {
                    "; journal vacuumed"
                } else {
                    ""
                },
                if cut {
                    "; stopped at the file cap, run again for the rest"
                } else {
                    ""
                }
            ),
            truncated: total > files.len() || cut,
            deleted: files,
            total,
            bytes_freed: bytes,
            journal,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::Registry;

    fn age(path: &Path, days: i64) {
        let t = nix::sys::time::TimeSpec::new(now() - days * 86_400, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            path,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    #[test]
    fn rotated_names() {
        for yes in [
            "syslog.1",
            "syslog.2.gz",
            "auth.log.10",
            "x.xz",
            "dpkg.log.3.zst",
        ] {
            assert!(is_rotated(yes), "{yes}");
        }
        for no in [
            "syslog",
            "auth.log",
            "lastlog",
            "wtmp",
            ".1",
            "kern.log.old",
        ] {
            assert!(!is_rotated(no), "{no}");
        }
    }

    #[tokio::test]
    async fn previews_then_deletes_only_old_rotated_files_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("log");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("nginx")).unwrap();
        std::fs::create_dir_all(root.join("journal")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let files = [
            ("syslog", 30, true),       // live log: kept
            ("syslog.1", 30, false),    // old rotated: deleted
            ("syslog.2.gz", 30, false), // old rotated: deleted
            ("syslog.3.gz", 1, true),   // recent rotated: kept
            ("nginx/access.log.1", 30, false),
            ("journal/system@x.journal.1", 30, true), // journald's: kept
        ];
        for (f, days, _) in files {
            let p = root.join(f);
            std::fs::write(&p, vec![b'x'; 10_000]).unwrap();
            age(&p, days);
        }
        // A link to a directory outside, with an old rotated file there.
        std::fs::write(outside.join("keep.1"), "x").unwrap();
        age(&outside.join("keep.1"), 30);
        symlink(&outside, root.join("elsewhere")).unwrap();
        symlink(outside.join("keep.1"), root.join("link.1")).unwrap();

        let host = Host {
            log_root: Some(root.clone()),
            journald: Some(false),
            ..Host::default()
        };
        let r = Registry::builder()
            .register(LogVacuum::with_host(host))
            .build();
        let p = r.prepare("log.vacuum", serde_json::json!({})).unwrap();
        let a = p.assess(&ToolCtx::local()).await.unwrap();
        assert_eq!(a.effect, Risk::Destructive);
        assert!(
            a.preview.summary.starts_with(&format!(
                "delete 3 rotated log files older than 7 days under {}",
                root.display()
            )),
            "{}",
            a.preview.summary
        );
        match &a.preview.detail {
            PreviewDetail::Affected { items, bytes } => {
                assert_eq!(items.len(), 3, "{items:?}");
                assert!(bytes.unwrap() >= 30_000, "{bytes:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            root.join("syslog.1").exists(),
            "the preview deleted nothing"
        );
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped the run: log.vacuum needs root (CI runs as root)");
            return;
        }
        let v = p.run(ToolCtx::local()).await.unwrap();
        assert_eq!(v["total"], 3, "{v}");
        for (f, _, kept) in files {
            assert_eq!(root.join(f).exists(), kept, "{f}");
        }
        assert!(outside.join("keep.1").exists());
        assert!(root.join("link.1").symlink_metadata().is_ok());
        let e = r
            .prepare("log.vacuum", serde_json::json!({"older_than_days": 0}))
            .unwrap_err();
        assert!(e.message().contains("`older_than_days`"), "{e}");
        let e = r
            .prepare(
                "log.vacuum",
                serde_json::json!({"max_journal_size": "lots"}),
            )
            .unwrap_err();
        assert!(e.message().contains("`max_journal_size`"), "{e}");
    }
}

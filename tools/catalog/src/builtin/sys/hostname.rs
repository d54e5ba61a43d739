//! `sys.hostname`: set the host name: the kernel's (`sethostname`, as the
//! caller: needs root) and `/etc/hostname` (written as the caller, by
//! rename), so it survives a reboot. The name is checked against RFC 1123
//! and the kernel's 64-byte limit. Undo sets the old name back.

use std::io::Write;
use std::path::Path;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::process::pin::as_caller;
use super::hostname;
use crate::{Assessment, Credentials, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sys.hostname`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysHostname;

const HOSTNAME_FILE: &str = "/etc/hostname";

/// Arguments of `sys.hostname`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SysHostnameArgs {
    /// The new host name: letters, digits and `-` in dot-separated labels of 1 to 63 characters, at most 64 in all (RFC 1123); stored in lower case.
    pub name: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct HostnameResult {
    /// One line for a human.
    pub summary: String,
    /// The name before.
    pub old: String,
    /// The name now.
    pub new: String,
    /// Whether /etc/hostname was written.
    pub persisted: bool,
}

/// Check a host name against RFC 1123 and the kernel's limit.
pub fn check_hostname(name: &str) -> Result<(), ToolError> {
    let bad = |why: &str| {
        Err(ToolError::invalid(format!(
            "sys.hostname: field `name`: {name:?} is not a valid host name: {why}"
        )))
    };
    if name.is_empty() || name.len() > 64 {
        return bad("it must be 1 to 64 characters (the kernel's limit)");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated label must be 1 to 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return bad("only letters, digits, `-` and `.` are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label may not start or end with `-`");
        }
    }
    Ok(())
}

/// Set the kernel's host name as the caller; `Err(errno)` on refusal.
fn set_kernel(creds: Option<&Credentials>, name: &str) -> Result<(), i32> {
    let bytes = name.as_bytes().to_vec();
    as_caller(creds, || {
        // SAFETY: a valid buffer and its length.
        if unsafe { libc::sethostname(bytes.as_ptr().cast(), bytes.len()) } == 0 {
            0
        } else {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        }
    })
}

/// Replace `file` with `name\n` by writing a sibling and renaming it, so a
/// crash leaves the old or the new file, never half of one.
fn write_file(file: &Path, name: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("aios-new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let r = f
        .write_all(format!("{name}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| std::fs::rename(&tmp, file));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Set the host name on this thread's UTS namespace and in `file`, as the
/// caller. If the file cannot be written, the kernel's name is put back.
/// Returns the old name.
pub(crate) fn apply(
    creds: Option<&Credentials>,
    name: &str,
    file: &Path,
) -> Result<String, ToolError> {
    let old = hostname();
    set_kernel(creds, name).map_err(|e| match e {
        libc::EPERM | libc::EACCES => ToolError::denied(
            "sys.hostname needs root (CAP_SYS_ADMIN) to set the host name: approve it as an administrator",
        ),
        e => ToolError::failed(format!("sethostname: {}", std::io::Error::from_raw_os_error(e))),
    })?;
    let write = || write_file(file, name);
    let written = match creds {
        Some(c) => c.run(write)?,
        None => write(),
    };
    if let Err(e) = written {
        // Keep the two in step: the kernel name goes back to the old one.
        let _ = set_kernel(creds, &old);
        return Err(ToolError::io(file, "write", &e));
    }
    Ok(old)
}

impl Tool for SysHostname {
    type Args = SysHostnameArgs;

    fn name(&self) -> &'static str {
        "sys.hostname"
    }

    fn description(&self) -> &'static str {
        "Set the machine's host name, now (kernel) and across reboots (/etc/hostname). The name must follow \
         RFC 1123. Needs root; the preview shows the old and new name; undo sets the old name back."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::System, ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "rename this machine to web-01",
                args: r#"{"name": "web-01"}"#,
            },
            Example {
                request: "set the hostname to db.example.com",
                args: r#"{"name": "db.example.com"}"#,
            },
            Example {
                request: "change my computer's name to atlas",
                args: r#"{"name": "atlas"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut SysHostnameArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        args.name = args.name.trim().trim_end_matches('.').to_ascii_lowercase();
        check_hostname(&args.name)
    }

    fn resources(&self, _args: &SysHostnameArgs) -> Vec<Resource> {
        vec![Resource::System, Resource::Path(HOSTNAME_FILE.into())]
    }

    fn preview(&self, args: &SysHostnameArgs) -> String {
        format!("set the host name to {}", args.name)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &SysHostnameArgs) -> Result<Assessment, ToolError> {
        let name = args.name.clone();
        let (old, file, hosts) = ctx
            .blocking(|_| {
                Ok((
                    hostname(),
                    std::fs::read_to_string(HOSTNAME_FILE).ok(),
                    std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                ))
            })
            .await?;
        // sudo and some daemons resolve the host name through /etc/hosts.
        let hosts_maps_old = hosts.lines().any(|l| {
            let l = l.split('#').next().unwrap_or("");
            l.split_whitespace().skip(1).any(|w| w == old)
        });
        let noop = old == name && file.as_deref().map(str::trim) == Some(name.as_str());
        let detail = match &file {
            Some(text) => PreviewDetail::Diff {
                path: HOSTNAME_FILE.into(),
                unified: format!(
                    "--- {HOSTNAME_FILE}\n+++ {HOSTNAME_FILE}\n@@ -1 +1 @@\n-{}\n+{name}\n",
                    text.trim_end()
                ),
            },
            None => PreviewDetail::Affected {
                items: vec![format!("{HOSTNAME_FILE} (new): {name}")],
                bytes: Some(name.len() as u64 + 1),
            },
        };
        Ok(Assessment {
            effect: if noop { Risk::Read } else { Risk::Change },
            resources: self.resources(args),
            preview: Preview {
                summary: if noop {
                    format!("the host name is already {name}: nothing to do")
                } else {
                    format!(
                        "host name {old} → {name} (the run needs root){}",
                        if hosts_maps_old {
                            format!(
                                "; /etc/hosts still maps {old}: update it too, or sudo may warn"
                            )
                        } else {
                            String::new()
                        }
                    )
                },
                detail,
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: SysHostnameArgs) -> Result<Value, ToolError> {
        let creds = ctx.access().credentials().cloned();
        let name = args.name.clone();
        // Not `ctx.blocking`: `as_caller` forks from a thread with this
        // process's own credentials.
        let old = tokio::task::spawn_blocking(move || {
            apply(creds.as_ref(), &name, Path::new(HOSTNAME_FILE))
        })
        .await
        .map_err(|e| ToolError::failed(format!("sys.hostname: {e}")))??;
        if old != args.name {
            ctx.set_undo(UndoRecord {
                tool: "sys.hostname".into(),
                args: serde_json::json!({ "name": old }),
                summary: format!("set the host name back to {old}"),
            });
        }
        crate::builtin::to_value(&HostnameResult {
            summary: format!("host name {old} → {}", args.name),
            old,
            new: args.name,
            persisted: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Registry, ToolErrorKind};

    fn nobody() -> Identity {
        Identity {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
            name: None,
            home: None,
        }
    }

    #[test]
    fn rfc1123_names() {
        for ok in ["web-01", "a", "db.example.com", "x1.y2"] {
            check_hostname(ok).unwrap();
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            "a_b",
            "héllo",
            "a b",
            &"x".repeat(65),
            &format!("{}.b", "x".repeat(64)),
        ] {
            assert!(check_hostname(bad).is_err(), "{bad}");
        }
        let p = Registry::builtin()
            .prepare("sys.hostname", serde_json::json!({"name": " Web-01. "}))
            .unwrap();
        assert_eq!(p.canonical["name"], "web-01");
    }

    /// The real code path, in a UTS namespace of its own so the machine's
    /// name never changes: root sets it and the file; nobody is refused by
    /// the kernel and nothing changes.
    #[test]
    fn sets_kernel_name_and_file_in_a_private_uts_namespace() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: a private UTS namespace needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hostname");
        std::fs::write(&file, "before\n").unwrap();
        let f2 = file.clone();
        std::thread::spawn(move || {
            // Namespaces belong to the thread: this one alone moves.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).unwrap();
            let old = apply(None, "aios-test-host", &f2).unwrap();
            assert_eq!(hostname(), "aios-test-host");
            assert_eq!(std::fs::read_to_string(&f2).unwrap(), "aios-test-host\n");
            let creds = Credentials::of(&nobody());
            let e = apply(Some(&creds), "nope", &f2).unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
            assert_eq!(hostname(), "aios-test-host", "unchanged after the refusal");
            // Undo: the old name back.
            apply(None, &old, &f2).unwrap();
            assert_eq!(hostname(), old);
            // A file that cannot be written puts the kernel name back.
            let e = apply(None, "other", Path::new("/nonexistent-dir/hostname")).unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
            assert_eq!(hostname(), old);
        })
        .join()
        .unwrap();
        assert_ne!(
            hostname(),
            "aios-test-host",
            "the machine's own name never moved"
        );
    }

    #[tokio::test]
    async fn preview_is_a_diff_and_nobody_is_refused() {
        let r = Registry::builtin();
        let p = r
            .prepare(
                "sys.hostname",
                serde_json::json!({"name": "aios-preview-test"}),
            )
            .unwrap();
        let a = p.assess(&ToolCtx::local()).await.unwrap();
        assert!(
            a.preview.summary.contains("→ aios-preview-test"),
            "{:?}",
            a.preview
        );
        if let PreviewDetail::Diff { unified, .. } = &a.preview.detail {
            assert!(unified.contains("+aios-preview-test"), "{unified}");
        }
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let ctx = ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            crate::OutputSink::discard(),
            crate::Access::as_user(nobody()),
        );
        let before = hostname();
        let e = p.run(ctx).await.unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("needs root"), "{e}");
        assert_eq!(hostname(), before);
    }
}

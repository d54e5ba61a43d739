//! `sec.suid`: setuid and setgid programs under given roots, each with
//! the dpkg package that ships it (best effort, `dpkg -S`), flagged when
//! no package owns it, when it is writable by others than its owner, or
//! when its owner is not root.

use std::collections::HashMap;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::scan::{self, LIMITS, ScanStats};
use super::world_writable::default_exclude;
use crate::command::run_command;
use crate::procfs::UserNames;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.suid`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecSuid;

/// Arguments of `sec.suid`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuidArgs {
    /// Directories to scan. Default /usr, /bin, /sbin, /opt.
    #[serde(default = "default_roots")]
    pub roots: Vec<String>,
    /// Subtrees never entered. Default /proc, /sys, /dev, /run.
    #[serde(default = "default_exclude")]
    pub exclude: Vec<String>,
    /// At most this many programs (default 200, at most 2000); flagged ones first.
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_roots() -> Vec<String> {
    ["/usr", "/bin", "/sbin", "/opt"].map(String::from).to_vec()
}

fn default_limit() -> usize {
    200
}

/// One setuid or setgid program.
#[derive(Debug, Clone, Serialize)]
pub struct Privileged {
    /// Path.
    pub path: String,
    /// Permission bits, octal (`4755`).
    pub mode: String,
    /// Owner.
    pub owner: String,
    /// Group.
    pub group: String,
    /// Runs as its owner.
    pub setuid: bool,
    /// Runs with its group.
    pub setgid: bool,
    /// The dpkg package that ships it, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Why it deserves a look; empty when nothing stands out.
    pub flags: Vec<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Suid {
    /// One line for people.
    pub summary: String,
    /// Programs, flagged first, then by path.
    pub programs: Vec<Privileged>,
    /// Programs found before the limit.
    pub total: usize,
    /// How many are flagged.
    pub flagged: usize,
    /// Whether `programs` was cut at the limit.
    pub truncated: bool,
    /// Whether package ownership could be checked (dpkg present).
    pub packages_checked: bool,
    /// What the walk covered.
    pub scan: ScanStats,
}

/// Parse `dpkg -S` output: `pkg[, pkg2]: /path` lines → path → packages.
pub fn parse_dpkg_s(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with("diversion by"))
        .filter_map(|l| {
            l.split_once(": /")
                .map(|(p, rest)| (format!("/{rest}"), p.trim().to_string()))
        })
        .collect()
}

/// The same file under merged /usr: `/usr/bin/x` ↔ `/bin/x`.
fn usrmerge_alias(p: &str) -> Option<String> {
    for d in ["bin", "sbin", "lib", "lib64"] {
        if let Some(rest) = p.strip_prefix(&format!("/usr/{d}/")) {
            return Some(format!("/{d}/{rest}"));
        }
        if let Some(rest) = p.strip_prefix(&format!("/{d}/")) {
            return Some(format!("/usr/{d}/{rest}"));
        }
    }
    None
}

/// Ask dpkg which packages own `paths`; `None` when dpkg is not there.
async fn owners(ctx: &ToolCtx, paths: &[String]) -> Option<HashMap<String, String>> {
    // Glob characters would make dpkg treat a path as a pattern.
    let plain: Vec<&str> = paths
        .iter()
        .map(String::as_str)
        .filter(|p| !p.contains(['*', '?', '[', '\\']))
        .collect();
    let mut found = HashMap::new();
    for chunk in plain.chunks(200) {
        let mut args = vec!["-S"];
        args.extend(chunk);
        let out = run_command(ctx, "dpkg", &args, Duration::from_secs(60), 4 << 20)
            .await
            .ok()?;
        found.extend(parse_dpkg_s(&out.stdout));
    }
    let missing: Vec<String> = plain
        .iter()
        .filter(|p| !found.contains_key(**p))
        .filter_map(|p| usrmerge_alias(p))
        .filter(|a| !a.contains(['*', '?', '[', '\\']))
        .collect();
    for chunk in missing.chunks(200) {
        let mut args = vec!["-S"];
        args.extend(chunk.iter().map(String::as_str));
        if let Ok(out) = run_command(ctx, "dpkg", &args, Duration::from_secs(60), 4 << 20).await {
            for (alias, pkg) in parse_dpkg_s(&out.stdout) {
                if let Some(orig) = usrmerge_alias(&alias) {
                    found.insert(orig, pkg);
                }
            }
        }
    }
    Some(found)
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

impl Tool for SecSuid {
    type Args = SuidArgs;

    fn name(&self) -> &'static str {
        "sec.suid"
    }

    fn description(&self) -> &'static str {
        "List setuid and setgid programs under the given roots (default /usr /bin /sbin /opt), with the dpkg \
         package that ships each one. Flags programs no package owns, programs writable by group or others, \
         and setuid programs not owned by root. Never follows symbolic links; bounded in entries and time."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path, ResourceKind::Package]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "which setuid binaries are on this system?",
                args: r#"{}"#,
            },
            Example {
                request: "check /opt for suid programs that no package installed",
                args: r#"{"roots": ["/opt"]}"#,
            },
            Example {
                request: "audit setgid files under /usr/local",
                args: r#"{"roots": ["/usr/local"]}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut SuidArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        scan::normalize_all(&mut args.roots, "roots")?;
        scan::normalize_all(&mut args.exclude, "exclude")
    }

    fn resources(&self, args: &SuidArgs) -> Vec<Resource> {
        args.roots
            .iter()
            .map(|r| Resource::Path(r.clone()))
            .collect()
    }

    fn preview(&self, args: &SuidArgs) -> String {
        format!(
            "scan {} for setuid and setgid programs",
            args.roots.join(", ")
        )
    }

    async fn run(&self, ctx: ToolCtx, args: SuidArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > 2000 {
            return Err(ToolError::invalid(format!(
                "sec.suid: field `limit` must be 1..=2000, got {}",
                args.limit
            )));
        }
        if args.roots.is_empty() || args.roots.len() > 32 {
            return Err(ToolError::invalid(
                "field `roots` must name 1 to 32 directories",
            ));
        }
        let (mut found, stats) = ctx
            .blocking(move |ctx| {
                let mut names = UserNames::default();
                let mut found = Vec::new();
                let stats = scan::walk(&ctx, &args.roots, &args.exclude, LIMITS, |path, st| {
                    let m = st.st_mode;
                    if scan::is_file(st) && m & (libc::S_ISUID | libc::S_ISGID) != 0 && found.len() < 100_000 {
                        found.push(Privileged {
                            path: path.display().to_string(),
                            mode: format!("{:04o}", m & 0o7777),
                            owner: names.name(st.st_uid),
                            group: group_name(st.st_gid),
                            setuid: m & libc::S_ISUID != 0,
                            setgid: m & libc::S_ISGID != 0,
                            package: None,
                            flags: if m & 0o022 != 0 {
                                vec!["writable by group or others: anyone who can write it can run code with its privileges".into()]
                            } else {
                                Vec::new()
                            },
                        });
                        if m & libc::S_ISUID != 0
                            && st.st_uid != 0
                            && let Some(p) = found.last_mut()
                        {
                            p.flags.push(format!("setuid to a non-root owner ({})", p.owner));
                        }
                    }
                })?;
                Ok((found, stats))
            })
            .await?;
        let paths: Vec<String> = found.iter().map(|p| p.path.clone()).collect();
        let pkgs = owners(&ctx, &paths).await;
        if let Some(pkgs) = &pkgs {
            for p in &mut found {
                p.package = pkgs.get(&p.path).cloned();
                if p.package.is_none() {
                    p.flags
                        .insert(0, "not installed by any dpkg package".into());
                }
            }
        }
        found.sort_by(|a, b| (a.flags.is_empty(), &a.path).cmp(&(b.flags.is_empty(), &b.path)));
        let total = found.len();
        let flagged = found.iter().filter(|p| !p.flags.is_empty()).count();
        found.truncate(args.limit);
        let mut summary = format!(
            "{total} setuid/setgid program(s) under {}, {flagged} flagged",
            stats.roots.join(", ")
        );
        if pkgs.is_none() {
            summary.push_str(" (dpkg not available: package ownership not checked)");
        }
        if let Some(why) = &stats.stopped {
            summary.push_str(&format!("; stopped early: {why}"));
        }
        super::super::to_value(&Suid {
            summary,
            truncated: total > found.len(),
            programs: found,
            total,
            flagged,
            packages_checked: pkgs.is_some(),
            scan: stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::Registry;

    #[test]
    fn dpkg_output_parses() {
        let m = parse_dpkg_s(
            "passwd: /usr/bin/passwd\nmount, util-linux: /usr/bin/mount\ndiversion by x from: /usr/bin/y\n",
        );
        assert_eq!(m["/usr/bin/passwd"], "passwd");
        assert_eq!(m["/usr/bin/mount"], "mount, util-linux");
        assert!(!m.contains_key("/usr/bin/y"));
        assert_eq!(usrmerge_alias("/usr/bin/su").as_deref(), Some("/bin/su"));
        assert_eq!(usrmerge_alias("/sbin/x").as_deref(), Some("/usr/sbin/x"));
        assert_eq!(usrmerge_alias("/opt/x"), None);
    }

    #[tokio::test]
    async fn finds_and_flags_unpackaged_setuid_programs() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let set = |p: &std::path::Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        for (name, mode) in [
            ("su_bin", 0o4755),
            ("sg_bin", 0o2755),
            ("plain", 0o755),
            ("bad", 0o4777),
        ] {
            std::fs::write(root.join(name), b"#!/bin/sh\n").unwrap();
            set(&root.join(name), mode);
        }
        let v = Registry::builtin()
            .prepare("sec.suid", serde_json::json!({"roots": [root]}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let progs = v["programs"].as_array().unwrap();
        let names: Vec<&str> = progs.iter().map(|p| p["path"].as_str().unwrap()).collect();
        assert_eq!(v["total"], 3, "{v}");
        assert!(!names.iter().any(|n| n.ends_with("plain")));
        let bad = progs
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with("/bad"))
            .unwrap();
        assert!(
            bad["flags"]
                .to_string()
                .contains("writable by group or others"),
            "{bad}"
        );
        let sg = progs
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with("/sg_bin"))
            .unwrap();
        assert_eq!(sg["setgid"], true);
        assert_eq!(sg["setuid"], false);
        assert_eq!(sg["mode"], "2755");
        if v["packages_checked"] == true {
            // No package ships files in a fresh temp directory.
            assert_eq!(v["flagged"], 3);
            assert!(sg["flags"][0].as_str().unwrap().contains("dpkg"));
        } else {
            eprintln!("dpkg missing: package ownership not checked");
        }
    }

    #[tokio::test]
    async fn a_packaged_program_is_attributed() {
        let Ok(meta) = std::fs::metadata("/usr/bin/passwd") else {
            eprintln!("skipped: no /usr/bin/passwd");
            return;
        };
        if meta.permissions().mode() & 0o4000 == 0 {
            eprintln!("skipped: /usr/bin/passwd is not setuid here");
            return;
        }
        // A root that is exactly one file is walked as that file alone.
        let v = Registry::builtin()
            .prepare(
                "sec.suid",
                serde_json::json!({"roots": ["/usr/bin/passwd"]}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        if v["packages_checked"] != true {
            eprintln!("skipped: dpkg missing");
            return;
        }
        assert_eq!(v["programs"][0]["package"], "passwd", "{v}");
        assert_eq!(v["flagged"], 0, "{v}");
    }
}

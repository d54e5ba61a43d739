//! `sec.sudoers`: who may use sudo: members of the admin groups (`sudo`,
//! `wheel`, `admin`) from the account database, and the rules of
//! `/etc/sudoers` and its included files when the caller may read them
//! (normally root only). Rules are reported as written, flagged when they
//! skip the password (`NOPASSWD`, `!authenticate`); sudoers holds no
//! password hashes, and the shadow file is never read here.

use std::path::{Path, PathBuf};

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::user::AccountDb;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.sudoers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecSudoers;

/// Arguments of `sec.sudoers`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SudoersArgs {
    /// The main sudoers file; its @includedir / @include lines are followed. Default /etc/sudoers.
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_path() -> String {
    "/etc/sudoers".into()
}

/// Groups that conventionally grant sudo.
const ADMIN_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];

/// An admin group and its members.
#[derive(Debug, Clone, Serialize)]
pub struct AdminGroup {
    /// Group name.
    pub group: String,
    /// Members (listed, or with it as primary group).
    pub members: Vec<String>,
}

/// One rule line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// File and line.
    pub source: String,
    /// `user`, `%group` or an alias name.
    pub principal: String,
    /// The whole rule as written (continuations joined).
    pub text: String,
    /// Runs commands without asking for a password.
    pub nopasswd: bool,
    /// Grants every command (`ALL` as the command list).
    pub all_commands: bool,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Sudoers {
    /// One line for people.
    pub summary: String,
    /// Admin groups present on this host.
    pub admin_groups: Vec<AdminGroup>,
    /// User rules (`Defaults` and aliases left out unless risky).
    pub rules: Vec<Rule>,
    /// Alias definitions (`User_Alias ADMINS = …`).
    pub aliases: Vec<String>,
    /// Files read.
    pub files: Vec<String>,
    /// Files that could not be read, and why.
    pub unreadable: Vec<String>,
}

/// Lines of a sudoers file with continuations joined, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, l) in text.lines().enumerate() {
        if cur.is_empty() {
            start = i + 1;
        }
        match l.strip_suffix('\\') {
            Some(l) => {
                cur.push_str(l);
                cur.push(' ');
            }
            None => {
                cur.push_str(l);
                out.push((start, std::mem::take(&mut cur)));
            }
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

/// sudo reads files in an includedir whose names have no `.` and do not end in `~`.
fn include_dir(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    !n.contains('.') && !n.ends_with('~')
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[derive(Default)]
struct Collected {
    rules: Vec<Rule>,
    aliases: Vec<String>,
    files: Vec<String>,
    unreadable: Vec<String>,
}

fn read_file(ctx: &ToolCtx, path: &Path, depth: usize, out: &mut Collected) {
    if depth > 8 {
        out.unreadable
            .push(format!("{}: includes nested too deeply", path.display()));
        return;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            out.unreadable
                .push(ctx.access().io_error(path, "read", &e).to_string());
            return;
        }
    };
    out.files.push(path.display().to_string());
    let dir = path.parent().unwrap_or(Path::new("/"));
    for (n, line) in logical_lines(&text) {
        let line = line.trim();
        let source = format!("{}:{n}", path.display());
        let directive = |p: &str| {
            line.strip_prefix(&format!("@{p} "))
                .or_else(|| line.strip_prefix(&format!("#{p} ")))
        };
        if let Some(d) = directive("includedir") {
            let d = dir.join(d.trim());
            for f in include_dir(&d) {
                read_file(ctx, &f, depth + 1, out);
            }
            continue;
        }
        if let Some(f) = directive("include") {
            read_file(ctx, &dir.join(f.trim()), depth + 1, out);
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if first.ends_with("_Alias") {
            out.aliases.push(line.to_string());
            continue;
        }
        if first.starts_with("Defaults") {
            if line.contains("!authenticate") {
                out.rules.push(Rule {
                    source,
                    principal: first.to_string(),
                    text: line.to_string(),
                    nopasswd: true,
                    all_commands: false,
                });
            }
            continue;
        }
        let commands = line
            .rsplit_once(['=', ')', ':'])
            .map_or("", |(_, c)| c)
            .trim();
        out.rules.push(Rule {
            source,
            principal: first.to_string(),
            text: line.to_string(),
            nopasswd: line.contains("NOPASSWD"),
            all_commands: commands.split(',').any(|c| c.trim() == "ALL"),
        });
    }
}

fn collect(ctx: &ToolCtx, args: &SudoersArgs) -> Result<Sudoers, ToolError> {
    let db = AccountDb::read("/etc")?;
    let admin_groups: Vec<AdminGroup> = ADMIN_GROUPS
        .iter()
        .filter_map(|name| {
            let g = db.groups.iter().find(|g| g.name == *name)?;
            let mut members = g.members.clone();
            members.extend(
                db.users
                    .iter()
                    .filter(|u| u.gid == g.gid)
                    .map(|u| u.name.clone()),
            );
            members.sort();
            members.dedup();
            Some(AdminGroup {
                group: g.name.clone(),
                members,
            })
        })
        .collect();
    let mut c = Collected::default();
    read_file(ctx, Path::new(&args.path), 0, &mut c);
    let mut users: Vec<&str> = admin_groups
        .iter()
        .flat_map(|g| g.members.iter().map(String::as_str))
        .collect();
    users.extend(c.rules.iter().map(|r| r.principal.as_str()).filter(|p| {
        !p.starts_with(['%', '+'])
            && !p.starts_with("Defaults")
            && *p != "ALL"
            && !p.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    }));
    users.sort_unstable();
    users.dedup();
    let nopasswd = c.rules.iter().filter(|r| r.nopasswd).count();
    let mut summary = if users.is_empty() {
        "no user is in an admin group or named in a readable sudoers rule".to_string()
    } else {
        format!("sudo users: {}", users.join(", "))
    };
    summary.push_str(&format!("; {} rule(s) read", c.rules.len()));
    if nopasswd > 0 {
        summary.push_str(&format!(", {nopasswd} without a password"));
    }
    if !c.unreadable.is_empty() {
        summary.push_str(&format!(
            "; {} file(s) unreadable (root can read them)",
            c.unreadable.len()
        ));
    }
    Ok(Sudoers {
        summary,
        admin_groups,
        rules: c.rules,
        aliases: c.aliases,
        files: c.files,
        unreadable: c.unreadable,
    })
}

impl Tool for SecSudoers {
    type Args = SudoersArgs;

    fn name(&self) -> &'static str {
        "sec.sudoers"
    }

    fn description(&self) -> &'static str {
        "Who can use sudo: members of the sudo, wheel and admin groups, and the rules of /etc/sudoers and \
         /etc/sudoers.d (when readable, normally by root), with rules that need no password flagged."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Group, ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "who has sudo?",
                args: r#"{}"#,
            },
            Example {
                request: "which users are administrators",
                args: r#"{}"#,
            },
            Example {
                request: "are there sudo rules without a password",
                args: r#"{}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut SudoersArgs, home: Option<&Path>) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &SudoersArgs) -> Vec<Resource> {
        let mut r: Vec<Resource> = ADMIN_GROUPS
            .iter()
            .map(|g| Resource::Group((*g).into()))
            .collect();
        r.push(Resource::Path(args.path.clone()));
        r
    }

    fn preview(&self, _args: &SudoersArgs) -> String {
        "list who may use sudo".into()
    }

    async fn run(&self, ctx: ToolCtx, args: SudoersArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |ctx| super::super::to_value(&collect(&ctx, &args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[tokio::test]
    async fn reads_rules_includes_and_flags_nopasswd() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("sudoers.d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("deploy"), "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app, \\\n  /usr/bin/systemctl status app\n").unwrap();
        std::fs::write(d.join("skipped.bak"), "evil ALL=(ALL) NOPASSWD: ALL\n").unwrap();
        let main = t.path().join("sudoers");
        std::fs::write(
            &main,
            "Defaults env_reset\nUser_Alias ADMINS = alice, bob\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\nops ALL=(ALL) NOPASSWD: ALL\n@includedir sudoers.d\n",
        )
        .unwrap();
        let v = Registry::builtin()
            .prepare("sec.sudoers", serde_json::json!({"path": main}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let rules = v["rules"].as_array().unwrap();
        let principals: Vec<&str> = rules
            .iter()
            .map(|r| r["principal"].as_str().unwrap())
            .collect();
        assert_eq!(principals, ["root", "%sudo", "ops", "deploy"], "{v}");
        assert_eq!(rules[2]["nopasswd"], true);
        assert_eq!(rules[2]["all_commands"], true);
        assert_eq!(rules[3]["nopasswd"], true);
        assert_eq!(rules[3]["all_commands"], false);
        assert!(
            rules[3]["source"]
                .as_str()
                .unwrap()
                .ends_with("sudoers.d/deploy:1")
        );
        assert!(rules[3]["text"].as_str().unwrap().contains("status app"));
        assert_eq!(v["aliases"][0], "User_Alias ADMINS = alice, bob");
        let s = v["summary"].as_str().unwrap();
        assert!(
            s.contains("ops") && s.contains("deploy") && s.contains("2 without a password"),
            "{s}"
        );
        assert!(!v.to_string().contains("evil"));
    }

    #[tokio::test]
    async fn an_unreadable_sudoers_is_reported_not_fatal() {
        let Some(u) = crate::builtin::user::testutil::TempUser::create("sudo") else {
            return;
        };
        let t = tempfile::tempdir().unwrap();
        let main = t.path().join("sudoers");
        std::fs::write(&main, "root ALL=(ALL) ALL\n").unwrap();
        // A 0700 root directory: the user cannot read what is in it.
        std::fs::set_permissions(
            t.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let v = Registry::builtin()
            .prepare("sec.sudoers", serde_json::json!({"path": main}))
            .unwrap()
            .run(u.ctx())
            .await
            .unwrap();
        assert_eq!(v["rules"].as_array().unwrap().len(), 0);
        assert!(
            v["unreadable"][0]
                .as_str()
                .unwrap()
                .contains("permission denied"),
            "{v}"
        );
        assert!(v["summary"].as_str().unwrap().contains("unreadable"));
    }
}

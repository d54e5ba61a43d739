//! `user.add`: create an account with `useradd` (validated name, optional
//! supplementary groups, shell, home). The preview lists what will be
//! created; the undo is `user.delete` of the new account.

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AccountDb, AccountName, read_db, require_root, run_helper, runs_as_root};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `user.add`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserAdd;

/// Arguments of `user.add`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserAddArgs {
    /// Login name: lower-case letters, digits, _ and -, starting with a letter or _.
    #[schemars(with = "String")]
    pub name: AccountName,
    /// Supplementary groups to join (they must exist). Default none.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<AccountName>,
    /// Login shell, one of /etc/shells (or a nologin shell). Default /bin/bash.
    #[serde(default = "default_shell")]
    pub shell: String,
    /// Create the home directory from /etc/skel. Default true.
    #[serde(default = "yes")]
    pub create_home: bool,
    /// Full name (GECOS), without `:` `,` or newlines. Default empty.
    #[serde(default)]
    pub full_name: String,
}

fn default_shell() -> String {
    "/bin/bash".into()
}

fn yes() -> bool {
    true
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    /// One line for people.
    pub summary: String,
    /// Login name.
    pub name: String,
    /// The uid it got.
    pub uid: u32,
    /// Home directory.
    pub home: String,
    /// Supplementary groups.
    pub groups: Vec<String>,
}

/// Shells that refuse logins, allowed though /etc/shells does not list them.
const NOLOGIN_SHELLS: [&str; 4] = [
    "/usr/sbin/nologin",
    "/sbin/nologin",
    "/bin/false",
    "/usr/bin/false",
];

/// Check everything `useradd` would trip on, against the database.
fn check(db: &AccountDb, shells: &str, args: &UserAddArgs) -> Result<(), ToolError> {
    if db.user(args.name.as_str()).is_some() {
        return Err(ToolError::invalid(format!(
            "user {:?} already exists (user.info shows it; choose another name)",
            args.name.as_str()
        )));
    }
    if let Some(g) = args.groups.iter().find(|g| !db.has_group(g.as_str())) {
        return Err(ToolError::not_found(format!(
            "group {:?} does not exist; `groups` may name only existing groups",
            g.as_str()
        )));
    }
    let listed = shells.lines().map(str::trim).any(|l| l == args.shell);
    let nologin = NOLOGIN_SHELLS.contains(&args.shell.as_str());
    if !(listed || nologin) {
        return Err(ToolError::invalid(format!(
            "shell {:?} is not listed in /etc/shells; use one of: {}",
            args.shell,
            shells
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if args.full_name.len() > 200 || args.full_name.contains([':', ',', '\n', '\r', '\0']) {
        return Err(ToolError::invalid(
            "field `full_name` must be at most 200 characters without ':' ',' or line breaks",
        ));
    }
    Ok(())
}

/// The first uid at or above `UID_MIN` no account uses.
fn next_uid(db: &AccountDb) -> u32 {
    let mut uid = db.human_uids.0;
    while db.users.iter().any(|u| u.uid == uid) {
        uid += 1;
    }
    uid
}

/// `HOME=` of /etc/default/useradd, `/home` when unset.
fn home_base(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("HOME="))
        .map_or_else(|| "/home".to_string(), |v| v.trim().to_string())
}

async fn read_state(ctx: &ToolCtx) -> Result<(AccountDb, String, String), ToolError> {
    ctx.blocking(|_| {
        let db = AccountDb::read("/etc")?;
        let shells = std::fs::read_to_string("/etc/shells").unwrap_or_default();
        let base = home_base(&std::fs::read_to_string("/etc/default/useradd").unwrap_or_default());
        Ok((db, shells, base))
    })
    .await
}

impl Tool for UserAdd {
    type Args = UserAddArgs;

    fn name(&self) -> &'static str {
        "user.add"
    }

    fn description(&self) -> &'static str {
        "Create a user account with useradd: login name, optional supplementary groups, login shell, home \
         directory from /etc/skel and full name. The new account has no password (locked) until one is set. \
         Needs root. Undo: user.delete."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User, ResourceKind::Group, ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "create a user called alice",
                args: r#"{"name": "alice"}"#,
            },
            Example {
                request: "add an account for bob who can use docker",
                args: r#"{"name": "bob", "groups": ["docker"]}"#,
            },
            Example {
                request: "make a user deploy with the zsh shell",
                args: r#"{"name": "deploy", "shell": "/usr/bin/zsh"}"#,
            },
        ]
    }

    fn resources(&self, args: &UserAddArgs) -> Vec<Resource> {
        let mut r = vec![Resource::User(args.name.to_string())];
        r.extend(args.groups.iter().map(|g| Resource::Group(g.to_string())));
        r
    }

    fn preview(&self, args: &UserAddArgs) -> String {
        format!("create user {}", args.name)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &UserAddArgs) -> Result<Assessment, ToolError> {
        let (db, shells, base) = read_state(ctx).await?;
        check(&db, &shells, args)?;
        let uid = next_uid(&db);
        let mut items = vec![
            format!("user {} (uid {uid}, the next free one)", args.name),
            format!("primary group {} (new, same name)", args.name),
            format!("login shell {}", args.shell),
        ];
        let home = format!("{base}/{}", args.name);
        items.push(if args.create_home {
            format!("home {home} (new, copied from /etc/skel)")
        } else {
            format!("home {home} (recorded, not created)")
        });
        if !args.groups.is_empty() {
            let g: Vec<&str> = args.groups.iter().map(AccountName::as_str).collect();
            items.push(format!("supplementary groups: {}", g.join(", ")));
        }
        items.push("password: none (locked) until one is set".into());
        let mut summary = format!("create user {} (uid {uid})", args.name);
        if !runs_as_root(ctx) {
            summary.push_str("; the change needs root");
        }
        let mut resources = self.resources(args);
        resources.push(Resource::Path(home));
        Ok(Assessment {
            effect: Risk::Change,
            resources,
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected { items, bytes: None },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: UserAddArgs) -> Result<Value, ToolError> {
        require_root(&ctx, "user.add")?;
        let (db, shells, _) = read_state(&ctx).await?;
        check(&db, &shells, &args)?;
        let groups: Vec<&str> = args.groups.iter().map(AccountName::as_str).collect();
        let joined = groups.join(",");
        let mut cmd: Vec<&str> = vec![
            if args.create_home { "-m" } else { "-M" },
            "-s",
            &args.shell,
        ];
        if !groups.is_empty() {
            cmd.extend(["-G", &joined]);
        }
        if !args.full_name.is_empty() {
            cmd.extend(["-c", &args.full_name]);
        }
        cmd.extend(["--", args.name.as_str()]);
        run_helper(&ctx, "useradd", &cmd).await?;
        let db = read_db(&ctx).await?;
        let user = db.require_user(args.name.as_str())?.clone();
        ctx.set_undo(UndoRecord {
            tool: "user.delete".into(),
            args: serde_json::json!({"name": args.name, "remove_home": args.create_home}),
            summary: if args.create_home {
                format!(
                    "delete user {} and the home {} created for it",
                    user.name, user.home
                )
            } else {
                format!("delete user {}", user.name)
            },
        });
        super::super::to_value(&Added {
            summary: format!(
                "created user {} (uid {}), home {}",
                user.name, user.uid, user.home
            ),
            name: user.name.clone(),
            uid: user.uid,
            home: user.home,
            groups: db.supplementary(&user.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use crate::builtin::user::testutil::{TempGroup, TempUser, accounts_lock};

    #[tokio::test]
    async fn adds_a_user_with_a_preview_and_an_undo_that_deletes_it() {
        let _l = accounts_lock().await;
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: user.add needs root");
            return;
        }
        let Some(g) = TempGroup::create("add") else {
            return;
        };
        // The guard deletes the account whatever happens below.
        let mut guard = TempUser {
            name: format!("aiostest_{}_add", std::process::id()),
            uid: 0,
        };
        let r = Registry::builtin();
        let call = r
            .prepare(
                "user.add",
                serde_json::json!({"name": guard.name, "groups": [g.name], "shell": "/bin/sh"}),
            )
            .unwrap();
        assert_eq!(call.canonical["create_home"], true);
        let ctx = ToolCtx::local();
        let a = call.assess(&ctx).await.unwrap();
        assert_eq!(a.effect, Risk::Change);
        let PreviewDetail::Affected { items, .. } = &a.preview.detail else {
            panic!("{:?}", a.preview)
        };
        assert!(items.iter().any(|i| i.contains(&g.name)), "{items:?}");
        assert!(items.iter().any(|i| i.contains("/etc/skel")), "{items:?}");
        // Nothing was created by assessing.
        assert!(nix::unistd::User::from_name(&guard.name).unwrap().is_none());

        let v = call.run(ctx.clone()).await.unwrap();
        let u = nix::unistd::User::from_name(&guard.name).unwrap().unwrap();
        guard.uid = u.uid.as_raw();
        assert_eq!(v["uid"], guard.uid);
        assert_eq!(v["groups"], serde_json::json!([g.name]));
        assert!(u.dir.is_dir());
        let undo = ctx.take_undo().unwrap();
        assert_eq!(undo.tool, "user.delete");
        assert_eq!(undo.args["remove_home"], true);

        // Adding it again is refused with a clear message, before useradd runs.
        let e = r
            .prepare("user.add", serde_json::json!({"name": guard.name}))
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("already exists"), "{e}");

        // The undo is a real call: it deletes the account and its home.
        r.prepare(&undo.tool, undo.args.clone())
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert!(nix::unistd::User::from_name(&guard.name).unwrap().is_none());
        assert!(!u.dir.exists());
    }

    #[tokio::test]
    async fn bad_shells_and_groups_are_refused_and_non_root_is_told_why() {
        let _l = accounts_lock().await;
        let r = Registry::builtin();
        let e = r
            .prepare(
                "user.add",
                serde_json::json!({"name": "aiostest_x", "shell": "/tmp/evil"}),
            )
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("/etc/shells"), "{e}");
        let e = r
            .prepare(
                "user.add",
                serde_json::json!({"name": "aiostest_x", "groups": ["nosuchgroup_aios"]}),
            )
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("nosuchgroup_aios"), "{e}");
        let e = r
            .prepare(
                "user.add",
                serde_json::json!({"name": "aiostest_x", "full_name": "a:b"}),
            )
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("full_name"), "{e}");

        let Some(u) = TempUser::create("addnr") else {
            return;
        };
        let call = r
            .prepare("user.add", serde_json::json!({"name": "aiostest_never"}))
            .unwrap();
        // The preview works without root and says the change needs it.
        let a = call.assess(&u.ctx()).await.unwrap();
        assert!(
            a.preview.summary.contains("needs root"),
            "{}",
            a.preview.summary
        );
        let e = call.run(u.ctx()).await.unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::PermissionDenied);
        assert!(e.message().contains("needs root"), "{e}");
        assert!(
            nix::unistd::User::from_name("aiostest_never")
                .unwrap()
                .is_none()
        );
    }
}

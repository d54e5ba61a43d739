//! `user.delete`: remove an account with `userdel`, keeping its home
//! unless asked. Refuses uid 0, the caller's own account and system
//! accounts. Destructive: there is no undo (a re-created account gets a
//! new uid and an empty home).

use aios_domain::{Preview, PreviewDetail, Risk};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    AccountDb, AccountName, PasswdEntry, read_db, refuse_root_or_self, require_root, run_helper,
    runs_as_root,
};
use crate::procfs;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `user.delete`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserDelete;

/// Arguments of `user.delete`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDeleteArgs {
    /// Login name of the account to delete.
    #[schemars(with = "String")]
    pub name: AccountName,
    /// Also delete the home directory and mail spool. Default false (kept).
    #[serde(default)]
    pub remove_home: bool,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// One line for people.
    pub summary: String,
    /// The account removed.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its home and whether it was removed.
    pub home: String,
    /// Whether the home was removed.
    pub home_removed: bool,
}

/// The account, if deleting it is allowed at all.
fn target<'a>(ctx: &ToolCtx, db: &'a AccountDb, name: &str) -> Result<&'a PasswdEntry, ToolError> {
    let user = db.require_user(name)?;
    refuse_root_or_self(ctx, user, "delete")?;
    if !db.is_human(user.uid) {
        return Err(ToolError::denied(format!(
            "refusing to delete {name:?}: uid {} is a system account (outside UID_MIN..UID_MAX of /etc/login.defs); \
             it belongs to a package, remove the package instead",
            user.uid
        )));
    }
    Ok(user)
}

/// Processes of `uid` now running (userdel refuses while there are any).
fn processes_of(uid: u32) -> usize {
    procfs::pids()
        .into_iter()
        .filter_map(procfs::read_process)
        .filter(|p| p.uid == uid)
        .count()
}

impl Tool for UserDelete {
    type Args = UserDeleteArgs;

    fn name(&self) -> &'static str {
        "user.delete"
    }

    fn description(&self) -> &'static str {
        "Delete a user account with userdel. Keeps the home directory unless remove_home is true. Refuses root \
         (uid 0), your own account and system accounts. Cannot be undone. Needs root."
    }

    fn effect(&self) -> Risk {
        Risk::Destructive
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User, ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "delete the user alice",
                args: r#"{"name": "alice"}"#,
            },
            Example {
                request: "remove bob's account and his home directory",
                args: r#"{"name": "bob", "remove_home": true}"#,
            },
            Example {
                request: "get rid of the old intern account",
                args: r#"{"name": "intern"}"#,
            },
        ]
    }

    fn resources(&self, args: &UserDeleteArgs) -> Vec<Resource> {
        vec![Resource::User(args.name.to_string())]
    }

    fn preview(&self, args: &UserDeleteArgs) -> String {
        format!("delete user {}", args.name)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &UserDeleteArgs) -> Result<Assessment, ToolError> {
        let db = read_db(ctx).await?;
        let user = target(ctx, &db, args.name.as_str())?.clone();
        let uid = user.uid;
        let procs = ctx.blocking(move |_| Ok(processes_of(uid))).await?;
        let mut items = vec![
            format!("user {} (uid {})", user.name, user.uid),
            if args.remove_home {
                format!(
                    "home {}: DELETED with everything in it, and the mail spool",
                    user.home
                )
            } else {
                format!("home {}: kept", user.home)
            },
        ];
        let groups = db.supplementary(&user.name);
        if !groups.is_empty() {
            items.push(format!("membership of: {}", groups.join(", ")));
        }
        if procs > 0 {
            items.push(format!(
                "{procs} running process(es) of this user: userdel will refuse until they stop"
            ));
        }
        let mut summary = format!("delete user {} (uid {})", user.name, user.uid);
        if args.remove_home {
            summary.push_str(&format!(" and its home {}", user.home));
        }
        if !runs_as_root(ctx) {
            summary.push_str("; the change needs root");
        }
        let mut resources = self.resources(args);
        resources.push(Resource::Path(user.home.clone()));
        Ok(Assessment {
            effect: Risk::Destructive,
            resources,
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected { items, bytes: None },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: UserDeleteArgs) -> Result<Value, ToolError> {
        require_root(&ctx, "user.delete")?;
        let db = read_db(&ctx).await?;
        let user = target(&ctx, &db, args.name.as_str())?.clone();
        let mut cmd = Vec::new();
        if args.remove_home {
            cmd.push("-r");
        }
        cmd.extend(["--", args.name.as_str()]);
        run_helper(&ctx, "userdel", &cmd).await?;
        super::super::to_value(&Deleted {
            summary: format!(
                "deleted user {} (uid {}); home {} {}",
                user.name,
                user.uid,
                user.home,
                if args.remove_home { "removed" } else { "kept" }
            ),
            name: user.name,
            uid: user.uid,
            home: user.home,
            home_removed: args.remove_home,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use crate::builtin::user::testutil::{TempUser, accounts_lock};

    #[tokio::test]
    async fn refuses_root_system_accounts_and_the_callers_own() {
        let _l = accounts_lock().await;
        let r = Registry::builtin();
        let ctx = ToolCtx::local();
        let e = r
            .prepare("user.delete", serde_json::json!({"name": "root"}))
            .unwrap()
            .assess(&ctx)
            .await
            .unwrap_err();
        assert!(e.message().contains("uid 0"), "{e}");
        let e = r
            .prepare("user.delete", serde_json::json!({"name": "nobody"}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap_err();
        assert!(e.message().contains("system account"), "{e}");
        let Some(u) = TempUser::create("delself") else {
            return;
        };
        let e = r
            .prepare("user.delete", serde_json::json!({"name": u.name}))
            .unwrap()
            .assess(&u.ctx())
            .await
            .unwrap_err();
        assert!(e.message().contains("your own account"), "{e}");
    }

    #[tokio::test]
    async fn deletes_keeping_the_home_by_default() {
        let _l = accounts_lock().await;
        let Some(u) = TempUser::create("del") else {
            return;
        };
        let home = format!("/home/{}", u.name);
        let r = Registry::builtin();
        let call = r
            .prepare("user.delete", serde_json::json!({"name": u.name}))
            .unwrap();
        assert_eq!(call.canonical["remove_home"], false);
        let a = call.assess(&ToolCtx::local()).await.unwrap();
        assert_eq!(a.effect, Risk::Destructive);
        let PreviewDetail::Affected { items, .. } = &a.preview.detail else {
            panic!()
        };
        assert!(items.iter().any(|i| i.contains("kept")), "{items:?}");
        let v = call.run(ToolCtx::local()).await.unwrap();
        assert_eq!(v["home_removed"], false);
        assert!(nix::unistd::User::from_name(&u.name).unwrap().is_none());
        assert!(std::path::Path::new(&home).is_dir());
        // The guard's userdel -r no longer finds the user: clean the home here.
        std::fs::remove_dir_all(&home).unwrap();
    }
}

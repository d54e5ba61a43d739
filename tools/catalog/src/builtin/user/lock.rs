//! `user.lock` and `user.unlock`: lock or unlock an account's password
//! (`usermod -L` / `-U`). Locking refuses root and the caller's own
//! account; unlocking refuses an account with no password, which would
//! then log in without one. Each is the other's undo.

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    AccountDb, AccountName, read_db, refuse_root_or_self, require_root, run_helper, runs_as_root,
};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `user.lock`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserLock;

/// `user.unlock`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserUnlock;

/// Arguments of `user.lock` and `user.unlock`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockArgs {
    /// Login name.
    #[schemars(with = "String")]
    pub name: AccountName,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct LockResult {
    /// One line for people.
    pub summary: String,
    /// The user.
    pub name: String,
    /// Locked now.
    pub locked: bool,
    /// Whether this call changed anything.
    pub changed: bool,
}

/// Check the call is allowed; the current lock state when readable.
fn check(ctx: &ToolCtx, db: &AccountDb, name: &str, lock: bool) -> Result<Option<bool>, ToolError> {
    let user = db.require_user(name)?;
    let shadow = db.shadow_of(name);
    if lock {
        refuse_root_or_self(ctx, user, "lock")?;
    } else if shadow.is_some_and(|s| s.no_password || s.empty_password) {
        return Err(ToolError::invalid(format!(
            "refusing to unlock {name:?}: it has no password, so unlocking would allow a login without one; \
             set a password first (passwd {name})"
        )));
    }
    Ok(shadow.map(|s| s.locked))
}

fn verb(lock: bool) -> &'static str {
    if lock { "lock" } else { "unlock" }
}

async fn assess(ctx: &ToolCtx, args: &LockArgs, lock: bool) -> Result<Assessment, ToolError> {
    let db = read_db(ctx).await?;
    let name = args.name.as_str();
    let state = check(ctx, &db, name, lock)?;
    let (mut summary, item) = match state {
        Some(now) if now == lock => (
            format!("{name} is already {}ed: nothing to change", verb(lock)),
            format!("user {name}: {}ed", verb(lock)),
        ),
        Some(now) => (
            format!("{} the password of {name}", verb(lock)),
            format!(
                "user {name}: {} → {}",
                if now { "locked" } else { "unlocked" },
                if lock { "locked" } else { "unlocked" }
            ),
        ),
        None => (
            format!("{} the password of {name}", verb(lock)),
            format!("user {name}: current state unknown (reading /etc/shadow needs root)"),
        ),
    };
    if !runs_as_root(ctx) {
        summary.push_str("; the change needs root");
    }
    Ok(Assessment {
        effect: Risk::Change,
        resources: vec![Resource::User(name.to_string())],
        preview: Preview {
            summary,
            detail: PreviewDetail::Affected {
                items: vec![item],
                bytes: None,
            },
        },
    })
}

async fn run(ctx: ToolCtx, args: LockArgs, lock: bool) -> Result<Value, ToolError> {
    let tool = if lock { "user.lock" } else { "user.unlock" };
    require_root(&ctx, tool)?;
    let db = read_db(&ctx).await?;
    let name = args.name.as_str();
    let before = check(&ctx, &db, name, lock)?;
    if before == Some(lock) {
        return super::super::to_value(&LockResult {
            summary: format!("{name} was already {}ed", verb(lock)),
            name: name.to_string(),
            locked: lock,
            changed: false,
        });
    }
    run_helper(
        &ctx,
        "usermod",
        &[if lock { "-L" } else { "-U" }, "--", name],
    )
    .await?;
    ctx.set_undo(UndoRecord {
        tool: if lock { "user.unlock" } else { "user.lock" }.into(),
        args: serde_json::json!({"name": name}),
        summary: format!("{} {name} again", verb(!lock)),
    });
    super::super::to_value(&LockResult {
        summary: format!("{}ed the password of {name}", verb(lock)),
        name: name.to_string(),
        locked: lock,
        changed: true,
    })
}

impl Tool for UserLock {
    type Args = LockArgs;

    fn name(&self) -> &'static str {
        "user.lock"
    }

    fn description(&self) -> &'static str {
        "Lock a user's password (usermod -L) so they cannot log in with it; keys and other methods are not \
         affected. Refuses root and your own account. Needs root. Undo: user.unlock."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "lock alice's account",
                args: r#"{"name": "alice"}"#,
            },
            Example {
                request: "stop bob from logging in with his password",
                args: r#"{"name": "bob"}"#,
            },
            Example {
                request: "disable the guest user",
                args: r#"{"name": "guest"}"#,
            },
        ]
    }

    fn resources(&self, args: &LockArgs) -> Vec<Resource> {
        vec![Resource::User(args.name.to_string())]
    }

    fn preview(&self, args: &LockArgs) -> String {
        format!("lock the password of {}", args.name)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &LockArgs) -> Result<Assessment, ToolError> {
        assess(ctx, args, true).await
    }

    async fn run(&self, ctx: ToolCtx, args: LockArgs) -> Result<Value, ToolError> {
        run(ctx, args, true).await
    }
}

impl Tool for UserUnlock {
    type Args = LockArgs;

    fn name(&self) -> &'static str {
        "user.unlock"
    }

    fn description(&self) -> &'static str {
        "Unlock a user's password (usermod -U). Refuses an account without a password, which would then log \
         in without one. Needs root. Undo: user.lock."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "unlock alice",
                args: r#"{"name": "alice"}"#,
            },
            Example {
                request: "let bob log in again",
                args: r#"{"name": "bob"}"#,
            },
            Example {
                request: "re-enable the guest account",
                args: r#"{"name": "guest"}"#,
            },
        ]
    }

    fn resources(&self, args: &LockArgs) -> Vec<Resource> {
        vec![Resource::User(args.name.to_string())]
    }

    fn preview(&self, args: &LockArgs) -> String {
        format!("unlock the password of {}", args.name)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &LockArgs) -> Result<Assessment, ToolError> {
        assess(ctx, args, false).await
    }

    async fn run(&self, ctx: ToolCtx, args: LockArgs) -> Result<Value, ToolError> {
        run(ctx, args, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use crate::builtin::user::testutil::{TempUser, accounts_lock};

    fn locked(name: &str) -> bool {
        AccountDb::read("/etc")
            .unwrap()
            .shadow_of(name)
            .unwrap()
            .locked
    }

    #[tokio::test]
    async fn lock_unlock_round_trip_with_undo() {
        let _l = accounts_lock().await;
        let Some(u) = TempUser::create("lock") else {
            return;
        };
        // Give it a password (a hash of nothing usable) so unlocking is allowed.
        let st = std::process::Command::new("usermod")
            .args(["-p", "$6$aiostest$x", "--", &u.name])
            .status()
            .unwrap();
        assert!(st.success());
        assert!(!locked(&u.name));
        let r = Registry::builtin();
        let call = r
            .prepare("user.lock", serde_json::json!({"name": u.name}))
            .unwrap();
        let ctx = ToolCtx::local();
        let a = call.assess(&ctx).await.unwrap();
        assert!(
            matches!(&a.preview.detail, PreviewDetail::Affected { items, .. } if items[0].contains("unlocked → locked")),
            "{a:?}"
        );
        let v = call.run(ctx.clone()).await.unwrap();
        assert_eq!(v["changed"], true);
        assert!(locked(&u.name));
        let undo = ctx.take_undo().unwrap();
        assert_eq!(undo.tool, "user.unlock");
        // Locking twice changes nothing and leaves no undo.
        let ctx2 = ToolCtx::local();
        let v = r
            .prepare("user.lock", serde_json::json!({"name": u.name}))
            .unwrap()
            .run(ctx2.clone())
            .await
            .unwrap();
        assert_eq!(v["changed"], false);
        assert!(ctx2.take_undo().is_none());
        r.prepare(&undo.tool, undo.args)
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert!(!locked(&u.name));
    }

    #[tokio::test]
    async fn refusals() {
        let _l = accounts_lock().await;
        let r = Registry::builtin();
        let e = r
            .prepare("user.lock", serde_json::json!({"name": "root"}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("uid 0"), "{e}");
        let Some(u) = TempUser::create("lockr") else {
            return;
        };
        // A fresh account has no password: unlocking it would open it.
        let e = r
            .prepare("user.unlock", serde_json::json!({"name": u.name}))
            .unwrap()
            .assess(&ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("no password"), "{e}");
        // Acting for the user: its own account is refused.
        let e = r
            .prepare("user.lock", serde_json::json!({"name": u.name}))
            .unwrap()
            .assess(&u.ctx())
            .await
            .unwrap_err();
        assert!(e.message().contains("your own account"), "{e}");
        // Another account: the preview works without root and says so; the run is denied.
        let call = r
            .prepare("user.lock", serde_json::json!({"name": "nobody"}))
            .unwrap();
        let a = call.assess(&u.ctx()).await.unwrap();
        assert!(
            a.preview.summary.contains("needs root"),
            "{}",
            a.preview.summary
        );
        let e = call.run(u.ctx()).await.unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::PermissionDenied);
    }
}

//! `user.list`: the accounts of `/etc/passwd`, human or system by the
//! `UID_MIN`..`UID_MAX` range of `/etc/login.defs`, with shell, groups and
//! (when the caller may read `/etc/shadow`) the locked state.

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AccountDb, read_db};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `user.list`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserList;

/// Which accounts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Every account.
    #[default]
    All,
    /// People: uid within UID_MIN..UID_MAX of /etc/login.defs.
    Human,
    /// Service and system accounts: every other uid.
    System,
}

/// Arguments of `user.list`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserListArgs {
    /// Which accounts: all (default), human or system.
    #[serde(default)]
    pub kind: AccountKind,
    /// At most this many accounts (default 200, at most 5000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    200
}

/// One account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group.
    pub primary_group: String,
    /// Supplementary groups.
    pub groups: Vec<String>,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Whether the shell allows an interactive login (not nologin/false).
    pub can_login: bool,
    /// Human (true) or system account.
    pub human: bool,
    /// Full name (first GECOS field), when set.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub full_name: String,
    /// Password locked; absent when /etc/shadow is not readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Accounts {
    /// One line for people.
    pub summary: String,
    /// The accounts, by uid.
    pub users: Vec<Account>,
    /// How many matched before the limit.
    pub total: usize,
    /// Whether `users` was cut at the limit.
    pub truncated: bool,
    /// Why `locked` is missing, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Whether `shell` lets a person log in.
pub(crate) fn can_login(shell: &str) -> bool {
    !(shell.is_empty()
        || shell.ends_with("/nologin")
        || shell.ends_with("/false")
        || shell == "/bin/sync")
}

pub(crate) fn account(db: &AccountDb, u: &super::PasswdEntry) -> Account {
    Account {
        name: u.name.clone(),
        uid: u.uid,
        primary_group: db
            .group_by_gid(u.gid)
            .map_or_else(|| u.gid.to_string(), |g| g.name.clone()),
        groups: db.supplementary(&u.name),
        home: u.home.clone(),
        shell: u.shell.clone(),
        can_login: can_login(&u.shell),
        human: db.is_human(u.uid),
        full_name: u.gecos.split(',').next().unwrap_or("").to_string(),
        locked: db.shadow_of(&u.name).map(|s| s.locked),
    }
}

pub(crate) fn list(db: &AccountDb, args: &UserListArgs) -> Accounts {
    let mut users: Vec<Account> = db
        .users
        .iter()
        .filter(|u| match args.kind {
            AccountKind::All => true,
            AccountKind::Human => db.is_human(u.uid),
            AccountKind::System => !db.is_human(u.uid),
        })
        .map(|u| account(db, u))
        .collect();
    users.sort_by_key(|u| u.uid);
    let total = users.len();
    let truncated = total > args.limit;
    users.truncate(args.limit);
    let humans = users.iter().filter(|u| u.human).count();
    let locked = users.iter().filter(|u| u.locked == Some(true)).count();
    let mut summary = format!(
        "{total} account(s): {humans} human, {} system",
        users.len() - humans
    );
    if db.shadow.is_some() {
        summary.push_str(&format!(", {locked} locked"));
    }
    if truncated {
        summary.push_str(&format!(" (first {} shown)", users.len()));
    }
    Accounts {
        summary,
        users,
        total,
        truncated,
        note: db.shadow.is_none().then(|| {
            "locked state unknown: /etc/shadow is readable only by root (run as an administrator to see it)"
                .to_string()
        }),
    }
}

impl Tool for UserList {
    type Args = UserListArgs;

    fn name(&self) -> &'static str {
        "user.list"
    }

    fn description(&self) -> &'static str {
        "List user accounts from /etc/passwd: name, uid, primary and supplementary groups, home, shell, whether \
         it is a human or a system account (UID_MIN..UID_MAX of /etc/login.defs), and whether the password is \
         locked (only when /etc/shadow is readable; hashes are never shown)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "which users are on this machine?",
                args: r#"{"kind": "human"}"#,
            },
            Example {
                request: "list all accounts including system ones",
                args: r#"{}"#,
            },
            Example {
                request: "show the service accounts",
                args: r#"{"kind": "system"}"#,
            },
        ]
    }

    fn resources(&self, _args: &UserListArgs) -> Vec<Resource> {
        vec![Resource::User("*".into())]
    }

    fn preview(&self, args: &UserListArgs) -> String {
        format!("list {:?} user accounts", args.kind).to_lowercase()
    }

    async fn run(&self, ctx: ToolCtx, args: UserListArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > 5000 {
            return Err(ToolError::invalid(format!(
                "user.list: field `limit` must be 1..=5000, got {}",
                args.limit
            )));
        }
        let db = read_db(&ctx).await?;
        super::super::to_value(&list(&db, &args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[tokio::test]
    async fn lists_root_as_system_and_a_new_user_as_human() {
        let _l = super::super::testutil::accounts_lock().await;
        let Some(u) = super::super::testutil::TempUser::create("list") else {
            return;
        };
        let r = Registry::builtin();
        let v = r
            .prepare("user.list", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let users = v["users"].as_array().unwrap();
        let root = users.iter().find(|x| x["name"] == "root").unwrap();
        assert_eq!(root["human"], false);
        assert_eq!(root["uid"], 0);
        let me = users.iter().find(|x| x["name"] == u.name.as_str()).unwrap();
        assert_eq!(me["human"], true);
        assert_eq!(me["shell"], "/bin/sh");
        assert_eq!(me["can_login"], true);
        // useradd -m without a password leaves it locked ("!").
        assert_eq!(me["locked"], true, "{me}");
        assert!(v["summary"].as_str().unwrap().contains("human"));

        let v = r
            .prepare(
                "user.list",
                serde_json::json!({"kind": "human", "limit": 1}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["users"].as_array().unwrap().len(), 1);
        assert!(v["users"][0]["human"].as_bool().unwrap());
        assert_eq!(v["truncated"], v["total"].as_u64().unwrap() > 1);

        // As the user itself, /etc/shadow is unreadable: no locked state, and a note says why.
        let v = r
            .prepare("user.list", serde_json::json!({"kind": "system"}))
            .unwrap()
            .run(u.ctx())
            .await
            .unwrap();
        assert!(v["users"][0].get("locked").is_none(), "{v}");
        assert!(v["note"].as_str().unwrap().contains("/etc/shadow"));
        assert!(
            v["users"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["human"] == false)
        );
    }

    #[tokio::test]
    async fn limit_is_bounded() {
        let e = Registry::builtin()
            .prepare("user.list", serde_json::json!({"limit": 0}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("`limit`"), "{e}");
    }
}

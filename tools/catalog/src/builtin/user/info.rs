//! `user.info`: one account in full: ids, groups, home, shell, password
//! lock and expiry (when `/etc/shadow` is readable) and the last login
//! (from `lastlog` when the host has it).

use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::list::{Account, account};
use super::{AccountName, now_secs, read_db};
use crate::command::run_command;
use crate::util::rfc3339;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `user.info`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserInfo;

/// Arguments of `user.info`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInfoArgs {
    /// Login name, e.g. alice.
    #[schemars(with = "String")]
    pub name: AccountName,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct UserDetails {
    /// One line for people.
    pub summary: String,
    /// The account.
    #[serde(flatten)]
    pub account: Account,
    /// Primary group id.
    pub gid: u32,
    /// Whether the account has no usable password (key or other login only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_password: Option<bool>,
    /// Whether the account has expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<bool>,
    /// Account expiry date, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Last login as `lastlog` reports it, or "never".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

/// Parse `lastlog -u NAME` output: the second line, after the user and
/// port columns; `None` for "**Never logged in**".
pub fn parse_lastlog(text: &str) -> Option<String> {
    let line = text.lines().nth(1)?;
    if line.contains("**Never logged in**") {
        return Some("never".into());
    }
    // "alice  pts/0  10.0.0.5  Mon Jan  1 10:00:00 +0000 2024": the date is
    // the last 6 fields; the port and source in between may be empty.
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 7 {
        return None;
    }
    let date = fields[fields.len() - 6..].join(" ");
    let middle = &fields[1..fields.len() - 6];
    Some(if middle.is_empty() {
        date
    } else {
        format!("{date} on {}", middle.join(" from "))
    })
}

impl Tool for UserInfo {
    type Args = UserInfoArgs;

    fn name(&self) -> &'static str {
        "user.info"
    }

    fn description(&self) -> &'static str {
        "Details of one user account: uid, gid, primary and supplementary groups, home, shell, whether the \
         password is locked and the account expired (when /etc/shadow is readable), and the last login."
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
                request: "tell me about the user alice",
                args: r#"{"name": "alice"}"#,
            },
            Example {
                request: "which groups is bob in?",
                args: r#"{"name": "bob"}"#,
            },
            Example {
                request: "when did carol last log in, is her account locked",
                args: r#"{"name": "carol"}"#,
            },
        ]
    }

    fn resources(&self, args: &UserInfoArgs) -> Vec<Resource> {
        vec![Resource::User(args.name.to_string())]
    }

    fn preview(&self, args: &UserInfoArgs) -> String {
        format!("show account {}", args.name)
    }

    async fn run(&self, ctx: ToolCtx, args: UserInfoArgs) -> Result<Value, ToolError> {
        let db = read_db(&ctx).await?;
        let user = db.require_user(args.name.as_str())?.clone();
        let mut notes = Vec::new();
        let shadow = db.shadow_of(&user.name);
        if db.shadow.is_none() {
            notes.push(
                "lock and expiry unknown: /etc/shadow is readable only by root (run as an administrator to see them)"
                    .to_string(),
            );
        }
        let last_login = match run_command(
            &ctx,
            "lastlog",
            &["-u", args.name.as_str()],
            Duration::from_secs(5),
            16 * 1024,
        )
        .await
        {
            Ok(out) if out.code == Some(0) => parse_lastlog(&out.stdout),
            Ok(out) => {
                notes.push(format!("lastlog failed: {}", out.stderr.trim()));
                None
            }
            Err(e) => {
                notes.push(format!("last login unknown: {e}"));
                None
            }
        };
        let acct = account(&db, &user);
        let expired = shadow.map(|s| s.expired(now_secs()));
        let mut summary = format!(
            "{} (uid {}), {} account, shell {}, groups: {}",
            user.name,
            user.uid,
            if acct.human { "human" } else { "system" },
            user.shell,
            if acct.groups.is_empty() {
                "none".to_string()
            } else {
                acct.groups.join(", ")
            }
        );
        if acct.locked == Some(true) {
            summary.push_str("; password locked");
        }
        if expired == Some(true) {
            summary.push_str("; expired");
        }
        if let Some(l) = &last_login {
            summary.push_str(&format!("; last login {l}"));
        }
        super::super::to_value(&UserDetails {
            summary,
            account: acct,
            gid: user.gid,
            no_password: shadow.map(|s| s.no_password),
            expired,
            expires: shadow
                .and_then(|s| s.expires_day)
                .map(|d| rfc3339(d * 86_400)[..10].to_string()),
            last_login,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registry, ToolErrorKind};

    #[test]
    fn lastlog_output_parses() {
        assert_eq!(
            parse_lastlog("Username Port From Latest\nalice **Never logged in**\n").as_deref(),
            Some("never")
        );
        assert_eq!(
            parse_lastlog(
                "Username         Port     From             Latest\nalice            pts/0    10.0.0.5         Mon Jan  1 10:00:00 +0000 2024\n"
            )
            .as_deref(),
            Some("Mon Jan 1 10:00:00 +0000 2024 on pts/0 from 10.0.0.5")
        );
        assert_eq!(parse_lastlog(""), None);
    }

    #[tokio::test]
    async fn shows_a_real_account_and_refuses_unknown_ones() {
        let _l = super::super::testutil::accounts_lock().await;
        let Some(u) = super::super::testutil::TempUser::create("info") else {
            return;
        };
        let r = Registry::builtin();
        let v = r
            .prepare("user.info", serde_json::json!({"name": u.name}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["uid"], u.uid);
        assert_eq!(v["name"], u.name.as_str());
        assert_eq!(v["locked"], true);
        assert_eq!(v["expired"], false);
        assert_eq!(v["home"], format!("/home/{}", u.name));
        if v.get("last_login").is_some() {
            assert_eq!(v["last_login"], "never", "{v}");
        }
        let s = v["summary"].as_str().unwrap();
        assert!(s.contains(&u.name) && s.contains("human"), "{s}");

        let e = r
            .prepare("user.info", serde_json::json!({"name": "nosuchuser_aios"}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::NotFound);
        let e = r
            .prepare("user.info", serde_json::json!({"name": "../etc"}))
            .unwrap_err();
        assert!(e.message().contains("`name`"), "{e}");
    }
}

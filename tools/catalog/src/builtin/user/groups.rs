//! `user.groups`: add, remove or set a user's supplementary groups
//! (`usermod -a -G`, `gpasswd -d`, `usermod -G`). The preview shows the
//! groups before and after; the undo sets them back.

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AccountDb, AccountName, read_db, require_root, run_helper, runs_as_root};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `user.groups`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserGroups;

/// How `groups` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupMode {
    /// Join these groups, keeping the others (default).
    #[default]
    Add,
    /// Leave these groups.
    Remove,
    /// Be in exactly these supplementary groups.
    Set,
}

/// Arguments of `user.groups`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserGroupsArgs {
    /// Login name.
    #[schemars(with = "String")]
    pub name: AccountName,
    /// Group names (they must exist).
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<AccountName>,
    /// add (default), remove or set.
    #[serde(default)]
    pub mode: GroupMode,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct GroupsChanged {
    /// One line for people.
    pub summary: String,
    /// The user.
    pub name: String,
    /// Supplementary groups before.
    pub before: Vec<String>,
    /// Supplementary groups after.
    pub after: Vec<String>,
    /// Whether anything changed.
    pub changed: bool,
}

/// The user's groups now and after the call.
fn plan(db: &AccountDb, args: &UserGroupsArgs) -> Result<(Vec<String>, Vec<String>), ToolError> {
    db.require_user(args.name.as_str())?;
    if let Some(g) = args.groups.iter().find(|g| !db.has_group(g.as_str())) {
        return Err(ToolError::not_found(format!(
            "group {:?} does not exist; `groups` may name only existing groups",
            g.as_str()
        )));
    }
    let before = db.supplementary(args.name.as_str());
    let named: Vec<String> = args.groups.iter().map(ToString::to_string).collect();
    let mut after: Vec<String> = match args.mode {
        GroupMode::Add => before.iter().chain(&named).cloned().collect(),
        GroupMode::Remove => before
            .iter()
            .filter(|g| !named.contains(g))
            .cloned()
            .collect(),
        GroupMode::Set => named,
    };
    after.sort();
    after.dedup();
    Ok((before, after))
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

impl Tool for UserGroups {
    type Args = UserGroupsArgs;

    fn name(&self) -> &'static str {
        "user.groups"
    }

    fn description(&self) -> &'static str {
        "Change a user's supplementary groups: add them to groups (default), remove them from groups, or set the \
         exact list. The preview shows the groups before and after. Takes effect at the user's next login. \
         Needs root. Undo: the previous list."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::User, ResourceKind::Group]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "add alice to the docker group",
                args: r#"{"name": "alice", "groups": ["docker"]}"#,
            },
            Example {
                request: "take bob out of sudo",
                args: r#"{"name": "bob", "groups": ["sudo"], "mode": "remove"}"#,
            },
            Example {
                request: "carol should only be in users and audio",
                args: r#"{"name": "carol", "groups": ["users", "audio"], "mode": "set"}"#,
            },
        ]
    }

    fn resources(&self, args: &UserGroupsArgs) -> Vec<Resource> {
        let mut r = vec![Resource::User(args.name.to_string())];
        r.extend(args.groups.iter().map(|g| Resource::Group(g.to_string())));
        r
    }

    fn preview(&self, args: &UserGroupsArgs) -> String {
        format!("change the groups of {}", args.name)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &UserGroupsArgs) -> Result<Assessment, ToolError> {
        let db = read_db(ctx).await?;
        let (before, after) = plan(&db, args)?;
        let mut summary = if before == after {
            format!(
                "groups of {} stay {}: nothing to change",
                args.name,
                list(&before)
            )
        } else {
            format!(
                "groups of {}: {} → {}",
                args.name,
                list(&before),
                list(&after)
            )
        };
        if !runs_as_root(ctx) {
            summary.push_str("; the change needs root");
        }
        let mut resources = self.resources(args);
        // A set or remove also touches the groups left.
        for g in before.iter().filter(|g| !after.contains(g)) {
            let r = Resource::Group(g.clone());
            if !resources.contains(&r) {
                resources.push(r);
            }
        }
        Ok(Assessment {
            effect: Risk::Change,
            resources,
            preview: Preview {
                summary,
                detail: PreviewDetail::Affected {
                    items: vec![
                        format!("before: {}", list(&before)),
                        format!("after: {}", list(&after)),
                    ],
                    bytes: None,
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: UserGroupsArgs) -> Result<Value, ToolError> {
        require_root(&ctx, "user.groups")?;
        let db = read_db(&ctx).await?;
        let (before, after) = plan(&db, &args)?;
        let name = args.name.as_str();
        if before != after {
            match args.mode {
                GroupMode::Add => {
                    let joined = args
                        .groups
                        .iter()
                        .map(AccountName::as_str)
                        .collect::<Vec<_>>()
                        .join(",");
                    run_helper(&ctx, "usermod", &["-a", "-G", &joined, "--", name]).await?;
                }
                GroupMode::Remove => {
                    for g in before.iter().filter(|g| !after.contains(g)) {
                        run_helper(&ctx, "gpasswd", &["-d", name, g]).await?;
                    }
                }
                GroupMode::Set => {
                    let joined = after.join(",");
                    run_helper(&ctx, "usermod", &["-G", &joined, "--", name]).await?;
                }
            }
            ctx.set_undo(UndoRecord {
                tool: "user.groups".into(),
                args: serde_json::json!({"name": name, "groups": before, "mode": "set"}),
                summary: format!("set the groups of {name} back to {}", list(&before)),
            });
        }
        let now = read_db(&ctx).await?.supplementary(name);
        super::super::to_value(&GroupsChanged {
            summary: if before == now {
                format!("groups of {name} unchanged: {}", list(&now))
            } else {
                format!(
                    "groups of {name}: {} → {} (effective at next login)",
                    list(&before),
                    list(&now)
                )
            },
            name: name.to_string(),
            changed: before != now,
            before,
            after: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use crate::builtin::user::testutil::{TempGroup, TempUser, accounts_lock};

    #[tokio::test]
    async fn add_remove_set_and_undo_against_the_real_database() {
        let _l = accounts_lock().await;
        let Some(u) = TempUser::create("grp") else {
            return;
        };
        let (Some(g1), Some(g2)) = (TempGroup::create("a"), TempGroup::create("b")) else {
            return;
        };
        let r = Registry::builtin();
        let run = |args: serde_json::Value| {
            let r = &r;
            async move {
                let call = r.prepare("user.groups", args).unwrap();
                let ctx = ToolCtx::local();
                let a = call.assess(&ctx).await.unwrap();
                let v = call.run(ctx.clone()).await.unwrap();
                (a, v, ctx.take_undo())
            }
        };
        let (a, v, undo) =
            run(serde_json::json!({"name": u.name, "groups": [g1.name, g2.name]})).await;
        assert!(
            a.preview.summary.contains("(none) →"),
            "{}",
            a.preview.summary
        );
        assert_eq!(v["after"], serde_json::json!([g1.name, g2.name]));
        let undo = undo.unwrap();
        assert_eq!(undo.args["groups"], serde_json::json!([]));

        let (_, v, _) =
            run(serde_json::json!({"name": u.name, "groups": [g1.name], "mode": "remove"})).await;
        assert_eq!(v["after"], serde_json::json!([g2.name]));
        assert_eq!(
            read_db(&ToolCtx::local())
                .await
                .unwrap()
                .supplementary(&u.name),
            std::slice::from_ref(&g2.name)
        );

        let (_, v, undo) =
            run(serde_json::json!({"name": u.name, "groups": [g1.name], "mode": "set"})).await;
        assert_eq!(v["after"], serde_json::json!([g1.name]));
        // The undo, run as a call, restores the previous list.
        let undo = undo.unwrap();
        let (_, v, _) = run(undo.args).await;
        assert_eq!(v["after"], serde_json::json!([g2.name]));

        // No change: no undo.
        let (a, v, undo) = run(serde_json::json!({"name": u.name, "groups": [g2.name]})).await;
        assert!(a.preview.summary.contains("nothing to change"));
        assert_eq!(v["changed"], false);
        assert!(undo.is_none());
    }
}

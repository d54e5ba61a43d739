//! `cron.remove`: remove a job from the caller's crontab, by its aiOS
//! marker id or by its exact line. The preview is the crontab's diff; the
//! undo adds the job back with `cron.add`.

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{caller_name, diff, install_crontab, marker, read_crontab, split_job, validate_id};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `cron.remove`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CronRemove;

/// Arguments of `cron.remove`: exactly one of `id` and `line`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronRemoveArgs {
    /// The marker id of a job aiOS added (`# aios:<id>`, as cron.list shows).
    #[serde(default)]
    pub id: Option<String>,
    /// Or the exact line to remove, as cron.list shows it.
    #[serde(default)]
    pub line: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct CronRemoved {
    /// One line for people.
    pub summary: String,
    /// Whose crontab.
    pub user: String,
    /// The lines removed.
    pub removed: Vec<String>,
}

/// The crontab without the matching lines, and those lines.
fn plan(current: &str, args: &CronRemoveArgs) -> Result<(String, Vec<String>), ToolError> {
    let matches = |l: &str| match (&args.id, &args.line) {
        (Some(id), _) => marker(l) == Some(id.as_str()),
        (None, Some(line)) => l.trim() == line.trim(),
        (None, None) => false,
    };
    let removed: Vec<String> = current
        .lines()
        .filter(|l| matches(l))
        .map(str::to_string)
        .collect();
    if removed.is_empty() {
        return Err(ToolError::not_found(match &args.id {
            Some(id) => {
                format!("no job marked aios:{id} in the crontab (cron.list shows the jobs)")
            }
            None => {
                "no crontab line is exactly the given `line` (cron.list shows the lines)".into()
            }
        }));
    }
    let mut after: String = current
        .lines()
        .filter(|l| !matches(l))
        .map(|l| format!("{l}\n"))
        .collect();
    if after.trim().is_empty() {
        after.clear();
    }
    Ok((after, removed))
}

impl Tool for CronRemove {
    type Args = CronRemoveArgs;

    fn name(&self) -> &'static str {
        "cron.remove"
    }

    fn description(&self) -> &'static str {
        "Remove a job from your own crontab: one aiOS added (by its marker id) or any line (by its exact text). \
         The preview is the crontab's diff. Undo: cron.add of the removed job."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Schedule]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "remove the tunnel job from my crontab",
                args: r#"{"id": "tunnel"}"#,
            },
            Example {
                request: "stop running the disk check every 5 minutes",
                args: r#"{"line": "*/5 * * * * /usr/local/bin/check-disk"}"#,
            },
            Example {
                request: "delete the cron job aios:3f2a9c1b",
                args: r#"{"id": "3f2a9c1b"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut CronRemoveArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        match (&args.id, &mut args.line) {
            (Some(id), None) => {
                validate_id(id).map_err(|e| ToolError::invalid(format!("field `id`: {e}")))
            }
            (None, Some(line)) => {
                *line = line.trim().to_string();
                if line.is_empty() || line.contains('\n') {
                    return Err(ToolError::invalid(
                        "field `line` must be one non-empty crontab line",
                    ));
                }
                Ok(())
            }
            _ => Err(ToolError::invalid(
                "give exactly one of `id` (an aios marker id) and `line` (an exact crontab line)",
            )),
        }
    }

    fn resources(&self, args: &CronRemoveArgs) -> Vec<Resource> {
        vec![Resource::Schedule(match (&args.id, &args.line) {
            (Some(id), _) => format!("aios:{id}"),
            (None, Some(l)) => l.clone(),
            (None, None) => String::new(),
        })]
    }

    fn preview(&self, args: &CronRemoveArgs) -> String {
        match (&args.id, &args.line) {
            (Some(id), _) => format!("remove the job aios:{id} from your crontab"),
            (None, Some(l)) => format!("remove the line {l:?} from your crontab"),
            (None, None) => "remove nothing".into(),
        }
    }

    async fn assess(&self, ctx: &ToolCtx, args: &CronRemoveArgs) -> Result<Assessment, ToolError> {
        let user = caller_name(ctx)?;
        let current = read_crontab(ctx).await?;
        let (after, removed) = plan(&current, args)?;
        let mut resources = self.resources(args);
        resources.push(Resource::User(user.clone()));
        Ok(Assessment {
            effect: Risk::Change,
            resources,
            preview: Preview {
                summary: format!(
                    "remove {} line(s) from {user}'s crontab: {}",
                    removed.len(),
                    removed.join(" | ")
                ),
                detail: PreviewDetail::Diff {
                    path: format!("crontab:{user}"),
                    unified: diff(&user, &current, &after),
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: CronRemoveArgs) -> Result<Value, ToolError> {
        let user = caller_name(&ctx)?;
        let current = read_crontab(&ctx).await?;
        let (after, removed) = plan(&current, &args)?;
        install_crontab(&ctx, after).await?;
        // One job removed: adding it back is the undo (the same marker id
        // when it had one). Several identical lines, or a line that is not
        // a job, have no single undo.
        if let [line] = removed.as_slice()
            && let Some((schedule, command)) = split_job(line)
        {
            let mut undo_args = serde_json::json!({"schedule": schedule, "command": command});
            if let Some(id) = marker(line) {
                undo_args["id"] = Value::from(id);
            }
            ctx.set_undo(UndoRecord {
                tool: "cron.add".into(),
                args: undo_args,
                summary: format!("add the job back to {user}'s crontab: {schedule} {command}"),
            });
        }
        super::super::to_value(&CronRemoved {
            summary: format!("removed {} line(s) from {user}'s crontab", removed.len()),
            user,
            removed,
        })
    }
}

//! `cron.add`: add a job to the caller's crontab, as a line marked
//! `# aios:<id>` so it can be found and removed again. The preview is the
//! crontab's diff; the undo is `cron.remove` of that id.

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    caller_name, diff, install_crontab, marked_line, marker, read_crontab, validate_command,
    validate_id, validate_schedule,
};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `cron.add`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CronAdd;

/// Arguments of `cron.add`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronAddArgs {
    /// When: five fields (minute hour day-of-month month day-of-week), e.g. "30 2 * * 1", or @hourly, @daily, @weekly, @monthly, @yearly, @reboot.
    pub schedule: String,
    /// The command line cron runs with /bin/sh (one line; write \% for a literal %).
    pub command: String,
    /// Marker id of the line (lower-case letters, digits, -). Default: derived from schedule and command.
    #[serde(default)]
    pub id: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct CronAdded {
    /// One line for people.
    pub summary: String,
    /// Whose crontab.
    pub user: String,
    /// The marker id.
    pub id: String,
    /// The line added.
    pub line: String,
}

/// The default id: 8 hex digits of SHA-256 over schedule and command.
fn derive_id(schedule: &str, command: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{schedule}\n{command}").as_bytes());
    hex::encode(&h[..4])
}

/// The crontab with the line appended, or why not.
fn plan(current: &str, args: &CronAddArgs) -> Result<(String, String), ToolError> {
    let id = args.id.clone().unwrap_or_default();
    if current.lines().any(|l| marker(l) == Some(id.as_str())) {
        return Err(ToolError::invalid(format!(
            "the crontab already has a job marked aios:{id} (cron.list shows it; cron.remove removes it)"
        )));
    }
    let line = marked_line(&args.schedule, &args.command, &id);
    let mut after = current.to_string();
    if !after.is_empty() && !after.ends_with('\n') {
        after.push('\n');
    }
    after.push_str(&line);
    after.push('\n');
    Ok((after, line))
}

impl Tool for CronAdd {
    type Args = CronAddArgs;

    fn name(&self) -> &'static str {
        "cron.add"
    }

    fn description(&self) -> &'static str {
        "Add a scheduled job to your own crontab: a strictly validated schedule (five fields or @daily and the \
         like) and a one-line command, marked `# aios:<id>` so cron.remove can take it out. The preview is the \
         crontab's diff. Undo: cron.remove."
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
                request: "run my backup script every night at 2:30",
                args: r#"{"schedule": "30 2 * * *", "command": "/home/alice/bin/backup.sh"}"#,
            },
            Example {
                request: "every 5 minutes, check the disk",
                args: r#"{"schedule": "*/5 * * * *", "command": "/usr/local/bin/check-disk"}"#,
            },
            Example {
                request: "start my tunnel at boot",
                args: r#"{"schedule": "@reboot", "command": "/home/alice/bin/tunnel", "id": "tunnel"}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut CronAddArgs,
        _home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        args.schedule = validate_schedule(&args.schedule)
            .map_err(|e| ToolError::invalid(format!("field `schedule`: {e}")))?;
        validate_command(&args.command)
            .map_err(|e| ToolError::invalid(format!("field `command`: {e}")))?;
        args.command = args.command.trim().to_string();
        let id = match args.id.take() {
            Some(id) => id,
            None => derive_id(&args.schedule, &args.command),
        };
        validate_id(&id).map_err(|e| ToolError::invalid(format!("field `id`: {e}")))?;
        args.id = Some(id);
        Ok(())
    }

    fn resources(&self, args: &CronAddArgs) -> Vec<Resource> {
        vec![Resource::Schedule(format!(
            "aios:{}",
            args.id.as_deref().unwrap_or("")
        ))]
    }

    fn preview(&self, args: &CronAddArgs) -> String {
        format!("add to your crontab: {} {}", args.schedule, args.command)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &CronAddArgs) -> Result<Assessment, ToolError> {
        let user = caller_name(ctx)?;
        let current = read_crontab(ctx).await?;
        let (after, line) = plan(&current, args)?;
        let mut resources = self.resources(args);
        resources.push(Resource::User(user.clone()));
        Ok(Assessment {
            effect: Risk::Change,
            resources,
            preview: Preview {
                summary: format!("add to {user}'s crontab: {line}"),
                detail: PreviewDetail::Diff {
                    path: format!("crontab:{user}"),
                    unified: diff(&user, &current, &after),
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: CronAddArgs) -> Result<Value, ToolError> {
        let user = caller_name(&ctx)?;
        let current = read_crontab(&ctx).await?;
        let (after, line) = plan(&current, &args)?;
        install_crontab(&ctx, after).await?;
        let id = args.id.clone().unwrap_or_default();
        ctx.set_undo(UndoRecord {
            tool: "cron.remove".into(),
            args: serde_json::json!({"id": id}),
            summary: format!("remove the job aios:{id} from {user}'s crontab"),
        });
        super::super::to_value(&CronAdded {
            summary: format!("added to {user}'s crontab: {line}"),
            user,
            id,
            line,
        })
    }
}

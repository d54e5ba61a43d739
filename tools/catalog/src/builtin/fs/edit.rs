//! `fs.edit`: replace an exact string in a text file. `old` must occur
//! exactly once unless `replace_all`; the error says how often it occurs.
//! Written atomically like `fs.write`, snapshotted first.

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::change::NEW_FILE_MODE;
use super::content::{self, Plan0};
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `fs.edit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsEdit;

/// Arguments of `fs.edit`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsEditArgs {
    /// Text file to edit (absolute, or starting with ~).
    pub path: String,
    /// The exact text to replace, whitespace and newlines included; it must occur exactly once unless replace_all.
    pub old: String,
    /// The text to put in its place.
    pub new: String,
    /// Replace every occurrence instead of requiring exactly one (default false).
    #[serde(default)]
    pub replace_all: bool,
}

/// The edited text, or an error saying how often `old` occurs.
pub(crate) fn replace(p: &Plan0, args: &FsEditArgs) -> Result<Vec<u8>, ToolError> {
    let path = p.t.path.display();
    let bytes = p.content("fs.edit")?;
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ToolError::invalid(format!(
            "{path} is not UTF-8 text; fs.edit edits text files (fs.write replaces a whole file)"
        ))
    })?;
    let n = text.matches(args.old.as_str()).count();
    match n {
        0 => Err(ToolError::invalid(format!(
            "`old` does not occur in {path}; read the file (fs.read) and copy the exact text, whitespace and line breaks included"
        ))),
        1 => Ok(text.replacen(&args.old, &args.new, 1).into_bytes()),
        _ if args.replace_all => Ok(text.replace(&args.old, &args.new).into_bytes()),
        n => Err(ToolError::invalid(format!(
            "`old` occurs {n} times in {path}; include more of the surrounding text so it occurs exactly once, \
             or set replace_all: true to replace all {n}"
        ))),
    }
}

fn check(args: &FsEditArgs) -> Result<(), ToolError> {
    if args.old.is_empty() {
        return Err(ToolError::invalid(
            "fs.edit: field `old` is empty; give the exact text to replace (fs.append adds to the end)",
        ));
    }
    if args.old == args.new {
        return Err(ToolError::invalid(
            "fs.edit: `old` and `new` are the same; nothing would change",
        ));
    }
    Ok(())
}

fn compute(args: &FsEditArgs) -> Result<content::Compute, ToolError> {
    check(args)?;
    let args = args.clone();
    Ok(Box::new(move |p| Ok((Some(replace(p, &args)?), None))))
}

impl Tool for FsEdit {
    type Args = FsEditArgs;

    fn name(&self) -> &'static str {
        "fs.edit"
    }

    fn description(&self) -> &'static str {
        "Replace an exact piece of text in a text file (configuration, scripts). `old` must occur exactly once \
         unless replace_all is set; otherwise the error says how many times it occurs. Shows a diff before it runs, \
         writes atomically, keeps mode and owner, and can be undone with fs.restore."
    }

    fn effect(&self) -> Risk {
        Risk::Change
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "disable password login in sshd_config",
                args: r#"{"path": "/etc/ssh/sshd_config", "old": "PasswordAuthentication yes", "new": "PasswordAuthentication no"}"#,
            },
            Example {
                request: "change the port in ~/app/config.toml from 8080 to 9090",
                args: r#"{"path": "~/app/config.toml", "old": "port = 8080", "new": "port = 9090"}"#,
            },
            Example {
                request: "rename every 'oldhost' to 'newhost' in /etc/hosts",
                args: r#"{"path": "/etc/hosts", "old": "oldhost", "new": "newhost", "replace_all": true}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut FsEditArgs,
        home: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.path, home)
    }

    fn resources(&self, args: &FsEditArgs) -> Vec<Resource> {
        vec![Resource::Path(args.path.clone())]
    }

    fn preview(&self, args: &FsEditArgs) -> String {
        format!("replace text in {}", args.path)
    }

    async fn assess(&self, ctx: &ToolCtx, args: &FsEditArgs) -> Result<Assessment, ToolError> {
        let what = if args.replace_all {
            "every occurrence of the text"
        } else {
            "one occurrence of the text"
        };
        content::assess(ctx, &args.path, "fs.edit", true, compute(args)?, |_| {
            format!("edit {}: replace {what}", args.path)
        })
        .await
    }

    async fn run(&self, ctx: ToolCtx, args: FsEditArgs) -> Result<Value, ToolError> {
        let plan = content::plan(&ctx, &args.path, "fs.edit", compute(&args)?).await?;
        let (r, _) = content::apply(&ctx, plan, "edited", NEW_FILE_MODE).await?;
        crate::builtin::to_value(&r)
    }
}

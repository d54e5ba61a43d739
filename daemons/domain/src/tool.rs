//! Tools as the executor offers them: specs, effect classes and one
//! execution's request and outcome.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How much a tool can change the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Reads only.
    Read,
    /// Changes the system, reversibly.
    Change,
    /// Changes the system in a way that may lose data.
    Destructive,
}

/// A tool's definition as seen by clients and models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Dotted name, `namespace.verb`.
    pub name: String,
    /// One paragraph for the model and the help.
    pub description: String,
    /// JSON schema of the arguments.
    pub args_schema: Value,
    /// Effect class.
    pub effect: Risk,
    /// Kinds of resources the tool touches (`path`, `service`…), for policy.
    pub resources: Vec<String>,
    /// Natural requests this tool answers, with the call for each: the
    /// model router retrieves tools by them, the demo provider and the
    /// docs use them.
    pub examples: Vec<ToolExample>,
}

/// One natural phrasing of a request and the call that answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolExample {
    /// What a user might say.
    pub request: String,
    /// The arguments of the call that answers it.
    pub args: Value,
}

/// What a call would do, shown before it runs (approval cards, dry runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    /// One line: what will happen.
    pub summary: String,
    /// The evidence behind it.
    #[serde(flatten)]
    pub detail: PreviewDetail,
}

/// The body of a [`Preview`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviewDetail {
    /// Nothing more than the summary (read tools).
    None,
    /// A unified diff of one file.
    Diff {
        /// The file.
        path: String,
        /// Unified diff text, `---`/`+++` headers included.
        unified: String,
    },
    /// The output of a simulation (`apt-get -s`, `nft --check`).
    DryRun {
        /// The command that was simulated, for display.
        command: String,
        /// Its output, capped.
        output: String,
    },
    /// The things affected, one per line, and the bytes involved.
    Affected {
        /// Paths, units, rules or packages.
        items: Vec<String>,
        /// Bytes involved, when meaningful.
        bytes: Option<u64>,
    },
}

impl Preview {
    /// A preview that is only a summary line.
    pub fn text(summary: impl Into<String>) -> Preview {
        Preview {
            summary: summary.into(),
            detail: PreviewDetail::None,
        }
    }
}

/// How to reverse a change: a call that goes through the same policy and
/// approval path as any other (`aios undo ID`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoRecord {
    /// The tool that reverses the change (`fs.restore`, `service.stop`…).
    pub tool: String,
    /// Its arguments.
    pub args: Value,
    /// What undoing will do, in words.
    pub summary: String,
}

/// A request to run one tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// Session making the call.
    pub session_id: String,
    /// Call id.
    pub call_id: String,
    /// Dotted tool name.
    pub tool: String,
    /// Arguments.
    pub args: Value,
    /// The user on whose behalf the orchestrator asks.
    pub on_behalf_of_uid: u32,
    /// Time limit; 0 means the executor's default.
    pub timeout_ms: u64,
    /// The model's stated reason.
    pub rationale: String,
    /// The user's request that led to the call (for the ledger).
    pub request: String,
    /// The plan step the call belongs to (for the ledger).
    pub plan_step: String,
    /// What kind of session asks (background agents cannot be approved).
    pub session_kind: crate::SessionKind,
    /// Whether the executor may wait for a human's approval. The
    /// orchestrator can only make this stricter: `Policy` and `Never`
    /// refuse at once what would need one.
    pub approval: crate::ApprovalMode,
}

/// A call waits for a human: everything the approval card shows. The
/// approval itself must come from the session's user on their own
/// connection to the executor ([`ApprovalAnswer`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalNeeded {
    /// Call id.
    pub call_id: String,
    /// Dotted tool name.
    pub tool: String,
    /// The exact canonical arguments that would run.
    pub args: Value,
    /// The call's hash: the approval must name it.
    pub call_hash: String,
    /// The effect of this call.
    pub effect: Risk,
    /// What it touches, `kind:value`.
    pub resources: Vec<String>,
    /// What it would do.
    pub preview: Preview,
    /// The model's stated reason.
    pub rationale: String,
    /// The deciding policy rule.
    pub rule: String,
    /// Why policy asks.
    pub reason: String,
    /// For destructive calls: the name the user must type to approve.
    pub confirm: Option<String>,
    /// The kind of session the call comes from, as toolsd established it.
    #[serde(default)]
    pub session_kind: crate::SessionKind,
}

/// A human's answer to [`ApprovalNeeded`], sent by the session's user
/// straight to the executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalAnswer {
    /// Session of the call.
    pub session_id: String,
    /// Call id.
    pub call_id: String,
    /// The hash of the call being approved; a different call is refused.
    pub call_hash: String,
    /// The decision.
    pub decision: crate::Decision,
    /// For destructive calls: the target's name, typed by the user.
    pub confirm: Option<String>,
    /// Given by `aios --approve=all` rather than by a person at the card:
    /// toolsd hears it only from an administrator and records it so.
    #[serde(default)]
    pub automatic: bool,
}

/// The executor's reply to an [`ApprovalAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalAck {
    /// The rule written to the user's policy file for an `always`
    /// decision, as TOML.
    pub rule_written: Option<String>,
    /// What happens now, in words.
    pub message: String,
}

/// A call the executor kept waiting for its user's approval after the
/// orchestrator's stream to it closed (the orchestrator restarted). It is
/// bound to (uid, session, call id, call hash) and expires with the
/// approval timeout; the orchestrator re-attaches to it to show the
/// approval again and to learn its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCall {
    /// Call id.
    pub call_id: String,
    /// Dotted tool name.
    pub tool: String,
    /// The exact call an approval must name.
    pub call_hash: String,
    /// When it stops waiting (Unix ms).
    pub expires_unix_ms: i64,
}

/// Streamed progress of one tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecuteEvent {
    /// Live output.
    Output(String),
    /// The call waits for a human's approval.
    ApprovalNeeded(Box<ApprovalNeeded>),
    /// The final outcome (always last).
    End(ExecuteEnd),
}

/// The final outcome of one tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteEnd {
    /// Outcome.
    pub status: ToolStatus,
    /// JSON result on success; error message string otherwise.
    pub result: Value,
    /// Time spent in the executor.
    pub duration_us: u64,
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Ran and succeeded.
    Ok,
    /// Ran (or tried to) and failed.
    Error,
    /// Refused by policy or permissions.
    Denied,
    /// Rejected by the human.
    Rejected,
    /// Stopped by an interrupt.
    Interrupted,
    /// Exceeded its time limit.
    TimedOut,
}

/// One argument of a tool, as its JSON schema describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDoc {
    /// Argument name.
    pub name: String,
    /// Type as a reader sees it: `string`, `integer|null` shown as
    /// `integer`, or the allowed values `a|b|c`.
    pub ty: String,
    /// Whether the call must give it.
    pub required: bool,
    /// Its description.
    pub description: String,
}

impl Risk {
    /// The effect class in words.
    pub fn describe(self) -> &'static str {
        match self {
            Risk::Read => "read-only",
            Risk::Change => "changes the system",
            Risk::Destructive => "destructive",
        }
    }
}

impl ToolSpec {
    /// The arguments, in schema order, read from [`ToolSpec::args_schema`].
    pub fn args(&self) -> Vec<ArgDoc> {
        let required: Vec<&str> = self.args_schema["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(props) = self.args_schema["properties"].as_object() else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, p)| ArgDoc {
                name: name.clone(),
                ty: type_of(p),
                required: required.contains(&name.as_str()),
                description: p["description"].as_str().unwrap_or("").to_string(),
            })
            .collect()
    }

    /// Help text: name, effect, description and each argument. `aios tools
    /// describe` and the catalogue's help print exactly this.
    pub fn help(&self) -> String {
        let mut s = format!(
            "{} ({})\n  {}\n",
            self.name,
            self.effect.describe(),
            self.description
        );
        let args = self.args();
        if !args.is_empty() {
            s.push_str("  arguments:\n");
        }
        for a in args {
            let req = if a.required { ", required" } else { "" };
            s.push_str(&format!(
                "    {} ({}{req}): {}\n",
                a.name, a.ty, a.description
            ));
        }
        s
    }

    /// The first sentence of the description, for one-line listings.
    pub fn summary(&self) -> &str {
        let d = self.description.trim();
        match d.find(". ") {
            Some(i) => &d[..=i],
            None => d,
        }
    }
}

/// The type of one property schema, in words.
fn type_of(p: &Value) -> String {
    let joined = |vals: &Vec<Value>, f: fn(&Value) -> Option<&str>| {
        vals.iter()
            .filter_map(f)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|")
    };
    match &p["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => joined(ts, Value::as_str),
        _ => p["enum"]
            .as_array()
            .map(|e| joined(e, Value::as_str))
            .or_else(|| {
                p["oneOf"]
                    .as_array()
                    .map(|e| joined(e, |c| c["const"].as_str()))
            })
            .unwrap_or_else(|| "value".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_arguments_with_types_and_requirement() {
        let spec = ToolSpec {
            name: "fs.read".into(),
            description: "Read a file. Text only.".into(),
            args_schema: serde_json::json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The file."},
                    "max_bytes": {"type": ["integer", "null"], "description": "Cap."},
                    "mode": {"enum": ["head", "tail"]}
                },
                "required": ["path"]
            }),
            effect: Risk::Read,
            resources: vec![],
            examples: vec![],
        };
        let help = spec.help();
        assert!(
            help.starts_with("fs.read (read-only)\n  Read a file. Text only.\n"),
            "{help}"
        );
        assert!(
            help.contains("    path (string, required): The file.\n"),
            "{help}"
        );
        assert!(help.contains("    max_bytes (integer): Cap.\n"), "{help}");
        assert!(help.contains("    mode (head|tail): \n"), "{help}");
        assert_eq!(spec.summary(), "Read a file.");
    }
}

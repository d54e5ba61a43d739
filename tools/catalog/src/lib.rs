//! # aios-catalog: one typed definition per tool
//!
//! Every tool is a type implementing [`Tool`]: its dotted name, description,
//! argument struct (`serde::Deserialize` + `schemars::JsonSchema`), effect
//! class ([`aios_domain::Risk`]), the [`Resource`]s a call touches, a
//! human preview, and an async `run`. The [`Registry`] is built once
//! ([`Registry::builtin`]) and derives from those definitions everything
//! else needs: the [`aios_domain::ToolSpec`] list (LLM schema, policy input),
//! help text, argument validation that names the failing field, and
//! "did you mean" suggestions for unknown names.
//!
//! A run gets a [`ToolCtx`]: a cancellation token (the executor cancels on
//! timeout or client disconnect, then aborts), a capped live-output sink
//! (→ `ToolOutputDelta`), and the [`Access`] of the effective user. When a
//! root executor acts for an ordinary user, the run's blocking work
//! ([`ToolCtx::blocking`]) happens on a thread holding that user's
//! filesystem uid, gid and groups and no capabilities ([`creds`]), so the
//! kernel refuses whatever the user could not do; file tools open paths
//! without following a final link and refuse FIFOs, sockets and devices
//! before anything opens them.
//!
//! Design decisions:
//! - **Kernel interfaces first.** Tools read `/proc`, call `statvfs`, walk
//!   directories; they run helpers (`systemctl`, `journalctl`) only where no
//!   kernel interface exists, through [`command::run_command`] (no shell,
//!   timeout, output cap, killed on cancel).
//! - **Blocking work off the async workers** via [`ToolCtx::blocking`],
//!   polling cancellation in long loops.
//! - **Compact structured results** (serde structs → JSON) with human
//!   figures beside raw numbers, because the reader is a model.
//! - **Schemas inline every subschema** (no `$ref`), as LLM providers want.
//!
//! This crate knows nothing about gRPC, sockets or policy; `toolsd` owns
//! those. It speaks the contracts' plain types (`aios-domain`), and asks
//! aiOS's supervisor through the [`Supervisor`] trait the executor provides.
#![deny(missing_docs)]

pub mod access;
pub mod builtin;
pub mod command;
pub mod creds;
mod docs;
mod error;
mod ledger;
mod memory;
pub mod procfs;
mod registry;
mod supervisor;
mod tool;
pub mod util;

pub use access::{Access, Identity};
pub use aios_domain::{Preview, PreviewDetail, Resource, ResourceKind, UndoRecord};
pub use creds::Credentials;
pub use docs::tools_markdown;
pub use error::{ToolError, ToolErrorKind};
pub use ledger::AuditReader;
pub use memory::{MemoryQuestion, MemoryReader, StoredOutput};
pub use registry::{
    Prepared, Registry, RegistryBuilder, call_hash, help_text, parse_args, schema_of,
};
pub use supervisor::{ServiceAction, Supervisor};
pub use tool::{Assessment, Example, OutputSink, Tool, ToolCtx};

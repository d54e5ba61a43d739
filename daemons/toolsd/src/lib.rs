//! # aios-toolsd: the tool executor
//!
//! `toolsd` is the only process that changes the system, so it decides for
//! itself whether each call may run; the planner cannot vouch for anything.
//! [`Executor`] implements [`aios_proto::ToolsApi`] over an
//! [`aios_catalog::Registry`]:
//!
//! 1. resolve the tool (unknown → `End{Error}` with suggestions);
//! 2. [`authorize`] from the kernel-verified caller (`SO_PEERCRED`), the uid
//!    it claims to act for (trusted only from daemons) and the tool's effect
//!    class (read runs; change/destructive is refused until policy and
//!    approvals exist);
//! 3. validate arguments into the tool's typed struct (bad → `End{Error}`
//!    naming the field);
//! 4. run it as its own task with the effective user's [`aios_catalog::Access`],
//!    a time limit, output caps and panic containment; stream `Output`
//!    chunks and exactly one `End` whose `duration_us` is the tool's own time.
//!    A call for another user than toolsd's own does its blocking work on a
//!    thread holding that user's filesystem uid, gid and groups and no
//!    capabilities ([`aios_catalog::creds`]): the kernel, not toolsd, decides
//!    what it may read. toolsd's own rights apply only to a call for itself
//!    (root acting for root, or a development toolsd for its own user), and
//!    later to a change that policy or a human approved.
#![deny(missing_docs)]

mod approvals;
mod audit;
mod authorize;
mod checkpoints;
mod commands;
mod executor;
mod file_policy;
pub mod host;
mod identities;
mod memory;
mod parked;
mod pipeline;
mod planners;
mod policy;
mod sessions;
mod supervisor;
mod undo;

pub use audit::{Audit, LedgerBackend};
pub use authorize::run_as;
pub use executor::{Executor, ExecutorConfig, cap_result};
pub use file_policy::{FilePolicy, user_file};
pub use memory::MemorydReader;
pub use policy::{GrantPreview, PolicyEngine};
pub use supervisor::InitdSupervisor;

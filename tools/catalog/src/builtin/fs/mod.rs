//! The `fs` tools that inspect a tree (`fs.du`, `fs.find`, `fs.stat`) and
//! the ones that change files, with diff previews, snapshots and undo.
//!
//! Every change acts through the parent directory's descriptor ([`at`]),
//! opened without following links; a regular file's previous content is
//! kept in the snapshot store ([`snapshot`]) before it changes, and the
//! call leaves an undo record (`fs.restore`, or the inverse call). The
//! read-only tools `fs.read`, `fs.list`, `fs.usage` and `fs.largest` live
//! beside this module.

mod at;
mod change;
mod content;
mod diff;
pub(crate) mod snapshot;
mod tree;

mod append;
mod chmod;
mod chown;
mod copy;
mod delete;
mod du;
mod edit;
mod find;
mod mkdir;
mod mv;
mod restore;
mod stat;
mod write;

pub use append::FsAppend;
pub use chmod::FsChmod;
pub use chown::FsChown;
pub use copy::FsCopy;
pub use delete::FsDelete;
pub use du::FsDu;
pub use edit::FsEdit;
pub use find::FsFind;
pub use mkdir::FsMkdir;
pub use mv::FsMove;
pub use restore::FsRestore;
pub use stat::FsStat;
pub use write::FsWrite;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_paths;

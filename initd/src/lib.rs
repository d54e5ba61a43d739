//! initd: PID 1 on the aiOS image and the user-level supervisor elsewhere.
#![deny(missing_docs)]

pub mod manifest;
pub mod spec;
pub mod supervisor;

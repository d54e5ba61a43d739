//! initd: PID 1 on the aiOS image and the user-level supervisor elsewhere.
#![deny(missing_docs)]

pub mod control;
pub mod manifest;
pub mod runtime;
pub mod spec;
pub mod supervisor;
pub mod sys;

//! aios shell.

//! The `initd` binary.
fn main() {}

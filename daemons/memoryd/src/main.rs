//! The `memoryd` binary.
fn main() {}

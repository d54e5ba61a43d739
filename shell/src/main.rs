//! The `aios` binary.
fn main() {}

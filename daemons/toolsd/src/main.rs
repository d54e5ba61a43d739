//! The `toolsd` binary.
fn main() {}

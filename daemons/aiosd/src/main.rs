//! The `aiosd` binary.
fn main() {}

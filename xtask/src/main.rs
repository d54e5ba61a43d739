//! `cargo xtask`: build automation.
fn main() {}

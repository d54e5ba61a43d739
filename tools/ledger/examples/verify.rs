//! Verify a ledger file and print the report as JSON with the time taken:
//! `cargo run --release -p aios-ledger --example verify -- PATH`.
//! (The `aios audit verify` command will live in the shell, through toolsd.)

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: verify PATH"))?;
    let ledger = aios_ledger::Ledger::open_read_only(std::path::Path::new(&path))?;
    let start = Instant::now();
    let report = ledger.verify()?;
    let took = start.elapsed();
    println!("{}", serde_json::to_string(&report)?);
    eprintln!("verify took {:.3} s", took.as_secs_f64());
    Ok(())
}

//! What the `/proc` and `/sys` scans of the process, net, hw and sys tools
//! cost on this machine, end to end through the registry (prepare, run on
//! the blocking pool, encode):
//!
//! - `process.tree` of the whole table and `process.find` by name (one
//!   stat, status and cmdline read per process);
//! - `process.find` by port and `net.connections` (every process's
//!   descriptor table scanned for socket inodes);
//! - `process.info` of this process;
//! - `hw.block`, `hw.cpu` and `sys.time` (a few sysfs and procfs files).
//!
//! `cargo bench -p aios-catalog --bench procnet`. The figures scale with the
//! number of processes and open descriptors; the bench prints both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;

use aios_catalog::{Registry, ToolCtx};
use criterion::Criterion;
use serde_json::{Value, json};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::builtin();
    let procs = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    println!("procnet bench: {procs} processes on this machine");
    // Something to find by port.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut c = Criterion::default().configure_from_args();
    let me = std::process::id();
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "process.tree (whole table)",
            "process.tree",
            json!({"limit": 2000}),
        ),
        (
            "process.find by name",
            "process.find",
            json!({"name": "sleep"}),
        ),
        (
            "process.find by port (fd scan)",
            "process.find",
            json!({"port": port}),
        ),
        (
            "net.connections (fd scan)",
            "net.connections",
            json!({"limit": 2000}),
        ),
        ("process.info (self)", "process.info", json!({"pid": me})),
        ("hw.block", "hw.block", json!({})),
        ("hw.cpu", "hw.cpu", json!({})),
        ("sys.time", "sys.time", json!({})),
    ];
    for (label, tool, args) in cases {
        c.bench_function(label, |b| {
            b.iter(|| {
                let p = registry.prepare(tool, args.clone()).unwrap();
                black_box(rt.block_on(p.run(ToolCtx::local())).unwrap())
            });
        });
    }
    drop(l);
    c.final_summary();
}

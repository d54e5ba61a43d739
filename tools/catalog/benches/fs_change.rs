//! What a file change costs end to end through the registry: `fs.write`
//! of 4 KiB over an existing file with a snapshot store (read the old
//! content, sha256 + store it with fsync, then temporary file + fsync +
//! rename + directory fsync), the same without a store (no snapshot), and
//! the assessment alone (the diff preview of a 64 KiB file changed in one
//! line by `fs.edit`).
//!
//! `cargo bench -p aios-catalog --bench fs_change`. The figures include
//! the fsyncs, so they depend on the disk under the temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, Ordering};

use aios_catalog::{Registry, ToolCtx};
use criterion::Criterion;
use serde_json::json;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::builtin();
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let f = dir.path().join("f");
    std::fs::write(&f, vec![b'a'; 4096]).unwrap();
    let with_store = ToolCtx::local().with_state_dir(state.path().to_path_buf());
    let without = ToolCtx::local();
    // Distinct content each time, so every snapshot stores a new object.
    let n = AtomicU64::new(0);
    let content = || {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let mut s = format!("{i:016}");
        s.push_str(&"b".repeat(4096 - 16));
        s
    };
    c.bench_function("fs.write 4 KiB over a file, with snapshot", |b| {
        b.to_async(&rt).iter(|| async {
            let p = registry
                .prepare("fs.write", json!({"path": &f, "content": content()}))
                .unwrap();
            p.run(with_store.clone()).await.unwrap()
        });
    });
    c.bench_function("fs.write 4 KiB over a file, no snapshot store", |b| {
        b.to_async(&rt).iter(|| async {
            let p = registry
                .prepare("fs.write", json!({"path": &f, "content": content()}))
                .unwrap();
            p.run(without.clone()).await.unwrap()
        });
    });
    let g = dir.path().join("g");
    let text: String = (0..4096).map(|i| format!("line {i:010}\n")).collect();
    std::fs::write(&g, &text).unwrap();
    let edit = registry
        .prepare(
            "fs.edit",
            json!({"path": &g, "old": "line 0000002000\n", "new": "changed\n"}),
        )
        .unwrap();
    c.bench_function("fs.edit assess: diff preview of a 64 KiB file", |b| {
        b.to_async(&rt)
            .iter(|| async { edit.assess(&without).await.unwrap() });
    });
}

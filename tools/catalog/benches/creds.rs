//! What running a call with the caller's kernel credentials costs.
//!
//! - looking the user up (`Identity::lookup`, done by toolsd per call);
//! - the switch itself: `Credentials::run` of an empty closure (setgroups,
//!   setfsgid, setfsuid, capset, then back and verified);
//! - `ToolCtx::blocking` of an empty closure with the process's own
//!   credentials and with uid 65534's (the blocking-pool hop plus the
//!   switch);
//! - `fs.list` of an empty directory (the bench tool of `cargo xtask
//!   bench`) both ways.
//!
//! Run as root: `cargo bench -p aios-catalog --bench creds`. Without root
//! there is no switch to measure and it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::os::unix::fs::PermissionsExt;

use aios_catalog::{Access, Credentials, Identity, OutputSink, Registry, ToolCtx};
use criterion::Criterion;

fn ctx(access: Access) -> ToolCtx {
    ToolCtx::new(Default::default(), OutputSink::discard(), access)
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("creds bench: needs root to switch credentials; nothing measured");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("Identity::lookup(65534) (user database)", |b| {
        b.iter(|| Identity::lookup(black_box(65534)));
    });
    let nobody = Identity::lookup(65534);
    let creds = Credentials::of(&nobody);
    c.bench_function("credential switch to uid 65534 and back", |b| {
        b.iter(|| creds.run(|| black_box(1)).unwrap());
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let own = ctx(Access::process());
    let user = ctx(Access::as_user(nobody));
    c.bench_function("ToolCtx::blocking, own credentials", |b| {
        b.to_async(&rt)
            .iter(|| async { own.blocking(|_| Ok(black_box(1))).await.unwrap() });
    });
    c.bench_function("ToolCtx::blocking, as uid 65534", |b| {
        b.to_async(&rt)
            .iter(|| async { user.blocking(|_| Ok(black_box(1))).await.unwrap() });
    });

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let registry = Registry::builtin();
    let args = serde_json::json!({"path": dir.path()});
    for (name, ctx) in [("own credentials", &own), ("as uid 65534", &user)] {
        c.bench_function(&format!("fs.list of an empty dir, {name}"), |b| {
            b.to_async(&rt).iter(|| async {
                registry
                    .prepare("fs.list", args.clone())
                    .unwrap()
                    .run(ctx.clone())
                    .await
                    .unwrap()
            });
        });
    }
    c.final_summary();
}

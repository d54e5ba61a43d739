//! `run` of `/bin/true` in the full sandbox, end to end (gate: p50 ≤ 15 ms).
//! As root the command runs as `nobody`; elsewhere as the current user.
//! Run: `cargo bench -p aios-sandbox --bench sandbox`.
#![allow(clippy::expect_used)] // a bench that cannot set up has nothing to measure

use aios_sandbox::SandboxSpec;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio_util::sync::CancellationToken;

fn spec() -> SandboxSpec {
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 {
        SandboxSpec::new(vec!["/bin/true".into()], 65534, 65534)
    } else {
        let mut s = SandboxSpec::new(
            vec!["/bin/true".into()],
            euid,
            nix::unistd::getegid().as_raw(),
        );
        s.groups = nix::unistd::getgroups()
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        s
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let e = aios_sandbox::probe();
    eprintln!("enforcement: {e:?}");
    c.bench_function("sandbox_run_true", |b| {
        b.to_async(&rt).iter(|| async {
            let out = aios_sandbox::run(spec(), CancellationToken::new())
                .await
                .expect("run /bin/true");
            assert_eq!(out.exit_code, Some(0));
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

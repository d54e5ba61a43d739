//! Round trip of one cheap read tool call (`fs.usage /`) through the real
//! executor over a Unix socket, and the transport overhead: round trip
//! minus the tool's own `duration_us`; and `exec.run /bin/true` in the
//! full sandbox through the same executor (issue #8 gate: p50 ≤ 15 ms).
//!
//! The executor is set up as `toolsd`'s main sets it up: the file policy
//! (system file plus the caller's own file) and the real hash-chained
//! ledger in a temporary directory, so every call goes through the whole
//! pipeline (resolve, who, validate, assess, policy, ledger, run; issue #8
//! gate for the read-tool overhead: p50 ≤ 300 µs).
//!
//! Run: `cargo bench -p aios-toolsd --bench execute`. After criterion's own
//! report it prints the medians over every measured call. As root it
//! measures twice: for the caller itself (toolsd's own credentials) and on
//! behalf of uid 65534, where the tool's blocking work runs with that
//! user's kernel credentials (the switch is inside `duration_us`);
//! `exec.run` runs for uid 65534 as root, else for the caller.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios_catalog::Registry;
use aios_proto::{ExecuteEvent, ExecuteRequest, ToolStatus, ToolsClient};
use aios_toolsd::{Audit, Executor, ExecutorConfig, FilePolicy, LedgerBackend};
use criterion::Criterion;
use futures::StreamExt;

/// (round trip, tool duration) per call, in microseconds.
type Samples = Arc<Mutex<Vec<(u64, u64)>>>;

/// What one benchmark calls.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    /// `fs.usage /`: a cheap read.
    Read,
    /// `exec.run /bin/true`: the full sandbox.
    True,
}

async fn one_call(client: &mut ToolsClient, on_behalf_of_uid: u32, call: Call) -> (u64, u64) {
    let (tool, args) = match call {
        Call::Read => ("fs.usage", serde_json::json!({"path": "/"})),
        Call::True => (
            "exec.run",
            serde_json::json!({"argv": ["/bin/true"], "cwd": "/"}),
        ),
    };
    let req = ExecuteRequest {
        session_id: "bench".into(),
        call_id: "c".into(),
        tool: tool.into(),
        args,
        on_behalf_of_uid,
        timeout_ms: 0,
        rationale: String::new(),
        ..Default::default()
    };
    let t = Instant::now();
    let mut stream = client.execute(req).await.unwrap();
    let mut tool_us = 0;
    while let Some(ev) = stream.next().await {
        if let ExecuteEvent::End(end) = ev.unwrap() {
            assert_eq!(end.status, ToolStatus::Ok, "{end:?}");
            tool_us = end.duration_us;
        }
    }
    let rt = u64::try_from(t.elapsed().as_micros()).unwrap();
    (rt, tool_us)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn bench(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    client: ToolsClient,
    uid: u32,
    call: Call,
    samples: Samples,
) {
    let what = match call {
        Call::Read => "fs.usage",
        Call::True => "exec.run /bin/true",
    };
    let name = if uid == 0 {
        format!("toolsd execute {what} round trip")
    } else {
        format!("toolsd execute {what} round trip, for uid {uid}")
    };
    c.bench_function(&name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let mut client = client.clone();
            let samples = samples.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (rt_us, tool_us) = one_call(&mut client, uid, call).await;
                    total += Duration::from_micros(rt_us);
                    samples.lock().unwrap().push((rt_us, tool_us));
                }
                total
            }
        });
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("toolsd.sock");
    let client = rt.block_on(async {
        let listener = aios_proto::bind(&socket).await.unwrap();
        let ledger = dir.path().join("ledger.db");
        let backend = <aios_ledger::Ledger as LedgerBackend>::open(&ledger).unwrap();
        let config = ExecutorConfig {
            audit: Audit::start(backend),
            policy: Arc::new(
                FilePolicy::new(dir.path().join("system-policy.toml"))
                    .with_own_file(Some(dir.path().join("policy.toml"))),
            ),
            host: aios_toolsd::host::gather(&ledger),
            ..ExecutorConfig::default()
        };
        let executor = Executor::with_config(Registry::builtin(), config);
        let services = aios_proto::Services::new("toolsd").tools(Arc::new(executor));
        tokio::spawn(services.serve(listener, std::future::pending()));
        ToolsClient::new(aios_proto::connect(&socket).await.unwrap())
    });
    let mut c = Criterion::default().configure_from_args();
    // As root, also act for an unprivileged user: the kernel-credential path.
    let uids: &[u32] = if nix::unistd::geteuid().is_root() {
        &[0, 65534]
    } else {
        &[0]
    };
    let mut all = Vec::new();
    for &uid in uids {
        let samples: Samples = Arc::default();
        bench(
            &mut c,
            &rt,
            client.clone(),
            uid,
            Call::Read,
            samples.clone(),
        );
        all.push((uid, Call::Read, samples));
    }
    let sandboxed = *uids.last().unwrap_or(&0);
    let samples: Samples = Arc::default();
    bench(
        &mut c,
        &rt,
        client.clone(),
        sandboxed,
        Call::True,
        samples.clone(),
    );
    all.push((sandboxed, Call::True, samples));
    c.final_summary();
    for (uid, call, samples) in all {
        let s = samples.lock().unwrap().clone();
        if s.is_empty() {
            continue;
        }
        let rts: Vec<u64> = s.iter().map(|x| x.0).collect();
        let tools: Vec<u64> = s.iter().map(|x| x.1).collect();
        let overhead: Vec<u64> = s.iter().map(|x| x.0.saturating_sub(x.1)).collect();
        let who = match (uid, call) {
            (0, Call::Read) => "fs.usage, caller itself".to_string(),
            (_, Call::Read) => format!("fs.usage, for uid {uid}"),
            (0, Call::True) => "exec.run /bin/true, caller itself".to_string(),
            (_, Call::True) => format!("exec.run /bin/true, for uid {uid}"),
        };
        println!(
            "{who}: calls: {}  median round trip: {} us  median tool duration_us: {} us  median round trip - duration_us: {} us",
            s.len(),
            median(rts),
            median(tools),
            median(overhead)
        );
    }
}

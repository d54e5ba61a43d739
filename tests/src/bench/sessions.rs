//! The durable-session rows of `aios-bench` (issue 10 §7): what storing
//! each session event in memoryd before it is shown costs.
//!
//! - `AppendEvents` of one event, client to client over memoryd's socket
//!   (one SQLite transaction with an fsync each): p50 and p99;
//! - events per second through a session's journal (`aiosd::Session`,
//!   emitted back to back, counted once published, i.e. stored), against
//!   the same session held in memory only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aios_proto::{ApprovalMode, Event, EventKind, MemoryClient, SessionInfo, now_unix_ms};
use aiosd::{Backends, GrpcBackends, Session};

const APPENDS: usize = 500;
const EVENTS: u64 = 20_000;

/// One row: name, n, p50 (or a rate), p99.
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Samples or events.
    pub n: usize,
    /// Median, or the rate.
    pub p50: String,
    /// 99th percentile, or empty.
    pub p99: String,
}

fn info(id: &str) -> SessionInfo {
    SessionInfo {
        id: id.to_string(),
        uid: 0,
        provider: "scripted".into(),
        model: String::new(),
        created_unix_ms: now_unix_ms(),
        title: "bench".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    }
}

fn delta(i: u64) -> EventKind {
    EventKind::AssistantDelta {
        turn_id: "t1".into(),
        text: format!("token{i} "),
    }
}

/// Emit [`EVENTS`] deltas on `s` and wait until all are published.
async fn through(s: &Session) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for i in 0..EVENTS {
        s.emit(delta(i));
    }
    let deadline = start + Duration::from_secs(300);
    while s.published() < EVENTS {
        anyhow::ensure!(Instant::now() < deadline, "events were not stored in 300 s");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(start.elapsed())
}

/// Run the rows against memoryd at `run/memoryd.sock` (and the other
/// sockets of `run`, unused here).
pub async fn run(
    run: &std::path::Path,
    pct: fn(&[Duration], usize) -> Duration,
    fmt: fn(Duration) -> String,
) -> anyhow::Result<Vec<Row>> {
    let mut memory = MemoryClient::new(aios_proto::connect(&run.join("memoryd.sock")).await?);
    let id = format!("bench-append-{}", std::process::id());
    memory.put_session(info(&id)).await?;
    let mut times = Vec::with_capacity(APPENDS);
    for i in 0..APPENDS as u64 {
        let e = Event {
            seq: i + 1,
            session_id: id.clone(),
            unix_ms: now_unix_ms(),
            kind: delta(i),
        };
        let t = Instant::now();
        memory.append_events(vec![e]).await?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let mut rows = vec![Row {
        name: "memoryd AppendEvents, one event (durable, fsync)".into(),
        n: APPENDS,
        p50: fmt(pct(&times, 50)),
        p99: fmt(pct(&times, 99)),
    }];

    let backends: Arc<dyn Backends> = Arc::new(GrpcBackends::with_sockets(
        &run.join("toolsd.sock"),
        &run.join("memoryd.sock"),
        &run.join("gatewayd.sock"),
    ));
    let durable_id = format!("bench-journal-{}", std::process::id());
    memory.put_session(info(&durable_id)).await?;
    let durable = through(&Session::durable(info(&durable_id), backends)).await?;
    let memory_only = through(&Session::new(info("bench-memory"))).await?;
    let rate = |d: Duration| format!("{:.0} events/s", EVENTS as f64 / d.as_secs_f64());
    rows.push(Row {
        name: "session events through aiosd's journal (stored in memoryd, batched)".into(),
        n: EVENTS as usize,
        p50: rate(durable),
        p99: String::new(),
    });
    rows.push(Row {
        name: "session events, memory only (no durable write)".into(),
        n: EVENTS as usize,
        p50: rate(memory_only),
        p99: String::new(),
    });
    Ok(rows)
}

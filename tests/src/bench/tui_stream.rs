//! The full-screen TUI's side of issue #10's streaming and memory rows, in
//! process on ratatui's `TestBackend` (the drawing cost without the
//! terminal's I/O):
//!
//! - a streamed 2,000-token answer (the same deltas as the line mode's row,
//!   [`super::stream::deltas`]) at 120×40 with a frame drawn after every
//!   delta, more frames than the TUI draws (it caps them at one per 16 ms):
//!   the whole answer's cost, and the last delta plus `turn_completed`
//!   plus the frame that shows them (what stands between the last byte and
//!   the answer fully on screen);
//! - the resident memory a 10,000-entry transcript adds to the process,
//!   laid out and drawn (VmRSS before and after, from `/proc/self/status`).

use std::time::{Duration, Instant};

use aios_proto::{Event, EventKind, TurnStatus};
use aios_shell::transcript::Theme;
use aios_shell::tui::{app::App, view};
use ratatui::{Terminal, backend::TestBackend};

/// Answers streamed.
pub const RUNS: usize = 10;

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        session_id: "bench".into(),
        seq,
        unix_ms: 0,
        kind,
    }
}

/// Samples of (whole answer with a frame per delta, last delta + turn end
/// + its frame), and the frames drawn per answer.
pub fn run() -> anyhow::Result<(Vec<Duration>, Vec<Duration>, usize)> {
    let deltas = super::stream::deltas();
    let (mut whole, mut last) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let mut app = App::new(Theme::default(), "bench@host".into());
        let mut term = Terminal::new(TestBackend::new(120, 40))?;
        app.on_event(&event(
            1,
            EventKind::TurnStarted {
                turn_id: "t1".into(),
                input: "why is the disk almost full?".into(),
            },
        ));
        let mut seq = 2;
        let start = Instant::now();
        let (body, tail) = deltas.split_at(deltas.len() - 1);
        for d in body {
            app.on_event(&event(seq, super::stream::delta(d)));
            seq += 1;
            term.draw(|f| view::draw(f, &mut app))?;
        }
        let end = Instant::now();
        app.on_event(&event(seq, super::stream::delta(&tail[0])));
        app.on_event(&event(
            seq + 1,
            EventKind::TurnCompleted {
                turn_id: "t1".into(),
                status: TurnStatus::Completed,
                message: String::new(),
            },
        ));
        term.draw(|f| view::draw(f, &mut app))?;
        last.push(end.elapsed());
        whole.push(start.elapsed());
    }
    Ok((whole, last, deltas.len()))
}

/// This process's resident set, in KiB.
pub fn rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

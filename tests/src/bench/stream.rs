//! A streamed 2,000-token answer through the line mode's text stream
//! (issue #10's streaming row, for `aios --line` and `aios -p`): the
//! answer's deltas go through `transcript::stream::Stream` as they would
//! from aiosd (a paragraph, a list, a table and a Rust code block, about 4
//! characters a token), on a 120-column coloured terminal with the live
//! line on. In process: the renderer's own cost, without the terminal.
//!
//! Rows: the CPU (one thread, so wall time) of the whole answer, the cost
//! of the last delta plus `turn_completed` (what stands between the last
//! byte and the answer being fully written), and the bytes written per
//! answer (a live line that rewrote itself would show here).

use std::time::{Duration, Instant};

use aios_proto::{EventKind, TurnStatus};
use aios_shell::transcript::Theme;
use aios_shell::transcript::stream::{Layout, Out, Sink, Stream};

/// Answers streamed.
pub const RUNS: usize = 20;
/// Tokens per answer.
const TOKENS: usize = 2000;

/// The answer's deltas: about `TOKENS` of 4 characters.
pub fn deltas() -> Vec<String> {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < TOKENS * 4 {
        match i % 4 {
            0 => text.push_str(
                "The disk is **93%** full: `/var/log` holds most of it, then the apt cache \
                 and two old kernels that the package manager kept after the last upgrade.\n\n",
            ),
            1 => text.push_str("- journal: 4 GiB\n- apt cache: 1 GiB\n- kernels: 600 MiB\n\n"),
            2 => text
                .push_str("| dir | size |\n|---|--:|\n| /var/log | 4G |\n| /var/cache | 1G |\n\n"),
            _ => text.push_str(
                "```rust\nfn main() {\n    let used = 93;\n    println!(\"{used}%\");\n}\n```\n\n",
            ),
        }
        i += 1;
    }
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

pub fn delta(text: &str) -> EventKind {
    EventKind::AssistantDelta {
        turn_id: "t1".into(),
        text: text.into(),
    }
}

fn written(outs: Vec<Out>) -> usize {
    outs.iter()
        .map(|o| match o {
            Out::Stdout(s) | Out::Stderr(s) => s.len(),
        })
        .sum()
}

/// Samples of (whole answer, last delta + turn end, bytes written).
pub fn run() -> (Vec<Duration>, Vec<Duration>, usize) {
    let tty = Sink {
        width: Some(120),
        colour: true,
    };
    let layout = Layout {
        answer: tty,
        cards: tty,
        live: true,
    };
    let deltas = deltas();
    let (mut whole, mut last, mut bytes) = (Vec::new(), Vec::new(), 0);
    for _ in 0..RUNS {
        let mut s = Stream::new(Theme::default(), layout);
        let start = Instant::now();
        let mut n = 0;
        let (body, tail) = deltas.split_at(deltas.len() - 1);
        for d in body {
            n += written(s.apply(&delta(d), true));
        }
        let end = Instant::now();
        n += written(s.apply(&delta(&tail[0]), true));
        n += written(s.apply(
            &EventKind::TurnCompleted {
                turn_id: "t1".into(),
                status: TurnStatus::Completed,
                message: String::new(),
            },
            true,
        ));
        last.push(end.elapsed());
        whole.push(start.elapsed());
        bytes = n;
    }
    (whole, last, bytes)
}

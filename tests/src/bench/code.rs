//! The first code block's cost on the TUI's UI thread (issue #10): syntect
//! loads its sets and compiles a language's patterns on first use, once per
//! process, so every sample is a fresh `aios-bench` process that draws one
//! Rust block either highlighted at once (the UI thread's cost before the
//! background warm-up, and still line mode's) or as the TUI does now
//! (`highlight::in_background`): what the first draw costs the calling
//! thread, and how long until the block comes out highlighted.

use std::process::Command;
use std::time::{Duration, Instant};

use aios_shell::transcript::{ColorDepth, Glyphs, Theme, highlight};

/// The hidden argument that makes `aios-bench` one sample's child.
pub const CHILD: &str = "code-child";

const SAMPLE: &str = r#"use std::collections::HashMap;

/// Count the words of `text`.
fn count(text: &str) -> HashMap<&str, usize> {
    let mut seen = HashMap::new();
    for word in text.split_whitespace() {
        *seen.entry(word).or_insert(0) += 1;
    }
    seen
}

fn main() {
    let n = count("a b a");
    println!("{n:?} {}", 0x2a_u8 as char);
}"#;

/// In a child: one sample, printed as `first_ns ready_ns`.
pub fn child(mode: &str) -> anyhow::Result<()> {
    let theme = Theme::default().with(ColorDepth::TrueColor, Glyphs::UNICODE);
    let lines: Vec<&str> = SAMPLE.lines().collect();
    if mode == "background" {
        highlight::in_background(|| {});
    }
    let started = Instant::now();
    let mut rows = highlight::highlight("rust", &lines, &theme);
    let first = started.elapsed();
    // The TUI would draw again when told; a bench may poll.
    while rows.is_none() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the Rust block was never highlighted"
        );
        std::thread::sleep(Duration::from_micros(200));
        rows = highlight::highlight("rust", &lines, &theme);
    }
    println!("{} {}", first.as_nanos(), started.elapsed().as_nanos());
    Ok(())
}

/// One sample in a fresh process: (first draw, highlighted).
fn sample(mode: &str) -> anyhow::Result<(Duration, Duration)> {
    let out = Command::new(std::env::current_exe()?)
        .args([CHILD, mode])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{CHILD} {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace().map(str::parse::<u64>);
    match (f.next(), f.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Ok((Duration::from_nanos(a), Duration::from_nanos(b))),
        _ => anyhow::bail!("{CHILD} {mode} printed {text:?}"),
    }
}

/// The rows: `n` fresh processes per mode.
pub fn run(
    n: usize,
    pct: fn(&[Duration], usize) -> Duration,
    fmt: fn(Duration) -> String,
) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for (mode, what) in [
        ("sync", "highlighted on first use (before; line mode)"),
        ("background", "warmed in the background (the TUI)"),
    ] {
        let (mut first, mut ready) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (f, r) = sample(mode)?;
            first.push(f);
            ready.push(r);
        }
        first.sort_unstable();
        ready.sort_unstable();
        rows.push(format!(
            "| first Rust code block, calling thread, {what} | {n} | {} | {} |",
            fmt(pct(&first, 50)),
            fmt(pct(&first, 99))
        ));
        if mode == "background" {
            rows.push(format!(
                "| first Rust code block, {what}: until highlighted | {n} | {} | {} |",
                fmt(pct(&ready, 50)),
                fmt(pct(&ready, 99))
            ));
        }
    }
    Ok(rows)
}

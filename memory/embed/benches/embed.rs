//! Embedding throughput of all-MiniLM-L6-v2 on this CPU: documents per second for short
//! (about 12 words) and paragraph-sized (about 100 words) texts, at a few batch sizes.
//!
//! Run: `cargo bench -p aios-embed --bench embed` (needs `cargo xtask model fetch
//! all-minilm-l6-v2`). Prints the median of 5 runs per case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use aios_embed::MiniLm;

const WORDS: &[&str] = &[
    "disk",
    "usage",
    "nginx",
    "service",
    "failed",
    "restart",
    "journal",
    "logs",
    "backup",
    "file",
    "immutable",
    "attribute",
    "user",
    "login",
    "ssh",
    "firewall",
    "rule",
    "package",
    "install",
    "kernel",
    "memory",
    "process",
    "network",
    "interface",
    "address",
    "mount",
];

fn texts(n: usize, words: usize) -> Vec<String> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            (0..words)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    WORDS[(s % WORDS.len() as u64) as usize]
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn main() {
    println!("| texts | batch | docs/s (median of 5) |");
    println!("|---|---|---|");
    for (label, n, words) in [("12 words", 256, 12), ("100 words", 64, 100)] {
        let input = texts(n, words);
        for batch in [1usize, 8, 32] {
            let m = MiniLm::load_default().unwrap().with_batch_size(batch);
            m.embed_texts(&input[..batch.min(n)]).unwrap(); // warm-up
            let mut rates: Vec<f64> = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    m.embed_texts(&input).unwrap();
                    n as f64 / t.elapsed().as_secs_f64()
                })
                .collect();
            rates.sort_by(f64::total_cmp);
            println!("| {label} | {batch} | {:.0} |", rates[2]);
        }
    }
}

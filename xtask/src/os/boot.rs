//! `cargo xtask boot-bench`: boot to the `aios` prompt on the serial console
//! under TCG, our kernel against Debian's `linux-image-amd64`, with the same
//! initramfs, and print the medians.
//!
//! A run starts QEMU with the serial port on a pipe, reads it until the
//! prompt appears (or a time limit passes) and kills QEMU. The time is from
//! spawning QEMU to the prompt, so it includes firmware, kernel, initd, the
//! daemons and the console shell.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::qemu::{self, Boot, QEMU};
use super::{apt, cache_dir, output, run};

/// What the console shell prints when it is ready for a request.
pub const READY_MARKER: &str = "aios> ";

/// Longest a single benchmark boot may take.
pub const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// Kernel command line of a benchmark boot.
// AIOS_LOG=info: the marker ("initd running") is an info line, which PID 1
// prints on the console only when asked.
pub const BENCH_APPEND: &str = "console=ttyS0,115200 panic=-1 AIOS_LOG=info";

/// initd's first line on the console: the first userspace marker.
pub const USERSPACE_MARKER: &str = "initd running";

/// Boot once and return, for each of `markers`, the time from spawning
/// QEMU to its first appearance on the serial port. Every marker must
/// appear within `limit`.
pub fn time_to_markers(
    kernel: &Path,
    initrd: &Path,
    markers: &[&str],
    limit: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let boot = Boot::Direct {
        kernel: kernel.to_path_buf(),
        initrd: initrd.to_path_buf(),
        append: BENCH_APPEND.to_string(),
    };
    let started = Instant::now();
    let mut child = Command::new(QEMU)
        .args(qemu::args(&boot, 1))
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {QEMU}"))?;
    let mut out = child.stdout.take().context("QEMU has no stdout")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let mut times: Vec<Option<Duration>> = vec![None; markers.len()];
    while times.iter().any(Option::is_none) {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match rx.recv_timeout(left) {
            Ok(chunk) => {
                log.extend_from_slice(&chunk);
                let text = String::from_utf8_lossy(&log);
                for (m, t) in markers.iter().zip(times.iter_mut()) {
                    if t.is_none() && text.contains(m) {
                        *t = Some(started.elapsed());
                    }
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    if let Some(i) = times.iter().position(Option::is_none) {
        let text = String::from_utf8_lossy(&log);
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "no {:?} on the serial console within {limit:?} (kernel {}); last lines:\n{}",
            markers[i],
            kernel.display(),
            tail.join("\n")
        );
    }
    Ok(times.into_iter().flatten().collect())
}

/// The median of some durations (the mean of the middle two for an even
/// count).
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut v = samples.to_vec();
    v.sort();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// Format one results table under `title`.
pub fn table(title: &str, rows: &[(&str, Vec<Duration>)]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<34} {:>4} {:>9} {:>9} {:>9}\n",
        title, "runs", "median", "min", "max"
    ));
    let mut medians = Vec::new();
    for (name, samples) in rows {
        let med = median(samples);
        let min = samples.iter().min();
        let max = samples.iter().max();
        let secs = |d: Option<&Duration>| {
            d.map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        };
        s.push_str(&format!(
            "{:<34} {:>4} {:>9} {:>9} {:>9}\n",
            name,
            samples.len(),
            secs(med.as_ref()),
            secs(min),
            secs(max)
        ));
        medians.push(med);
    }
    if let [Some(a), Some(b)] = medians[..] {
        s.push_str(&format!(
            "ratio (second / first): {:.2}x\n",
            b.as_secs_f64() / a.as_secs_f64().max(1e-9)
        ));
    }
    s
}

/// Run the benchmark and print the tables; `command` is how it was run.
pub fn bench(
    ours: &Path,
    debian: &Path,
    initrd: &Path,
    runs: usize,
    command: &str,
) -> anyhow::Result<()> {
    qemu::ensure_installed()?;
    let names = ["aiOS kernel + initd", "Debian kernel + initd"];
    // [marker][kernel] -> samples.
    let mut samples: [[Vec<Duration>; 2]; 2] = Default::default();
    // Interleave the two kernels so a change in machine load hits both.
    for i in 0..runs {
        for (k, kernel) in [ours, debian].into_iter().enumerate() {
            let t = time_to_markers(
                kernel,
                initrd,
                &[USERSPACE_MARKER, READY_MARKER],
                BOOT_LIMIT,
            )?;
            eprintln!(
                "xtask: run {}/{runs} {}: initd {:.2} s, aios> {:.2} s",
                i + 1,
                names[k],
                t[0].as_secs_f64(),
                t[1].as_secs_f64()
            );
            samples[0][k].push(t[0]);
            samples[1][k].push(t[1]);
        }
    }
    let rows = |m: usize| -> Vec<(&str, Vec<Duration>)> {
        names
            .iter()
            .zip(samples[m].iter())
            .map(|(n, s)| (*n, s.clone()))
            .collect()
    };
    println!("{}", table("QEMU start to `initd running`", &rows(0)));
    println!("{}", table("QEMU start to `aios> ` prompt", &rows(1)));
    println!("TCG, -smp 1, -m 1024, serial console; command: {command}");
    Ok(())
}

/// Debian's current `linux-image-amd64` kernel, extracted from its package
/// (no install) and cached under `$HOME/.cache/aios/debian-kernel`.
pub fn debian_kernel() -> anyhow::Result<PathBuf> {
    apt::update()?;
    let mut deps = Command::new("apt-cache");
    deps.args(["depends", "linux-image-amd64"]);
    let package = apt::parse_depends(&output(deps)?, "linux-image-")
        .context("apt-cache depends linux-image-amd64 names no linux-image-* package")?;
    let dir = cache_dir()?.join("debian-kernel").join(&package);
    let image = dir.join("vmlinuz");
    if image.is_file() {
        return Ok(image);
    }
    apt::ensure(&["dpkg"])?;
    let dl = dir.join("download");
    if dl.exists() {
        std::fs::remove_dir_all(&dl).with_context(|| format!("cannot clear {}", dl.display()))?;
    }
    std::fs::create_dir_all(&dl).with_context(|| format!("cannot create {}", dl.display()))?;
    let mut get = Command::new("apt-get");
    // As root, apt's download sandbox user cannot write here; skip it.
    get.current_dir(&dl)
        .args(["-o", "APT::Sandbox::User=root", "download", &package]);
    run(get)?;
    let deb = std::fs::read_dir(&dl)
        .with_context(|| format!("cannot read {}", dl.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| {
            format!(
                "apt-get download {package} left no .deb in {}",
                dl.display()
            )
        })?;
    let x = dl.join("x");
    let mut extract = Command::new("dpkg-deb");
    extract.arg("-x").arg(&deb).arg(&x);
    run(extract)?;
    let vmlinuz = std::fs::read_dir(x.join("boot"))
        .with_context(|| format!("{} has no /boot", deb.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{} has no /boot/vmlinuz-*", deb.display()))?;
    super::copy_atomic(&vmlinuz, &image)?;
    let _ = std::fs::remove_dir_all(&dl);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        let s = |v: &[u64]| {
            v.iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect::<Vec<_>>()
        };
        assert_eq!(median(&s(&[3, 1, 2])), Some(Duration::from_millis(2)));
        assert_eq!(median(&s(&[4, 1, 3, 2])), Some(Duration::from_micros(2500)));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn table_shows_medians_and_the_ratio() {
        let rows = vec![
            (
                "a",
                vec![
                    Duration::from_secs(2),
                    Duration::from_secs(4),
                    Duration::from_secs(3),
                ],
            ),
            ("b", vec![Duration::from_secs(6)]),
        ];
        let t = table("title", &rows);
        assert!(t.contains("3.00 s"), "{t}");
        assert!(t.contains("ratio (second / first): 2.00x"), "{t}");
    }
}

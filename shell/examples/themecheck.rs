//! `cargo xtask themecheck [DIR] [--list]`: check every theme file in DIR
//! (default `themes/`) as the shell loads them: unknown keys, colours and
//! glyph sets, missing roles, `inherits` cycles or unknown parents, and
//! syntect theme names syntect does not have. Each problem is printed as
//! `file:line: key: problem`; any problem exits 1. `--list` prints the
//! syntect themes a file may name. The shell's tests run the same check
//! over `themes/`.

use std::path::PathBuf;
use std::process::ExitCode;

use aios_shell::transcript::{highlight, themes};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for name in highlight::theme_names() {
            println!("{name}");
        }
        println!("{}", themes::NO_SYNTECT);
        return ExitCode::SUCCESS;
    }
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../themes"));
    if !dir.is_dir() {
        eprintln!("themecheck: {} is not a directory", dir.display());
        return ExitCode::FAILURE;
    }
    let problems = themes::check_dir(&dir, &highlight::theme_names());
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.is_empty() {
        println!("themecheck: {} is good", dir.display());
        ExitCode::SUCCESS
    } else {
        eprintln!("themecheck: {} problem(s)", problems.len());
        ExitCode::FAILURE
    }
}

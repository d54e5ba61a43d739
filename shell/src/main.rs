//! The `aios` binary: CLI glue over the `aios_shell` library.

fn main() -> std::process::ExitCode {
    aios_shell::main()
}

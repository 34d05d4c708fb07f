//! The `kimg` command-line entry point: parse, dispatch into the library, map errors to exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    kimg::cli::main()
}

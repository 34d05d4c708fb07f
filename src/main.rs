//! The `kimg` command-line entry point: parse, dispatch into the library, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

/// Run the command, then end the process without running libtorch's C++ static destructors.
///
/// Returning from `main` (or `std::process::exit`) calls libc's `exit`, which runs the static
/// destructors of libtorch: they deregister every operator one by one, about 0.1 CPU s on a
/// 2.6 GHz Xeon, a third of what loading and unloading libtorch costs, for nothing, as the process
/// ends anyway. Everything kimg writes is written and closed before `kimg::cli::main` returns, so
/// flushing the standard streams and calling `_exit` loses nothing.
#[expect(
    unsafe_code,
    reason = "`_exit` is memory-safe; libc declares every foreign function unsafe"
)]
fn main() {
    let code = kimg::cli::main();
    // A failed flush (a closed pipe) leaves nothing more to report.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` takes a plain integer and never returns; no Rust state is used after it.
    unsafe { libc::_exit(raw_exit_code(code)) }
}

/// The status byte of `code` (`ExitCode` does not expose it on stable Rust).
fn raw_exit_code(code: ExitCode) -> i32 {
    (0..=u8::MAX)
        .find(|&byte| ExitCode::from(byte) == code)
        .map_or(1, i32::from)
}

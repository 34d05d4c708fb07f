//! The termination signals (SIGINT, SIGTERM, SIGHUP) as a flag: Ctrl-C, `scancel` and a scheduler's
//! shutdown raise it, and whoever holds it stops at the next safe point (a training process after
//! writing a snapshot, `kimg run` after its workers). A second signal while stopping exits at once.
//! Also SIGXFSZ, caught so that a file size limit is an error rather than the end of the process.
//!
//! SIGUSR1 is a flag of its own, the time-limit warning: Slurm sends it to a `kimg run --on slurm`
//! task shortly before the job's time limit (`--signal=B:USR1@…`). The task stops as for a
//! termination signal, and may then requeue itself; keeping it apart from SIGTERM keeps `scancel`
//! (which sends SIGTERM) a plain stop.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use crate::error::EXIT_INTERRUPTED;

/// Raised by the termination signals; shared by everything that should stop.
pub fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in signal_hook::consts::TERM_SIGNALS {
        // The first signal raises the flag; a second one (flag already up) exits immediately.
        let _ = signal_hook::flag::register_conditional_shutdown(
            *signal,
            i32::from(EXIT_INTERRUPTED),
            Arc::clone(&flag),
        );
        let _ = signal_hook::flag::register(*signal, Arc::clone(&flag));
    }
    flag
}

/// Make writing past the file size limit (`ulimit -f`, `RLIMIT_FSIZE`) an error instead of the
/// end of the process: with SIGXFSZ caught, such a write fails with `File too large` (EFBIG), which
/// the writer reports with the file's name, as it reports a full disk.
pub fn file_size_limit_as_error() {
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    );
}

/// Raised by SIGUSR1, the scheduler's warning that the job's time limit is near: one flag per
/// process, registered at the first call, which also replaces SIGUSR1's default action (ending the
/// process). `kimg train` calls it first thing, so a warning that comes while the dataset is still
/// being opened is kept for the trainer instead of killing the task.
pub fn time_limit_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    Arc::clone(FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let _ = signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&flag));
        flag
    }))
}

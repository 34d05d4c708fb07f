//! The name of every file in a run directory, in one place: what `kimg train` writes as the
//! official training loop does, what `kimg run` adds around it, and what the metrics append.
//! Snapshot names live with the snapshots ([`crate::snapshot::name`]).

/// The resolved options, as the official `training_options.json`.
pub const TRAINING_OPTIONS_FILE: &str = "training_options.json";
/// The training log, as the official `log.txt`.
pub const LOG_FILE: &str = "log.txt";
/// One line of statistics per tick, as the official `stats.jsonl`.
pub const STATS_FILE: &str = "stats.jsonl";
/// The grid of real training images.
pub const REALS_GRID: &str = "reals.png";
/// The grid of fakes before training.
pub const INITIAL_FAKES_GRID: &str = "fakes_init.png";
/// The losses, penalties, augmentation and metrics against kimg.
pub const CURVES_FILE: &str = "curves.png";
/// What the worker is doing or last did.
pub const STATUS_FILE: &str = "status.json";
/// The lock a live worker holds.
pub const LOCK_FILE: &str = "run.lock";
/// The run's record: experiment, hash, swept values, provenance, resolved configuration.
pub const RECORD_FILE: &str = "run.toml";
/// The run as one self-contained manifest.
pub const CONFIG_FILE: &str = "config.toml";
/// The canonical document the run's hash covers.
pub const IDENTITY_FILE: &str = "identity.json";
/// The run's latest successive-halving decision.
pub const DECISION_FILE: &str = "decision.json";
/// In the experiment directory: the halving roster (the rule and the sweep's runs).
pub const HALVING_ROSTER: &str = "halving.json";
/// In the experiment directory: every arrival at a rung and every decision, one JSON line each.
pub const DECISIONS_LOG: &str = "decisions.jsonl";
/// In the experiment directory: the lock held while deciding.
pub const HALVING_LOCK: &str = "halving.lock";
/// The worker processes' stdout and stderr, appended across attempts.
pub const WORKER_LOG: &str = "worker.log";
/// How TensorBoard event files start (see [`events_file`]).
pub const EVENTS_FILE_PREFIX: &str = "events.out.tfevents.";

/// The grid of fakes at `kimg`, as the official `fakes000123.png`.
pub fn fakes_grid(kimg: u64) -> String {
    format!("fakes{kimg:06}.png")
}

/// The kimg of a fakes grid's file name (`fakes000123.png` → 123; `None` for other names,
/// `fakes_init.png` included).
pub fn fakes_grid_kimg(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_prefix("fakes")?.strip_suffix(".png")?;
    (digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The metric's log, one JSON line per evaluation, as the official `metric-<name>.jsonl`.
pub fn metric_log(metric: &str) -> String {
    format!("metric-{metric}.jsonl")
}

/// A TensorBoard event file, one per training process, named as TensorBoard's `EventFileWriter`
/// (which the official loop's `SummaryWriter` uses) names it:
/// `events.out.tfevents.<secs:010>.<host>.<pid>.<n>`, `n` counting the writers of the process.
pub fn events_file(secs: u64, host: &str, pid: u32, n: u64) -> String {
    format!("{EVENTS_FILE_PREFIX}{secs:010}.{host}.{pid}.{n}")
}

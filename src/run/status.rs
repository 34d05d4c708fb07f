//! `status.json`: what a run's worker is doing or last did, rewritten atomically at every change.
//!
//! The file is advisory for humans and the scheduler; the lock ([`super::lock`]) is the truth about
//! whether a worker is alive. A file that says `running` while nobody holds the lock belongs to a
//! worker that died without a word (`kill -9`, a lost node): [`super::layout::run_state`] asks the
//! lock first and reports such a run as partial, which resumes from the last snapshot.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use crate::fsutil::atomic_write;
use crate::run_files::STATUS_FILE;

/// The life of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Planned (or submitted to Slurm), not started.
    Queued,
    /// A worker is training it.
    Running,
    /// Stopped before the end; resumes from its last snapshot.
    Interrupted,
    /// Ended with an error (see [`Failure`]).
    Failed,
    /// Trained to its `kimg`.
    Done,
    /// Ended at a rung by successive halving; resumes if a later decision promotes it.
    Paused,
    /// Ended at a rung by successive halving for good (`kimg run --no-halving` resumes it).
    #[serde(rename = "stopped_early")]
    StoppedEarly,
}

impl State {
    /// The lowercase name used in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Interrupted => "interrupted",
            State::Failed => "failed",
            State::Done => "done",
            State::Paused => "paused",
            State::StoppedEarly => "stopped early",
        }
    }
}

/// How a run failed, which decides what the scheduler does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The losses became NaN or infinite: retrying would diverge again.
    Diverged,
    /// The device ran out of memory: retried with a smaller `batch_gpu` (same identity).
    OutOfMemory,
    /// The configuration or data is unusable: retrying cannot help.
    Config,
    /// Anything else (a crash, a lost file): retried up to `--retries`.
    Crashed,
    /// The machine lacks what the run needs (no GPU, too few): retrying here cannot help.
    Environment,
}

impl FailureKind {
    /// Whether another attempt may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, FailureKind::OutOfMemory | FailureKind::Crashed)
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The class of failure.
    pub kind: FailureKind,
    /// The worker's message.
    pub message: String,
}

/// The content of `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// Where the run stands.
    pub state: State,
    /// Thousands of images trained so far.
    pub kimg: f64,
    /// The run's target.
    pub total_kimg: u64,
    /// Seconds per kimg of the last tick.
    #[serde(default)]
    pub sec_per_kimg: Option<f64>,
    /// The newest snapshot file, relative to the run directory.
    #[serde(default)]
    pub last_snapshot: Option<PathBuf>,
    /// The worker's process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The worker's host.
    #[serde(default)]
    pub host: Option<String>,
    /// The device the worker trains on.
    #[serde(default)]
    pub device: Option<String>,
    /// The `batch_gpu` the worker uses (lowered after an out-of-memory failure).
    #[serde(default)]
    pub batch_gpu: Option<u32>,
    /// When this attempt started.
    #[serde(default)]
    pub started: Option<DateTime<Local>>,
    /// Last write.
    pub updated: DateTime<Local>,
    /// When the run ended (done, failed or interrupted).
    #[serde(default)]
    pub ended: Option<DateTime<Local>>,
    /// Attempts started so far (the first is 1).
    #[serde(default)]
    pub attempts: u32,
    /// Why it failed.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The Slurm job (`<array job>_<task>`) when submitted with `--on slurm`.
    #[serde(default)]
    pub slurm_job: Option<String>,
    /// Each time the Slurm task requeued itself at its time limit, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requeues: Vec<Requeue>,
    /// Why the last attempt stopped unfinished without failing and without continuing (e.g. why
    /// it did not requeue itself at the time limit).
    #[serde(default)]
    pub note: Option<String>,
}

/// A Slurm task's requeue of itself at its time limit (see `worker::requeue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requeue {
    /// When it requeued itself.
    pub at: DateTime<Local>,
    /// kimg trained when it did (its snapshot's).
    pub kimg: f64,
    /// The task (`<array job>_<task>`), which keeps its id through requeues.
    pub slurm_job: String,
}

impl RunStatus {
    /// A queued run that has not started.
    pub fn queued(total_kimg: u64) -> RunStatus {
        RunStatus {
            state: State::Queued,
            kimg: 0.0,
            total_kimg,
            sec_per_kimg: None,
            last_snapshot: None,
            pid: None,
            host: None,
            device: None,
            batch_gpu: None,
            started: None,
            updated: Local::now(),
            ended: None,
            attempts: 0,
            failure: None,
            slurm_job: None,
            requeues: Vec::new(),
            note: None,
        }
    }

    /// Read `dir/status.json` (`None` when absent or unreadable).
    pub fn read(dir: &Path) -> Option<RunStatus> {
        let text = std::fs::read_to_string(dir.join(STATUS_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write `dir/status.json` atomically, stamping `updated`.
    pub fn write(&mut self, dir: &Path) -> std::io::Result<()> {
        self.updated = Local::now();
        let text = serde_json::to_string_pretty(self).expect("status serialises");
        atomic_write(&dir.join(STATUS_FILE), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::{RunStatus, State};

    #[test]
    fn status_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut status = RunStatus::queued(10);
        status.state = State::Running;
        status.kimg = 4.0;
        status.write(dir.path()).unwrap();
        let read = RunStatus::read(dir.path()).unwrap();
        assert_eq!(read, status);
    }
}

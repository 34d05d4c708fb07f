//! Where runs live: `runs/<experiment>/<hash12>-<what varies>/`, and what state a directory is in.

use std::path::{Path, PathBuf};

use super::decision::{RunDecision, Verdict};
use super::identity::RunIdentity;
use super::lock::holder;
use super::status::{FailureKind, RunStatus, State};
use crate::snapshot::name::latest_snapshot_kimg;
use crate::sweep::RunSpec;

/// The directory of a run under `runs_dir`.
pub fn run_dir(runs_dir: &Path, run: &RunSpec, identity: &RunIdentity) -> PathBuf {
    let varies = run.short_description();
    let suffix = if varies.is_empty() {
        let t = &run.spec.train;
        let dataset = run
            .spec
            .data
            .path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned());
        format!(
            "{}-{dataset}-b{}-g{}",
            t.cfg.name(),
            t.batch,
            crate::pyfmt::py_float(t.gamma).trim_end_matches(".0")
        )
    } else {
        varies
    };
    let name: String = format!("{}-{suffix}", identity.short())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    runs_dir.join(&run.spec.name).join(name)
}

/// A run directory's state, as its files and lock show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum RunState {
    /// Nothing there yet.
    New,
    /// Submitted (to Slurm) and waiting.
    Queued,
    /// A live worker holds the run's lock.
    Running {
        /// kimg reached, as the worker last reported.
        kimg: f64,
    },
    /// Stopped before the end (interrupted, or its worker died); resumes from the snapshot.
    Partial {
        /// kimg of the newest snapshot.
        kimg: u64,
    },
    /// The last attempt failed.
    Failed {
        /// How.
        kind: FailureKind,
        /// kimg of the newest snapshot.
        kimg: u64,
    },
    /// A snapshot at or beyond the run's `kimg`.
    Done,
    /// Ended at a rung by successive halving (`decision.json` says why); a later promotion
    /// makes it partial again.
    Paused {
        /// kimg of the newest snapshot.
        kimg: u64,
    },
    /// Stopped early for good by successive halving.
    Stopped {
        /// kimg of the newest snapshot.
        kimg: u64,
    },
}

impl RunState {
    /// `partial 4 kimg`, `failed (diverged)`, `running 2.3 kimg`, `done`…
    pub fn describe(&self) -> String {
        match self {
            RunState::New => "new".into(),
            RunState::Queued => "queued".into(),
            RunState::Running { kimg } => format!("running {kimg:.1} kimg"),
            RunState::Partial { kimg } => format!("partial {kimg} kimg"),
            RunState::Failed { kind, .. } => format!(
                "failed ({})",
                serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
                    .replace('_', " ")
            ),
            RunState::Done => "done".into(),
            RunState::Paused { kimg } => format!("paused at {kimg} kimg"),
            RunState::Stopped { kimg } => format!("stopped early at {kimg} kimg"),
        }
    }
}

/// The state of `dir` for a run of `total_kimg`.
pub fn run_state(dir: &Path, total_kimg: u64) -> RunState {
    let snapshot = latest_snapshot_kimg(dir);
    let status = RunStatus::read(dir);
    if holder(dir).is_some() {
        return RunState::Running {
            kimg: status.map_or(0.0, |s| s.kimg),
        };
    }
    if snapshot.is_some_and(|kimg| kimg >= total_kimg) {
        return RunState::Done;
    }
    match status {
        Some(RunStatus {
            state: State::Failed,
            failure: Some(failure),
            ..
        }) => RunState::Failed {
            kind: failure.kind,
            kimg: snapshot.unwrap_or(0),
        },
        Some(RunStatus {
            state: State::Queued,
            ..
        }) if snapshot.is_none() => RunState::Queued,
        Some(RunStatus {
            state: state @ (State::Paused | State::StoppedEarly),
            ..
        }) => halted_state(dir, state, snapshot.unwrap_or(0)),
        _ => snapshot.map_or(RunState::New, |kimg| RunState::Partial { kimg }),
    }
}

/// The state of a run its worker ended at a rung: its decision file may have promoted it since.
fn halted_state(dir: &Path, state: State, kimg: u64) -> RunState {
    match RunDecision::read(dir).map(|d| d.verdict) {
        Some(Verdict::Promoted) => RunState::Partial { kimg },
        Some(Verdict::Stopped) => RunState::Stopped { kimg },
        _ if state == State::Paused => RunState::Paused { kimg },
        _ => RunState::Stopped { kimg },
    }
}

#[cfg(test)]
mod tests {
    use super::{RunState, run_state};
    use crate::run::decision::{RunDecision, Verdict};
    use crate::run::lock::RunLock;
    use crate::run::status::{RunStatus, State};
    use crate::snapshot::name::snapshot_file_name;

    #[test]
    fn a_run_whose_worker_died_reads_as_partial_and_a_live_one_as_running() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(run_state(dir.path(), 10), RunState::New);
        std::fs::write(dir.path().join(snapshot_file_name(4)), b"").unwrap();
        let mut status = RunStatus::queued(10);
        status.state = State::Running;
        status.kimg = 4.5;
        status.write(dir.path()).unwrap();
        assert_eq!(run_state(dir.path(), 10), RunState::Partial { kimg: 4 });
        let _lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(run_state(dir.path(), 10), RunState::Running { kimg: 4.5 });
        assert_eq!(run_state(dir.path(), 4), RunState::Running { kimg: 4.5 });
    }

    #[test]
    fn a_paused_run_reads_as_its_latest_decision_says() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(snapshot_file_name(4)), b"").unwrap();
        let mut status = RunStatus::queued(10);
        status.state = State::Paused;
        status.write(dir.path()).unwrap();
        assert_eq!(run_state(dir.path(), 10), RunState::Paused { kimg: 4 });
        let mut decision = RunDecision {
            time: chrono::Local::now(),
            metric: "fid50k_full".into(),
            rung: 0,
            rung_kimg: 4,
            verdict: Verdict::Promoted,
            value: Some(3.0),
            rank: 1,
            of: 3,
            rule: "rank 1 ≤ 1".into(),
        };
        decision.write(dir.path()).unwrap();
        assert_eq!(run_state(dir.path(), 10), RunState::Partial { kimg: 4 });
        decision.verdict = Verdict::Stopped;
        decision.write(dir.path()).unwrap();
        assert_eq!(run_state(dir.path(), 10), RunState::Stopped { kimg: 4 });
    }
}

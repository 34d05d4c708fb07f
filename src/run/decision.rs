//! A run's halving decision: the small file `decision.json` in its directory, rewritten
//! atomically whenever successive halving decides about the run, so that a worker, `kimg run`,
//! `kimg status` and a Slurm task read the run's current verdict without replaying the sweep.

use std::path::Path;

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use crate::fsutil::atomic_write;
use crate::run_files::DECISION_FILE;

/// What a decision tells a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Continue past the rung.
    Promoted,
    /// End with the snapshot; may be promoted later.
    Paused,
    /// End for good: outside the kept runs of a complete rung.
    Stopped,
}

impl Verdict {
    /// `promoted`, `paused`, `stopped`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Promoted => "promoted",
            Verdict::Paused => "paused",
            Verdict::Stopped => "stopped",
        }
    }
}

/// The content of `decision.json`: the latest decision about the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDecision {
    /// When it was decided.
    pub time: DateTime<Local>,
    /// The deciding metric.
    pub metric: String,
    /// The rung's index (0 = the first rung).
    pub rung: usize,
    /// The rung in kimg.
    pub rung_kimg: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// The run's best value up to the rung (`None`: no value).
    pub value: Option<f64>,
    /// Its rank among the runs at the rung (1 = best).
    pub rank: usize,
    /// How many runs had reached the rung.
    pub of: usize,
    /// The rule that decided, in words.
    pub rule: String,
}

impl RunDecision {
    /// Read `dir/decision.json` (`None` when absent or unreadable).
    pub fn read(dir: &Path) -> Option<RunDecision> {
        let text = std::fs::read_to_string(dir.join(DECISION_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write `dir/decision.json` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("decisions serialise");
        atomic_write(&dir.join(DECISION_FILE), text.as_bytes())
    }

    /// `paused at rung 2 (rank 4 of 6, fid50k_full 41.2)`.
    pub fn describe(&self) -> String {
        let value = self.value.map_or_else(
            || "no value".to_string(),
            |v| format!("{} {v:.4}", self.metric),
        );
        format!(
            "{} at rung {} ({} kimg): rank {} of {}, {value}",
            self.verdict.name(),
            self.rung + 1,
            self.rung_kimg,
            self.rank,
            self.of
        )
    }
}

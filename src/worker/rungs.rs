//! A worker's side of successive halving: at each snapshot, whether the run reached its next
//! rung — then it decides, under the experiment's lock, from its own metric log — and whether
//! the sweep's decisions (its own, or a later revocation) tell it to end.

use std::path::{Path, PathBuf};

use crate::halving::{
    Arrival, HalvingError, Ladder, Roster, Verdict, arrive, read_log, replay, standing_at,
};
use crate::metrics::report::ReportMetric;
use crate::run::record::RunRecord;

/// Watches one run's rungs (only in a run directory of a sweep `kimg run` set up for halving).
#[derive(Debug)]
pub struct RungWatch {
    experiment_dir: PathBuf,
    run_dir: PathBuf,
    hash: String,
    roster: Roster,
}

impl RungWatch {
    /// The watch of `run_dir`, when its experiment directory holds a roster that lists it.
    pub fn open(run_dir: &Path) -> Result<Option<RungWatch>, HalvingError> {
        let Some(experiment_dir) = run_dir.parent() else {
            return Ok(None);
        };
        let Some(roster) = Roster::read(experiment_dir)? else {
            return Ok(None);
        };
        let dir_name = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hash = roster
            .hash_of(&dir_name)
            .map(str::to_string)
            .or_else(|| RunRecord::read(run_dir).ok().map(|r| r.run.hash));
        let Some(hash) = hash.filter(|h| roster.runs.iter().any(|r| r.hash == *h)) else {
            return Ok(None);
        };
        Ok(Some(RungWatch {
            experiment_dir: experiment_dir.to_path_buf(),
            run_dir: run_dir.to_path_buf(),
            hash,
            roster,
        }))
    }

    /// Whether the sweep's decisions already end this run: `(rung, verdict)` when it is paused
    /// or stopped.
    pub fn halted(&self) -> Option<(usize, Verdict)> {
        let (ladder, _) = replay(&self.roster, &read_log(&self.experiment_dir));
        self.end_in(&ladder)
    }

    /// Where `ladder` ends this run: `(rung, verdict)` when it is paused or stopped.
    fn end_in(&self, ladder: &Ladder) -> Option<(usize, Verdict)> {
        ladder
            .verdict(&self.hash)
            .filter(|(_, verdict)| *verdict != Verdict::Promoted)
    }

    /// After the snapshot at `kimg` (its metrics logged): arrive at the next rung if the snapshot
    /// reached it, and say whether the run must end here.
    pub fn at_snapshot(&self, kimg: u64) -> Result<Option<(usize, Verdict)>, HalvingError> {
        let (ladder, _) = replay(&self.roster, &read_log(&self.experiment_dir));
        let due = ladder
            .next_rung(&self.hash)
            .filter(|&rung| self.roster.rule.rungs.get(rung).is_some_and(|&r| kimg >= r));
        let Some(rung) = due else {
            return Ok(self.end_in(&ladder));
        };
        let metric = ReportMetric::parse(&self.roster.metric);
        #[expect(clippy::cast_precision_loss, reason = "kimg is far below 2^52")]
        let standing = standing_at(&metric, &metric.history(&self.run_dir), kimg as f64);
        let arrival = Arrival {
            run: self.hash.clone(),
            rung,
            kimg,
            standing,
        };
        let (ladder, _) = arrive(&self.experiment_dir, &self.roster, &arrival)?;
        Ok(self.end_in(&ladder))
    }
}

//! Planning: a manifest's runs, each with its identity, directory and what that directory says
//! now; and the directories the manifest no longer produces.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::data::{Dataset, DatasetOptions};
use crate::manifest::{ManifestErrors, Override};
use crate::run::identity::{RunIdentity, run_identity};
use crate::run::layout::{RunState, run_dir, run_state};
use crate::run::record::RunRecord;
use crate::sweep::{RunSpec, expand};

/// One run of a manifest, located on disk.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// The resolved run.
    pub run: RunSpec,
    /// Its identity.
    pub identity: RunIdentity,
    /// The dataset fingerprint that entered the identity (`None`: dataset unreadable here).
    pub fingerprint: Option<String>,
    /// Its directory.
    pub dir: PathBuf,
    /// What its directory says now.
    pub state: RunState,
}

impl PlannedRun {
    /// Whether `kimg run` has work to do for it (failed runs only when retrying failures).
    pub fn pending(&self, retry_failed: bool) -> bool {
        match &self.state {
            RunState::New | RunState::Queued | RunState::Partial { .. } => true,
            RunState::Failed { kind, .. } => retry_failed || kind.retryable(),
            RunState::Running { .. }
            | RunState::Done
            | RunState::Paused { .. }
            | RunState::Stopped { .. } => false,
        }
    }

    /// Estimated seconds on V100 and A100: the preset's published s/kimg × kimg, × 1.05 with
    /// metrics (the seed tables' rule).
    pub fn estimate_sec(&self) -> Option<(f64, f64)> {
        let expected = self.run.spec.preset.expected.as_ref()?;
        #[expect(clippy::cast_precision_loss, reason = "kimg is far below 2^52")]
        let kimg = self.run.spec.train.kimg as f64;
        let factor = if self.run.spec.train.metrics.is_empty() {
            1.0
        } else {
            1.05
        };
        Some((
            expected.s_per_kimg_v100? * kimg * factor,
            expected.s_per_kimg_a100? * kimg * factor,
        ))
    }

    /// Write `run.toml`, `config.toml` and `identity.json` (before a worker starts).
    pub fn write_record(&self, manifest: &Path) -> std::io::Result<()> {
        RunRecord::new(
            &self.run,
            &self.identity,
            manifest,
            self.fingerprint.as_deref(),
        )
        .write(&self.dir, &self.run, &self.identity)
    }
}

/// Expand `manifest` and locate every run under `runs_dir`. Configuration errors surface here,
/// before anything is written.
pub fn plan(
    manifest: &Path,
    overrides: &[Override],
    runs_dir: &Path,
) -> Result<Vec<PlannedRun>, ManifestErrors> {
    let mut fingerprints: HashMap<PathBuf, Option<String>> = HashMap::new();
    let runs = expand(manifest, overrides)?;
    Ok(runs
        .into_iter()
        .map(|run| {
            let fingerprint = run.spec.data.path.as_ref().and_then(|path| {
                fingerprints
                    .entry(path.clone())
                    .or_insert_with(|| {
                        Dataset::open(path, &DatasetOptions::default())
                            .ok()?
                            .fingerprint()
                            .ok()
                    })
                    .clone()
            });
            let identity = run_identity(&run.spec, fingerprint.as_deref());
            let dir = run_dir(runs_dir, &run, &identity);
            let state = run_state(&dir, run.spec.train.kimg);
            PlannedRun {
                run,
                identity,
                fingerprint,
                dir,
                state,
            }
        })
        .collect())
}

/// Directories under the experiment's folder that `runs` no longer produce (never deleted).
pub fn orphans(runs: &[PlannedRun], runs_dir: &Path) -> Vec<PathBuf> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let experiment_dir = runs_dir.join(&first.run.spec.name);
    let planned: HashSet<&Path> = runs.iter().map(|r| r.dir.as_path()).collect();
    let mut orphans: Vec<PathBuf> = std::fs::read_dir(&experiment_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name().is_some_and(|n| n != "slurm")
                        && !planned.contains(p.as_path())
                })
                .collect()
        })
        .unwrap_or_default();
    orphans.sort();
    orphans
}

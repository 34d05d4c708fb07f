//! Checkpoints: a snapshot holds everything an exact resume needs (G, D, G_ema, both optimizers,
//! the path-length mean, and in its metadata the progress, the sampler, the label RNG and ADA's
//! state) beside the networks' description every snapshot reader uses. Written and read only here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tick::{EVENTS_CONTEXT, global_step};
use super::{Trainer, reseed_value};
use crate::data::sampler::InfiniteSampler;
use crate::nets::state::{load_state, state_tensors};
use crate::numpy_rng::{RandomState, RandomStateData};
use crate::snapshot::file::SnapshotFile;
use crate::snapshot::metadata::{NetworkMetadata, TrainingSetKwargs};
use crate::snapshot::name::snapshot_file_name;
use crate::snapshot::networks::read_networks;
use crate::train::error::{TrainError, io_error};
use crate::train::iteration::{ADA_STATISTIC, Progress};
use crate::train::stats::Moments;

/// A checkpoint's metadata document: the networks' description, then the resume state.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointMetadata {
    /// What every snapshot reader needs (architecture, kwargs, training set).
    #[serde(flatten)]
    networks: NetworkMetadata,
    /// Images, ticks and iterations so far.
    progress: Progress,
    /// Where the data order stands.
    sampler: InfiniteSampler,
    /// The stream that draws generated images' labels.
    label_rng: RandomStateData,
    /// The augmentation probability.
    augment_p: f64,
    /// ADA's statistic accumulated since its last adjustment.
    #[serde(default)]
    ada_pending: Option<Moments>,
}

impl Trainer {
    /// Write `network-snapshot-<kimg>.safetensors` (atomically) and return its path.
    pub(super) fn save_snapshot(&mut self) -> Result<PathBuf, TrainError> {
        let mut tensors: Vec<(String, tch::Tensor)> = self
            .state
            .network_stores()
            .into_iter()
            .flat_map(|(store, prefix)| state_tensors(store, prefix))
            .collect();
        tensors.extend(self.state.g_opt.state_tensors("opt.G"));
        tensors.extend(self.state.d_opt.state_tensors("opt.D"));
        tensors.push((
            "state.pl_mean".into(),
            self.state.loss.pl_mean.shallow_clone(),
        ));
        let metadata = CheckpointMetadata {
            networks: NetworkMetadata {
                arch: self.state.g.arch(),
                g_kwargs: self.state.g.kwargs(),
                d_kwargs: Some(
                    serde_json::to_value(self.state.d.config()).expect("configurations serialise"),
                ),
                training_set_kwargs: Some(TrainingSetKwargs {
                    path: self.spec.data.path.clone(),
                    use_labels: self.spec.data.cond,
                    xflip: self.spec.data.mirror,
                    resolution: self.dataset.resolution(),
                }),
            },
            progress: self.state.progress,
            sampler: self.sampler.clone(),
            label_rng: self.label_rng.save(),
            augment_p: self.augment_p(),
            ada_pending: self.state.ada_stats.pending(ADA_STATISTIC),
        };
        let path = self
            .run_dir
            .join(snapshot_file_name(self.state.progress.cur_nimg / 1000));
        SnapshotFile {
            tensors,
            metadata: serde_json::to_value(&metadata).expect("metadata serialises"),
        }
        .write(&path)?;
        Ok(path)
    }

    /// Transfer learning (`resume`): copy every G, D and G_ema tensor of `source` whose name this
    /// run's networks have (train.py's `copy_params_and_buffers(require_all=False)`); optimizer
    /// state, progress and RNG streams start fresh.
    pub(super) fn transfer_from(&mut self, source: &str) -> Result<(), TrainError> {
        self.write_log(&format!("Resuming from \"{source}\""));
        let tensors = read_networks(source).map_err(|source_error| TrainError::Resume {
            path: source.to_string(),
            source: source_error,
        })?;
        let bad = |reason: String| TrainError::BadSnapshot {
            path: source.to_string(),
            reason,
        };
        let mut copied = 0;
        for (store, prefix) in self.state.network_stores() {
            let missing = load_state(store, &tensors, prefix, false)
                .map_err(|e| bad(format!("{prefix}: {e}")))?;
            copied += store.variables().len() - missing.len();
        }
        if copied == 0 {
            return Err(bad("no tensor matches this run's networks".into()));
        }
        Ok(())
    }

    /// Continue exactly from the run's own snapshot at `path`.
    pub(super) fn restore(&mut self, path: &Path) -> Result<(), TrainError> {
        let bad = |reason: String| TrainError::BadSnapshot {
            path: path.display().to_string(),
            reason,
        };
        let (snapshot, metadata) = SnapshotFile::read_with_metadata::<CheckpointMetadata>(path)?;
        for (store, prefix) in self.state.network_stores() {
            load_state(store, &snapshot.tensors, prefix, true).map_err(|e| bad(e.to_string()))?;
        }
        self.state
            .g_opt
            .load_state_tensors("opt.G", &snapshot.tensors, self.device);
        self.state
            .d_opt
            .load_state_tensors("opt.D", &snapshot.tensors, self.device);
        if let Some(pl_mean) = snapshot.get("state.pl_mean") {
            self.state.loss.pl_mean = pl_mean.to_device(self.device);
        }
        self.supersede_logs(Some(metadata.progress))?;
        self.state.progress = metadata.progress;
        self.sampler = metadata.sampler;
        self.label_rng = RandomState::restore(&metadata.label_rng)
            .ok_or_else(|| bad("malformed label_rng".into()))?;
        if let Some(pipe) = self.state.augment.as_mut() {
            pipe.p = metadata.augment_p;
        }
        if let Some(pending) = metadata.ada_pending {
            self.state.ada_stats.set_pending(ADA_STATISTIC, pending);
        }
        self.state.progress.cur_tick += 1;
        self.loader = None;
        // What a killed process wrote past this snapshot is superseded; the snapshot's own tick
        // (at its step) stands, and ticks are at least 1 kimg apart, so every later tick has a
        // later step.
        self.events
            .session_start(global_step(self.state.progress.cur_nimg) + 1);
        self.events.flush().map_err(io_error(EVENTS_CONTEXT))?;
        tch::manual_seed(reseed_value(
            self.spec.train.seed,
            self.state.progress.cur_nimg,
        ));
        self.write_log(&format!(
            "Resuming from {} at {:.1} kimg.",
            path.display(),
            self.kimg()
        ));
        Ok(())
    }
}

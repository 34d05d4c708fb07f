//! Metrics of a run's snapshots, during training (`--metrics`) and afterwards (`kimg metrics`):
//! the configured metric names, the training set and the detector flow in; each snapshot's
//! results flow out as `metric-<name>.jsonl` lines in the run directory.

use std::path::Path;

use tch::Device;

use super::MetricError;
use super::detector::{DetectorFiles, Network};
use super::evaluate::{Evaluator, MetricResult, RealData};
use super::locate::{cache_dir, find_detector};
use super::registry::{Family, MetricSpec, metric_spec, networks};
use crate::nets::network::GeneratorNet;

/// One metric of a snapshot: its values and the `metric-<name>.jsonl` line written for them.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotMetric {
    /// The values.
    pub result: MetricResult,
    /// The line appended to the metric's log.
    pub line: String,
}

/// The metrics of one run, ready to evaluate snapshots.
#[derive(Debug)]
pub struct MetricRunner {
    evaluator: Evaluator,
    specs: Vec<MetricSpec>,
    real: RealData,
}

impl MetricRunner {
    /// A runner for `names` against `real`, with the detectors they need loaded on `device` from
    /// `files` (see [`super::locate::locate`] for the defaults); `None` when `names` is empty.
    /// Fails early — before any training — on an unknown or unsupported metric, a missing
    /// detector, or the Inception Score with a detector that has no classifier head.
    pub fn new(
        names: &[String],
        real: RealData,
        files: &DetectorFiles,
        device: Device,
    ) -> Result<Option<MetricRunner>, MetricError> {
        if names.is_empty() {
            return Ok(None);
        }
        let specs = names
            .iter()
            .map(|name| metric_spec(name))
            .collect::<Result<Vec<_>, _>>()?;
        let detectors = networks(&specs)
            .into_iter()
            .map(|network| find_detector(network, files.get(network), device))
            .collect::<Result<Vec<_>, _>>()?;
        let evaluator = Evaluator::new(detectors, cache_dir());
        if specs.iter().any(|s| s.family == Family::InceptionScore) {
            evaluator
                .detector(Network::Inception)
                .expect("loaded above")
                .require_classifier()?;
        }
        Ok(Some(MetricRunner {
            evaluator,
            specs,
            real,
        }))
    }

    /// Evaluate every metric on `generator` (the snapshot `snapshot`'s G_ema) and append the
    /// results to `run_dir/metric-<name>.jsonl`; returns each result with the line written.
    pub fn evaluate_snapshot(
        &self,
        generator: &dyn GeneratorNet,
        run_dir: &Path,
        snapshot: &Path,
    ) -> Result<Vec<SnapshotMetric>, MetricError> {
        self.specs
            .iter()
            .map(|spec| {
                let result = self.evaluator.evaluate(spec, generator, &self.real)?;
                let line = result.append_to(run_dir, Some(snapshot))?;
                Ok(SnapshotMetric { result, line })
            })
            .collect()
    }
}

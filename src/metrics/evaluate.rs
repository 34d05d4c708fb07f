//! One metric of one generator — port of `metrics/metric_main.py` `calc_metric` and
//! `report_metric`: a [`MetricSpec`], a generator and the training set flow in; a [`MetricResult`]
//! and its `metric-<name>.jsonl` line flow out.
//!
//! Each metric runs on the reference's network ([`MetricSpec::network`]): Inception-v3 for FID, KID
//! and IS, VGG16 for precision/recall and PPL.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::MetricError;
use super::cache::cached_dataset_features;
use super::detector::{Detector, Network, Output};
use super::equivariance::equivariance_psnr;
use super::features::{GENERATION_SEED, generator_features};
use super::fid::frechet_distance;
use super::inception_score::{NUM_SPLITS, inception_score};
use super::kid::{KidOptions, kernel_inception_distance};
use super::ppl::perceptual_path_length;
use super::pr::{PrOptions, precision_recall};
use super::registry::{Family, MetricSpec};
use crate::data::{Dataset, DatasetOptions};
use crate::nets::network::GeneratorNet;
use crate::numpy_rng::RandomState;
use crate::pyfmt::{format_time, py_float};
use crate::run_files::metric_log;

/// The training set as training opened it (the snapshot's `training_set_kwargs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealData {
    /// Zip or folder.
    pub path: PathBuf,
    /// Whether training used the labels (then generated images get dataset labels).
    pub use_labels: bool,
    /// Whether training x-flipped (kept by the legacy metrics, dropped by `_full` ones).
    pub xflip: bool,
}

/// The values of one metric evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricResult {
    /// The metric's name.
    pub metric: String,
    /// Result names and values, in the reference's order.
    pub results: Vec<(String, f64)>,
    /// Seconds it took.
    pub total_time: f64,
}

impl MetricResult {
    /// The `metric-<name>.jsonl` line the reference's `report_metric` writes, with its key order
    /// and Python's float formatting.
    pub fn jsonl_line(&self, snapshot_pkl: Option<&str>, timestamp: f64) -> String {
        let results: Vec<String> = self
            .results
            .iter()
            .map(|(name, value)| format!("{}: {}", json_string(name), py_float(*value)))
            .collect();
        format!(
            "{{\"results\": {{{}}}, \"metric\": {}, \"total_time\": {}, \"total_time_str\": {}, \
             \"num_gpus\": 1, \"snapshot_pkl\": {}, \"timestamp\": {}}}",
            results.join(", "),
            json_string(&self.metric),
            py_float(self.total_time),
            json_string(&format_time(self.total_time)),
            snapshot_pkl.map_or_else(|| "null".to_string(), json_string),
            py_float(timestamp)
        )
    }

    /// Append the line to `run_dir/metric-<name>.jsonl`, naming the snapshot file; returns the
    /// line.
    pub fn append_to(
        &self,
        run_dir: &Path,
        snapshot: Option<&Path>,
    ) -> Result<String, MetricError> {
        let path = run_dir.join(metric_log(&self.metric));
        let name = snapshot
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned());
        let timestamp = crate::pyfmt::unix_time();
        let io = |source| MetricError::Io {
            context: format!("writing {}", path.display()),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let line = self.jsonl_line(name.as_deref(), timestamp);
        writeln!(file, "{line}").map_err(io)?;
        Ok(line)
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

/// Computes metrics with loaded detectors, caching dataset statistics in a directory.
#[derive(Debug)]
pub struct Evaluator {
    detectors: Vec<Detector>,
    cache_dir: Option<PathBuf>,
}

impl Evaluator {
    /// An evaluator with `detectors` (at most one per [`Network`]); dataset statistics are cached
    /// under `cache_dir` when given. Metrics whose network is not among the detectors fail.
    pub fn new(detectors: Vec<Detector>, cache_dir: Option<PathBuf>) -> Evaluator {
        Evaluator {
            detectors,
            cache_dir,
        }
    }

    /// The loaded detector of `network`.
    pub fn detector(&self, network: Network) -> Option<&Detector> {
        self.detectors.iter().find(|d| d.network() == network)
    }

    /// Evaluate `spec` on `generator` against `real`.
    pub fn evaluate(
        &self,
        spec: &MetricSpec,
        generator: &dyn GeneratorNet,
        real: &RealData,
    ) -> Result<MetricResult, MetricError> {
        let start = Instant::now();
        let options = DatasetOptions {
            use_labels: real.use_labels,
            max_size: None,
            xflip: real.xflip && !spec.full,
            random_seed: 0,
        };
        let dataset = Dataset::open(&real.path, &options)?;
        let capture = spec.capture();
        let labels = real.use_labels.then_some(&dataset);
        if let Family::Equivariance(kind) = spec.family {
            let g = generator.as_stylegan3().ok_or_else(|| {
                MetricError::Unsupported(format!(
                    "`{}` measures StyleGAN3's equivariance; this generator is not a StyleGAN3 one",
                    spec.name
                ))
            })?;
            let psnr = equivariance_psnr(g, kind, spec.num_gen, labels);
            return Ok(Evaluator::result(spec, vec![psnr], start));
        }
        let network = spec.network().expect("only equivariance needs no network");
        let detector = self.detector(network).ok_or_else(|| {
            MetricError::Unsupported(format!(
                "`{}` needs the {} detector",
                spec.name,
                network.name()
            ))
        })?;
        if spec.family == Family::PerceptualPathLength {
            let ppl = perceptual_path_length(detector, generator, labels, spec.num_gen)?;
            return Ok(Evaluator::result(spec, vec![ppl], start));
        }
        let output = if spec.family == Family::InceptionScore {
            Output::Probabilities
        } else {
            Output::Features
        };
        let gen_stats =
            generator_features(detector, generator, labels, spec.num_gen, (capture, output))?;
        if spec.family == Family::InceptionScore {
            let (mean, std) = inception_score(&gen_stats.all_features(), NUM_SPLITS);
            return Ok(Evaluator::result(spec, vec![mean, std], start));
        }
        let (real_stats, _) = cached_dataset_features(
            self.cache_dir.as_deref(),
            &dataset,
            &options,
            detector,
            capture,
            spec.max_real(),
        )?;
        let values = match spec.family {
            Family::Fid => {
                let (mu_gen, sigma_gen) = gen_stats.mean_cov();
                let (mu_real, sigma_real) = real_stats.mean_cov();
                vec![frechet_distance(&mu_gen, &sigma_gen, &mu_real, &sigma_real)]
            }
            Family::Kid => {
                let mut rng = RandomState::new(GENERATION_SEED);
                vec![kernel_inception_distance(
                    &real_stats.all_features(),
                    &gen_stats.all_features(),
                    KidOptions::default(),
                    &mut rng,
                )]
            }
            Family::PrecisionRecall => {
                let (precision, recall) = precision_recall(
                    &real_stats.all_features(),
                    &gen_stats.all_features(),
                    PrOptions::default(),
                );
                vec![precision, recall]
            }
            Family::InceptionScore | Family::PerceptualPathLength | Family::Equivariance(_) => {
                unreachable!("handled above")
            }
        };
        Ok(Evaluator::result(spec, values, start))
    }

    /// The result of `spec` with `values` (in [`MetricSpec::result_names`] order).
    fn result(spec: &MetricSpec, values: Vec<f64>, start: Instant) -> MetricResult {
        MetricResult {
            metric: spec.name.clone(),
            results: spec.result_names().into_iter().zip(values).collect(),
            total_time: start.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MetricResult;

    #[test]
    fn jsonl_lines_are_written_as_the_reference_writes_them() {
        // The line of `metric-eqt8_int.jsonl` in the reference run directory
        // `rundir_samples/00001-stylegan3-t-tiny16-gpus1-batch4-gamma0.5-sample`.
        let reference = "{\"results\": {\"eqt8_int\": 51.91702234191326}, \"metric\": \"eqt8_int\", \
                         \"total_time\": 0.4794025421142578, \"total_time_str\": \"0s\", \
                         \"num_gpus\": 1, \"snapshot_pkl\": \"network-snapshot-000001.pkl\", \
                         \"timestamp\": 1795337948.3266034}";
        let result = MetricResult {
            metric: "eqt8_int".into(),
            results: vec![("eqt8_int".into(), 51.917_022_341_913_26)],
            total_time: 0.479_402_542_114_257_8,
        };
        assert_eq!(
            result.jsonl_line(Some("network-snapshot-000001.pkl"), 1_795_337_948.326_603_4),
            reference
        );
    }
}

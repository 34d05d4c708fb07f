//! Dataset feature statistics cached on disk, so that every snapshot of every run of a sweep
//! computes the real images' features once: `<cache>/gan-metrics/<dataset>-<detector>-<key>.safetensors`.
//!
//! The key is the sha256 of what determines the statistics: the dataset's fingerprint (names,
//! sizes and CRCs of its files), the options it was opened with, the detector file's sha256, what
//! is captured and how many items. Files are written atomically (temporary file, then rename), so
//! concurrent runs never read a torn file; the last writer wins with identical content.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

use super::MetricError;
use super::detector::Detector;
use super::features::dataset_features;
use super::stats::{Capture, FeatureStats};
use crate::data::{Dataset, DatasetOptions};

/// Bumped when the file layout or the feature computation changes.
const CACHE_VERSION: u32 = 1;

/// The statistics file for these inputs.
fn cache_path(
    dir: &Path,
    dataset: &Dataset,
    options: &DatasetOptions,
    detector: &Detector,
    capture: Capture,
    max_items: Option<usize>,
) -> Result<PathBuf, MetricError> {
    let key = serde_json::json!({
        "version": CACHE_VERSION,
        "dataset": dataset.fingerprint()?,
        "xflip": options.xflip,
        "max_size": options.max_size,
        "random_seed": options.random_seed,
        "detector": detector.sha256(),
        "capture_all": capture.all,
        "capture_mean_cov": capture.mean_cov,
        // The number of items actually used, so that metrics with different caps share a file.
        "items": max_items.map_or(dataset.len(), |max| max.min(dataset.len())),
    });
    let digest: String = Sha256::digest(key.to_string().as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let detector_id = &detector.sha256()[..12];
    Ok(dir.join("gan-metrics").join(format!(
        "{}-{detector_id}-{digest}.safetensors",
        dataset.name()
    )))
}

/// Features of the first `max_items` images of `dataset` (opened with `options`), read from the
/// cache under `dir` when there, else computed and stored there. Without `dir`, computed only.
/// Returns the statistics and, when cached, the file.
pub fn cached_dataset_features(
    dir: Option<&Path>,
    dataset: &Dataset,
    options: &DatasetOptions,
    detector: &Detector,
    capture: Capture,
    max_items: Option<usize>,
) -> Result<(FeatureStats, Option<PathBuf>), MetricError> {
    let Some(dir) = dir else {
        return Ok((
            dataset_features(detector, dataset, capture, max_items)?,
            None,
        ));
    };
    let path = cache_path(dir, dataset, options, detector, capture, max_items)?;
    if let Some(stats) = read(&path, capture, max_items) {
        return Ok((stats, Some(path)));
    }
    let stats = dataset_features(detector, dataset, capture, max_items)?;
    let io = |source| MetricError::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(io)?;
    let mut named = stats.to_named_tensors();
    let num_items = i64::try_from(stats.num_items()).expect("fits");
    named.push(("num_items".into(), Tensor::from(num_items)));
    crate::fsutil::atomic_write_with(&path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(std::io::Error::other)
    })
    .map_err(io)?;
    Ok((stats, Some(path)))
}

/// The statistics in `path`, or `None` when it is missing or unreadable (then they are recomputed).
fn read(path: &Path, capture: Capture, max_items: Option<usize>) -> Option<FeatureStats> {
    let named = Tensor::read_safetensors(path).ok()?;
    let num_items = named
        .iter()
        .find(|(name, _)| name == "num_items")
        .map(|(_, t)| t.to_kind(Kind::Int64).int64_value(&[]))?;
    FeatureStats::from_named_tensors(&named, capture, max_items, usize::try_from(num_items).ok()?)
}

//! `kimg fid A B`: the FID between two image sets (folders or zips), printed; nothing is written
//! unless `--cache` asks to keep their feature statistics.

use std::path::PathBuf;
use std::process::ExitCode;

use super::device;
use crate::data::{Dataset, DatasetOptions};
use crate::device::DeviceChoice;
use crate::error::Error;
use crate::metrics::cache::cached_dataset_features;
use crate::metrics::fid::frechet_distance;
use crate::metrics::locate::{cache_dir, find_detector};
use crate::metrics::{Capture, Network};
use crate::ui;

/// Options of `kimg fid`.
#[derive(Debug, clap::Args)]
pub(crate) struct FidArgs {
    /// The first image set: a folder or zip of PNG/JPEG images (a dataset).
    pub(crate) a: PathBuf,
    /// The second image set.
    pub(crate) b: PathBuf,
    /// The feature detector (TorchScript Inception-v3); default: `$KIMG_DETECTOR`, else the cache
    /// directory.
    #[arg(long, value_name = "FILE")]
    pub(crate) detector: Option<PathBuf>,
    /// Use at most this many images of each set (the first ones).
    #[arg(long, value_name = "N")]
    pub(crate) num: Option<usize>,
    /// Keep the sets' feature statistics in the cache directory (and reuse them).
    #[arg(long)]
    pub(crate) cache: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) device: DeviceChoice,
}

/// Run `kimg fid`.
pub(crate) fn run(args: &FidArgs) -> Result<ExitCode, Error> {
    let device = device(args.device)?;
    let detector = find_detector(Network::Inception, args.detector.as_deref(), device)?;
    let cache = if args.cache { cache_dir() } else { None };
    let capture = Capture {
        all: false,
        mean_cov: true,
    };
    let options = DatasetOptions::default();
    let mut moments = Vec::new();
    for path in [&args.a, &args.b] {
        let dataset = Dataset::open(path, &options).map_err(crate::metrics::MetricError::from)?;
        let (stats, _) = cached_dataset_features(
            cache.as_deref(),
            &dataset,
            &options,
            &detector,
            capture,
            args.num,
        )?;
        moments.push(stats.mean_cov());
    }
    let [(mu_a, sigma_a), (mu_b, sigma_b)] = &moments[..] else {
        unreachable!("two sets")
    };
    let fid = frechet_distance(mu_a, sigma_a, mu_b, sigma_b);
    ui::println(&format!("{fid}"))?;
    Ok(ExitCode::SUCCESS)
}

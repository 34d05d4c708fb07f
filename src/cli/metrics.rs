//! `kimg metrics --run-dir DIR`: metrics of a run's saved snapshots (like the official
//! `calc_metrics.py`), appended to the run's `metric-<name>.jsonl` and printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::device;
use crate::device::DeviceChoice;
use crate::error::Error;
use crate::generate::load_generator;
use crate::metrics::{DetectorFiles, MetricRunner, RealData};
use crate::snapshot::file::SnapshotFile;
use crate::snapshot::metadata::NetworkMetadata;
use crate::snapshot::name::snapshots_in;
use crate::ui;

/// Which snapshots `--snapshot` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SnapshotChoice {
    /// The newest snapshot.
    Latest,
    /// Every snapshot, oldest first.
    All,
}

/// Options of `kimg metrics`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetricsArgs {
    /// The run directory holding `network-snapshot-*.safetensors`.
    #[arg(long)]
    pub(crate) run_dir: PathBuf,
    /// Metrics, comma-separated (official names, or reduced ones such as `fid1k_full`).
    #[arg(long, default_value = "fid50k_full", value_delimiter = ',')]
    pub(crate) metrics: Vec<String>,
    /// Which snapshots to evaluate.
    #[arg(long, value_enum, default_value = "latest")]
    pub(crate) snapshot: SnapshotChoice,
    /// The Inception-v3 detector (FID, KID, IS); default: `$KIMG_DETECTOR`, else the cache
    /// directory, else downloaded there.
    #[arg(long, value_name = "FILE")]
    pub(crate) detector: Option<PathBuf>,
    /// The VGG16 detector (precision/recall); default: `$KIMG_VGG16`, else the cache directory,
    /// else downloaded there.
    #[arg(long, value_name = "FILE")]
    pub(crate) vgg16: Option<PathBuf>,
    /// The training set (default: the one recorded in the snapshot).
    #[arg(long, value_name = "PATH")]
    pub(crate) data: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) device: DeviceChoice,
}

/// The training set recorded in a snapshot (`training_set_kwargs`).
fn recorded_data(snapshot: &Path) -> Result<RealData, Error> {
    let (_, metadata) = SnapshotFile::read_with_metadata::<NetworkMetadata>(snapshot)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let recorded = metadata.training_set_kwargs.and_then(|kwargs| {
        let path = kwargs.path?;
        Some(RealData {
            path,
            use_labels: kwargs.use_labels,
            xflip: kwargs.xflip,
        })
    });
    recorded.ok_or_else(|| {
        Error::Usage(format!(
            "{} records no training set; pass --data",
            snapshot.display()
        ))
    })
}

/// Run `kimg metrics`.
pub(crate) fn run(args: &MetricsArgs) -> Result<ExitCode, Error> {
    let mut selected = snapshots_in(&args.run_dir)
        .map_err(|e| Error::io(format!("reading {}", args.run_dir.display()), e))?;
    if args.snapshot == SnapshotChoice::Latest {
        selected = selected.split_off(selected.len().saturating_sub(1));
    }
    let Some(last) = selected.last() else {
        return Err(Error::Usage(format!(
            "{} holds no network-snapshot-*.safetensors",
            args.run_dir.display()
        )));
    };
    let mut real = recorded_data(last)?;
    if let Some(data) = &args.data {
        real.path.clone_from(data);
    }
    let device = device(args.device)?;
    let files = DetectorFiles {
        inception: args.detector.clone(),
        vgg16: args.vgg16.clone(),
    };
    let runner = MetricRunner::new(&args.metrics, real, &files, device)?
        .ok_or_else(|| Error::Usage("--metrics: no metric given".into()))?;
    for snapshot in &selected {
        let generator =
            load_generator(snapshot, device).map_err(|e| Error::Usage(e.to_string()))?;
        for metric in runner.evaluate_snapshot(&generator, &args.run_dir, snapshot)? {
            ui::println(&metric.line)?;
        }
    }
    // The run's figure shows the new values too.
    if let Err(error) = crate::train::curves::write_curves(&args.run_dir) {
        eprintln!("warning: {error}");
    }
    Ok(ExitCode::SUCCESS)
}

//! `kimg train`: the official `train.py` command line, option for option.
//!
//! Every option keeps train.py's name, type, default, choices and range checks (range violations
//! are usage errors, exit 2, as click's are). The options become the `command line` layer over
//! `presets/base.toml`, so a command line and a manifest resolve through the same
//! [`ExperimentSpec::resolve`]. `--dry-run` prints the resolved configuration and exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;

use crate::error::Error;
use crate::manifest::cfg::{Aug, Cfg, METRICS};
use crate::manifest::wire::{DataWire, ManifestWire, TrainWire};
use crate::manifest::{ExperimentSpec, Layers, Override};
use crate::ui;

/// Options of `kimg train` (the official `train.py` options, plus `--set`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TrainArgs {
    /// Where to save the results (a numbered run directory is created inside).
    #[arg(long, value_name = "DIR", required = true)]
    pub(crate) outdir: Option<PathBuf>,
    /// Base configuration.
    #[arg(long, value_parser = PossibleValuesParser::new(Cfg::ALL.map(Cfg::name)))]
    pub(crate) cfg: Option<String>,
    /// Training data (zip or folder).
    #[arg(long, value_name = "PATH")]
    pub(crate) data: Option<PathBuf>,
    /// Number of GPUs to use.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) gpus: Option<u32>,
    /// Total batch size.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch: Option<u32>,
    /// R1 regularisation weight.
    #[arg(long, value_parser = non_negative)]
    pub(crate) gamma: Option<f64>,
    /// Train conditional model.
    #[arg(long, value_parser = click_bool, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) cond: Option<bool>,
    /// Enable dataset x-flips.
    #[arg(long, value_parser = click_bool, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) mirror: Option<bool>,
    /// Augmentation mode.
    #[arg(long, value_parser = PossibleValuesParser::new(Aug::ALL.map(Aug::name)))]
    pub(crate) aug: Option<String>,
    /// Resume from given network pickle or snapshot.
    #[arg(long, value_name = "PKL")]
    pub(crate) resume: Option<String>,
    /// Freeze first layers of D.
    #[arg(long, value_parser = clap::value_parser!(u32))]
    pub(crate) freezed: Option<u32>,
    /// Probability for --aug=fixed.
    #[arg(long, value_parser = unit_interval)]
    pub(crate) p: Option<f64>,
    /// Target value for --aug=ada.
    #[arg(long, value_parser = unit_interval)]
    pub(crate) target: Option<f64>,
    /// Limit batch size per GPU.
    #[arg(long = "batch-gpu", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch_gpu: Option<u32>,
    /// Capacity multiplier.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cbase: Option<u32>,
    /// Max. feature maps.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cmax: Option<u32>,
    /// G learning rate (default: 0.002 for stylegan2, 0.0025 otherwise).
    #[arg(long, value_parser = non_negative)]
    pub(crate) glr: Option<f64>,
    /// D learning rate.
    #[arg(long, value_parser = non_negative)]
    pub(crate) dlr: Option<f64>,
    /// Mapping network depth (default: 8 for stylegan2, 2 otherwise).
    #[arg(long = "map-depth", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) map_depth: Option<u32>,
    /// Minibatch std group size.
    #[arg(long = "mbstd-group", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) mbstd_group: Option<u32>,
    /// String to include in result dir name.
    #[arg(long)]
    pub(crate) desc: Option<String>,
    /// Quality metrics (comma-separated, or `none`).
    #[arg(long, value_parser = metric_list)]
    pub(crate) metrics: Option<MetricList>,
    /// Total training duration in kimg.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) kimg: Option<u64>,
    /// How often to print progress, in kimg.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) tick: Option<u32>,
    /// How often to save snapshots, in ticks.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) snap: Option<u32>,
    /// Random seed.
    #[arg(long, value_parser = clap::value_parser!(u64))]
    pub(crate) seed: Option<u64>,
    /// Disable mixed-precision.
    #[arg(long, value_parser = click_bool, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) fp32: Option<bool>,
    /// Disable cuDNN benchmarking.
    #[arg(long, value_parser = click_bool, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) nobench: Option<bool>,
    /// DataLoader worker processes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) workers: Option<u32>,
    /// Print training options and exit.
    #[arg(short = 'n', long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Override any manifest key, e.g. `--set data.max_size=100` (repeatable; applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<Override>,
}

/// A parsed `--metrics` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetricList(Vec<String>);

fn metric_list(text: &str) -> Result<MetricList, String> {
    if text.is_empty() || text == "none" {
        return Ok(MetricList(Vec::new()));
    }
    let metrics: Vec<String> = text.split(',').map(|m| m.trim().to_string()).collect();
    match metrics.iter().find(|m| !METRICS.contains(&m.as_str())) {
        Some(bad) => Err(format!(
            "`{bad}` is not a metric; --metrics can only contain: {}",
            METRICS.join(", ")
        )),
        None => Ok(MetricList(metrics)),
    }
}

/// click's BOOL: 1/0, true/false, t/f, yes/no, y/n, on/off, case-insensitive.
fn click_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Ok(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!(
            "`{text}` is not a valid boolean (use 1/0, true/false, yes/no, on/off)"
        )),
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{v} is not in the range x>=0")),
        Err(e) => Err(format!("`{text}` is not a valid float: {e}")),
    }
}

fn unit_interval(text: &str) -> Result<f64, String> {
    match non_negative(text)? {
        v if v <= 1.0 => Ok(v),
        v => Err(format!("{v} is not in the range 0<=x<=1")),
    }
}

impl TrainArgs {
    /// The options as the `command line` layer: only what was given.
    pub(crate) fn to_wire(&self) -> ManifestWire {
        ManifestWire {
            data: Some(DataWire {
                path: self.data.as_ref().map(|p| p.display().to_string()),
                cond: self.cond,
                mirror: self.mirror,
                ..DataWire::default()
            }),
            train: Some(TrainWire {
                cfg: self.cfg.clone(),
                gpus: self.gpus,
                batch: self.batch,
                gamma: self.gamma,
                aug: self.aug.clone(),
                p: self.p,
                target: self.target,
                resume: self.resume.clone(),
                freezed: self.freezed,
                batch_gpu: self.batch_gpu,
                cbase: self.cbase,
                cmax: self.cmax,
                glr: self.glr,
                dlr: self.dlr,
                map_depth: self.map_depth,
                mbstd_group: self.mbstd_group,
                desc: self.desc.clone(),
                metrics: self.metrics.clone().map(|m| m.0),
                kimg: self.kimg,
                tick: self.tick,
                snap: self.snap,
                seed: self.seed,
                fp32: self.fp32,
                nobench: self.nobench,
                workers: self.workers,
            }),
            ..ManifestWire::default()
        }
    }

    /// Resolve the options as `train.py` would, given the dataset's resolution.
    pub(crate) fn resolve(&self, dataset_resolution: Option<u32>) -> Result<ExperimentSpec, Error> {
        let layers = Layers::from_options(None, &self.to_wire(), &self.set)?;
        let name = self
            .data
            .as_deref()
            .map_or_else(|| "train".to_string(), dataset_name);
        Ok(ExperimentSpec::resolve(&layers, dataset_resolution, &name)?)
    }
}

/// The dataset name train.py uses: the base name without extension.
pub(crate) fn dataset_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "data".to_string(), |s| s.to_string_lossy().into_owned())
}

/// Run `kimg train`.
pub(crate) fn run(args: &TrainArgs) -> Result<ExitCode, Error> {
    let Some(data) = &args.data else {
        return Err(Error::Usage("missing required option `--data`".into()));
    };
    let resolution =
        first_image_resolution(data).map_err(|e| Error::Usage(format!("--data: {e}")))?;
    let spec = args.resolve(Some(resolution))?;
    ui::println("Training options:")?;
    ui::println(&serde_json::to_string_pretty(&spec).expect("specs serialise"))?;
    if args.dry_run {
        ui::println("\nDry run; exiting.")?;
        return Ok(ExitCode::SUCCESS);
    }
    Err(Error::Environment(
        "training is not implemented yet in this build of kimg; use --dry-run".into(),
    ))
}

/// The resolution of a dataset: the width of its first image in name order (zip or folder).
fn first_image_resolution(path: &Path) -> Result<u32, String> {
    let is_image = |name: &str| {
        let lower = name.to_ascii_lowercase();
        [".png", ".jpg", ".jpeg"]
            .iter()
            .any(|ext| lower.ends_with(ext))
    };
    let bytes = if path.is_dir() {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
            .into_iter()
            .flatten()
            .map(walkdir::DirEntry::into_path)
            .filter(|p| is_image(&p.to_string_lossy()))
            .collect();
        files.sort();
        let first = files
            .first()
            .ok_or_else(|| format!("no images in `{}`", path.display()))?;
        std::fs::read(first).map_err(|e| format!("{}: {e}", first.display()))?
    } else {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut archive =
            zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut names: Vec<String> = archive
            .file_names()
            .filter(|n| is_image(n))
            .map(String::from)
            .collect();
        names.sort();
        let first = names
            .first()
            .ok_or_else(|| format!("no images in `{}`", path.display()))?;
        let mut entry = archive.by_name(first).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| e.to_string())?;
        bytes
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let (width, _) = reader.into_dimensions().map_err(|e| e.to_string())?;
    Ok(width)
}

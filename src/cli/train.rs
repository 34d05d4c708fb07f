//! `kimg train`: the official `train.py` command line, option for option.
//!
//! Every option keeps train.py's name, type, default, choices and range checks (range violations
//! are usage errors, exit 2, as click's are). The options become the `command line` layer over
//! `presets/base.toml`, so a command line and a manifest resolve through the same
//! [`ExperimentSpec::resolve`]. `--dry-run` prints the resolved configuration and exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;

use super::device;
use crate::data::{Dataset, DatasetOptions};
use crate::device::DeviceChoice;
use crate::error::Error;
use crate::manifest::cfg::{Aug, Cfg};
use crate::manifest::wire::{DataWire, ManifestWire, TrainWire};
use crate::manifest::{ExperimentSpec, Layers, Override};
use crate::metrics::{METRICS, is_known_metric};
use crate::ui;
use crate::worker::run_dir::{check_identity, next_run_dir};
use crate::worker::session;

/// Options of `kimg train` (the official `train.py` options, plus `--set`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TrainArgs {
    /// Where to save the results (a numbered run directory is created inside).
    #[arg(long, value_name = "DIR", required_unless_present = "run_dir")]
    pub(crate) outdir: Option<PathBuf>,
    /// Train in exactly this directory, resuming from its newest snapshot (used by `kimg run`).
    #[arg(long, value_name = "DIR", conflicts_with = "outdir")]
    pub(crate) run_dir: Option<PathBuf>,
    /// A manifest to take the configuration from; the options below override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) manifest: Option<PathBuf>,
    /// Where to compute: `auto` (CUDA when available), `cpu` or `cuda`.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) device: DeviceChoice,
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
    /// In a Slurm task (`--run-dir`): at the time-limit warning (SIGUSR1), snapshot and requeue
    /// the task, at most this many times (`kimg run --on slurm` passes its `--max-requeues`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) max_requeues: u32,
}

/// Make idle OpenMP workers sleep when training on the CPU: libgomp reads
/// [`OMP_WAIT_POLICY`](crate::env_vars::OMP_WAIT_POLICY) when it loads, before `main`, so unless
/// the user set it, `kimg train` re-executes itself once with `PASSIVE` (the process keeps its
/// PID). Spinning workers starve the busy ones on shared cores (measured 2–6× slower,
/// BENCHMARKS.md).
pub(crate) fn prefer_passive_openmp(args: &TrainArgs) {
    use std::os::unix::process::CommandExt as _;
    let policy = crate::env_vars::OMP_WAIT_POLICY;
    if std::env::var_os(policy).is_some() || args.device.resolve() != Some(tch::Device::Cpu) {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        // `exec` returns only when it failed; then train with the policy as it is.
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(policy, "PASSIVE")
            .exec();
    }
}

/// `cpu (2 threads, OMP_WAIT_POLICY=PASSIVE)` or `cuda:0 (2 GPUs)`, for the start-up lines.
fn describe_device(device: tch::Device, gpus: u32) -> String {
    match device {
        tch::Device::Cuda(first) => {
            let plural = if gpus == 1 { "" } else { "s" };
            format!("cuda:{first} ({gpus} GPU{plural})")
        }
        tch::Device::Cpu => {
            let policy = crate::env_vars::OMP_WAIT_POLICY;
            let value = std::env::var(policy).unwrap_or_else(|_| "unset".into());
            format!("cpu ({} threads, {policy}={value})", tch::get_num_threads())
        }
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A parsed `--metrics` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetricList(Vec<String>);

fn metric_list(text: &str) -> Result<MetricList, String> {
    if text.is_empty() || text == "none" {
        return Ok(MetricList(Vec::new()));
    }
    let metrics: Vec<String> = text.split(',').map(|m| m.trim().to_string()).collect();
    match metrics.iter().find(|m| !is_known_metric(m)) {
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
        let layers = Layers::from_options(self.manifest.as_deref(), &self.to_wire(), &self.set)?;
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
    // Keep a time-limit warning that arrives before training starts (see `signals`).
    crate::signals::time_limit_flag();
    // Resolve once without the dataset to find it, then again with its resolution (train.py opens
    // the dataset before assembling the configuration).
    let provisional = args.resolve(None).ok();
    let data = args
        .data
        .clone()
        .or_else(|| provisional.as_ref().and_then(|spec| spec.data.path.clone()))
        .ok_or_else(|| Error::Usage("missing required option `--data`".into()))?;
    let dataset = Dataset::open(&data, &DatasetOptions::default())
        .map_err(|e| Error::Usage(format!("--data: {e}")))?;
    let side = dataset
        .training_resolution()
        .map_err(|e| Error::Usage(format!("--data: {e}")))?;
    let resolution =
        u32::try_from(side).map_err(|_| Error::Usage("--data: resolution too large".into()))?;
    let mut spec = args.resolve(Some(resolution))?;
    spec.data.path = Some(data.clone());
    ui::println("Training options:")?;
    ui::println(&serde_json::to_string_pretty(&spec).expect("specs serialise"))?;
    let device = device(args.device).and_then(|device| enough_gpus(device, spec.train.gpus));
    let device = match (device, &args.run_dir) {
        (Ok(device), _) => device,
        (Err(error), Some(run_dir)) if !args.dry_run => {
            session::record_environment_failure(run_dir, &spec, &error.to_string());
            return Err(error);
        }
        (Err(error), _) => return Err(error),
    };
    if args.dry_run {
        ui::println("\nDry run; exiting.")?;
        return Ok(ExitCode::SUCCESS);
    }
    session::check_data(&spec)?;
    let run_dir = match (&args.run_dir, &args.outdir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(outdir)) => next_run_dir(outdir, &spec, &dataset.name())?,
        (None, None) => unreachable!("clap requires --outdir or --run-dir"),
    };
    if args.run_dir.is_some() {
        check_identity(&run_dir, &spec, &dataset)?;
    }
    ui::println(&format!("\nOutput directory: {}", run_dir.display()))?;
    ui::println(&format!(
        "Device: {}",
        describe_device(device, spec.train.gpus)
    ))?;
    let monitor = session::open(&run_dir, &spec, device, args.run_dir.is_some())?;
    session::train_monitored(spec, &run_dir, device, monitor, args.max_requeues)
}

/// `device`, when it has the `gpus` CUDA devices the run needs from it on (an environment error,
/// exit 3, before anything is loaded: a Slurm task on a node without them fails at once).
fn enough_gpus(device: tch::Device, gpus: u32) -> Result<tch::Device, Error> {
    let tch::Device::Cuda(first) = device else {
        return Ok(device);
    };
    let visible = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
    let needed = first.saturating_add(usize::try_from(gpus).unwrap_or(usize::MAX));
    if needed <= visible {
        return Ok(device);
    }
    Err(Error::Environment(format!(
        "`train.gpus = {gpus}` needs {gpus} CUDA GPUs but libtorch sees {visible} on {} \
         (check the job's GPU request and CUDA_VISIBLE_DEVICES)",
        crate::run::lock::hostname()
    )))
}

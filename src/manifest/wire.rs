//! The raw shape of one manifest or preset file, before inheritance and validation.
//!
//! Every field is optional because any layer of an `extends` chain may omit it. The doc comments
//! on these fields are the reference of the manifest keys (the README's key table mirrors them).
//! Names are the snake_case spellings of the official `train.py` options.

use serde::{Deserialize, Serialize};

use super::sweep_wire::SweepWire;

/// One TOML file: an experiment in `experiments/` or a preset in `presets/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestWire {
    /// The preset this file builds on: a name under `presets/` without `.toml`, or a path.
    pub extends: Option<String>,
    /// Experiment name; runs go to `runs/<name>/`. Defaults to the file's stem.
    pub name: Option<String>,
    /// Free text shown by `kimg show` and `kimg plan`.
    pub description: Option<String>,
    /// Metadata of a preset: title, resolution, table row and published figures.
    pub preset: Option<PresetMetaWire>,
    /// The dataset.
    pub data: Option<DataWire>,
    /// Training options (the `train.py` options).
    pub train: Option<TrainWire>,
    /// Values to sweep over (expanded into runs by `kimg plan` / `kimg run`).
    pub sweep: Option<SweepWire>,
    /// How a sweep's runs are scheduled (never part of a run's identity).
    pub schedule: Option<ScheduleWire>,
}

/// `[schedule]`: how a sweep's runs are carried out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWire {
    /// Successive halving: stop the losing runs of a sweep at rungs.
    pub halving: Option<HalvingWire>,
}

/// `[schedule.halving]`: asynchronous successive halving (ASHA) of a sweep's runs. Off unless
/// `rungs` or `first_rung` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HalvingWire {
    /// The metric that decides (a name of `train.metrics`, or `<pr metric>_precision`/`_recall`);
    /// default the first of `train.metrics`. Its direction comes from the metric registry.
    pub metric: Option<String>,
    /// The rungs in kimg, increasing, each at a snapshot and below `train.kimg`.
    pub rungs: Option<Vec<u64>>,
    /// Instead of `rungs`: the first rung in kimg; the next ones grow by `eta` while below
    /// `train.kimg`.
    pub first_rung: Option<u64>,
    /// The reduction factor: the top `1/eta` of the runs at a rung continue (at least 2).
    pub eta: Option<u32>,
    /// At least this many runs continue past each rung.
    pub min_runs: Option<u32>,
}

/// `[preset]`: where a preset comes from and what it is published to cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetMetaWire {
    /// Human title, e.g. `StyleGAN3-T, 512x512, 8 GPUs (recommended)`.
    pub title: Option<String>,
    /// The image resolution the row targets.
    pub resolution: Option<u32>,
    /// The row of the published tables this preset reproduces.
    pub source: Option<SourceWire>,
    /// The row's published speed and memory.
    pub expected: Option<ExpectedWire>,
}

/// `[preset.source]`: a row of the training-configuration tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceWire {
    /// Section heading, e.g. `Recommended configurations`.
    pub section: Option<String>,
    /// Table heading, e.g. `512x512 resolution`.
    pub table: Option<String>,
    /// 1-based row number within the table.
    pub row: Option<u32>,
}

/// `[preset.expected]`: the published figures of a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedWire {
    /// Seconds per 1000 training images on a Tesla V100.
    pub s_per_kimg_v100: Option<f64>,
    /// Seconds per 1000 training images on an A100.
    pub s_per_kimg_a100: Option<f64>,
    /// Peak GPU memory per GPU in GB.
    pub gpu_mem_gb: Option<f64>,
}

/// `[data]`: the training set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataWire {
    /// Zip or folder of images (`--data`); relative to the file that sets it.
    pub path: Option<String>,
    /// Condition on the labels of `dataset.json` (`--cond`).
    pub cond: Option<bool>,
    /// Add x-flipped copies of every image (`--mirror`).
    pub mirror: Option<bool>,
    /// Use a random subset of at most this many images.
    pub max_size: Option<u64>,
    /// Expected resolution; checked against the dataset, used for planning when it is absent.
    pub resolution: Option<u32>,
}

/// `[train]`: the options of the official `train.py`, snake_case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainWire {
    /// Base configuration (`--cfg`): `stylegan3-t`, `stylegan3-r`, `stylegan2`, or one of
    /// StyleGAN2-ADA's `auto`, `paper256`, `paper512`, `paper1024`, `cifar`.
    pub cfg: Option<String>,
    /// Number of GPUs (`--gpus`).
    pub gpus: Option<u32>,
    /// Total batch size (`--batch`).
    pub batch: Option<u32>,
    /// R1 regularisation weight (`--gamma`).
    pub gamma: Option<f64>,
    /// Augmentation mode (`--aug`): `noaug`, `ada` or `fixed`.
    pub aug: Option<String>,
    /// Augmentation probability for `aug = "fixed"` (`--p`).
    pub p: Option<f64>,
    /// ADA target value for `aug = "ada"` (`--target`).
    pub target: Option<f64>,
    /// Network snapshot to start from (`--resume`): a path or URL.
    pub resume: Option<String>,
    /// Freeze the first N layers of D (`--freezed`).
    pub freezed: Option<u32>,
    /// Per-GPU micro-batch (`--batch-gpu`); the step is accumulated over rounds.
    pub batch_gpu: Option<u32>,
    /// Capacity multiplier `channel_base` (`--cbase`).
    pub cbase: Option<u32>,
    /// Maximum channels `channel_max` (`--cmax`).
    pub cmax: Option<u32>,
    /// G learning rate (`--glr`).
    pub glr: Option<f64>,
    /// D learning rate (`--dlr`).
    pub dlr: Option<f64>,
    /// Mapping network depth (`--map-depth`).
    pub map_depth: Option<u32>,
    /// Minibatch standard-deviation group size (`--mbstd-group`).
    pub mbstd_group: Option<u32>,
    /// Text appended to the run description (`--desc`).
    pub desc: Option<String>,
    /// Metrics computed at every network snapshot (`--metrics`); empty for none.
    pub metrics: Option<Vec<String>>,
    /// Training length in thousands of real images shown (`--kimg`).
    pub kimg: Option<u64>,
    /// Progress tick interval in kimg (`--tick`).
    pub tick: Option<u32>,
    /// Snapshot interval in ticks (`--snap`).
    pub snap: Option<u32>,
    /// Random seed (`--seed`).
    pub seed: Option<u64>,
    /// Disable mixed precision (`--fp32`).
    pub fp32: Option<bool>,
    /// Disable cuDNN benchmarking (`--nobench`).
    pub nobench: Option<bool>,
    /// Data loader worker threads (`--workers`).
    pub workers: Option<u32>,
}

//! The resolved, validated configuration of an experiment, with every value `train.py` derives.
//!
//! [`ExperimentSpec::resolve`] is the one place where defaults that depend on other values are
//! computed, exactly as the official `train.py` computes them, and where the StyleGAN2-ADA
//! configurations apply their table (`train.py`'s `cfg_specs` in stylegan2-ada-pytorch). Errors
//! name the file and key that supplied the value.

use std::path::PathBuf;

use serde::Serialize;

use super::cfg::{Arch, Aug, Cfg};
use super::error::{ErrorKind, ManifestError, ManifestErrors, did_you_mean};
use super::load::Layers;
use super::sweep_check::check_sweep;
use super::sweep_wire::SweepWire;
use super::wire::{DataWire, PresetMetaWire, TrainWire};
use crate::metrics::METRICS;

/// A whole experiment after inheritance, overrides and validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentSpec {
    /// Experiment name (folder under `runs/`).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Preset metadata inherited through `extends` (empty for plain experiments).
    pub preset: PresetMetaWire,
    /// The dataset.
    pub data: DataSpec,
    /// Training options and derived values.
    pub train: TrainSpec,
    /// The validated `[sweep]` table (expansion happens in the sweep module).
    #[serde(skip)]
    pub sweep: Option<SweepWire>,
}

/// `[data]` resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSpec {
    /// Dataset path, made absolute relative to the file that declared it.
    pub path: Option<PathBuf>,
    /// Use labels.
    pub cond: bool,
    /// Add x-flips.
    pub mirror: bool,
    /// Subset size.
    pub max_size: Option<u64>,
    /// The resolution trained at: the dataset's when known, else `data.resolution`, else the
    /// preset's.
    pub resolution: Option<u32>,
}

/// The `train.py` options, every one concrete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSpec {
    /// Base configuration as given.
    pub cfg: Cfg,
    /// GPUs.
    pub gpus: u32,
    /// Total batch.
    pub batch: u32,
    /// Per-GPU micro-batch.
    pub batch_gpu: u32,
    /// R1 weight.
    pub gamma: f64,
    /// Augmentation mode.
    pub aug: Aug,
    /// Fixed augmentation probability.
    pub p: f64,
    /// ADA target.
    pub target: f64,
    /// Weights to start from.
    pub resume: Option<String>,
    /// Frozen D layers.
    pub freezed: u32,
    /// `channel_base` of D (and of G before the StyleGAN3-R doubling).
    pub cbase: u32,
    /// `channel_max` of D (and of G before the StyleGAN3-R doubling).
    pub cmax: u32,
    /// G learning rate.
    pub glr: f64,
    /// D learning rate.
    pub dlr: f64,
    /// G mapping depth.
    pub map_depth: u32,
    /// Minibatch-stddev group size.
    pub mbstd_group: u32,
    /// Run description suffix.
    pub desc: Option<String>,
    /// Metrics at snapshots.
    pub metrics: Vec<String>,
    /// Training length in kimg.
    pub kimg: u64,
    /// kimg per tick.
    pub tick: u32,
    /// Ticks per snapshot.
    pub snap: u32,
    /// Random seed.
    pub seed: u64,
    /// Mixed precision off.
    pub fp32: bool,
    /// cuDNN benchmarking off.
    pub nobench: bool,
    /// Loader threads.
    pub workers: u32,
    /// Values `train.py` derives from the options.
    pub derived: Derived,
}

/// What `train.py` derives (its `main` after parsing the options).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derived {
    /// Generator family.
    pub arch: Arch,
    /// G `channel_base` (doubled for StyleGAN3-R).
    pub g_channel_base: u32,
    /// G `channel_max` (doubled for StyleGAN3-R).
    pub g_channel_max: u32,
    /// SG3 convolution kernel (1 for StyleGAN3-R, else 3).
    pub conv_kernel: u32,
    /// SG3 radial down-sampling filters (StyleGAN3-R).
    pub use_radial_filters: bool,
    /// SG3 magnitude EMA β = 0.5^(batch/20000).
    pub magnitude_ema_beta: Option<f64>,
    /// G EMA half-life in kimg.
    pub ema_kimg: f64,
    /// EMA ramp-up (none on resume).
    pub ema_rampup: Option<f64>,
    /// Style-mixing probability.
    pub style_mixing_prob: f64,
    /// Path-length regularisation weight.
    pub pl_weight: f64,
    /// Lazy G regularisation interval (none: no separate Greg phase).
    pub g_reg_interval: Option<u32>,
    /// Lazy D regularisation interval.
    pub d_reg_interval: u32,
    /// Initial D blur σ (StyleGAN3-R).
    pub blur_init_sigma: f64,
    /// kimg over which the blur fades out.
    pub blur_fade_kimg: f64,
    /// Initial augmentation probability.
    pub augment_p: f64,
    /// ADA target when adapting.
    pub ada_target: Option<f64>,
    /// kimg for p to move by 1.
    pub ada_kimg: f64,
    /// Resolutions using fp16 (CUDA only).
    pub num_fp16_res: u32,
    /// Activation clamp.
    pub conv_clamp: Option<u32>,
    /// cuDNN benchmarking.
    pub cudnn_benchmark: bool,
    /// D architecture (`resnet`, or `orig` for cifar).
    pub d_architecture: &'static str,
}

impl ExperimentSpec {
    /// Resolve merged layers. `dataset_resolution` is the resolution read from the dataset when it
    /// was opened; `default_name` names the experiment when the manifest does not.
    pub fn resolve(
        layers: &Layers,
        dataset_resolution: Option<u32>,
        default_name: &str,
    ) -> Result<Self, ManifestErrors> {
        let mut errors = Vec::new();
        let wire = &layers.merged;
        let data = resolve_data(
            layers,
            wire.data.clone().unwrap_or_default(),
            dataset_resolution,
            &mut errors,
        );
        let preset = wire.preset.clone().unwrap_or_default();
        let resolution = data.resolution.or(preset.resolution);
        let train = TrainResolver {
            layers,
            errors: &mut errors,
        }
        .resolve(wire.train.clone().unwrap_or_default(), resolution);
        if let Some(sweep) = &wire.sweep {
            errors.extend(check_sweep(layers, sweep));
        }
        match train {
            Some(train) if errors.is_empty() => Ok(ExperimentSpec {
                name: wire
                    .name
                    .clone()
                    .unwrap_or_else(|| default_name.to_string()),
                description: wire.description.clone(),
                preset,
                data: DataSpec { resolution, ..data },
                train,
                sweep: wire.sweep.clone(),
            }),
            _ => Err(ManifestErrors(errors)),
        }
    }
}

fn resolve_data(
    layers: &Layers,
    wire: DataWire,
    dataset_resolution: Option<u32>,
    errors: &mut Vec<ManifestError>,
) -> DataSpec {
    let path = wire.path.as_ref().map(|path| {
        let path = PathBuf::from(path);
        let declared_in = layers.origin("data.path").and_then(|origin| {
            layers
                .file(&origin.layer)
                .and_then(|file| file.path.clone())
        });
        match declared_in.as_deref().and_then(std::path::Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    });
    if let Some(resolution) = wire.resolution {
        if !is_valid_resolution(resolution) {
            errors.push(layers.error_at(
                ErrorKind::InvalidValue,
                "data.resolution",
                format!("`data.resolution` must be a power of two ≥ 4, found {resolution}"),
            ));
        } else if let Some(actual) = dataset_resolution.filter(|&actual| actual != resolution) {
            errors.push(layers.error_at(
                ErrorKind::InvalidValue,
                "data.resolution",
                format!("`data.resolution` is {resolution} but the dataset's images are {actual}x{actual}"),
            ));
        }
    }
    if wire.max_size == Some(0) {
        errors.push(layers.error_at(
            ErrorKind::InvalidValue,
            "data.max_size",
            "`data.max_size` must be at least 1",
        ));
    }
    DataSpec {
        path,
        cond: wire.cond.unwrap_or(false),
        mirror: wire.mirror.unwrap_or(false),
        max_size: wire.max_size,
        resolution: dataset_resolution.or(wire.resolution),
    }
}

/// Power of two and at least 4, as every network requires.
pub fn is_valid_resolution(resolution: u32) -> bool {
    resolution >= 4 && resolution.is_power_of_two()
}

/// Round to 12 significant digits, so derived values print and hash as people write them
/// (`0.0002 · 128² / 32` is `0.1024`, not `0.10240000000000002`).
pub fn normalize_f64(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    format!("{value:.11e}")
        .parse()
        .expect("formatted float parses")
}

struct TrainResolver<'a> {
    layers: &'a Layers,
    errors: &'a mut Vec<ManifestError>,
}

impl TrainResolver<'_> {
    fn error(&mut self, kind: ErrorKind, key: &str, message: String) {
        self.errors.push(self.layers.error_at(kind, key, message));
    }

    fn missing(&mut self, key: &str) {
        let mut error = self.layers.error_at(
            ErrorKind::MissingKey,
            key,
            format!("missing required key `{key}`"),
        );
        error.help = Some(format!(
            "set it in the manifest, in a preset it extends, or with `--set {key}=…`"
        ));
        self.errors.push(error);
    }

    fn at_least(&mut self, key: &str, value: Option<u32>, min: u32) -> Option<u32> {
        match value {
            Some(v) if v < min => {
                self.error(
                    ErrorKind::InvalidValue,
                    key,
                    format!("`{key}` must be at least {min}, found {v}"),
                );
                None
            }
            other => other,
        }
    }

    fn float_in(&mut self, key: &str, value: Option<f64>, max: Option<f64>) -> Option<f64> {
        let v = value?;
        let ok = v.is_finite() && v >= 0.0 && max.is_none_or(|max| v <= max);
        if !ok {
            let range = max.map_or_else(|| "≥ 0".to_string(), |max| format!("in [0, {max}]"));
            self.error(
                ErrorKind::InvalidValue,
                key,
                format!("`{key}` must be {range}, found {v}"),
            );
            return None;
        }
        Some(v)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one linear pass mirroring train.py's config assembly"
    )]
    fn resolve(mut self, w: TrainWire, resolution: Option<u32>) -> Option<TrainSpec> {
        let cfg = match w.cfg.as_deref() {
            None => {
                self.missing("train.cfg");
                None
            }
            Some(text) => Cfg::parse(text).or_else(|| {
                let names = Cfg::ALL.map(Cfg::name);
                let mut error = self.layers.error_at(
                    ErrorKind::InvalidValue,
                    "train.cfg",
                    format!(
                        "`train.cfg` must be one of {}, found `{text}`",
                        names.join(", ")
                    ),
                );
                error.help = did_you_mean(text, names);
                self.errors.push(error);
                None
            }),
        };
        let aug = w.aug.as_deref().and_then(|text| {
            Aug::parse(text).or_else(|| {
                self.error(
                    ErrorKind::InvalidValue,
                    "train.aug",
                    format!("`train.aug` must be one of noaug, ada, fixed, found `{text}`"),
                );
                None
            })
        });
        for metric in w.metrics.iter().flatten() {
            if !crate::metrics::is_known_metric(metric) {
                let mut error = self.layers.error_at(
                    ErrorKind::InvalidValue,
                    "train.metrics",
                    format!(
                        "`train.metrics` contains the unknown metric `{metric}`; valid: {}",
                        METRICS.join(", ")
                    ),
                );
                error.help = did_you_mean(metric, METRICS);
                self.errors.push(error);
            } else if cfg.is_some_and(|c| c.arch() == Arch::Stylegan2)
                && crate::metrics::MetricSpec::parse(metric)
                    .is_some_and(|spec| spec.family.is_equivariance())
            {
                self.error(
                    ErrorKind::InvalidValue,
                    "train.metrics",
                    format!(
                        "`{metric}` measures StyleGAN3's equivariance; `train.cfg` trains a StyleGAN2 generator"
                    ),
                );
            }
        }
        let gpus = self.at_least("train.gpus", w.gpus, 1);
        let batch = self.at_least("train.batch", w.batch, 1);
        let batch_gpu = self.at_least("train.batch_gpu", w.batch_gpu, 1);
        let cbase = self.at_least("train.cbase", w.cbase, 1);
        let cmax = self.at_least("train.cmax", w.cmax, 1);
        let map_depth = self.at_least("train.map_depth", w.map_depth, 1);
        let mbstd_group = self.at_least("train.mbstd_group", w.mbstd_group, 1);
        let tick = self.at_least("train.tick", w.tick, 1);
        let snap = self.at_least("train.snap", w.snap, 1);
        let workers = self.at_least("train.workers", w.workers, 1);
        if w.kimg == Some(0) {
            self.error(
                ErrorKind::InvalidValue,
                "train.kimg",
                "`train.kimg` must be at least 1, found 0".into(),
            );
        }
        let gamma = self.float_in("train.gamma", w.gamma, None);
        let glr = self.float_in("train.glr", w.glr, None);
        let dlr = self.float_in("train.dlr", w.dlr, None);
        let p = self.float_in("train.p", w.p, Some(1.0));
        let target = self.float_in("train.target", w.target, Some(1.0));
        let cfg = cfg?;

        // StyleGAN2-ADA configurations: their table supplies what the options leave unset.
        let gpus = match (cfg.ada_spec(None, 1), gpus) {
            (Some(_), None) => Some(1),
            (_, gpus) => gpus,
        };
        let ada = match cfg.ada_spec(resolution, gpus.unwrap_or(1)) {
            Some(Err(_)) => {
                self.error(
                    ErrorKind::MissingKey,
                    "train.cfg",
                    "`train.cfg = \"auto\"` needs the resolution: point `data.path` at an existing dataset or set `data.resolution`".into(),
                );
                return None;
            }
            Some(Ok(spec)) => {
                if let Some(g) = gpus.filter(|g| !g.is_power_of_two()) {
                    self.error(
                        ErrorKind::InvalidValue,
                        "train.gpus",
                        format!(
                            "`train.gpus` must be a power of two for `cfg = \"{}\"`, found {g}",
                            cfg.name()
                        ),
                    );
                }
                Some(spec)
            }
            None => None,
        };
        let batch = batch.or(ada.map(|a| a.mb));
        let gamma = gamma.or(ada.map(|a| normalize_f64(a.gamma)));
        if ada.is_none() {
            for (key, value) in [
                ("train.gpus", gpus.is_some()),
                ("train.batch", batch.is_some()),
                ("train.gamma", w.gamma.is_some()),
            ] {
                if !value {
                    self.missing(key);
                }
            }
        }
        let (gpus, batch, gamma, aug, tick, snap, workers) =
            (gpus?, batch?, gamma?, aug?, tick?, snap?, workers?);
        let is_sg2 = cfg.arch() == Arch::Stylegan2;
        let batch_gpu = batch_gpu.unwrap_or_else(|| match ada {
            Some(a) if w.batch.is_none() => a.mb / a.ref_gpus,
            _ => batch / gpus,
        });
        let mbstd_group = mbstd_group.or(ada.map(|a| a.mbstd)).unwrap_or(4);
        let default_lr =
            |sg3_value| ada.map_or(if is_sg2 { 0.002 } else { sg3_value }, |a| a.lrate);
        let glr = glr.unwrap_or_else(|| default_lr(0.0025));
        let dlr = dlr.unwrap_or_else(|| default_lr(0.002));
        let map_depth = map_depth
            .or(ada.map(|a| a.map))
            .unwrap_or(if is_sg2 { 8 } else { 2 });
        let cbase = cbase
            .or(ada.map(|a| ada_channel_base(a.fmaps)))
            .unwrap_or(32768);
        let kimg = w.kimg.or(ada.map(|a| a.kimg)).unwrap_or(25000);

        // train.py's sanity checks, in its order.
        if batch % gpus != 0 {
            self.error(ErrorKind::InvalidValue, "train.batch", format!("`train.batch` must be a multiple of `train.gpus` ({batch} is not a multiple of {gpus})"));
        } else if batch % (gpus * batch_gpu) != 0 {
            self.error(
                ErrorKind::InvalidValue,
                "train.batch",
                format!("`train.batch` must be a multiple of `train.gpus` times `train.batch_gpu` ({batch} vs {gpus} × {batch_gpu})"),
            );
        } else if batch_gpu < mbstd_group {
            let key = if w.batch_gpu.is_some() {
                "train.batch_gpu"
            } else {
                "train.mbstd_group"
            };
            self.error(ErrorKind::InvalidValue, key, format!("`train.batch_gpu` ({batch_gpu}) cannot be smaller than `train.mbstd_group` ({mbstd_group})"));
        }
        if !self.errors.is_empty() {
            return None;
        }

        let arch = cfg.arch();
        let resumed = w.resume.is_some();
        let batch_f = f64::from(batch);
        let (g_channel_base, g_channel_max) = if arch == Arch::Stylegan3R {
            (cbase * 2, cmax? * 2)
        } else {
            (cbase, cmax?)
        };
        let ema_rampup = match ada {
            Some(a) => a.ramp,
            None => Some(0.05),
        };
        let derived = Derived {
            arch,
            g_channel_base,
            g_channel_max,
            conv_kernel: if arch == Arch::Stylegan3R { 1 } else { 3 },
            use_radial_filters: arch == Arch::Stylegan3R,
            magnitude_ema_beta: (!is_sg2).then(|| 0.5f64.powf(batch_f / 20000.0)),
            ema_kimg: ada.map_or(batch_f * 10.0 / 32.0, |a| a.ema),
            ema_rampup: if resumed { None } else { ema_rampup },
            style_mixing_prob: if is_sg2 && cfg != Cfg::Cifar {
                0.9
            } else {
                0.0
            },
            pl_weight: if is_sg2 && cfg != Cfg::Cifar {
                2.0
            } else {
                0.0
            },
            g_reg_interval: is_sg2.then_some(4),
            d_reg_interval: 16,
            blur_init_sigma: if arch == Arch::Stylegan3R && !resumed {
                10.0
            } else {
                0.0
            },
            blur_fade_kimg: if arch == Arch::Stylegan3R {
                batch_f * 200.0 / 32.0
            } else {
                0.0
            },
            augment_p: if aug == Aug::Fixed { p? } else { 0.0 },
            ada_target: (aug == Aug::Ada).then_some(target?),
            ada_kimg: if resumed { 100.0 } else { 500.0 },
            num_fp16_res: if w.fp32 == Some(true) { 0 } else { 4 },
            conv_clamp: if w.fp32 == Some(true) {
                None
            } else {
                Some(256)
            },
            cudnn_benchmark: w.nobench != Some(true),
            d_architecture: if cfg == Cfg::Cifar { "orig" } else { "resnet" },
        };
        Some(TrainSpec {
            cfg,
            gpus,
            batch,
            batch_gpu,
            gamma,
            aug,
            p: p?,
            target: target?,
            resume: w.resume,
            freezed: w.freezed.unwrap_or(0),
            cbase,
            cmax: cmax?,
            glr,
            dlr,
            map_depth,
            mbstd_group,
            desc: w.desc,
            metrics: w.metrics.unwrap_or_default(),
            kimg,
            tick,
            snap,
            seed: w.seed.unwrap_or(0),
            fp32: w.fp32.unwrap_or(false),
            nobench: w.nobench.unwrap_or(false),
            workers,
            derived,
        })
    }
}

/// `int(fmaps * 32768)` of StyleGAN2-ADA.
fn ada_channel_base(fmaps: f64) -> u32 {
    // fmaps is 0.5 or 1 in every configuration, so the product is exact.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "fmaps ∈ {0.5, 1}"
    )]
    let base = (fmaps * 32768.0) as u32;
    base
}

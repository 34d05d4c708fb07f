//! What a run trains, built from its configuration: the dataset with train.py's options, the
//! networks' constructor arguments, the replicas' devices, and the training state (networks,
//! optimizers, phases, loss, augmentation) in the order the reference draws random numbers.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use super::Z_DIM;
use crate::data::sampler::InfiniteSampler;
use crate::data::{Dataset, DatasetOptions};
use crate::manifest::{Aug, ExperimentSpec, TrainSpec};
use crate::nets::discriminator::{BlockKwargs, Discriminator, DiscriminatorConfig, EpilogueKwargs};
use crate::nets::generator::{Arch, Generator};
use crate::nets::network::{GeneratorNet, NoiseMode};
use crate::nets::stylegan2::{
    Architecture, FusedModconv, InferenceOnly, MappingKwargs, Stylegan2Config,
};
use crate::nets::stylegan3::Stylegan3Config;
use crate::train::augment::{AugmentConfig, AugmentPipe};
use crate::train::cadence::{optimizers, phases};
use crate::train::error::TrainError;
use crate::train::iteration::{IterationSettings, TrainState, TrainedNetworks};
use crate::train::loss::{LossConfig, StyleGan2Loss};
use crate::train::replicas::{ReplicaMode, copy_variables};

/// Iterations between ADA adjustments (`ada_interval` of the reference).
const ADA_INTERVAL: u64 = 4;

/// The seed of the run's numpy streams (train.py's `random_seed`, 32 bits).
pub(super) fn numpy_seed(t: &TrainSpec) -> Result<u32, TrainError> {
    u32::try_from(t.seed)
        .map_err(|_| TrainError::Unsupported("`train.seed` must fit in 32 bits".into()))
}

/// The training set at `path` with the run's options (labels, size limit, x-flips, shuffle seed).
pub(super) fn open_dataset(spec: &ExperimentSpec, path: &Path) -> Result<Dataset, TrainError> {
    let options = DatasetOptions {
        use_labels: spec.data.cond,
        max_size: spec
            .data
            .max_size
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        xflip: spec.data.mirror,
        random_seed: numpy_seed(&spec.train)?,
    };
    let dataset = Dataset::open(path, &options)?;
    if spec.data.cond && !dataset.has_labels() {
        return Err(TrainError::Unsupported(
            "`data.cond = true` requires labels in dataset.json".into(),
        ));
    }
    Ok(dataset)
}

/// The shape of the data the networks are built for.
#[derive(Debug, Clone, Copy)]
pub(super) struct DataShape {
    /// Image side in pixels.
    res: i64,
    /// Image channels.
    channels: i64,
    /// Label size (0 without labels).
    c_dim: i64,
}

impl DataShape {
    /// The shape of `dataset`'s images and labels, if the networks can train on them (see
    /// [`Dataset::training_resolution`]).
    pub(super) fn of(dataset: &Dataset) -> Result<DataShape, TrainError> {
        let dim = |d: usize| i64::try_from(d).expect("dataset dimensions fit");
        Ok(DataShape {
            res: dim(dataset.training_resolution()?),
            channels: dim(dataset.image_shape()[0]),
            c_dim: dim(dataset.label_dim()),
        })
    }
}

/// Check what can be checked of a run's data before anything is written: the dataset at `path`
/// opens with the run's options (labels present when `cond` asks for them), the networks can
/// train on its resolution, and the images of the first batch decode.
pub(super) fn check_data(spec: &ExperimentSpec, path: &Path) -> Result<(), TrainError> {
    let dataset = open_dataset(spec, path)?;
    DataShape::of(&dataset)?;
    let sampler = InfiniteSampler::new(dataset.len(), 0, 1, numpy_seed(&spec.train)?);
    let batch = usize::try_from(spec.train.batch).unwrap_or(usize::MAX);
    for index in sampler.take(batch.min(dataset.len())) {
        dataset.image(index)?;
    }
    Ok(())
}

/// The generator's constructor arguments for a run (train.py's `G_kwargs`): StyleGAN2 with
/// the reference's fused-modconv rule, or StyleGAN3 with the derived magnitude-EMA β and, for
/// `-R`, 1×1 kernels, radial filters and doubled channels.
fn generator_kwargs(t: &TrainSpec, shape: DataShape) -> serde_json::Value {
    let d = &t.derived;
    let DataShape {
        res,
        channels,
        c_dim,
    } = shape;
    let mapping_kwargs = MappingKwargs {
        num_layers: i64::from(t.map_depth),
    };
    let value = match d.arch {
        Arch::Stylegan2 => serde_json::to_value(Stylegan2Config {
            mapping_kwargs,
            channel_base: i64::from(d.g_channel_base),
            channel_max: i64::from(d.g_channel_max),
            num_fp16_res: i64::from(d.num_fp16_res),
            conv_clamp: d.conv_clamp.map(f64::from),
            fused_modconv_default: FusedModconv::Named(InferenceOnly::InferenceOnly),
            ..Stylegan2Config::new(Z_DIM, c_dim, Z_DIM, res, channels)
        }),
        Arch::Stylegan3T | Arch::Stylegan3R => {
            let defaults = Stylegan3Config::new(Z_DIM, c_dim, Z_DIM, res, channels);
            serde_json::to_value(Stylegan3Config {
                mapping_kwargs,
                channel_base: i64::from(d.g_channel_base),
                channel_max: i64::from(d.g_channel_max),
                num_fp16_res: i64::from(d.num_fp16_res),
                conv_clamp: d.conv_clamp.map(f64::from),
                conv_kernel: i64::from(d.conv_kernel),
                use_radial_filters: d.use_radial_filters,
                magnitude_ema_beta: d.magnitude_ema_beta.unwrap_or(defaults.magnitude_ema_beta),
                ..defaults
            })
        }
    };
    value.expect("configurations serialise")
}

/// The discriminator's configuration for a run (train.py's `D_kwargs`).
fn discriminator_config(t: &TrainSpec, shape: DataShape) -> DiscriminatorConfig {
    DiscriminatorConfig {
        architecture: if t.derived.d_architecture == "orig" {
            Architecture::Orig
        } else {
            Architecture::Resnet
        },
        channel_base: i64::from(t.cbase),
        channel_max: i64::from(t.cmax),
        num_fp16_res: i64::from(t.derived.num_fp16_res),
        conv_clamp: t.derived.conv_clamp.map(f64::from),
        block_kwargs: BlockKwargs {
            freeze_layers: i64::from(t.freezed),
        },
        epilogue_kwargs: EpilogueKwargs {
            mbstd_group_size: Some(i64::from(t.mbstd_group)),
            mbstd_num_channels: 1,
        },
        ..DiscriminatorConfig::new(shape.c_dim, shape.res, shape.channels)
    }
}

/// The devices of the `gpus` replicas when the run computes on `device`: that many CUDA devices
/// from `device` on, or `gpus` replicas taking turns on the CPU (which compute what one would: see
/// [`crate::train::replicas`]).
fn replica_devices(device: Device, gpus: u32) -> Result<Vec<Device>, TrainError> {
    let gpus = usize::try_from(gpus).expect("fits");
    match device {
        Device::Cuda(first) => {
            let visible = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
            if first + gpus > visible {
                return Err(TrainError::Unsupported(format!(
                    "`train.gpus = {gpus}` needs CUDA devices {first}..{} but {visible} {} visible \
                     (check CUDA_VISIBLE_DEVICES)",
                    first + gpus - 1,
                    if visible == 1 { "is" } else { "are" }
                )));
            }
            Ok((first..first + gpus).map(Device::Cuda).collect())
        }
        Device::Cpu => Ok(vec![Device::Cpu; gpus]),
        other if gpus == 1 => Ok(vec![other]),
        other => Err(TrainError::Unsupported(format!(
            "`train.gpus = {gpus}` is not supported on {other:?}"
        ))),
    }
}

/// G, D and G_ema with their replicas, drawn as the reference draws them: G_ema and the replicas
/// (copies, overwritten later) before seeding, then G and D from `train.seed`, then the module
/// summary's pass of G on random noise (`seed` is `train.seed`).
fn networks(
    t: &TrainSpec,
    seed: u32,
    shape: DataShape,
    device: Device,
    devices: &[Device],
) -> (TrainedNetworks, Vec<(Generator, Discriminator)>) {
    let g_kwargs = generator_kwargs(t, shape);
    let d_config = discriminator_config(t, shape);
    let build_generator = |device| {
        Generator::from_kwargs(t.derived.arch, &g_kwargs, device)
            .expect("kimg's own G_kwargs are valid")
    };
    let g_ema = build_generator(device);
    let replicas: Vec<(Generator, Discriminator)> = devices[1..]
        .iter()
        .map(|&d| (build_generator(d), Discriminator::new(&d_config, d)))
        .collect();
    tch::manual_seed(i64::from(seed));
    let g = build_generator(device);
    let d = Discriminator::new(&d_config, device);
    copy_variables(g.var_store(), g_ema.var_store());
    tch::no_grad(|| {
        let z = Tensor::zeros([i64::from(t.batch_gpu), Z_DIM], (Kind::Float, device));
        let c = Tensor::zeros([i64::from(t.batch_gpu), shape.c_dim], (Kind::Float, device));
        let ws = g.mapping(&z, &c, 1.0, false);
        let _ = g.synthesis(&ws, NoiseMode::Random, false, true);
    });
    (TrainedNetworks { g, d, g_ema }, replicas)
}

/// The whole training state of a fresh run on `device` (and its replicas): networks, optimizers,
/// phases, the loss, the augmentation pipe (built only when something augments, as train.py
/// does) and the iteration settings. `seed` is `train.seed`, checked by [`numpy_seed`].
pub(super) fn train_state(
    t: &TrainSpec,
    seed: u32,
    shape: DataShape,
    device: Device,
) -> Result<TrainState, TrainError> {
    let devices = replica_devices(device, t.gpus)?;
    let (networks, replicas) = networks(t, seed, shape, device, &devices);
    let loss_config = LossConfig {
        r1_gamma: t.gamma,
        style_mixing_prob: t.derived.style_mixing_prob,
        pl_weight: t.derived.pl_weight,
        blur_init_sigma: t.derived.blur_init_sigma,
        blur_fade_kimg: t.derived.blur_fade_kimg,
        ..LossConfig::default()
    };
    let augments =
        t.aug != Aug::Noaug && (t.derived.augment_p > 0.0 || t.derived.ada_target.is_some());
    let augment = augments.then(|| {
        AugmentPipe::new(
            AugmentConfig::named("bgc").expect("bgc is a named pipe"),
            t.derived.augment_p,
            device,
        )
    });
    TrainState::new(
        networks,
        optimizers(
            t.glr,
            t.dlr,
            t.derived.g_reg_interval,
            Some(t.derived.d_reg_interval),
        ),
        phases(t.derived.g_reg_interval, Some(t.derived.d_reg_interval)),
        StyleGan2Loss::new(loss_config, device),
        augment,
        IterationSettings {
            batch: t.batch,
            batch_gpu: t.batch_gpu,
            ema_kimg: t.derived.ema_kimg,
            ema_rampup: t.derived.ema_rampup,
            ada_target: t.derived.ada_target,
            ada_interval: ADA_INTERVAL,
            ada_kimg: t.derived.ada_kimg,
        },
    )?
    .with_replicas(replicas, ReplicaMode::for_devices(&devices))
}

//! What the options leave unset: from a StyleGAN2-ADA configuration's table (`train.py`'s
//! `cfg_specs` in stylegan2-ada-pytorch), else from `presets/base.toml`'s `[fallback]` table, else
//! by the official `train.py`'s per-architecture rules.

use super::base::fallback;
use super::check::Checker;
use super::float::normalize_f64;
use super::options::Options;
use crate::manifest::cfg::{AdaCfgSpec, Arch, Cfg, NeedsResolution};
use crate::manifest::error::ErrorKind;
use crate::manifest::wire::TrainWire;

/// The options every configuration needs, each with a value.
pub(super) struct Settled {
    /// `train.gpus`.
    pub(super) gpus: u32,
    /// `train.batch`.
    pub(super) batch: u32,
    /// `train.batch_gpu`.
    pub(super) batch_gpu: u32,
    /// `train.gamma`.
    pub(super) gamma: f64,
    /// `train.mbstd_group`.
    pub(super) mbstd_group: u32,
    /// `train.glr`.
    pub(super) glr: f64,
    /// `train.dlr`.
    pub(super) dlr: f64,
    /// `train.map_depth`.
    pub(super) map_depth: u32,
    /// `train.cbase`.
    pub(super) cbase: u32,
    /// `train.kimg`.
    pub(super) kimg: u64,
    /// The StyleGAN2-ADA table row of `train.cfg`, for the configurations that have one.
    pub(super) ada: Option<AdaCfgSpec>,
}

/// Fill what `o` leaves unset for `cfg`; `None` (with the problems recorded) when a required value
/// is missing. `resolution` is the dataset's or the declared one, for `cfg = "auto"`.
pub(super) fn settle(
    c: &mut Checker<'_>,
    cfg: Cfg,
    o: &Options,
    w: &TrainWire,
    resolution: Option<u32>,
) -> Option<Settled> {
    // StyleGAN2-ADA configurations: their table supplies what the options leave unset.
    let gpus = match (cfg.ada_spec(None, 1), o.gpus) {
        (Some(_), None) => Some(1),
        (_, gpus) => gpus,
    };
    let ada = ada_table(c, cfg, gpus, resolution).ok()?;
    let batch = o.batch.or(ada.map(|a| a.mb));
    let gamma = o.gamma.or(ada.map(|a| normalize_f64(a.gamma)));
    if ada.is_none() {
        for (key, value) in [
            ("train.gpus", gpus.is_some()),
            ("train.batch", batch.is_some()),
            ("train.gamma", w.gamma.is_some()),
        ] {
            if !value {
                c.missing(key);
            }
        }
    }
    let (gpus, batch, gamma) = (gpus?, batch?, gamma?);
    let fallback = fallback();
    let arch = cfg.arch();
    Some(Settled {
        gpus,
        batch,
        batch_gpu: o.batch_gpu.unwrap_or_else(|| match ada {
            Some(a) if w.batch.is_none() => a.mb / a.ref_gpus,
            _ => batch / gpus,
        }),
        gamma,
        mbstd_group: o
            .mbstd_group
            .or(ada.map(|a| a.mbstd))
            .unwrap_or(fallback.mbstd_group),
        glr: o.glr.or(ada.map(|a| a.lrate)).unwrap_or(train_py_glr(arch)),
        dlr: o.dlr.or(ada.map(|a| a.lrate)).unwrap_or(fallback.dlr),
        map_depth: o
            .map_depth
            .or(ada.map(|a| a.map))
            .unwrap_or(train_py_map_depth(arch)),
        cbase: o
            .cbase
            .or(ada.map(|a| ada_channel_base(a.fmaps)))
            .unwrap_or(fallback.cbase),
        kimg: w.kimg.or(ada.map(|a| a.kimg)).unwrap_or(fallback.kimg),
        ada,
    })
}

/// The StyleGAN2-ADA table row of `cfg` (`None` for the other configurations), checking `gpus`
/// against it; `Err` (recorded) when `auto` lacks the resolution.
fn ada_table(
    c: &mut Checker<'_>,
    cfg: Cfg,
    gpus: Option<u32>,
    resolution: Option<u32>,
) -> Result<Option<AdaCfgSpec>, NeedsResolution> {
    match cfg.ada_spec(resolution, gpus.unwrap_or(1)) {
        Some(Err(needs)) => {
            c.error(
                ErrorKind::MissingKey,
                "train.cfg",
                "`train.cfg = \"auto\"` needs the resolution: point `data.path` at an existing dataset or set `data.resolution`".into(),
            );
            Err(needs)
        }
        Some(Ok(spec)) => {
            if let Some(g) = gpus.filter(|g| !g.is_power_of_two()) {
                c.error(
                    ErrorKind::InvalidValue,
                    "train.gpus",
                    format!(
                        "`train.gpus` must be a power of two for `cfg = \"{}\"`, found {g}",
                        cfg.name()
                    ),
                );
            }
            Ok(Some(spec))
        }
        None => Ok(None),
    }
}

/// `train.py`'s G learning rate: 0.002 for StyleGAN2, 0.0025 otherwise.
fn train_py_glr(arch: Arch) -> f64 {
    if arch == Arch::Stylegan2 {
        0.002
    } else {
        0.0025
    }
}

/// `train.py`'s mapping depth: 8 for StyleGAN2, 2 otherwise.
fn train_py_map_depth(arch: Arch) -> u32 {
    if arch == Arch::Stylegan2 { 8 } else { 2 }
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

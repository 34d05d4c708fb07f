//! Each `[train]` option checked on its own: a known spelling, a known metric, a value in range.

use super::check::Checker;
use crate::manifest::cfg::{Arch, Aug, Cfg};
use crate::manifest::error::{ErrorKind, did_you_mean};
use crate::manifest::wire::TrainWire;
use crate::metrics::METRICS;

/// The options that later steps read, after their own checks: `None` where unset or invalid.
pub(super) struct Options {
    /// `train.cfg`.
    pub(super) cfg: Option<Cfg>,
    /// `train.aug`.
    pub(super) aug: Option<Aug>,
    /// `train.gpus`.
    pub(super) gpus: Option<u32>,
    /// `train.batch`.
    pub(super) batch: Option<u32>,
    /// `train.batch_gpu`.
    pub(super) batch_gpu: Option<u32>,
    /// `train.cbase`.
    pub(super) cbase: Option<u32>,
    /// `train.cmax`.
    pub(super) cmax: Option<u32>,
    /// `train.map_depth`.
    pub(super) map_depth: Option<u32>,
    /// `train.mbstd_group`.
    pub(super) mbstd_group: Option<u32>,
    /// `train.tick`.
    pub(super) tick: Option<u32>,
    /// `train.snap`.
    pub(super) snap: Option<u32>,
    /// `train.workers`.
    pub(super) workers: Option<u32>,
    /// `train.gamma`.
    pub(super) gamma: Option<f64>,
    /// `train.glr`.
    pub(super) glr: Option<f64>,
    /// `train.dlr`.
    pub(super) dlr: Option<f64>,
    /// `train.p`.
    pub(super) p: Option<f64>,
    /// `train.target`.
    pub(super) target: Option<f64>,
}

/// Check every option of `w` on its own, recording each problem.
pub(super) fn check_options(c: &mut Checker<'_>, w: &TrainWire) -> Options {
    let cfg = check_cfg(c, w.cfg.as_deref());
    let aug = check_aug(c, w.aug.as_deref());
    check_metrics(c, w.metrics.iter().flatten(), cfg);
    let gpus = c.at_least("train.gpus", w.gpus, 1);
    let batch = c.at_least("train.batch", w.batch, 1);
    let batch_gpu = c.at_least("train.batch_gpu", w.batch_gpu, 1);
    let cbase = c.at_least("train.cbase", w.cbase, 1);
    let cmax = c.at_least("train.cmax", w.cmax, 1);
    let map_depth = c.at_least("train.map_depth", w.map_depth, 1);
    let mbstd_group = c.at_least("train.mbstd_group", w.mbstd_group, 1);
    let tick = c.at_least("train.tick", w.tick, 1);
    let snap = c.at_least("train.snap", w.snap, 1);
    let workers = c.at_least("train.workers", w.workers, 1);
    if w.kimg == Some(0) {
        c.error(
            ErrorKind::InvalidValue,
            "train.kimg",
            "`train.kimg` must be at least 1, found 0".into(),
        );
    }
    let gamma = c.float_in("train.gamma", w.gamma, None);
    let glr = c.float_in("train.glr", w.glr, None);
    let dlr = c.float_in("train.dlr", w.dlr, None);
    let p = c.float_in("train.p", w.p, Some(1.0));
    let target = c.float_in("train.target", w.target, Some(1.0));
    Options {
        cfg,
        aug,
        gpus,
        batch,
        batch_gpu,
        cbase,
        cmax,
        map_depth,
        mbstd_group,
        tick,
        snap,
        workers,
        gamma,
        glr,
        dlr,
        p,
        target,
    }
}

/// `train.cfg`: required, one of [`Cfg::ALL`].
fn check_cfg(c: &mut Checker<'_>, text: Option<&str>) -> Option<Cfg> {
    let Some(text) = text else {
        c.missing("train.cfg");
        return None;
    };
    Cfg::parse(text).or_else(|| {
        let names = Cfg::ALL.map(Cfg::name);
        let mut error = c.error_at(
            ErrorKind::InvalidValue,
            "train.cfg",
            format!(
                "`train.cfg` must be one of {}, found `{text}`",
                names.join(", ")
            ),
        );
        error.help = did_you_mean(text, names);
        c.push(error);
        None
    })
}

/// `train.aug`: one of [`Aug::ALL`].
fn check_aug(c: &mut Checker<'_>, text: Option<&str>) -> Option<Aug> {
    text.and_then(|text| {
        Aug::parse(text).or_else(|| {
            c.error(
                ErrorKind::InvalidValue,
                "train.aug",
                format!("`train.aug` must be one of noaug, ada, fixed, found `{text}`"),
            );
            None
        })
    })
}

/// `train.metrics`: registered names, and no equivariance metric for a StyleGAN2 generator.
fn check_metrics<'m>(
    c: &mut Checker<'_>,
    metrics: impl Iterator<Item = &'m String>,
    cfg: Option<Cfg>,
) {
    for metric in metrics {
        if !crate::metrics::is_known_metric(metric) {
            let mut error = c.error_at(
                ErrorKind::InvalidValue,
                "train.metrics",
                format!(
                    "`train.metrics` contains the unknown metric `{metric}`; valid: {}",
                    METRICS.join(", ")
                ),
            );
            error.help = did_you_mean(metric, METRICS);
            c.push(error);
        } else if cfg.is_some_and(|c| c.arch() == Arch::Stylegan2)
            && crate::metrics::MetricSpec::parse(metric)
                .is_some_and(|spec| spec.family.is_equivariance())
        {
            c.error(
                ErrorKind::InvalidValue,
                "train.metrics",
                format!(
                    "`{metric}` measures StyleGAN3's equivariance; `train.cfg` trains a StyleGAN2 generator"
                ),
            );
        }
    }
}

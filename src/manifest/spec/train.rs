//! [`TrainSpec`]: `[train]` resolved, every option concrete, with what `train.py` derives.

use serde::Serialize;

use super::base::from_base;
use super::check::Checker;
use super::defaults::settle;
use super::derived::{Basis, Derived, derive};
use super::options::check_options;
use crate::manifest::cfg::{Aug, Cfg};
use crate::manifest::error::ManifestError;
use crate::manifest::load::Layers;
use crate::manifest::wire::TrainWire;

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

/// Resolve `[train]` the way `train.py` assembles its config, recording problems in `errors`
/// (which may hold problems of other tables: then no spec comes back). `resolution` is the one
/// trained at, when known.
pub(super) fn resolve_train(
    layers: &Layers,
    errors: &mut Vec<ManifestError>,
    w: TrainWire,
    resolution: Option<u32>,
) -> Option<TrainSpec> {
    let mut c = Checker::new(layers, errors);
    let o = check_options(&mut c, &w);
    let cfg = o.cfg?;
    let settled = settle(&mut c, cfg, &o, &w, resolution);
    let (s, aug, tick, snap, workers) = (settled?, o.aug?, o.tick?, o.snap?, o.workers?);
    c.batch_split(&s, w.batch_gpu.is_some());
    if c.has_errors() {
        return None;
    }
    let (cmax, p, target) = (o.cmax?, o.p?, o.target?);
    let fp32 = from_base(w.fp32, "train.fp32");
    let nobench = from_base(w.nobench, "train.nobench");
    let derived = derive(&Basis {
        cfg,
        batch: s.batch,
        cbase: s.cbase,
        cmax,
        aug,
        p,
        target,
        resumed: w.resume.is_some(),
        fp32,
        nobench,
        ada: s.ada,
    });
    Some(TrainSpec {
        cfg,
        gpus: s.gpus,
        batch: s.batch,
        batch_gpu: s.batch_gpu,
        gamma: s.gamma,
        aug,
        p,
        target,
        resume: w.resume,
        freezed: from_base(w.freezed, "train.freezed"),
        cbase: s.cbase,
        cmax,
        glr: s.glr,
        dlr: s.dlr,
        map_depth: s.map_depth,
        mbstd_group: s.mbstd_group,
        desc: w.desc,
        metrics: from_base(w.metrics, "train.metrics"),
        kimg: s.kimg,
        tick,
        snap,
        seed: from_base(w.seed, "train.seed"),
        fp32,
        nobench,
        workers,
        derived,
    })
}

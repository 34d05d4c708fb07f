//! What `train.py` derives from the options (its `main` after parsing them).

use serde::Serialize;

use crate::manifest::cfg::{AdaCfgSpec, Arch, Aug, Cfg};

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

/// The resolved options [`derive`] reads.
pub(super) struct Basis {
    /// `train.cfg`.
    pub(super) cfg: Cfg,
    /// `train.batch`.
    pub(super) batch: u32,
    /// `train.cbase`.
    pub(super) cbase: u32,
    /// `train.cmax`.
    pub(super) cmax: u32,
    /// `train.aug`.
    pub(super) aug: Aug,
    /// `train.p`.
    pub(super) p: f64,
    /// `train.target`.
    pub(super) target: f64,
    /// Whether `train.resume` is set.
    pub(super) resumed: bool,
    /// `train.fp32`.
    pub(super) fp32: bool,
    /// `train.nobench`.
    pub(super) nobench: bool,
    /// The StyleGAN2-ADA table row of `cfg`, if it has one.
    pub(super) ada: Option<AdaCfgSpec>,
}

/// Every value `train.py` derives from `b`.
pub(super) fn derive(b: &Basis) -> Derived {
    let (cfg, ada, resumed) = (b.cfg, b.ada, b.resumed);
    let arch = cfg.arch();
    let is_sg2 = arch == Arch::Stylegan2;
    let is_sg3r = arch == Arch::Stylegan3R;
    let batch_f = f64::from(b.batch);
    let ema_rampup = match ada {
        Some(a) => a.ramp,
        None => Some(0.05),
    };
    let sg2_regularised = is_sg2 && cfg != Cfg::Cifar;
    Derived {
        arch,
        g_channel_base: if is_sg3r { b.cbase * 2 } else { b.cbase },
        g_channel_max: if is_sg3r { b.cmax * 2 } else { b.cmax },
        conv_kernel: if is_sg3r { 1 } else { 3 },
        use_radial_filters: is_sg3r,
        magnitude_ema_beta: (!is_sg2).then(|| 0.5f64.powf(batch_f / 20000.0)),
        ema_kimg: ada.map_or(batch_f * 10.0 / 32.0, |a| a.ema),
        ema_rampup: if resumed { None } else { ema_rampup },
        style_mixing_prob: if sg2_regularised { 0.9 } else { 0.0 },
        pl_weight: if sg2_regularised { 2.0 } else { 0.0 },
        g_reg_interval: is_sg2.then_some(4),
        d_reg_interval: 16,
        blur_init_sigma: if is_sg3r && !resumed { 10.0 } else { 0.0 },
        blur_fade_kimg: if is_sg3r { batch_f * 200.0 / 32.0 } else { 0.0 },
        augment_p: if b.aug == Aug::Fixed { b.p } else { 0.0 },
        ada_target: (b.aug == Aug::Ada).then_some(b.target),
        ada_kimg: if resumed { 100.0 } else { 500.0 },
        num_fp16_res: if b.fp32 { 0 } else { 4 },
        conv_clamp: if b.fp32 { None } else { Some(256) },
        cudnn_benchmark: !b.nobench,
        d_architecture: if cfg == Cfg::Cifar { "orig" } else { "resnet" },
    }
}

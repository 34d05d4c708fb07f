//! The base configurations of `--cfg` and the StyleGAN2-ADA configuration table.
//!
//! `stylegan3-t`, `stylegan3-r` and `stylegan2` are the official StyleGAN3 `train.py` choices.
//! `auto`, `paper256`, `paper512`, `paper1024` and `cifar` are StyleGAN2-ADA's named
//! configurations; they train the StyleGAN2 architecture with hyperparameters from
//! [`AdaCfgSpec`], `auto` deriving them from the resolution and GPU count.

use serde::Serialize;

pub use crate::nets::generator::Arch;

/// A `--cfg` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Cfg {
    /// StyleGAN3-T: translation equivariant.
    #[serde(rename = "stylegan3-t")]
    Stylegan3T,
    /// StyleGAN3-R: translation and rotation equivariant.
    #[serde(rename = "stylegan3-r")]
    Stylegan3R,
    /// StyleGAN2 as configured by the StyleGAN3 `train.py`.
    #[serde(rename = "stylegan2")]
    Stylegan2,
    /// StyleGAN2-ADA `--cfg=auto`: hyperparameters from resolution and GPU count.
    #[serde(rename = "auto")]
    Auto,
    /// StyleGAN2-ADA `--cfg=paper256`.
    #[serde(rename = "paper256")]
    Paper256,
    /// StyleGAN2-ADA `--cfg=paper512`.
    #[serde(rename = "paper512")]
    Paper512,
    /// StyleGAN2-ADA `--cfg=paper1024`.
    #[serde(rename = "paper1024")]
    Paper1024,
    /// StyleGAN2-ADA `--cfg=cifar`.
    #[serde(rename = "cifar")]
    Cifar,
}

impl Cfg {
    /// Every configuration, in the order `--help` lists them.
    pub const ALL: [Cfg; 8] = [
        Cfg::Stylegan3T,
        Cfg::Stylegan3R,
        Cfg::Stylegan2,
        Cfg::Auto,
        Cfg::Paper256,
        Cfg::Paper512,
        Cfg::Paper1024,
        Cfg::Cifar,
    ];

    /// The spelling used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Cfg::Stylegan3T => "stylegan3-t",
            Cfg::Stylegan3R => "stylegan3-r",
            Cfg::Stylegan2 => "stylegan2",
            Cfg::Auto => "auto",
            Cfg::Paper256 => "paper256",
            Cfg::Paper512 => "paper512",
            Cfg::Paper1024 => "paper1024",
            Cfg::Cifar => "cifar",
        }
    }

    /// Parse a spelling.
    pub fn parse(text: &str) -> Option<Cfg> {
        Cfg::ALL.into_iter().find(|cfg| cfg.name() == text)
    }

    /// The architecture it trains.
    pub fn arch(self) -> Arch {
        match self {
            Cfg::Stylegan3T => Arch::Stylegan3T,
            Cfg::Stylegan3R => Arch::Stylegan3R,
            _ => Arch::Stylegan2,
        }
    }

    /// The StyleGAN2-ADA table entry, for the StyleGAN2-ADA configurations.
    pub fn ada_spec(
        self,
        resolution: Option<u32>,
        gpus: u32,
    ) -> Option<Result<AdaCfgSpec, NeedsResolution>> {
        let fixed = |mb, mbstd, fmaps, lrate, gamma, ema, kimg, ramp, map, ref_gpus| AdaCfgSpec {
            ref_gpus,
            kimg,
            mb,
            mbstd,
            fmaps,
            lrate,
            gamma,
            ema,
            ramp,
            map,
        };
        Some(Ok(match self {
            Cfg::Stylegan3T | Cfg::Stylegan3R | Cfg::Stylegan2 => return None,
            Cfg::Auto => match resolution {
                Some(res) => AdaCfgSpec::auto(res, gpus),
                None => return Some(Err(NeedsResolution)),
            },
            Cfg::Paper256 => fixed(64, 8, 0.5, 0.0025, 1.0, 20.0, 25000, None, 8, 8),
            Cfg::Paper512 => fixed(64, 8, 1.0, 0.0025, 0.5, 20.0, 25000, None, 8, 8),
            Cfg::Paper1024 => fixed(32, 4, 1.0, 0.002, 2.0, 10.0, 25000, None, 8, 8),
            Cfg::Cifar => fixed(64, 32, 1.0, 0.0025, 0.01, 500.0, 100_000, Some(0.05), 2, 2),
        }))
    }
}

/// `cfg = "auto"` was used without a known resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsResolution;

/// One row of StyleGAN2-ADA's `cfg_specs` (`train.py`), field names as there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdaCfgSpec {
    /// GPU count the batch was tuned for; `batch_gpu = mb / ref_gpus`.
    pub ref_gpus: u32,
    /// Training length.
    pub kimg: u64,
    /// Total batch.
    pub mb: u32,
    /// Minibatch-stddev group size.
    pub mbstd: u32,
    /// Capacity: `channel_base = fmaps · 32768`.
    pub fmaps: f64,
    /// Learning rate of G and D.
    pub lrate: f64,
    /// R1 weight.
    pub gamma: f64,
    /// G EMA half-life in kimg.
    pub ema: f64,
    /// EMA ramp-up, or none.
    pub ramp: Option<f64>,
    /// Mapping depth.
    pub map: u32,
}

impl AdaCfgSpec {
    /// The `auto` formulas of StyleGAN2-ADA's `train.py`.
    pub fn auto(res: u32, gpus: u32) -> AdaCfgSpec {
        let mb = (gpus * (4096 / res).min(32)).min(64).max(gpus);
        AdaCfgSpec {
            ref_gpus: gpus,
            kimg: 25000,
            mb,
            mbstd: (mb / gpus).min(4),
            fmaps: if res >= 512 { 1.0 } else { 0.5 },
            lrate: if res >= 1024 { 0.002 } else { 0.0025 },
            gamma: 0.0002 * f64::from(res).powi(2) / f64::from(mb),
            ema: f64::from(mb) * 10.0 / 32.0,
            ramp: Some(0.05),
            map: 2,
        }
    }
}

/// Augmentation mode (`--aug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aug {
    /// No augmentation.
    Noaug,
    /// Adaptive discriminator augmentation toward `target`.
    Ada,
    /// Fixed probability `p`.
    Fixed,
}

impl Aug {
    /// Every mode.
    pub const ALL: [Aug; 3] = [Aug::Noaug, Aug::Ada, Aug::Fixed];

    /// The spelling.
    pub fn name(self) -> &'static str {
        match self {
            Aug::Noaug => "noaug",
            Aug::Ada => "ada",
            Aug::Fixed => "fixed",
        }
    }

    /// Parse a spelling.
    pub fn parse(text: &str) -> Option<Aug> {
        Aug::ALL.into_iter().find(|aug| aug.name() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::AdaCfgSpec;

    #[test]
    fn auto_matches_the_documented_examples() {
        let a = AdaCfgSpec::auto(256, 8);
        assert_eq!(
            (a.mb, a.mbstd, a.fmaps, a.lrate, a.ema),
            (64, 4, 0.5, 0.0025, 20.0)
        );
        assert!((a.gamma - 0.2048).abs() < 1e-12);
        let b = AdaCfgSpec::auto(1024, 1);
        assert_eq!(
            (b.mb, b.mbstd, b.fmaps, b.lrate, b.ema),
            (4, 4, 1.0, 0.002, 1.25)
        );
        assert!((b.gamma - 52.4288).abs() < 1e-9);
    }
}

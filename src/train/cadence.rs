//! When things happen in the training loop, as pure arithmetic: the phase list, the G EMA β, the
//! ADA adjustment and the tick/snapshot cadence (the official `training_loop.py`: the phase setup
//! before the loop, and the EMA, ADA and tick/snapshot steps inside it).

use super::adam::Adam;
use super::loss::Phase;

/// One phase of an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSpec {
    /// Which loss terms.
    pub phase: Phase,
    /// Run when `batch_idx % interval == 0`; also the gradient gain.
    pub interval: u32,
}

/// The phase list: `[Gmain, Greg, Dmain, Dreg]` with lazy regularisation, `Gboth`/`Dboth` without.
/// Order matters: phase k always uses the k-th group of the iteration's latents.
pub fn phases(g_reg_interval: Option<u32>, d_reg_interval: Option<u32>) -> Vec<PhaseSpec> {
    let mut list = Vec::new();
    for (reg, main, regp, both) in [
        (g_reg_interval, Phase::Gmain, Phase::Greg, Phase::Gboth),
        (d_reg_interval, Phase::Dmain, Phase::Dreg, Phase::Dboth),
    ] {
        match reg {
            None => list.push(PhaseSpec {
                phase: both,
                interval: 1,
            }),
            Some(interval) => {
                list.push(PhaseSpec {
                    phase: main,
                    interval: 1,
                });
                list.push(PhaseSpec {
                    phase: regp,
                    interval,
                });
            }
        }
    }
    list
}

/// The optimizers of G and D with the lazy-regularisation adjustment (Adam betas (0, 0.99), ε
/// 1e-8).
pub fn optimizers(
    glr: f64,
    dlr: f64,
    g_reg_interval: Option<u32>,
    d_reg_interval: Option<u32>,
) -> (Adam, Adam) {
    (
        Adam::lazy(glr, (0.0, 0.99), 1e-8, g_reg_interval),
        Adam::lazy(dlr, (0.0, 0.99), 1e-8, d_reg_interval),
    )
}

/// The G EMA β for an iteration that starts at `cur_nimg` (before the increment).
pub fn ema_beta(batch_size: u32, ema_kimg: f64, ema_rampup: Option<f64>, cur_nimg: u64) -> f64 {
    let mut ema_nimg = ema_kimg * 1000.0;
    if let Some(rampup) = ema_rampup {
        #[expect(
            clippy::cast_precision_loss,
            reason = "image counts are far below 2^52"
        )]
        let ramped = cur_nimg as f64 * rampup;
        ema_nimg = ema_nimg.min(ramped);
    }
    0.5f64.powf(f64::from(batch_size) / ema_nimg.max(1e-8))
}

/// The ADA step: `sign(mean(signs_real) − target) · batch·interval / (ada_kimg·1000)`.
pub fn ada_adjustment(
    mean_sign_real: f64,
    target: f64,
    batch_size: u32,
    ada_interval: u32,
    ada_kimg: f64,
) -> f64 {
    let difference = mean_sign_real - target;
    let sign = if difference > 0.0 {
        1.0
    } else if difference < 0.0 {
        -1.0
    } else {
        0.0
    };
    sign * f64::from(batch_size * ada_interval) / (ada_kimg * 1000.0)
}

/// Whether a tick ends after an iteration: at the end, after the very first iteration, or when
/// `kimg_per_tick` has passed since the tick started.
pub fn tick_due(
    cur_nimg: u64,
    total_kimg: u64,
    cur_tick: u64,
    tick_start_nimg: u64,
    kimg_per_tick: u32,
) -> bool {
    cur_nimg >= total_kimg * 1000
        || cur_tick == 0
        || cur_nimg >= tick_start_nimg + u64::from(kimg_per_tick) * 1000
}

/// Whether a tick writes a snapshot: `done` or every `snap` ticks (tick 0 included).
pub fn snapshot_due(done: bool, cur_tick: u64, snap: u32) -> bool {
    done || cur_tick.is_multiple_of(u64::from(snap))
}

#[cfg(test)]
mod tests {
    use super::{ada_adjustment, ema_beta, optimizers, phases, snapshot_due, tick_due};
    use crate::train::loss::Phase;

    #[test]
    fn phase_lists_follow_the_configuration() {
        let sg2: Vec<_> = phases(Some(4), Some(16))
            .iter()
            .map(|p| (p.phase, p.interval))
            .collect();
        assert_eq!(
            sg2,
            [
                (Phase::Gmain, 1),
                (Phase::Greg, 4),
                (Phase::Dmain, 1),
                (Phase::Dreg, 16)
            ]
        );
        let sg3: Vec<_> = phases(None, Some(16))
            .iter()
            .map(|p| (p.phase, p.interval))
            .collect();
        assert_eq!(
            sg3,
            [(Phase::Gboth, 1), (Phase::Dmain, 1), (Phase::Dreg, 16)]
        );
    }

    #[test]
    fn lazy_regularisation_adjusts_lr_and_betas_like_the_fixture() {
        let (g, d) = optimizers(0.002, 0.002, Some(4), Some(16));
        assert!((g.lr - 0.0016).abs() < 1e-15 && (g.beta2 - 0.991_991_967_822_865_7).abs() < 1e-15);
        assert!(
            (d.lr - 0.001_882_352_941_176_470_6).abs() < 1e-15
                && (d.beta2 - 0.990_585_457_307_433_2).abs() < 1e-15
        );
        assert_eq!(g.beta1, 0.0);
        let (g, _) = optimizers(0.0025, 0.002, None, Some(16));
        assert_eq!((g.lr, g.beta2), (0.0025, 0.99));
    }

    #[test]
    fn ema_beta_ramps_up_from_an_exact_copy() {
        assert_eq!(ema_beta(4, 1.25, Some(0.05), 0), 0.0, "fresh runs copy G");
        // The trainstep fixtures start at 10 000 images with batch 4: ema_nimg = min(1250, 500).
        assert!((ema_beta(4, 1.25, Some(0.05), 10_000) - 0.994_470_168_673_214_4).abs() < 1e-15);
        assert_eq!(ema_beta(32, 10.0, None, 0), 0.5f64.powf(32.0 / 10_000.0));
    }

    #[test]
    fn ada_and_ticks() {
        assert_eq!(ada_adjustment(0.8, 0.6, 4, 2, 1.0), 0.008);
        assert_eq!(ada_adjustment(0.6, 0.6, 4, 2, 1.0), 0.0);
        assert!(tick_due(4, 1, 0, 0, 4));
        assert!(!tick_due(8, 25, 1, 4, 4));
        assert!(tick_due(4004, 25, 1, 4, 4));
        assert!(
            snapshot_due(false, 0, 50) && !snapshot_due(false, 3, 50) && snapshot_due(true, 3, 50)
        );
    }
}

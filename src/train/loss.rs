//! The StyleGAN2 loss with R1 and path-length regularisation, style mixing and the StyleGAN3-R
//! blur — port of `training/loss.py` `StyleGAN2Loss`.
//!
//! The order and shapes of every random draw follow the reference, so that with the same
//! `tch::manual_seed` the phases reproduce the official gradients.

use tch::{Device, Kind, Tensor};

use super::augment::Augmenter;
use super::stats::Collector;
use crate::nets::network::{DiscriminatorNet, GeneratorNet, NoiseMode};
use crate::ops::bias_act::with_double_backward;
use crate::ops::upfirdn2d::{Padding, filter2d};

/// A training phase (`training_loop.py`'s phase setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// G adversarial loss.
    Gmain,
    /// G path-length regularisation.
    Greg,
    /// Both G terms (no lazy regularisation).
    Gboth,
    /// D adversarial loss.
    Dmain,
    /// D R1 regularisation.
    Dreg,
    /// Both D terms.
    Dboth,
}

impl Phase {
    /// The reference's name (`Gmain`, …).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Gmain => "Gmain",
            Phase::Greg => "Greg",
            Phase::Gboth => "Gboth",
            Phase::Dmain => "Dmain",
            Phase::Dreg => "Dreg",
            Phase::Dboth => "Dboth",
        }
    }

    /// Whether the phase trains G (else D).
    pub fn is_generator(self) -> bool {
        matches!(self, Phase::Gmain | Phase::Greg | Phase::Gboth)
    }
}

/// Loss hyperparameters (the reference's `loss_kwargs`).
#[derive(Debug, Clone, PartialEq)]
pub struct LossConfig {
    /// R1 weight γ.
    pub r1_gamma: f64,
    /// Probability of style mixing.
    pub style_mixing_prob: f64,
    /// Path-length weight.
    pub pl_weight: f64,
    /// Path-length batch divisor.
    pub pl_batch_shrink: i64,
    /// Path-length running-mean decay.
    pub pl_decay: f64,
    /// Initial D blur σ.
    pub blur_init_sigma: f64,
    /// kimg over which the blur fades out.
    pub blur_fade_kimg: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            r1_gamma: 10.0,
            style_mixing_prob: 0.0,
            pl_weight: 0.0,
            pl_batch_shrink: 2,
            pl_decay: 0.01,
            blur_init_sigma: 0.0,
            blur_fade_kimg: 0.0,
        }
    }
}

/// The loss and its state (`pl_mean`).
#[derive(Debug)]
pub struct StyleGan2Loss {
    /// Hyperparameters.
    pub config: LossConfig,
    /// Running mean of path lengths (not saved in official snapshots; kimg saves it for resume).
    pub pl_mean: Tensor,
}

/// One micro-batch's inputs.
#[derive(Debug)]
pub struct MicroBatch<'a> {
    /// Real images in [-1, 1], `[N, C, H, W]`.
    pub real_img: &'a Tensor,
    /// Real labels `[N, c_dim]`.
    pub real_c: &'a Tensor,
    /// Latents `[N, z_dim]`.
    pub gen_z: &'a Tensor,
    /// Generated labels `[N, c_dim]`.
    pub gen_c: &'a Tensor,
}

/// The networks a phase runs.
pub struct Networks<'a> {
    /// The generator being trained.
    pub generator: &'a dyn GeneratorNet,
    /// The discriminator being trained.
    pub discriminator: &'a dyn DiscriminatorNet,
    /// The augmentation pipe, when augmenting.
    pub augment: Option<&'a dyn Augmenter>,
}

impl StyleGan2Loss {
    /// A loss with `pl_mean = 0` on `device`.
    pub fn new(config: LossConfig, device: Device) -> StyleGan2Loss {
        StyleGan2Loss {
            config,
            pl_mean: Tensor::zeros([], (Kind::Float, device)),
        }
    }

    /// The D blur σ at `cur_nimg`.
    pub fn blur_sigma(&self, cur_nimg: u64) -> f64 {
        if self.config.blur_fade_kimg > 0.0 {
            #[expect(
                clippy::cast_precision_loss,
                reason = "image counts are far below 2^52"
            )]
            let progress = cur_nimg as f64 / (self.config.blur_fade_kimg * 1e3);
            (1.0 - progress).max(0.0) * self.config.blur_init_sigma
        } else {
            0.0
        }
    }

    /// `run_G`: mapping, style mixing, synthesis (random noise, training mode).
    fn run_g(
        &self,
        nets: &Networks<'_>,
        z: &Tensor,
        c: &Tensor,
        update_emas: bool,
    ) -> (Tensor, Tensor) {
        let g = nets.generator;
        let mut ws = g.mapping(z, c, 1.0, update_emas);
        if self.config.style_mixing_prob > 0.0 {
            let num_ws = g.num_ws();
            let cutoff =
                Tensor::empty([], (Kind::Int64, ws.device())).random_from_(1, Some(num_ws));
            let gate =
                Tensor::rand([], (Kind::Float, ws.device())).lt(self.config.style_mixing_prob);
            let cutoff = if gate.int64_value(&[]) != 0 {
                cutoff.int64_value(&[])
            } else {
                num_ws
            };
            let mixed = g.mapping(&z.randn_like(), c, 1.0, false);
            if cutoff < num_ws {
                let head = ws.narrow(1, 0, cutoff);
                let tail = mixed.narrow(1, cutoff, num_ws - cutoff);
                ws = Tensor::cat(&[head, tail], 1);
            }
        }
        let img = g.synthesis(&ws, NoiseMode::Random, update_emas, true);
        (img, ws)
    }

    /// `run_D`: blur, augment, D.
    fn run_d(
        &self,
        nets: &Networks<'_>,
        img: &Tensor,
        c: &Tensor,
        blur_sigma: f64,
        update_emas: bool,
    ) -> Tensor {
        let mut img = blur(img, blur_sigma);
        if let Some(augment) = nets.augment {
            img = augment.augment(&img);
        }
        nets.discriminator.forward(&img, c, update_emas)
    }

    /// Accumulate the gradients of one phase for one micro-batch (`accumulate_gradients`).
    pub fn accumulate_gradients(
        &mut self,
        phase: Phase,
        nets: &Networks<'_>,
        batch: &MicroBatch<'_>,
        gain: f64,
        cur_nimg: u64,
        stats: &mut Vec<&mut Collector>,
    ) {
        let phase = match phase {
            Phase::Greg if self.config.pl_weight == 0.0 => return,
            Phase::Gboth if self.config.pl_weight == 0.0 => Phase::Gmain,
            Phase::Dreg if self.config.r1_gamma == 0.0 => return,
            Phase::Dboth if self.config.r1_gamma == 0.0 => Phase::Dmain,
            other => other,
        };
        let blur_sigma = self.blur_sigma(cur_nimg);
        let mut report = |name: &str, values: &Tensor| {
            for collector in stats.iter_mut() {
                collector.report(name, values);
            }
        };

        if matches!(phase, Phase::Gmain | Phase::Gboth) {
            let (gen_img, _) = self.run_g(nets, batch.gen_z, batch.gen_c, false);
            let gen_logits = self.run_d(nets, &gen_img, batch.gen_c, blur_sigma, false);
            report("Loss/scores/fake", &gen_logits);
            report("Loss/signs/fake", &gen_logits.sign());
            let loss = (-&gen_logits).softplus();
            report("Loss/G/loss", &loss);
            (loss.mean(Kind::Float) * gain).backward();
        }

        if matches!(phase, Phase::Greg | Phase::Gboth) {
            let size = batch.gen_z.size()[0] / self.config.pl_batch_shrink;
            let (gen_img, gen_ws) = with_double_backward(true, || {
                self.run_g(
                    nets,
                    &batch.gen_z.narrow(0, 0, size),
                    &batch.gen_c.narrow(0, 0, size),
                    false,
                )
            });
            let (h, w) = (gen_img.size()[2], gen_img.size()[3]);
            #[expect(clippy::cast_precision_loss, reason = "image sizes are small")]
            let pl_noise = gen_img.randn_like() / ((h * w) as f64).sqrt();
            let output = (&gen_img * &pl_noise).sum(Kind::Float);
            let pl_grads = Tensor::run_backward(&[output], &[&gen_ws], true, true).remove(0);
            let pl_lengths = pl_grads
                .square()
                .sum_dim_intlist([2i64].as_slice(), false, Kind::Float)
                .mean_dim([1i64].as_slice(), false, Kind::Float)
                .sqrt();
            let pl_mean = self
                .pl_mean
                .lerp(&pl_lengths.mean(Kind::Float), self.config.pl_decay);
            self.pl_mean = pl_mean.detach();
            let pl_penalty = (&pl_lengths - &pl_mean).square();
            report("Loss/pl_penalty", &pl_penalty);
            let loss = &pl_penalty * self.config.pl_weight;
            report("Loss/G/reg", &loss);
            (loss.mean(Kind::Float) * gain).backward();
        }

        let mut loss_dgen = None;
        if matches!(phase, Phase::Dmain | Phase::Dboth) {
            let (gen_img, _) = self.run_g(nets, batch.gen_z, batch.gen_c, true);
            let gen_logits = self.run_d(nets, &gen_img, batch.gen_c, blur_sigma, true);
            report("Loss/scores/fake", &gen_logits);
            report("Loss/signs/fake", &gen_logits.sign());
            let loss = gen_logits.softplus();
            (loss.mean(Kind::Float) * gain).backward();
            loss_dgen = Some(loss.detach());
        }

        if matches!(phase, Phase::Dmain | Phase::Dreg | Phase::Dboth) {
            let with_r1 = matches!(phase, Phase::Dreg | Phase::Dboth);
            let real_img = batch.real_img.detach().set_requires_grad(with_r1);
            let real_logits = with_double_backward(with_r1, || {
                self.run_d(nets, &real_img, batch.real_c, blur_sigma, false)
            });
            report("Loss/scores/real", &real_logits);
            report("Loss/signs/real", &real_logits.sign());
            let mut terms = Vec::with_capacity(2);
            if matches!(phase, Phase::Dmain | Phase::Dboth) {
                let loss_dreal = (-&real_logits).softplus();
                let d_loss = loss_dgen
                    .as_ref()
                    .map_or_else(|| loss_dreal.detach(), |g| g + loss_dreal.detach());
                report("Loss/D/loss", &d_loss);
                terms.push(loss_dreal);
            }
            if with_r1 {
                let r1_grads =
                    Tensor::run_backward(&[real_logits.sum(Kind::Float)], &[&real_img], true, true)
                        .remove(0);
                let r1_penalty =
                    r1_grads
                        .square()
                        .sum_dim_intlist([1i64, 2, 3].as_slice(), false, Kind::Float);
                let loss_dr1 = &r1_penalty * (self.config.r1_gamma / 2.0);
                report("Loss/r1_penalty", &r1_penalty);
                report("Loss/D/reg", &loss_dr1);
                terms.push(loss_dr1.unsqueeze(1));
            }
            let total = terms
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("Dmain or Dreg adds a term");
            (total.mean(Kind::Float) * gain).backward();
        }
    }
}

/// The D-input blur: separable taps `2^(−(k/σ)²)` for `k = −⌊3σ⌋…⌊3σ⌋`, normalised, applied with
/// `filter2d` (zero padding, same size); a no-op while `⌊3σ⌋ = 0`.
pub fn blur(img: &Tensor, sigma: f64) -> Tensor {
    let size = (sigma * 3.0).floor();
    if size <= 0.0 {
        return img.shallow_clone();
    }
    #[expect(clippy::cast_possible_truncation, reason = "blur radii are small")]
    let size = size as i64;
    let taps = Tensor::arange_start(-size, size + 1, (Kind::Float, img.device()))
        .g_div_scalar(sigma)
        .square()
        .neg()
        .exp2();
    let taps = &taps / taps.sum(Kind::Float);
    filter2d(img, &taps, Padding::default(), false, 1.0)
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::{LossConfig, StyleGan2Loss, blur};

    #[test]
    fn blur_sigma_fades_and_blur_preserves_mass() {
        let loss = StyleGan2Loss::new(
            LossConfig {
                blur_init_sigma: 10.0,
                blur_fade_kimg: 25.0,
                ..LossConfig::default()
            },
            Device::Cpu,
        );
        assert!((loss.blur_sigma(10_000) - 6.0).abs() < 1e-12);
        assert_eq!(loss.blur_sigma(30_000), 0.0);
        let img = Tensor::zeros([1, 2, 15, 15], (Kind::Float, Device::Cpu));
        let _ = img.narrow(2, 7, 1).narrow(3, 7, 1).fill_(1.0);
        let out = blur(&img, 1.0);
        assert!(
            (out.sum(Kind::Float).double_value(&[]) - 2.0).abs() < 1e-5,
            "a centred impulse keeps its mass"
        );
        assert_eq!(blur(&img, 0.2).size(), img.size());
        // Separable 2^(-k²) taps for σ = 1: the centre weight is 1/(Σ 2^(-k²))².
        let norm: f64 = (-3..=3).map(|k: i32| 2f64.powi(-(k * k))).sum();
        assert!((out.double_value(&[0, 0, 7, 7]) - 1.0 / (norm * norm)).abs() < 1e-6);
    }
}

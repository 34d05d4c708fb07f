//! The equivariance metrics of StyleGAN3 — `eqt50k_int`, `eqt50k_frac` and `eqr50k`
//! (`metrics/equivariance.py`, the official `metrics/equivariance.py`): the PSNR between images
//! rendered from a transformed input and the transformed reference images, with the operators of
//! [`crate::ops::equivariance`].
//!
//! No detector is involved; the generator must be a StyleGAN3 one (its input takes a transform).

use std::f64::consts::PI;

use tch::{Kind, Tensor};

use super::features::{GENERATOR_BATCH, Rendering};
use crate::data::Dataset;
use crate::nets::network::{GeneratorNet, NoiseMode};
use crate::nets::stylegan3::Stylegan3Generator;
use crate::ops::equivariance::{
    fractional_pseudo_rotation, fractional_rotation, fractional_translation, integer_translation,
    masked_error, psnr, rotation_matrix,
};

/// The transformation an equivariance metric checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Equivariance {
    /// EQ-T: translation by whole pixels.
    IntegerTranslation,
    /// EQ-T_frac: translation by fractions of a pixel.
    FractionalTranslation,
    /// EQ-R: rotation.
    Rotation,
}

/// Largest translation, as a fraction of the image size.
const TRANSLATE_MAX: f64 = 0.125;

/// One batch's masked squared error and mask sums for `kind`.
fn batch_sums(g: &Stylegan3Generator, ws: &Tensor, kind: Equivariance) -> (f64, f64) {
    let device = ws.device();
    let identity = Tensor::eye(3, (Kind::Float, device));
    let render = |transform: &Tensor| {
        g.set_input_transform(transform);
        g.synthesis(ws, NoiseMode::Const, false, false)
    };
    let orig = render(&identity);
    let resolution = g.config().shape.img_resolution;
    let random_shift = || {
        let t = (Tensor::rand([2], (Kind::Float, device)) * 2.0 - 1.0) * TRANSLATE_MAX;
        if kind == Equivariance::IntegerTranslation {
            #[expect(clippy::cast_precision_loss, reason = "small resolution")]
            let res = resolution as f64;
            (t * res).round() / res
        } else {
            t
        }
    };
    let (reference, image, mask) = match kind {
        Equivariance::IntegerTranslation | Equivariance::FractionalTranslation => {
            let t = random_shift();
            let transform = identity.copy();
            transform
                .narrow(0, 0, 2)
                .narrow(1, 2, 1)
                .copy_(&-t.reshape([2, 1]));
            let image = render(&transform);
            #[expect(clippy::cast_possible_truncation, reason = "float32 shifts")]
            let (tx, ty) = (t.double_value(&[0]) as f32, t.double_value(&[1]) as f32);
            let (reference, mask) = if kind == Equivariance::IntegerTranslation {
                integer_translation(&orig, tx, ty)
            } else {
                fractional_translation(&orig, tx, ty)
            };
            (reference, image, mask)
        }
        Equivariance::Rotation => {
            let angle = (Tensor::rand([], (Kind::Float, device)) * 2.0 - 1.0) * PI;
            #[expect(clippy::cast_possible_truncation, reason = "a float32 angle")]
            let angle = angle.double_value(&[]) as f32;
            let image = render(&rotation_matrix(-angle).to_device(device));
            let (reference, reference_mask) = fractional_rotation(&orig, angle);
            let (pseudo, pseudo_mask) = fractional_pseudo_rotation(&image, angle);
            (reference, pseudo, reference_mask * pseudo_mask)
        }
    };
    g.set_input_transform(&identity);
    masked_error(&reference, &image, &mask)
}

/// The equivariance PSNR (dB) of `g` over `num_samples` latents in batches of 4, with labels drawn
/// from `labels` for a conditional generator (zeros otherwise). Seeds the torch generator with
/// [`super::features::GENERATION_SEED`] like the other metrics; renders in float32 (the reference's
/// `force_fp32`).
pub fn equivariance_psnr(
    g: &Stylegan3Generator,
    kind: Equivariance,
    num_samples: usize,
    labels: Option<&Dataset>,
) -> f64 {
    let device = g.var_store().device();
    let mut rendering = Rendering::start(g, labels, true, ("samples", "equivariance", num_samples));
    let (mut error, mut mask) = (0.0, 0.0);
    tch::no_grad(|| {
        let mut done = 0;
        while done < num_samples {
            let z = Tensor::randn(
                [GENERATOR_BATCH, g.config().shape.z_dim],
                (Kind::Float, device),
            );
            let c = rendering.labels(GENERATOR_BATCH);
            let ws = g.mapping(&z, &c, 1.0, false);
            let (e, m) = batch_sums(g, &ws, kind);
            error += e;
            mask += m;
            done += usize::try_from(GENERATOR_BATCH).expect("positive");
            rendering.bar.set_position(done.min(num_samples) as u64);
        }
    });
    psnr(error, mask)
}

//! Perceptual path length — port of `metrics/perceptual_path_length.py` as `ppl2_wend` runs it
//! (`metrics/perceptual_path_length.py`): the LPIPS distance between images of two latents `ε`
//! apart in W, at path endpoints, divided by `ε²`, averaged between its 1st and 99th percentiles.
//!
//! Each batch of two follows the reference's draws on the torch generator: `t = rand([2])·0`
//! (endpoint sampling), `z0, z1 = randn([4, z_dim]).chunk(2)`, `w0, w1` from the mapping, then
//! every `noise_const` buffer redrawn with `randn_like` in module order, then synthesis with
//! `noise_mode='const'` in float32. The reference redraws the buffers of a deep copy of G; kimg
//! redraws G's own and puts them back afterwards, so a metric during training leaves the snapshot
//! untouched.

use tch::{Kind, Tensor};

use super::MetricError;
use super::detector::{Detector, Output};
use super::features::Rendering;
use crate::data::Dataset;
use crate::nets::network::{GeneratorNet, NoiseMode};

/// The step between the two latents (`epsilon` of `ppl2_wend`).
pub const EPSILON: f64 = 1e-4;

/// Path pairs per batch (`batch_size` of `ppl2_wend`).
pub const BATCH: i64 = 2;

/// Images larger than this are box-downsampled to it before LPIPS.
const LPIPS_RESOLUTION: i64 = 256;

/// The `noise_const` buffers of `generator` in the reference's module order (block resolution,
/// then layer name), e.g. `synthesis.b4.conv1`, `synthesis.b8.conv0`, `synthesis.b8.conv1`.
fn noise_buffers(generator: &dyn GeneratorNet) -> Vec<Tensor> {
    let mut named: Vec<((i64, String), Tensor)> = generator
        .var_store()
        .variables()
        .into_iter()
        .filter(|(name, _)| name.ends_with(".noise_const"))
        .map(|(name, tensor)| {
            let resolution = name
                .strip_prefix("synthesis.b")
                .and_then(|rest| rest.split('.').next())
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(i64::MAX);
            ((resolution, name), tensor)
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, tensor)| tensor).collect()
}

/// The differential LPIPS distances `Σ(Δ)²/ε²` of one batch of [`BATCH`] path pairs.
fn batch_distances(
    vgg16: &Detector,
    generator: &dyn GeneratorNet,
    c: &Tensor,
    noise: &mut [Tensor],
) -> Result<Tensor, MetricError> {
    let device = generator.var_store().device();
    let t = Tensor::rand([BATCH], (Kind::Float, device)) * 0.0;
    let z = Tensor::randn([2 * BATCH, generator.z_dim()], (Kind::Float, device));
    let ws = generator.mapping(&z, &Tensor::cat(&[c, c], 0), 1.0, false);
    let (w0, w1) = (ws.narrow(0, 0, BATCH), ws.narrow(0, BATCH, BATCH));
    let t = t.reshape([BATCH, 1, 1]);
    let wt0 = w0.lerp_tensor(&w1, &t);
    let wt1 = w0.lerp_tensor(&w1, &(&t + EPSILON));
    for buffer in noise.iter_mut() {
        buffer.copy_(&buffer.randn_like());
    }
    let mut img = generator.synthesis(&Tensor::cat(&[wt0, wt1], 0), NoiseMode::Const, false, false);
    let [n, channels, height, width] = img.size()[..] else {
        unreachable!("images are [N, C, H, W]")
    };
    let factor = height / LPIPS_RESOLUTION;
    if factor > 1 {
        img = img
            .reshape([n, channels, height / factor, factor, width / factor, factor])
            .mean_dim(&[3i64, 5][..], false, None);
    }
    let img = (img + 1.0) * (255.0 / 2.0);
    let lpips = vgg16.run(&img, Output::Lpips)?;
    let (t0, t1) = (lpips.narrow(0, 0, BATCH), lpips.narrow(0, BATCH, BATCH));
    Ok((t0 - t1).square().sum_dim_intlist(1, false, None) / (EPSILON * EPSILON))
}

/// The perceptual path length of `generator` over `num_samples` endpoint pairs in W: the
/// [`trimmed_mean`] of their [`path_distances`].
pub fn perceptual_path_length(
    vgg16: &Detector,
    generator: &dyn GeneratorNet,
    labels: Option<&Dataset>,
    num_samples: usize,
) -> Result<f64, MetricError> {
    Ok(trimmed_mean(&path_distances(
        vgg16,
        generator,
        labels,
        num_samples,
    )?))
}

/// The differential LPIPS distances of `num_samples` endpoint pairs in W, with labels drawn from
/// `labels` for a conditional generator (zeros otherwise). Seeds the torch generator like the
/// other metrics ([`Rendering`]); renders in float32 and restores the generator's noise buffers
/// and precision.
pub fn path_distances(
    vgg16: &Detector,
    generator: &dyn GeneratorNet,
    labels: Option<&Dataset>,
    num_samples: usize,
) -> Result<Vec<f32>, MetricError> {
    let mut noise = noise_buffers(generator);
    let saved: Vec<Tensor> = noise.iter().map(Tensor::copy).collect();
    let mut rendering = Rendering::start(
        generator,
        labels,
        true,
        ("samples", "perceptual path length", num_samples),
    );
    let mut distances = Vec::new();
    let result = tch::no_grad(|| -> Result<(), MetricError> {
        while distances.len() < num_samples {
            let c = rendering.labels(BATCH);
            let batch = batch_distances(vgg16, generator, &c, &mut noise)?;
            distances.extend(Vec::<f32>::try_from(&batch).expect("float32 distances"));
            rendering
                .bar
                .set_position(distances.len().min(num_samples) as u64);
        }
        Ok(())
    });
    tch::no_grad(|| {
        for (buffer, value) in noise.iter_mut().zip(&saved) {
            buffer.copy_(value);
        }
    });
    result?;
    distances.truncate(num_samples);
    Ok(distances)
}

/// The mean of the values between the 1st percentile (numpy's `interpolation='lower'`) and the
/// 99th (`'higher'`), both included, as `compute_ppl` takes it.
pub fn trimmed_mean(values: &[f32]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    sorted.sort_by(f64::total_cmp);
    #[expect(
        clippy::cast_precision_loss,
        reason = "sample counts are far below 2^52"
    )]
    let last = (sorted.len() - 1) as f64;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "indices within the slice"
    )]
    let (lo, hi) = (
        sorted[(0.01 * last).floor() as usize],
        sorted[(0.99 * last).ceil() as usize],
    );
    let kept: Vec<f64> = sorted
        .into_iter()
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    #[expect(
        clippy::cast_precision_loss,
        reason = "sample counts are far below 2^52"
    )]
    let count = kept.len() as f64;
    kept.iter().sum::<f64>() / count
}

#[cfg(test)]
mod tests {
    use super::trimmed_mean;

    #[test]
    fn the_trimmed_mean_keeps_the_1st_to_99th_percentile_as_numpy_picks_them() {
        // Ten values: the lower 1st percentile is the smallest and the higher 99th the largest.
        let ten: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        assert_eq!(trimmed_mean(&ten), 5.5);
        // 201 values 0…200: index 2 (= ⌊0.01·200⌋) and 198 (= ⌈0.99·200⌉) are the bounds, so
        // 0, 1, 199 and 200 are dropped; the mean of 2…198 is 100. A huge outlier changes nothing.
        let mut values: Vec<f32> = (0..=200).map(|v| v as f32).collect();
        assert_eq!(trimmed_mean(&values), 100.0);
        values[200] = 1e30;
        assert_eq!(trimmed_mean(&values), 100.0);
    }
}

//! Modulated convolutions: StyleGAN2's (`networks_stylegan2.modulated_conv2d`) with its
//! fused and non-fused forms, and StyleGAN3's (`networks_stylegan3.modulated_conv2d`, §6.6.1).

use tch::{Kind, Tensor};

use super::conv2d_resample::{Resample, conv2d_resample};

/// Options of the StyleGAN2 modulated convolution.
#[derive(Debug, Clone, Copy)]
pub struct ModConv<'a> {
    /// Resampling (up/down, padding, `flip_weight`).
    pub resample: Resample,
    /// The resampling filter.
    pub filter: Option<&'a Tensor>,
    /// Normalise each output channel's modulated weights.
    pub demodulate: bool,
    /// One grouped convolution with per-sample weights (eval) instead of scaling activations
    /// before and after a shared convolution (training).
    pub fused: bool,
}

/// StyleGAN2 `modulated_conv2d`: `x [N, I, H, W]`, `weight [O, I, kh, kw]`, `styles [N, I]`,
/// optional `noise` broadcastable to the output.
pub fn modulated_conv2d_sg2(
    x: &Tensor,
    weight: &Tensor,
    styles: &Tensor,
    noise: Option<&Tensor>,
    options: &ModConv<'_>,
) -> Tensor {
    let n = x.size()[0];
    let [out_channels, in_channels, kh, kw] = weight.size()[..] else {
        panic!("weight must be [O, I, kh, kw]")
    };
    // Float16 activations: pre-normalise weights and styles so nothing overflows.
    let (weight, styles) = if x.kind() == Kind::Half && options.demodulate {
        #[expect(clippy::cast_precision_loss, reason = "small kernels")]
        let fan_in = ((in_channels * kh * kw) as f64).sqrt();
        let w_max = weight.abs().amax([1i64, 2, 3].as_slice(), true);
        let s_max = styles.abs().amax([1i64].as_slice(), true);
        (weight / (w_max * fan_in), styles / s_max)
    } else {
        (weight.shallow_clone(), styles.shallow_clone())
    };
    let (weight, styles) = (&weight, &styles);
    let dtype = x.kind();
    let noise = noise.map(|noise| noise.to_kind(dtype));
    let noise = noise.as_ref();
    let modulated = (options.demodulate || options.fused)
        .then(|| weight.unsqueeze(0) * styles.reshape([n, 1, -1, 1, 1]));
    let dcoefs = options.demodulate.then(|| {
        let w = modulated.as_ref().expect("computed when demodulating");
        (w.square()
            .sum_dim_intlist([2i64, 3, 4].as_slice(), false, Kind::Float)
            + 1e-8)
            .rsqrt()
    });
    if !options.fused {
        let scaled = x * styles.to_kind(dtype).reshape([n, -1, 1, 1]);
        let y = conv2d_resample(&scaled, weight, options.filter, &options.resample);
        let dcoefs = dcoefs.map(|d| d.to_kind(dtype));
        return match (&dcoefs, noise) {
            // fma(x, d, noise) = x·d + noise.
            (Some(d), Some(noise)) => y * d.reshape([n, -1, 1, 1]) + noise,
            (Some(d), None) => y * d.reshape([n, -1, 1, 1]),
            (None, Some(noise)) => y + noise,
            (None, None) => y,
        };
    }
    let mut w = modulated.expect("computed when fused");
    if let Some(d) = &dcoefs {
        w = w * d.reshape([n, -1, 1, 1, 1]);
    }
    let grouped = x.reshape([1, -1, x.size()[2], x.size()[3]]);
    let w = w.reshape([-1, in_channels, kh, kw]);
    let resample = Resample {
        groups: n,
        ..options.resample
    };
    let y = conv2d_resample(&grouped, &w, options.filter, &resample);
    let y = y.reshape([n, out_channels, y.size()[2], y.size()[3]]);
    match noise {
        Some(noise) => y + noise,
        None => y,
    }
}

/// StyleGAN3 `modulated_conv2d`: weights normalised per output channel and styles by their RMS
/// over the whole batch before modulation (when demodulating); `input_gain` scales after
/// demodulation; always one grouped convolution with `padding`.
pub fn modulated_conv2d_sg3(
    x: &Tensor,
    weight: &Tensor,
    styles: &Tensor,
    demodulate: bool,
    padding: i64,
    input_gain: Option<&Tensor>,
) -> Tensor {
    let n = x.size()[0];
    let [out_channels, in_channels, kh, kw] = weight.size()[..] else {
        panic!("weight must be [O, I, kh, kw]")
    };
    let (weight, styles) = if demodulate {
        let w = weight
            * weight
                .square()
                .mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float)
                .rsqrt();
        let s = styles * styles.square().mean(Kind::Float).rsqrt();
        (w, s)
    } else {
        (weight.shallow_clone(), styles.shallow_clone())
    };
    let mut w = weight.unsqueeze(0) * styles.unsqueeze(1).unsqueeze(3).unsqueeze(4);
    if demodulate {
        let dcoefs = (w
            .square()
            .sum_dim_intlist([2i64, 3, 4].as_slice(), false, Kind::Float)
            + 1e-8)
            .rsqrt();
        w = w * dcoefs.unsqueeze(2).unsqueeze(3).unsqueeze(4);
    }
    if let Some(gain) = input_gain {
        w = w * gain
            .expand([n, in_channels], false)
            .unsqueeze(1)
            .unsqueeze(3)
            .unsqueeze(4);
    }
    let grouped = x.reshape([1, -1, x.size()[2], x.size()[3]]);
    let w = w.reshape([-1, in_channels, kh, kw]).to_kind(x.kind());
    let y = grouped.conv2d(&w, None::<Tensor>, [1, 1], [padding, padding], [1, 1], n);
    y.reshape([n, out_channels, y.size()[2], y.size()[3]])
}

//! Bias, upsampling, leaky ReLU and downsampling in one op — `torch_utils/ops/filtered_lrelu.py`,
//! the nonlinearity of every StyleGAN3 layer: its reference path composed of kimg's ops, and the
//! fused op of `kernels/` ([`super::fused`]).
//!
//! Upsampling before the activation and low-pass filtering after it keep the aliasing that a
//! pointwise nonlinearity creates below the output's Nyquist limit.

use tch::Tensor;

use super::bias_act::{Activation, BiasAct, bias_act};
use super::fused::{self, FilteredLreluArgs, FusedError};
use super::implementation::Impl;
use super::upfirdn2d::{
    Factor, Padding, Resampling, filter_size, fused_kind, pass_kernel, upfirdn2d,
};

/// Options of [`filtered_lrelu`] besides the tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilteredLrelu {
    /// Integer upsampling factor (both axes).
    pub up: i64,
    /// Integer downsampling factor (both axes).
    pub down: i64,
    /// Padding of the upsampled signal `[x0, x1, y0, y1]` (negative crops).
    pub padding: Padding,
    /// Scale after the activation.
    pub gain: f64,
    /// Negative slope of the leaky ReLU.
    pub slope: f64,
    /// Clamp after the activation (`None`: off).
    pub clamp: Option<f64>,
    /// Correlate instead of convolving with the filters.
    pub flip_filter: bool,
}

impl Default for FilteredLrelu {
    /// The reference defaults: no resampling, gain √2, slope 0.2, no clamp.
    fn default() -> Self {
        FilteredLrelu {
            up: 1,
            down: 1,
            padding: Padding::default(),
            gain: std::f64::consts::SQRT_2,
            slope: 0.2,
            clamp: None,
            flip_filter: false,
        }
    }
}

/// `filtered_lrelu(x, fu, fd, b, …)` on `x [N, C, H, W]`: add the bias `b [C]`, upsample by
/// `up` with `fu` (gain `up²`) and the padding, apply `lrelu(·, slope)·gain` and the clamp, then
/// filter with `fd` and keep every `down`-th sample. Filters are `None`, 1-D (separable) or 2-D.
/// Computed by the fused op ([`filtered_lrelu_fused`]) where [`Impl::on`] the device chooses it
/// (CUDA with the launchers compiled in, or forced by [`super::implementation::with_impl`]), else
/// by the composition of [`filtered_lrelu_reference`], whose resampling is polyphase unless the
/// reference ops are chosen (on the CPU the fused launcher is slower than both, see
/// `benches/ops.rs`).
pub fn filtered_lrelu(
    x: &Tensor,
    fu: Option<&Tensor>,
    fd: Option<&Tensor>,
    b: Option<&Tensor>,
    options: &FilteredLrelu,
) -> Tensor {
    if Impl::on(x.device()) == Impl::Fused {
        filtered_lrelu_fused(x, fu, fd, b, options)
            .unwrap_or_else(|error| panic!("fused filtered_lrelu: {error}"))
    } else {
        filtered_lrelu_reference(x, fu, fd, b, options)
    }
}

/// [`filtered_lrelu`] as one fused differentiable op of `kernels/`, on any device it has a
/// launcher for. It saves a mask of the activation's branches for a first-order backward (`x`
/// and `b` get gradients, the filters none); a gradient of that gradient is an error, as
/// StyleGAN3's training never asks for one. The error is the kernels' or libtorch's message.
pub fn filtered_lrelu_fused(
    x: &Tensor,
    fu: Option<&Tensor>,
    fd: Option<&Tensor>,
    b: Option<&Tensor>,
    options: &FilteredLrelu,
) -> Result<Tensor, FusedError> {
    let FilteredLrelu {
        up,
        down,
        padding,
        gain,
        slope,
        clamp,
        flip_filter,
    } = *options;
    #[expect(clippy::cast_precision_loss, reason = "small integer factor")]
    let up_gain = (up * up) as f64;
    let args = FilteredLreluArgs {
        up,
        down,
        padding: [padding.x0, padding.x1, padding.y0, padding.y1],
        gain,
        slope,
        clamp,
    };
    let on = (fused_kind(x), x.device());
    let ku = pass_kernel(fu, up_gain, flip_filter, on);
    let kd = pass_kernel(fd, 1.0, flip_filter, on);
    fused::filtered_lrelu(x, &ku, &kd, b, &args)
}

/// [`filtered_lrelu`] as the reference computes it: `bias_act`, `upfirdn2d`, `bias_act`,
/// `upfirdn2d`, each differentiable any number of times.
pub fn filtered_lrelu_reference(
    x: &Tensor,
    fu: Option<&Tensor>,
    fd: Option<&Tensor>,
    b: Option<&Tensor>,
    options: &FilteredLrelu,
) -> Tensor {
    let FilteredLrelu {
        up,
        down,
        padding,
        gain,
        slope,
        clamp,
        flip_filter,
    } = *options;
    let [_, _, in_h, in_w] = x.size()[..] else {
        panic!("filtered_lrelu expects [N, C, H, W], got {:?}", x.size())
    };
    let (fu_w, fu_h) = filter_size(fu);
    let (fd_w, fd_h) = filter_size(fd);
    let out_w = (in_w * up + padding.x0 + padding.x1 - (fu_w - 1) - (fd_w - 1) + (down - 1))
        .div_euclid(down);
    let out_h = (in_h * up + padding.y0 + padding.y1 - (fu_h - 1) - (fd_h - 1) + (down - 1))
        .div_euclid(down);
    let biased = bias_act(x, b, &BiasAct::new(Activation::Linear));
    #[expect(clippy::cast_precision_loss, reason = "small integer factor")]
    let up_gain = (up * up) as f64;
    let upsampling = Resampling {
        up: Factor::from(up),
        padding,
        flip_filter,
        gain: up_gain,
        ..Resampling::default()
    };
    let upsampled = upfirdn2d(&biased, fu, upsampling);
    let activated = bias_act(
        &upsampled,
        None,
        &BiasAct {
            alpha: Some(slope),
            gain: Some(gain),
            clamp,
            ..BiasAct::new(Activation::Lrelu)
        },
    );
    let downsampling = Resampling {
        down: Factor::from(down),
        flip_filter,
        ..Resampling::default()
    };
    let downsampled = upfirdn2d(&activated, fd, downsampling);
    downsampled.narrow(2, 0, out_h).narrow(3, 0, out_w)
}

//! 2-D convolution with optional up/downsampling — port of `torch_utils/ops/conv2d_resample.py`,
//! including its fast paths (strided and transposed convolutions), which compute the
//! canonical "upfirdn2d → conv2d → upfirdn2d" result up to float rounding.

use tch::Tensor;

use super::upfirdn2d::{Factor, Padding, Resampling, filter_size, upfirdn2d};

/// Arguments of [`conv2d_resample`] besides the tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resample {
    /// Integer upsampling factor.
    pub up: i64,
    /// Integer downsampling factor.
    pub down: i64,
    /// Padding with respect to the upsampled image.
    pub padding: Padding,
    /// Convolution groups.
    pub groups: i64,
    /// `true`: correlation (what `conv2d` does); `false`: true convolution.
    pub flip_weight: bool,
    /// `true`: correlate with the resampling filter instead of convolving.
    pub flip_filter: bool,
}

impl Default for Resample {
    fn default() -> Self {
        Resample {
            up: 1,
            down: 1,
            padding: Padding::default(),
            groups: 1,
            flip_weight: true,
            flip_filter: false,
        }
    }
}

/// `conv2d` or `conv_transpose2d` with the weight flipped when `flip_weight` is false.
fn conv(
    x: &Tensor,
    w: &Tensor,
    stride: i64,
    padding: [i64; 2],
    groups: i64,
    transpose: bool,
    flip_weight: bool,
) -> Tensor {
    let (kh, kw) = (w.size()[2], w.size()[3]);
    let w = if !flip_weight && (kw > 1 || kh > 1) {
        w.flip([2, 3])
    } else {
        w.shallow_clone()
    };
    if transpose {
        x.conv_transpose2d(
            &w,
            None::<Tensor>,
            [stride, stride],
            padding,
            [0, 0],
            groups,
            [1, 1],
        )
    } else {
        x.conv2d(
            &w,
            None::<Tensor>,
            [stride, stride],
            padding,
            [1, 1],
            groups,
        )
    }
}

/// Convolve `x [N, I, H, W]` with `w [O, I/groups, kh, kw]`, resampling with filter `f`.
pub fn conv2d_resample(x: &Tensor, w: &Tensor, f: Option<&Tensor>, options: &Resample) -> Tensor {
    // Float16 activations convolve with float16 weights (the reference casts them).
    let w = &w.to_kind(x.kind());
    let Resample {
        up,
        down,
        groups,
        flip_weight,
        flip_filter,
        ..
    } = *options;
    let [out_channels, in_per_group, kh, kw] = w.size()[..] else {
        panic!("weight must be 4-D, got {:?}", w.size())
    };
    let (fw, fh) = filter_size(f);
    let mut p = options.padding;
    if up > 1 {
        p.x0 += (fw + up - 1).div_euclid(2);
        p.x1 += (fw - up).div_euclid(2);
        p.y0 += (fh + up - 1).div_euclid(2);
        p.y1 += (fh - up).div_euclid(2);
    }
    if down > 1 {
        p.x0 += (fw - down + 1).div_euclid(2);
        p.x1 += (fw - down).div_euclid(2);
        p.y0 += (fh - down + 1).div_euclid(2);
        p.y1 += (fh - down).div_euclid(2);
    }
    #[expect(clippy::cast_precision_loss, reason = "small factors")]
    let up_gain = (up * up) as f64;
    let filtering = Resampling {
        padding: p,
        flip_filter,
        ..Resampling::default()
    };

    // 1×1 with downsampling only: downsample first, then convolve.
    if kw == 1 && kh == 1 && down > 1 && up == 1 {
        let downsampling = Resampling {
            down: Factor::from(down),
            ..filtering
        };
        let y = upfirdn2d(x, f, downsampling);
        return conv(&y, w, 1, [0, 0], groups, false, flip_weight);
    }
    // 1×1 with upsampling only: convolve first, then upsample.
    if kw == 1 && kh == 1 && up > 1 && down == 1 {
        let y = conv(x, w, 1, [0, 0], groups, false, flip_weight);
        let upsampling = Resampling {
            up: Factor::from(up),
            gain: up_gain,
            ..filtering
        };
        return upfirdn2d(&y, f, upsampling);
    }
    // Downsampling only: filter, then a strided convolution.
    if down > 1 && up == 1 {
        let y = upfirdn2d(x, f, filtering);
        return conv(&y, w, down, [0, 0], groups, false, flip_weight);
    }
    // Upsampling (with optional downsampling): a transposed strided convolution, then the filter.
    if up > 1 {
        let w = if groups == 1 {
            w.transpose(0, 1)
        } else {
            w.reshape([groups, out_channels / groups, in_per_group, kh, kw])
                .transpose(1, 2)
                .reshape([groups * in_per_group, out_channels / groups, kh, kw])
        };
        p.x0 -= kw - 1;
        p.x1 -= kw - up;
        p.y0 -= kh - 1;
        p.y1 -= kh - up;
        let pxt = (-p.x0).min(-p.x1).max(0);
        let pyt = (-p.y0).min(-p.y1).max(0);
        let y = conv(x, &w, up, [pyt, pxt], groups, true, !flip_weight);
        let shifted = Padding::new(p.x0 + pxt, p.x1 + pxt, p.y0 + pyt, p.y1 + pyt);
        let shifted = Resampling {
            padding: shifted,
            gain: up_gain,
            ..filtering
        };
        let y = upfirdn2d(&y, f, shifted);
        return if down > 1 {
            let downsampling = Resampling {
                down: Factor::from(down),
                flip_filter,
                ..Resampling::default()
            };
            upfirdn2d(&y, f, downsampling)
        } else {
            y
        };
    }
    // No resampling and symmetric non-negative padding: a plain convolution.
    if p.x0 == p.x1 && p.y0 == p.y1 && p.x0 >= 0 && p.y0 >= 0 {
        return conv(x, w, 1, [p.y0, p.x0], groups, false, flip_weight);
    }
    // No resampling with asymmetric or cropping padding: pad, then a valid convolution.
    let y = upfirdn2d(x, None, filtering);
    conv(&y, w, 1, [0, 0], groups, false, flip_weight)
}

//! Upsample, pad, FIR-filter and downsample — port of `torch_utils/ops/upfirdn2d.py`'s reference
//! path and its wrappers `setup_filter`, `filter2d`, `upsample2d`, `downsample2d`.
//!
//! Filters are 2-D `[fh, fw]` or 1-D `[f]`; 1-D filters are separable (applied along x, then y).
//! [`upfirdn2d`] chooses between the reference path, the polyphase path (ATen's strided and
//! transposed convolutions, which skip the inserted zeros and the discarded samples) and the
//! fused op of `kernels/` ([`super::fused`]).

use tch::{Kind, Tensor};

use super::fused::{self, FusedError, UpfirdnArgs};
use super::implementation::Impl;

/// Per-axis integer pair `(x, y)`, as the reference's `up`/`down` (an int or `[x, y]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factor {
    /// Along x (width).
    pub x: i64,
    /// Along y (height).
    pub y: i64,
}

impl From<i64> for Factor {
    fn from(v: i64) -> Self {
        Factor { x: v, y: v }
    }
}

/// Padding `[x0, x1, y0, y1]` (negative values crop), as the reference's `padding` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    /// Left.
    pub x0: i64,
    /// Right.
    pub x1: i64,
    /// Top.
    pub y0: i64,
    /// Bottom.
    pub y1: i64,
}

impl Padding {
    /// The same padding on every side.
    pub fn all(p: i64) -> Padding {
        Padding {
            x0: p,
            x1: p,
            y0: p,
            y1: p,
        }
    }

    /// `[px, py]`: `px` left and right, `py` top and bottom.
    pub fn xy(px: i64, py: i64) -> Padding {
        Padding {
            x0: px,
            x1: px,
            y0: py,
            y1: py,
        }
    }

    /// `[x0, x1, y0, y1]`.
    pub fn new(x0: i64, x1: i64, y0: i64, y1: i64) -> Padding {
        Padding { x0, x1, y0, y1 }
    }
}

/// What `upfirdn2d` does around the filter: the reference's `up`, `down`, `padding`,
/// `flip_filter` and `gain` arguments. The default changes nothing (factors 1, no padding, a true
/// convolution, gain 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resampling {
    /// Zero-insertion upsampling factor.
    pub up: Factor,
    /// Decimation factor.
    pub down: Factor,
    /// Padding after upsampling (negative values crop).
    pub padding: Padding,
    /// Correlate instead of convolving.
    pub flip_filter: bool,
    /// Overall gain, applied as `gain^(ndim/2)` to the filter.
    pub gain: f64,
}

impl Default for Resampling {
    fn default() -> Resampling {
        Resampling {
            up: Factor::from(1),
            down: Factor::from(1),
            padding: Padding::default(),
            flip_filter: false,
            gain: 1.0,
        }
    }
}

/// `setup_filter`: taps as float32; 1-D filters with fewer than 8 taps become 2-D outer products
/// unless `separable` says otherwise; normalised to sum 1, flipped if asked, scaled by
/// `gain^(ndim/2)`.
pub fn setup_filter(
    taps: &Tensor,
    normalize: bool,
    flip: bool,
    gain: f64,
    separable: Option<bool>,
) -> Tensor {
    let mut f = taps.to_kind(Kind::Float);
    if f.dim() == 0 {
        f = f.reshape([1]);
    }
    let separable = separable.unwrap_or(f.dim() == 1 && f.size()[0] >= 8);
    if f.dim() == 1 && !separable {
        f = f.outer(&f);
    }
    if normalize {
        f = &f / f.sum(Kind::Float);
    }
    if flip {
        f = flipped(&f);
    }
    #[expect(clippy::cast_precision_loss, reason = "ndim is 1 or 2")]
    let exponent = f.dim() as f64 / 2.0;
    f * gain.powf(exponent)
}

/// `f` reversed along every axis.
fn flipped(f: &Tensor) -> Tensor {
    let dims: Vec<i64> = (0..i64::try_from(f.dim()).expect("small")).collect();
    f.flip(dims.as_slice())
}

/// The filter `f` as a correlation kernel: flipped for a true convolution, as is when
/// `flip_filter` asks for a correlation.
pub(crate) fn correlation_kernel(f: Tensor, flip_filter: bool) -> Tensor {
    if flip_filter { f } else { flipped(&f) }
}

/// The correlation kernel one pass takes for the filter `f` with an overall `gain`: `gain` on a
/// 2-D filter, `√gain` on a 1-D one (applied twice, along x and along y), the 1×1 kernel `[gain]`
/// for none; detached (the filter gets no gradient), in `kind` on `device`.
pub(crate) fn pass_kernel(
    f: Option<&Tensor>,
    gain: f64,
    flip_filter: bool,
    (kind, device): (Kind, tch::Device),
) -> Tensor {
    match f {
        None => Tensor::full([1, 1], gain, (kind, device)),
        Some(f) => {
            let scale = if f.dim() == 1 { gain.sqrt() } else { gain };
            correlation_kernel(
                f.detach().to_kind(kind).to_device(device) * scale,
                flip_filter,
            )
        }
    }
}

/// The dtype the fused kernels compute `x` with: float64 for float64, else float32.
pub(crate) fn fused_kind(x: &Tensor) -> Kind {
    if x.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    }
}

/// `(fw, fh)` of a filter: 1×1 for none, `(n, n)` for a 1-D filter.
pub fn filter_size(f: Option<&Tensor>) -> (i64, i64) {
    match f {
        None => (1, 1),
        Some(f) if f.dim() == 1 => (f.size()[0], f.size()[0]),
        Some(f) => (f.size()[1], f.size()[0]),
    }
}

/// `upfirdn2d` on `x [N, C, H, W]`: zero-insertion upsampling, padding/cropping, FIR filtering
/// (true convolution unless `flip_filter`), decimation. Computed by the implementation
/// [`Impl::on`] chooses: on CUDA, with the fused kernels compiled in (the `cuda` feature), fused
/// ops ([`upfirdn2d_fused`]); else polyphase convolutions ([`upfirdn2d_polyphase`]); the
/// reference ops ([`upfirdn2d_reference`]) under `KIMG_OPS=reference`.
pub fn upfirdn2d(x: &Tensor, f: Option<&Tensor>, resampling: Resampling) -> Tensor {
    match Impl::on(x.device()) {
        Impl::Reference => upfirdn2d_reference(x, f, resampling),
        Impl::Polyphase => upfirdn2d_polyphase(x, f, resampling),
        Impl::Fused => upfirdn2d_fused(x, f, resampling)
            .unwrap_or_else(|error| panic!("fused upfirdn2d: {error}")),
    }
}

/// [`upfirdn2d`] as fused differentiable ops of `kernels/` on any device they have a launcher
/// for: every output element reads only the taps that meet input samples, and the filter gets no
/// gradient, as in the reference. A separable (1-D) filter runs as two passes, along x then along
/// y, as the reference's CUDA path runs it. The error is the kernels' or libtorch's message.
pub fn upfirdn2d_fused(
    x: &Tensor,
    f: Option<&Tensor>,
    resampling: Resampling,
) -> Result<Tensor, FusedError> {
    let (up, down, padding) = (resampling.up, resampling.down, resampling.padding);
    let on = (fused_kind(x), x.device());
    let Some(taps) = f.filter(|f| f.dim() == 1) else {
        let k = pass_kernel(f, resampling.gain, resampling.flip_filter, on);
        let args = UpfirdnArgs {
            up: [up.x, up.y],
            down: [down.x, down.y],
            padding: [padding.x0, padding.x1, padding.y0, padding.y1],
        };
        return fused::upfirdn2d(x, &k, &args);
    };
    let taps = pass_kernel(Some(taps), resampling.gain, resampling.flip_filter, on);
    let along_x = UpfirdnArgs {
        up: [up.x, 1],
        down: [down.x, 1],
        padding: [padding.x0, padding.x1, 0, 0],
    };
    let along_y = UpfirdnArgs {
        up: [1, up.y],
        down: [1, down.y],
        padding: [0, 0, padding.y0, padding.y1],
    };
    let x = fused::upfirdn2d(x, &taps.unsqueeze(0), &along_x)?;
    fused::upfirdn2d(&x, &taps.unsqueeze(1), &along_y)
}

/// [`upfirdn2d`] as polyphase resampling through ATen's depthwise convolutions, on any device:
/// upsampling is a transposed convolution of stride `up` (each output sample reads only the taps
/// that meet input samples, no zeros are inserted), downsampling a convolution of stride `down`
/// (only the kept samples are computed), padding is the convolutions' own where it is symmetric
/// and a pad or crop of the remainder. A separable (1-D) filter runs as two passes, along x then
/// along y. The result differs from [`upfirdn2d_reference`]'s by summation order only; the filter
/// gets no gradient, as in the reference.
pub fn upfirdn2d_polyphase(x: &Tensor, f: Option<&Tensor>, resampling: Resampling) -> Tensor {
    let Resampling {
        up,
        down,
        padding,
        flip_filter,
        gain,
    } = resampling;
    let kernel = |f: Option<&Tensor>| pass_kernel(f, gain, flip_filter, (x.kind(), x.device()));
    match f {
        None if up == Factor::from(1) => {
            let y = pad_or_crop(x, padding);
            let y = if down == Factor::from(1) {
                y
            } else {
                y.slice(2, 0, None, down.y).slice(3, 0, None, down.x)
            };
            if gain == 1.0 { y } else { y * gain }
        }
        Some(f) if f.dim() == 1 => {
            let taps = kernel(Some(f));
            let along_x = polyphase_pass(
                x,
                &taps.unsqueeze(0),
                Factor { x: up.x, y: 1 },
                Factor { x: down.x, y: 1 },
                Padding::new(padding.x0, padding.x1, 0, 0),
            );
            polyphase_pass(
                &along_x,
                &taps.unsqueeze(1),
                Factor { x: 1, y: up.y },
                Factor { x: 1, y: down.y },
                Padding::new(0, 0, padding.y0, padding.y1),
            )
        }
        // No filter (with upsampling) or a 2-D one: a single pass.
        _ => polyphase_pass(x, &kernel(f), up, down, padding),
    }
}

/// `x` padded by `padding`, then cropped where it is negative (so that a crop may take what the
/// other side's padding added); `x` itself when there is nothing to do.
fn pad_or_crop(x: &Tensor, padding: Padding) -> Tensor {
    let Padding { x0, x1, y0, y1 } = padding;
    let mut y = if x0.max(x1).max(y0).max(y1) > 0 {
        x.constant_pad_nd([x0.max(0), x1.max(0), y0.max(0), y1.max(0)])
    } else {
        x.shallow_clone()
    };
    for (dim, index, before, after) in [(2, 2, y0, y1), (3, 3, x0, x1)] {
        if before < 0 || after < 0 {
            let (before, after) = ((-before).max(0), (-after).max(0));
            y = y.narrow(dim, before, y.size()[index] - before - after);
        }
    }
    y
}

/// One polyphase upfirdn2d pass on `x [N, C, H, W]` with the 2-D correlation kernel `k [kh, kw]`
/// (already flipped and scaled), see [`upfirdn2d_polyphase`].
fn polyphase_pass(x: &Tensor, k: &Tensor, up: Factor, down: Factor, padding: Padding) -> Tensor {
    let [_, c, _, _] = x.size()[..] else {
        panic!("upfirdn2d expects [N, C, H, W], got {:?}", x.size())
    };
    let (kh, kw) = (k.size()[0], k.size()[1]);
    let depthwise = |k: &Tensor| {
        k.reshape([1, 1, kh, kw])
            .expand([c, 1, kh, kw], false)
            .contiguous()
    };
    if up == Factor::from(1) {
        // Output i correlates padded samples i·down …: a strided valid correlation, with the
        // symmetric part of the padding done by the convolution.
        let (sx, sy) = (
            padding.x0.min(padding.x1).max(0),
            padding.y0.min(padding.y1).max(0),
        );
        let rest = Padding::new(
            padding.x0 - sx,
            padding.x1 - sx,
            padding.y0 - sy,
            padding.y1 - sy,
        );
        return pad_or_crop(x, rest).conv2d(
            &depthwise(k),
            None::<Tensor>,
            [down.y, down.x],
            [sy, sx],
            [1, 1],
            c,
        );
    }
    // Upsampled and filtered, sample t is the full transposed convolution (stride `up`, the
    // kernel flipped back to a convolution) at t + K − 1 − p0: the convolution crops what it can
    // symmetrically, a pad or crop does the rest, then decimation keeps every `down`-th sample.
    let span = |up: i64, taps: i64, p0: i64, p1: i64| {
        let (start, end) = (taps - 1 - p0, taps - up - p1);
        let trim = start.min(end).max(0);
        (trim, start - trim, end - trim)
    };
    let (trim_x, start_x, end_x) = span(up.x, kw, padding.x0, padding.x1);
    let (trim_y, start_y, end_y) = span(up.y, kh, padding.y0, padding.y1);
    let y = x.conv_transpose2d(
        &depthwise(&k.flip([0, 1])),
        None::<Tensor>,
        [up.y, up.x],
        [trim_y, trim_x],
        [0, 0],
        c,
        [1, 1],
    );
    let y = pad_or_crop(&y, Padding::new(-start_x, -end_x, -start_y, -end_y));
    if down == Factor::from(1) {
        y
    } else {
        y.slice(2, 0, None, down.y).slice(3, 0, None, down.x)
    }
}

/// [`upfirdn2d`] as the reference computes it on the CPU: padding and a depthwise convolution.
pub fn upfirdn2d_reference(x: &Tensor, f: Option<&Tensor>, resampling: Resampling) -> Tensor {
    let Resampling {
        up,
        down,
        padding,
        flip_filter,
        gain,
    } = resampling;
    let [n, c, h, w] = x.size()[..] else {
        panic!("upfirdn2d expects [N, C, H, W], got {:?}", x.size())
    };
    // Upsample by inserting zeros after every sample.
    let mut y = x.reshape([n, c, h, 1, w, 1]);
    y = y.constant_pad_nd([0, up.x - 1, 0, 0, 0, up.y - 1]);
    y = y.reshape([n, c, h * up.y, w * up.x]);
    // Pad (positive) then crop (negative).
    y = y.constant_pad_nd([
        padding.x0.max(0),
        padding.x1.max(0),
        padding.y0.max(0),
        padding.y1.max(0),
    ]);
    let (ph, pw) = (y.size()[2], y.size()[3]);
    let (top, bottom) = ((-padding.y0).max(0), (-padding.y1).max(0));
    let (left, right) = ((-padding.x0).max(0), (-padding.x1).max(0));
    y = y
        .narrow(2, top, ph - top - bottom)
        .narrow(3, left, pw - left - right);
    // Filter: scale, flip for a true convolution, depthwise valid correlation.
    let ones;
    let f = match f {
        Some(f) => f,
        None => {
            ones = Tensor::ones([1, 1], (Kind::Float, x.device()));
            &ones
        }
    };
    #[expect(clippy::cast_precision_loss, reason = "ndim is 1 or 2")]
    let exponent = f.dim() as f64 / 2.0;
    let f = correlation_kernel((f * gain.powf(exponent)).to_kind(y.kind()), flip_filter);
    let depthwise = |y: &Tensor, weight: &Tensor| {
        let shape: Vec<i64> = [c, 1].into_iter().chain(weight.size()).collect();
        let weight = weight
            .unsqueeze(0)
            .unsqueeze(0)
            .expand(shape.as_slice(), false)
            .contiguous();
        y.conv2d(&weight, None::<Tensor>, [1, 1], [0, 0], [1, 1], c)
    };
    y = if f.dim() == 2 {
        depthwise(&y, &f)
    } else {
        let along_x = depthwise(&y, &f.unsqueeze(0));
        depthwise(&along_x, &f.unsqueeze(1))
    };
    // Decimate.
    if down.x > 1 || down.y > 1 {
        y = y.slice(2, 0, None, down.y).slice(3, 0, None, down.x);
    }
    y
}

/// Filter without changing the size (`filter2d`).
pub fn filter2d(x: &Tensor, f: &Tensor, padding: Padding, flip_filter: bool, gain: f64) -> Tensor {
    let resampling = Resampling {
        padding,
        flip_filter,
        gain,
        ..Resampling::default()
    };
    upfirdn2d_scaled(x, Some(f), resampling)
}

/// Upsample by `up` (`upsample2d`): output is `up`× the size.
pub fn upsample2d(
    x: &Tensor,
    f: Option<&Tensor>,
    up: Factor,
    padding: Padding,
    flip_filter: bool,
    gain: f64,
) -> Tensor {
    #[expect(clippy::cast_precision_loss, reason = "small factors")]
    let gain = gain * (up.x * up.y) as f64;
    let resampling = Resampling {
        up,
        padding,
        flip_filter,
        gain,
        ..Resampling::default()
    };
    upfirdn2d_scaled(x, f, resampling)
}

/// Downsample by `down` (`downsample2d`): output is the size divided by `down`.
pub fn downsample2d(
    x: &Tensor,
    f: Option<&Tensor>,
    down: Factor,
    padding: Padding,
    flip_filter: bool,
    gain: f64,
) -> Tensor {
    let resampling = Resampling {
        down,
        padding,
        flip_filter,
        gain,
        ..Resampling::default()
    };
    upfirdn2d_scaled(x, f, resampling)
}

/// [`upfirdn2d`] with `resampling.padding` widened by what the filter takes away, so that the
/// output is the input's size · up / down — the padding of `filter2d`, `upsample2d` and
/// `downsample2d` (where one factor is 1): per axis, `(f + up - down) // 2` before and
/// `(f - up - down + 1) // 2` after, for a filter of `f` taps.
fn upfirdn2d_scaled(x: &Tensor, f: Option<&Tensor>, resampling: Resampling) -> Tensor {
    let (fw, fh) = filter_size(f);
    let Resampling { up, down, .. } = resampling;
    let p = resampling.padding;
    let padding = Padding::new(
        p.x0 + (fw + up.x - down.x).div_euclid(2),
        p.x1 + (fw - up.x - down.x + 1).div_euclid(2),
        p.y0 + (fh + up.y - down.y).div_euclid(2),
        p.y1 + (fh - up.y - down.y + 1).div_euclid(2),
    );
    upfirdn2d(
        x,
        f,
        Resampling {
            padding,
            ..resampling
        },
    )
}

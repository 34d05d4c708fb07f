//! Upsample, pad, FIR-filter and downsample — port of `torch_utils/ops/upfirdn2d.py`'s reference
//! path and its wrappers `setup_filter`, `filter2d`, `upsample2d`, `downsample2d`.
//!
//! Filters are 2-D `[fh, fw]` or 1-D `[f]`; 1-D filters are separable (applied along x, then y).
//! [`upfirdn2d`] chooses between the reference path and the fused op of `kernels/`
//! ([`super::fused`]).

use tch::{Kind, Tensor};

use super::fused::{self, FusedError, Impl, UpfirdnArgs};

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
/// [`Impl::on`] the device chooses: on CUDA, with the fused kernels compiled in (the `cuda`
/// feature), fused ops ([`upfirdn2d_fused`]); else the reference ops ([`upfirdn2d_reference`]).
pub fn upfirdn2d(x: &Tensor, f: Option<&Tensor>, resampling: Resampling) -> Tensor {
    match Impl::on(x.device()) {
        Impl::Reference => upfirdn2d_reference(x, f, resampling),
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
    let kind = if x.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    };
    let Some(taps) = f.filter(|f| f.dim() == 1) else {
        let k = match f {
            None => Tensor::full([1, 1], resampling.gain, (kind, x.device())),
            Some(f) => correlation_kernel(
                f.to_kind(kind).to_device(x.device()) * resampling.gain,
                resampling.flip_filter,
            ),
        };
        let args = UpfirdnArgs {
            up: [up.x, up.y],
            down: [down.x, down.y],
            padding: [padding.x0, padding.x1, padding.y0, padding.y1],
        };
        return fused::upfirdn2d(x, &k, &args);
    };
    let taps = correlation_kernel(
        taps.to_kind(kind).to_device(x.device()) * resampling.gain.powf(0.5),
        resampling.flip_filter,
    );
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

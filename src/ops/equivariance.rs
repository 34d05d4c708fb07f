//! The image operators of StyleGAN3's equivariance metrics (paper appendix E;
//! `metrics/equivariance.py`: `eqt50k_int`, `eqt50k_frac`, `eqr50k`): integer and fractional
//! (Lanczos) translation, band-limited rotation and "pseudo-rotation", each returning the
//! transformed images and a mask of the valid region.
//!
//! A StyleGAN3 generator `G` is equivariant when rendering with the input transformed (the
//! generator's `set_input_transform`) equals transforming the rendered image; [`psnr`] measures
//! the difference.

use std::f64::consts::PI;

use tch::{Kind, Tensor};

use super::upfirdn2d::{Factor, Padding, filter2d, upsample2d};

/// Lanczos half-width of the translation and rotation filters.
const LANCZOS_A: i64 = 3;

/// `sin(πx)/(πx)`, 1 at 0, elementwise in the tensor's precision.
fn sinc(x: &Tensor) -> Tensor {
    let y = (x * PI).abs();
    let z = y.sin() / y.clamp_min(1e-30);
    z.where_self(&y.ge(1e-30), &x.ones_like())
}

/// The Lanczos window `sinc(x/a)` on `|x| < a`, 0 outside.
fn lanczos_window(x: &Tensor, a: i64) -> Tensor {
    #[expect(clippy::cast_precision_loss, reason = "small window")]
    let x = x.abs() / a as f64;
    sinc(&x).where_self(&x.lt(1.0), &x.zeros_like())
}

/// The float32 3×3 matrix `[[cos a, sin a, 0], [−sin a, cos a, 0], [0, 0, 1]]`.
pub fn rotation_matrix(angle: f32) -> Tensor {
    let angle = Tensor::from(angle);
    let (c, s) = (angle.cos(), angle.sin());
    let (zero, one) = (angle.zeros_like(), angle.ones_like());
    Tensor::stack(&[&c, &s, &zero, &-&s, &c, &zero, &zero, &zero, &one], 0).reshape([3, 3])
}

/// Shift `x [N, C, H, W]` by `(tx·W, ty·H)` pixels rounded to integers (operator `T_x`, E.1);
/// vacated pixels are 0 and masked out.
pub fn integer_translation(x: &Tensor, tx: f32, ty: f32) -> (Tensor, Tensor) {
    let [_, _, h, w] = x.size()[..] else {
        panic!("expected [N, C, H, W]")
    };
    let pixels = |t: f32, size: i64| {
        #[expect(clippy::cast_precision_loss, reason = "small sizes")]
        let scaled = Tensor::from(t) * size as f64;
        scaled.round().int64_value(&[])
    };
    let (ix, iy) = (pixels(tx, w), pixels(ty, h));
    let z = x.zeros_like();
    let m = x.zeros_like();
    if ix.abs() < w && iy.abs() < h {
        let (rows, cols) = (h - iy.abs(), w - ix.abs());
        let source = x
            .narrow(2, (-iy).max(0), rows)
            .narrow(3, (-ix).max(0), cols);
        let target = |t: &Tensor| t.narrow(2, iy.max(0), rows).narrow(3, ix.max(0), cols);
        target(&z).copy_(&source);
        let _ = target(&m).fill_(1.0);
    }
    (z, m)
}

/// Shift `x` by `(tx·W, ty·H)` fractional pixels with a separable 6-tap Lanczos (a = 3)
/// interpolation filter (operator `T_x`, E.2); the mask keeps pixels whose whole filter support
/// lies inside the image.
pub fn fractional_translation(x: &Tensor, tx: f32, ty: f32) -> (Tensor, Tensor) {
    let [_, _, h, w] = x.size()[..] else {
        panic!("expected [N, C, H, W]")
    };
    let a = LANCZOS_A;
    let b = a - 1;
    #[expect(clippy::cast_precision_loss, reason = "small sizes")]
    let split = |t: f32, size: i64| {
        let scaled = Tensor::from(t) * size as f64;
        let whole = scaled.floor().to_kind(Kind::Int64);
        let frac = &scaled - &whole;
        (whole.int64_value(&[]), frac)
    };
    let (ix, fx) = split(tx, w);
    let (iy, fy) = split(ty, h);
    let z = x.zeros_like();
    let (zx0, zy0) = ((ix - b).max(0), (iy - b).max(0));
    let (zx1, zy1) = ((ix + a).min(0) + w, (iy + a).min(0) + h);
    if zx0 < zx1 && zy0 < zy1 {
        let taps = Tensor::arange(a * 2, (Kind::Int64, x.device())) - b;
        let lanczos = |f: &Tensor| {
            let d = &taps - f.to_device(x.device());
            #[expect(clippy::cast_precision_loss, reason = "small window")]
            let taps = sinc(&d) * sinc(&(&d / a as f64));
            &taps / taps.sum(Kind::Float)
        };
        let filter_x = lanczos(&fx).unsqueeze(0);
        let filter_y = lanczos(&fy).unsqueeze(1);
        let y = filter2d(x, &filter_x, Padding::new(b, a, 0, 0), false, 1.0);
        let y = filter2d(&y, &filter_y, Padding::new(0, 0, b, a), false, 1.0);
        let (y0, x0) = ((b - iy).max(0), (b - ix).max(0));
        let y1 = h + b + a + (-iy - a).min(0);
        let x1 = w + b + a + (-ix - a).min(0);
        let y = y.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0);
        z.narrow(2, zy0, zy1 - zy0)
            .narrow(3, zx0, zx1 - zx0)
            .copy_(&y);
    }
    let m = x.zeros_like();
    let (mx0, my0) = ((ix + a).max(0), (iy + a).max(0));
    let (mx1, my1) = ((ix - b).min(0) + w, (iy - b).min(0) + h);
    if mx0 < mx1 && my0 < my1 {
        let _ = m
            .narrow(2, my0, my1 - my0)
            .narrow(3, mx0, mx1 - mx0)
            .fill_(1.0);
    }
    (z, m)
}

/// 2-D circular convolution of two equally sized real grids via the FFT.
fn circular_convolution(a: &Tensor, b: &Tensor) -> Tensor {
    let spectrum = a.fft_fftn(None::<&[i64]>, None::<&[i64]>, "backward")
        * b.fft_fftn(None::<&[i64]>, None::<&[i64]>, "backward");
    spectrum
        .fft_ifftn(None::<&[i64]>, None::<&[i64]>, "backward")
        .real()
}

/// An oriented low-pass filter band-limiting both the input and the output of the affine image
/// transform `mat` (3×3, float32): the convolution of two oriented sinc filters windowed by the
/// convolution of two oriented Lanczos windows of half-width `a`, cropped to `amax`, as a
/// polyphase filter for upsampling by `up`; `[amax·2·up − 1]²` taps.
pub fn affine_bandlimit_filter(mat: &Tensor, a: i64, amax: i64, up: i64) -> Tensor {
    const SUPPORT: i64 = 64;
    assert!(a <= amax && amax < SUPPORT, "need a ≤ amax < {SUPPORT}");
    let device = mat.device();
    let mat = mat.to_kind(Kind::Float);
    // Tap coordinates in input space, rolled so that 0 is the first sample.
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let taps = ((Tensor::arange(SUPPORT * up * 2 - 1, (Kind::Int64, device)) + 1) / up as f64
        - SUPPORT as f64)
        .roll([1 - SUPPORT * up], [0]);
    let grids = Tensor::meshgrid_indexing(&[&taps, &taps], "ij");
    let (yi, xi) = (&grids[0], &grids[1]);
    let output = Tensor::stack(&[xi, yi], 2).matmul(&mat.narrow(0, 0, 2).narrow(1, 0, 2).tr());
    let (xo, yo) = (output.select(2, 0), output.select(2, 1));
    let f = circular_convolution(&(sinc(xi) * sinc(yi)), &(sinc(&xo) * sinc(&yo)));
    let w = circular_convolution(
        &(lanczos_window(xi, a) * lanczos_window(yi, a)),
        &(lanczos_window(&xo, a) * lanczos_window(&yo, a)),
    );
    let f = f * w;
    let c = (SUPPORT - amax) * up;
    let n = f.size()[0];
    let f = f
        .roll([SUPPORT * up - 1, SUPPORT * up - 1], [0, 1])
        .narrow(0, c, n - 2 * c)
        .narrow(1, c, n - 2 * c);
    let f = f
        .constant_pad_nd([0, 1, 0, 1])
        .reshape([amax * 2, up, amax * 2, up]);
    #[expect(clippy::cast_precision_loss, reason = "small factor")]
    let f = &f / f.sum_dim_intlist([0i64, 2].as_slice(), true, Kind::Float) / (up * up) as f64;
    let size = amax * 2 * up;
    f.reshape([size, size])
        .narrow(0, 0, size - 1)
        .narrow(1, 0, size - 1)
}

/// Rotate `x [N, C, H, W]` by `angle` radians with a band-limited filter (operator `R_α`, E.3):
/// upsample 4× through [`affine_bandlimit_filter`], resample bilinearly on the rotated grid.
pub fn fractional_rotation(x: &Tensor, angle: f32) -> (Tensor, Tensor) {
    const UP: i64 = 4;
    let [n, _, h, w] = x.size()[..] else {
        panic!("expected [N, C, H, W]")
    };
    let mat = rotation_matrix(angle).to_device(x.device());
    let f = affine_bandlimit_filter(&mat, LANCZOS_A, LANCZOS_A * 2, UP);
    let p = f.size()[0] / 2;
    // The sampling grid of the output in the upsampled, padded input.
    #[expect(clippy::cast_precision_loss, reason = "small sizes")]
    let (wf, hf, pf, upf) = (w as f64, h as f64, p as f64, UP as f64);
    let theta = mat.inverse();
    let mut translation = theta.narrow(0, 0, 2).narrow(1, 2, 1);
    let _ = translation.g_mul_scalar_(2.0);
    let _ = theta.get(0).get(2).g_add_scalar_(1.0 / upf / wf);
    let _ = theta.get(1).get(2).g_add_scalar_(1.0 / upf / hf);
    let _ = theta.get(0).g_mul_scalar_(wf / (wf + pf / upf * 2.0));
    let _ = theta.get(1).g_mul_scalar_(hf / (hf + pf / upf * 2.0));
    let theta = theta.narrow(0, 0, 2).unsqueeze(0).repeat([n, 1, 1]);
    let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
    let y = upsample2d(x, Some(&f), Factor::from(UP), Padding::all(p), false, 1.0);
    let z = y.grid_sampler(&grid, 0, 0, false);
    let m = y.zeros_like();
    let c = p * 2 + 1;
    let inner = |t: &Tensor, dim: i64| t.size()[usize::try_from(dim).expect("dim")] - 2 * c;
    let _ = m
        .narrow(2, c, inner(&y, 2))
        .narrow(3, c, inner(&y, 3))
        .fill_(1.0);
    let m = m.grid_sampler(&grid, 1, 0, false);
    (z, m)
}

/// Give `x` the frequency content of a rotation by `angle` without rotating it (operator `R*_α`,
/// E.3): filter with the band-limit filter of the opposite rotation.
pub fn fractional_pseudo_rotation(x: &Tensor, angle: f32) -> (Tensor, Tensor) {
    let mat = rotation_matrix(-angle).to_device(x.device());
    let f = affine_bandlimit_filter(&mat, LANCZOS_A, LANCZOS_A * 2, 1);
    let y = filter2d(x, &f, Padding::default(), false, 1.0);
    let m = y.zeros_like();
    let c = f.size()[0] / 2;
    let [_, _, h, w] = y.size()[..] else {
        unreachable!("4-D")
    };
    let _ = m.narrow(2, c, h - 2 * c).narrow(3, c, w - 2 * c).fill_(1.0);
    (y, m)
}

/// PSNR in dB of images in [−1, 1] from the masked squared-error sum and the mask sum:
/// `20·log10(2) − 10·log10(error / mask)`.
pub fn psnr(squared_error: f64, mask: f64) -> f64 {
    20.0 * 2f64.log10() - 10.0 * (squared_error / mask).log10()
}

/// The masked squared-error and mask sums of one comparison, in float64.
pub fn masked_error(reference: &Tensor, image: &Tensor, mask: &Tensor) -> (f64, f64) {
    let error = ((reference - image).square() * mask)
        .to_kind(Kind::Double)
        .sum(Kind::Double)
        .double_value(&[]);
    let mask = mask
        .to_kind(Kind::Double)
        .sum(Kind::Double)
        .double_value(&[]);
    (error, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn integer_translation_moves_pixels_and_masks_the_vacated_border() {
        let x = Tensor::arange(16, (Kind::Float, Device::Cpu)).reshape([1, 1, 4, 4]);
        let (z, m) = integer_translation(&x, 0.25, 0.0);
        assert_eq!(z.double_value(&[0, 0, 1, 2]), 5.0);
        assert_eq!(z.double_value(&[0, 0, 1, 0]), 0.0);
        assert_eq!(m.sum(Kind::Float).double_value(&[]), 12.0);
        assert_eq!(m.double_value(&[0, 0, 2, 0]), 0.0);
    }

    #[test]
    fn the_identity_rotation_filter_passes_a_constant() {
        let f = affine_bandlimit_filter(&rotation_matrix(0.0), 3, 6, 1);
        assert_eq!(f.size(), [11, 11]);
        assert!((f.sum(Kind::Float).double_value(&[]) - 1.0).abs() < 1e-5);
        assert!(psnr(0.0, 1.0).is_infinite());
    }
}

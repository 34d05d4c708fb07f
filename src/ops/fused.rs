//! The fused ops of `kernels/`, compiled by `build.rs` and called through their C interface.
//!
//! The per-element math is written once (`kernels/*.h`) for a CPU launcher, always built,
//! and a CUDA launcher, built with the `cuda` feature. The ops are differentiable (custom autograd
//! functions in `kernels/api.cpp`), so training can use them. kimg uses them on CUDA when the
//! launchers are compiled in — as the reference uses its fused kernels on CUDA only — and the CPU
//! launcher lets the tests check the shared math against the reference ops here.
//!
//! Fused: `bias_act` (bias, activation, gain, clamp) and `upfirdn2d` (upsampling, padding, FIR
//! filter, downsampling, and its adjoint for the gradient). One deliberate difference from the
//! reference ops, copied from the official CUDA path: the second derivative of the
//! piecewise-linear activations with respect to `x` and the bias is not formed, so in R1 or
//! path-length passes those inputs get no gradient from it (the reference ops give a zero-valued
//! one or none).
#![expect(
    unsafe_code,
    reason = "the kernels' C interface; the only unsafe code in kimg"
)]

use std::ffi::{CStr, c_char, c_int, c_void};

use tch::{Kind, Tensor};

use super::bias_act::{Activation, BiasAct};
use super::upfirdn2d::{Factor, Padding, Resampling};

unsafe extern "C" {
    fn kimg_bias_act(
        out: *mut *mut c_void,
        x: *const c_void,
        b: *const c_void,
        dim: i64,
        act: i64,
        alpha: f64,
        gain: f64,
        clamp: f64,
    ) -> *mut c_char;
    fn kimg_upfirdn2d(
        out: *mut *mut c_void,
        x: *const c_void,
        k: *const c_void,
        up_x: i64,
        up_y: i64,
        down_x: i64,
        down_y: i64,
        pad_x0: i64,
        pad_x1: i64,
        pad_y0: i64,
        pad_y1: i64,
    ) -> *mut c_char;
    fn kimg_free_error(message: *mut c_char);
    fn kimg_cuda_launchers() -> c_int;
}

/// Whether the CUDA launchers were compiled in (the `cuda` feature).
pub fn cuda_launchers() -> bool {
    // SAFETY: a constant query without arguments.
    unsafe { kimg_cuda_launchers() != 0 }
}

/// The kernels' code for `act`, or `None` for activations only the reference ops compute.
fn activation_code(act: Activation) -> Option<i64> {
    match act {
        Activation::Linear => Some(0),
        Activation::Relu => Some(1),
        Activation::Lrelu => Some(2),
        _ => None,
    }
}

/// Whether the fused op computes `options` (its activation is one the kernels know).
pub fn supports(options: &BiasAct) -> bool {
    activation_code(options.act).is_some()
}

/// `act(x + b) · gain`, clamped, as one fused differentiable op (`b` runs along `options.dim`;
/// float32/float64 on the CPU, also float16 on CUDA). The error is libtorch's or the kernels'
/// message, e.g. for an activation the kernels do not know (see [`supports`]).
pub fn bias_act(x: &Tensor, b: Option<&Tensor>, options: &BiasAct) -> Result<Tensor, String> {
    let act = activation_code(options.act)
        .ok_or_else(|| format!("the fused bias_act has no `{:?}` activation", options.act))?;
    let alpha = options.alpha.unwrap_or_else(|| options.act.default_alpha());
    let gain = options.gain.unwrap_or_else(|| options.act.default_gain());
    let clamp = options.clamp.filter(|c| *c >= 0.0).unwrap_or(-1.0);
    let b_ptr = b.map_or(std::ptr::null(), |b| b.as_ptr().cast::<c_void>());
    call(|out| {
        // SAFETY: the tensors outlive the call.
        unsafe {
            kimg_bias_act(
                out,
                x.as_ptr().cast(),
                b_ptr,
                options.dim,
                act,
                alpha,
                gain,
                clamp,
            )
        }
    })
}

/// `upfirdn2d` (see [`super::upfirdn2d::upfirdn2d`] for the arguments) as fused differentiable
/// ops: every output element reads only the taps that meet input samples, and the filter gets no
/// gradient, as in the reference. A separable (1-D) filter runs as two passes, along x then along
/// y, as the reference's CUDA path runs it.
pub fn upfirdn2d(x: &Tensor, f: Option<&Tensor>, resampling: Resampling) -> Result<Tensor, String> {
    let Resampling {
        up,
        down,
        padding,
        flip_filter,
        gain,
    } = resampling;
    let kind = if x.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    };
    let Some(taps) = f.filter(|f| f.dim() == 1) else {
        let k = match f {
            None => Tensor::full([1, 1], gain, (kind, x.device())),
            Some(f) => oriented(&(f.to_kind(kind).to_device(x.device()) * gain), flip_filter),
        };
        return upfirdn2d_pass(x, &k, up, down, padding);
    };
    let taps = oriented(
        &(taps.to_kind(kind).to_device(x.device()) * gain.powf(0.5)),
        flip_filter,
    );
    let along_x = upfirdn2d_pass(
        x,
        &taps.unsqueeze(0),
        Factor { x: up.x, y: 1 },
        Factor { x: down.x, y: 1 },
        Padding::new(padding.x0, padding.x1, 0, 0),
    )?;
    upfirdn2d_pass(
        &along_x,
        &taps.unsqueeze(1),
        Factor { x: 1, y: up.y },
        Factor { x: 1, y: down.y },
        Padding::new(0, 0, padding.y0, padding.y1),
    )
}

/// The filter as the kernels correlate with it: flipped for a true convolution.
fn oriented(f: &Tensor, flip_filter: bool) -> Tensor {
    if flip_filter {
        f.shallow_clone()
    } else {
        let dims: Vec<i64> = (0..i64::try_from(f.dim()).expect("small")).collect();
        f.flip(dims.as_slice())
    }
}

/// One fused upfirdn2d with the correlation kernel `k [kh, kw]`.
fn upfirdn2d_pass(
    x: &Tensor,
    k: &Tensor,
    up: Factor,
    down: Factor,
    padding: Padding,
) -> Result<Tensor, String> {
    call(|out| {
        // SAFETY: the tensors outlive the call.
        unsafe {
            kimg_upfirdn2d(
                out,
                x.as_ptr().cast(),
                k.as_ptr().cast(),
                up.x,
                up.y,
                down.x,
                down.y,
                padding.x0,
                padding.x1,
                padding.y0,
                padding.y1,
            )
        }
    })
}

/// Run an entry point that writes a new tensor into `out` or returns an error message.
fn call(entry: impl FnOnce(*mut *mut c_void) -> *mut c_char) -> Result<Tensor, String> {
    let mut out: *mut c_void = std::ptr::null_mut();
    let error = entry(&raw mut out);
    if error.is_null() {
        // SAFETY: on success `out` holds a new tensor handle, which the `Tensor` now owns.
        Ok(unsafe { Tensor::from_ptr(out.cast()) })
    } else {
        // SAFETY: a NUL-terminated message from the kernels, freed by their allocator.
        let message = unsafe { CStr::from_ptr(error) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: `error` came from the kernels and is freed once.
        unsafe { kimg_free_error(error) };
        Err(message)
    }
}

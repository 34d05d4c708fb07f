//! The fused ops of `kernels/`, compiled by `build.rs` and called through their C interface.
//!
//! The per-element math is written once (`kernels/*.h`) for a CPU launcher, always built,
//! and a CUDA launcher, built with the `cuda` feature. The ops are differentiable (custom autograd
//! functions in `kernels/api.cpp`), so training can use them. kimg uses them on CUDA when the
//! launchers are compiled in — as the reference uses its fused kernels on CUDA only — and the CPU
//! launcher lets the tests check the shared math against the reference ops.
//!
//! Fused: `bias_act` (bias, activation, gain, clamp) and one `upfirdn2d` pass (upsampling,
//! padding, correlation with a 2-D kernel, downsampling, and its adjoint for the gradient). One
//! deliberate difference from the reference ops, copied from the official CUDA path: the second
//! derivative of the piecewise-linear activations with respect to `x` and the bias is not formed,
//! so in R1 or path-length passes those inputs get no gradient from it (the reference ops give a
//! zero-valued one or none).
//!
//! Fused as well: `filtered_lrelu` (bias, upsampling FIR, leaky ReLU with gain and clamp,
//! downsampling FIR) with a first-order backward only — StyleGAN3's generator has no path-length
//! regulariser, so training never differentiates it twice, and asking for that is an error.
//!
//! This module is the FFI layer only: it takes plain numbers and tensors, and the ops
//! ([`super::bias_act`], [`super::upfirdn2d`]) translate their options and choose between it and
//! their reference form ([`Impl`]).
#![expect(
    unsafe_code,
    reason = "the kernels' C interface; the only unsafe code in kimg"
)]

use std::ffi::{CStr, c_char, c_int, c_void};

use tch::{Device, Tensor};

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
    fn kimg_filtered_lrelu(
        out: *mut *mut c_void,
        x: *const c_void,
        fu: *const c_void,
        fd: *const c_void,
        b: *const c_void,
        up: i64,
        down: i64,
        pad_x0: i64,
        pad_x1: i64,
        pad_y0: i64,
        pad_y1: i64,
        gain: f64,
        slope: f64,
        clamp: f64,
    ) -> *mut c_char;
    fn kimg_free_error(message: *mut c_char);
    fn kimg_cuda_launchers() -> c_int;
}

/// A fused op that failed: libtorch's or the kernels' message (e.g. for a bias of the wrong
/// length, or a dtype the launcher does not compute).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FusedError {
    /// The message, as the kernels wrote it.
    pub message: String,
}

/// Which implementation computes an op — the reference's `impl='ref'` or `impl='cuda'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// The reference ops: one `tch` tensor op per step, on any device.
    Reference,
    /// The fused kernels of this module.
    Fused,
}

impl Impl {
    /// What kimg runs on `device` for an op the kernels compute: the fused op on CUDA when the
    /// CUDA launchers are compiled in (as the reference uses its fused kernels on CUDA only), else
    /// the reference ops.
    pub fn on(device: Device) -> Impl {
        if device.is_cuda() && cuda_launchers() {
            Impl::Fused
        } else {
            Impl::Reference
        }
    }
}

/// Whether the CUDA launchers were compiled in (the `cuda` feature).
pub fn cuda_launchers() -> bool {
    // SAFETY: a constant query without arguments.
    unsafe { kimg_cuda_launchers() != 0 }
}

/// The activations the kernels compute (the codes of `kernels/bias_act.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelActivation {
    /// Identity.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// Leaky ReLU with slope `alpha`.
    Lrelu,
}

impl KernelActivation {
    /// The kernels' code.
    fn code(self) -> i64 {
        match self {
            KernelActivation::Linear => 0,
            KernelActivation::Relu => 1,
            KernelActivation::Lrelu => 2,
        }
    }
}

/// The scalar arguments of [`bias_act`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiasActArgs {
    /// The axis the bias runs along.
    pub dim: i64,
    /// The activation.
    pub act: KernelActivation,
    /// Slope of lrelu.
    pub alpha: f64,
    /// Output scale.
    pub gain: f64,
    /// Clamp the output to `[-clamp, clamp]`; `None` for no clamp.
    pub clamp: Option<f64>,
}

/// `act(x + b) · gain`, clamped, as one fused differentiable op (`b` runs along `args.dim`;
/// float32/float64 on the CPU, also float16 on CUDA).
pub fn bias_act(x: &Tensor, b: Option<&Tensor>, args: &BiasActArgs) -> Result<Tensor, FusedError> {
    let clamp = args.clamp.unwrap_or(-1.0);
    let b_ptr = b.map_or(std::ptr::null(), |b| b.as_ptr().cast::<c_void>());
    call(|out| {
        // SAFETY: the tensors outlive the call.
        unsafe {
            kimg_bias_act(
                out,
                x.as_ptr().cast(),
                b_ptr,
                args.dim,
                args.act.code(),
                args.alpha,
                args.gain,
                clamp,
            )
        }
    })
}

/// The integer arguments of [`upfirdn2d`], as the reference's lists: `[x, y]` factors and
/// `[x0, x1, y0, y1]` padding (negative values crop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpfirdnArgs {
    /// Zero-insertion upsampling factors `[x, y]`.
    pub up: [i64; 2],
    /// Decimation factors `[x, y]`.
    pub down: [i64; 2],
    /// Padding after upsampling `[x0, x1, y0, y1]`.
    pub padding: [i64; 4],
}

/// One fused differentiable upfirdn2d pass on `x [N, C, H, W]` with the correlation kernel
/// `k [kh, kw]` (already flipped and scaled): every output element reads only the taps that meet
/// input samples, and the kernel gets no gradient.
pub fn upfirdn2d(x: &Tensor, k: &Tensor, args: &UpfirdnArgs) -> Result<Tensor, FusedError> {
    let UpfirdnArgs {
        up: [up_x, up_y],
        down: [down_x, down_y],
        padding: [pad_x0, pad_x1, pad_y0, pad_y1],
    } = *args;
    call(|out| {
        // SAFETY: the tensors outlive the call.
        unsafe {
            kimg_upfirdn2d(
                out,
                x.as_ptr().cast(),
                k.as_ptr().cast(),
                up_x,
                up_y,
                down_x,
                down_y,
                pad_x0,
                pad_x1,
                pad_y0,
                pad_y1,
            )
        }
    })
}

/// The scalar arguments of [`filtered_lrelu`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilteredLreluArgs {
    /// Upsampling factor (both axes).
    pub up: i64,
    /// Downsampling factor (both axes).
    pub down: i64,
    /// Padding of the upsampled signal `[x0, x1, y0, y1]` (negative values crop).
    pub padding: [i64; 4],
    /// Scale after the leaky ReLU.
    pub gain: f64,
    /// Negative slope of the leaky ReLU.
    pub slope: f64,
    /// Clamp after the gain to `[-clamp, clamp]`; `None` for no clamp.
    pub clamp: Option<f64>,
}

/// `filtered_lrelu` on `x [N, C, H, W]` as one fused differentiable op: add the bias `b [C]`,
/// upsample with the correlation kernel `fu` (zero insertion, padding; the gain `up²` already in
/// it), `lrelu · gain` and the clamp, then `fd` and every `down`-th sample. Kernels are 1-D
/// (separable, each pass with these taps) or 2-D, already flipped and scaled; they get no gradient.
/// The forward saves a mask of the activation's branches for the backward, which is first-order
/// only: a gradient of its gradient is an error (StyleGAN3 never needs one, see
/// `kernels/api.cpp`). Float32/float64 on the CPU, also float16 on CUDA.
pub fn filtered_lrelu(
    x: &Tensor,
    fu: &Tensor,
    fd: &Tensor,
    b: Option<&Tensor>,
    args: &FilteredLreluArgs,
) -> Result<Tensor, FusedError> {
    let [pad_x0, pad_x1, pad_y0, pad_y1] = args.padding;
    let clamp = args.clamp.unwrap_or(-1.0);
    let b_ptr = b.map_or(std::ptr::null(), |b| b.as_ptr().cast::<c_void>());
    call(|out| {
        // SAFETY: the tensors outlive the call.
        unsafe {
            kimg_filtered_lrelu(
                out,
                x.as_ptr().cast(),
                fu.as_ptr().cast(),
                fd.as_ptr().cast(),
                b_ptr,
                args.up,
                args.down,
                pad_x0,
                pad_x1,
                pad_y0,
                pad_y1,
                args.gain,
                args.slope,
                clamp,
            )
        }
    })
}

/// Run an entry point that writes a new tensor into `out` or returns an error message.
fn call(entry: impl FnOnce(*mut *mut c_void) -> *mut c_char) -> Result<Tensor, FusedError> {
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
        Err(FusedError { message })
    }
}

//! The fused ops of `kernels/`, compiled by `build.rs` and called through their C interface.
//!
//! The element-wise math is written once (`kernels/bias_act.h`) for a CPU launcher, always built,
//! and a CUDA launcher, built with the `cuda` feature. The ops are differentiable (custom autograd
//! functions in `kernels/api.cpp`), so training can use them. kimg uses them on CUDA when the
//! launchers are compiled in — as the reference uses its fused kernels on CUDA only — and the CPU
//! launcher lets the tests check the shared math against the reference ops here.
//!
//! One deliberate difference from the reference ops, copied from the official CUDA path: the
//! second derivative of the piecewise-linear activations with respect to `x` and the bias is not
//! formed, so in R1 or path-length passes those inputs get no gradient from it (the reference ops
//! give a zero-valued one).
#![expect(
    unsafe_code,
    reason = "the kernels' C interface; the only unsafe code in kimg"
)]

use std::ffi::{CStr, c_char, c_int, c_void};

use tch::Tensor;

use super::bias_act::{Activation, BiasAct};

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
    let mut out: *mut c_void = std::ptr::null_mut();
    let b_ptr = b.map_or(std::ptr::null(), |b| b.as_ptr().cast::<c_void>());
    // SAFETY: the tensors outlive the call; on success `out` holds a new tensor handle that the
    // returned `Tensor` owns; an error message is copied, then freed by its allocator.
    unsafe {
        let error = kimg_bias_act(
            &raw mut out,
            x.as_ptr().cast(),
            b_ptr,
            options.dim,
            act,
            alpha,
            gain,
            clamp,
        );
        if error.is_null() {
            Ok(Tensor::from_ptr(out.cast()))
        } else {
            let message = CStr::from_ptr(error).to_string_lossy().into_owned();
            kimg_free_error(error);
            Err(message)
        }
    }
}

//! Which implementation computes the resampling ops — [`Impl`] — and the switches that choose it:
//! the device, the process-wide `KIMG_OPS` ([`crate::env_vars::OPS`]) and, for tests and
//! benchmarks, a per-thread override ([`with_impl`]).

use std::cell::Cell;
use std::sync::OnceLock;

use tch::Device;

use super::fused::cuda_launchers;

/// Which implementation computes an op — the reference's `impl='ref'` or `impl='cuda'`, or kimg's
/// polyphase form of the resampling ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// The reference ops: one `tch` tensor op per step, on any device (zero insertion, a full-rate
    /// FIR filter, decimation by slicing).
    Reference,
    /// Polyphase resampling through ATen convolutions, on any device: upsampling as a strided
    /// transposed convolution (no inserted zeros), downsampling as a strided convolution that
    /// computes only the kept samples. Ops without a polyphase form (`bias_act`) run their
    /// reference form.
    Polyphase,
    /// The fused kernels of [`super::fused`].
    Fused,
}

thread_local! {
    /// The implementation [`with_impl`] forces on this thread, if any.
    static FORCED: Cell<Option<Impl>> = const { Cell::new(None) };
}

impl Impl {
    /// What kimg runs on `device` for an op the kernels compute: the per-thread override of
    /// [`with_impl`] if one is active; the reference ops if `KIMG_OPS=reference`; the fused op on
    /// CUDA when the CUDA launchers are compiled in (as the reference uses its fused kernels on
    /// CUDA only); else the polyphase ops (measured faster than the reference on the CPU, see
    /// `benches/ops.rs`).
    pub fn on(device: Device) -> Impl {
        if let Some(forced) = FORCED.get() {
            return forced;
        }
        if reference_forced() {
            Impl::Reference
        } else if device.is_cuda() && cuda_launchers() {
            Impl::Fused
        } else {
            Impl::Polyphase
        }
    }
}

/// Whether `KIMG_OPS=reference` is set (read once per process).
fn reference_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var(crate::env_vars::OPS).is_ok_and(|v| v.eq_ignore_ascii_case("reference"))
    })
}

/// Run `work` with every op on this thread computed by `implementation` (whatever the device and
/// `KIMG_OPS` say), then restore the previous choice. For tests and benchmarks that compare the
/// implementations in one process; autograd's backward pass of the CPU runs on the calling thread,
/// and the ops' backward passes are ATen's, so they follow the forward pass's choice.
pub fn with_impl<T>(implementation: Impl, work: impl FnOnce() -> T) -> T {
    /// Restores the previous choice, also when `work` panics.
    struct Restore(Option<Impl>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.set(self.0);
        }
    }
    let _restore = Restore(FORCED.replace(Some(implementation)));
    work()
}

//! What every user of a network needs from it — the loss, the training loop, the metrics and
//! `kimg generate` — independent of the architecture (StyleGAN2, StyleGAN3-T/R), so that the loss
//! is testable on its own and the metrics take any generator.

use std::cell::Cell;

use tch::{Tensor, nn};

use super::mapping::MappingNetwork;
use super::precision::Precision;
use super::stylegan3::Stylegan3Generator;

/// How a synthesis network draws its per-layer noise (StyleGAN2 only; StyleGAN3 has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseMode {
    /// Fresh `randn` per layer and call (training, metrics).
    Random,
    /// The stored `noise_const` buffers (snapshots grids, `kimg generate` default).
    Const,
    /// No noise.
    None,
}

/// A generator as the loss and the loop use it. Its mapping network and precision policy give the
/// rest of the interface.
pub trait GeneratorNet {
    /// The mapping network (it knows `z_dim`, `c_dim` and `num_ws`).
    fn mapping_network(&self) -> &MappingNetwork;
    /// Where the layers the reference marks `use_fp16` compute in float16 (default: as the
    /// reference, float16 on CUDA only); the metrics render in float32 as the reference's
    /// `force_fp32`.
    fn precision_policy(&self) -> &Cell<Precision>;
    /// Synthesis: `ws` → images `[N, C, H, W]` in [-1, 1]; `training` selects the reference's
    /// training-mode code paths (e.g. StyleGAN2's non-fused modulated convolution).
    fn synthesis(
        &self,
        ws: &Tensor,
        noise_mode: NoiseMode,
        update_emas: bool,
        training: bool,
    ) -> Tensor;
    /// Parameters and buffers, named as the official `state_dict`.
    fn var_store(&self) -> &nn::VarStore;
    /// The StyleGAN3 generator, for what only it supports (input transforms, equivariance).
    fn as_stylegan3(&self) -> Option<&Stylegan3Generator> {
        None
    }

    /// Latent size.
    fn z_dim(&self) -> i64 {
        self.mapping_network().config().z_dim
    }
    /// Label size (0 when unconditional).
    fn c_dim(&self) -> i64 {
        self.mapping_network().config().c_dim
    }
    /// Number of intermediate latents the synthesis consumes.
    fn num_ws(&self) -> i64 {
        self.mapping_network()
            .config()
            .num_ws
            .expect("a generator's mapping broadcasts w to every layer")
    }
    /// Mapping: `z [N, z_dim]`, `c [N, c_dim]` → `ws [N, num_ws, w_dim]`; with `update_emas` the
    /// `w_avg` tracking buffer is updated.
    fn mapping(&self, z: &Tensor, c: &Tensor, truncation_psi: f64, update_emas: bool) -> Tensor {
        self.mapping_network()
            .forward(z, c, truncation_psi, None, update_emas)
    }
    /// The current precision policy.
    fn precision(&self) -> Precision {
        self.precision_policy().get()
    }
    /// Set the precision policy.
    fn set_precision(&self, precision: Precision) {
        self.precision_policy().set(precision);
    }
}

/// A discriminator as the loss uses it.
pub trait DiscriminatorNet {
    /// Logits `[N, 1]` for images `[N, C, H, W]` and labels `[N, c_dim]`.
    fn forward(&self, img: &Tensor, c: &Tensor, update_emas: bool) -> Tensor;
    /// Parameters and buffers, named as the official `state_dict`.
    fn var_store(&self) -> &nn::VarStore;
}

//! Mixed precision as the reference does it (`use_fp16` and `conv_clamp` in the official networks):
//! the layers it marks `use_fp16` (StyleGAN2 blocks at the `num_fp16_res` highest resolutions,
//! StyleGAN3 layers with `sampling_rate · 2^n > img_resolution`) compute in float16 on CUDA;
//! everything else, and everything on the CPU, in float32. Activations are clamped to `conv_clamp`
//! so float16 does not overflow.

use tch::{Device, Kind};

/// Where the reference's float16 layers compute in float16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// As the reference: float16 on CUDA, float32 on the CPU.
    #[default]
    Reference,
    /// Float32 everywhere (the reference's `force_fp32`, `--fp32` runs).
    Float32,
    /// Float16 on any device, the CPU included — to exercise the float16 path where no GPU is.
    Float16Anywhere,
}

impl Precision {
    /// The dtype of a layer the reference marks `use_fp16` (or not) on `device`.
    pub fn kind(self, use_fp16: bool, device: Device) -> Kind {
        let half = use_fp16
            && match self {
                Precision::Reference => device.is_cuda(),
                Precision::Float32 => false,
                Precision::Float16Anywhere => true,
            };
        if half { Kind::Half } else { Kind::Float }
    }
}

/// `max(2^(log2(img_resolution) + 1 − num_fp16_res), 8)`: StyleGAN2 blocks at this resolution and
/// above use float16.
pub fn fp16_resolution(img_resolution: i64, num_fp16_res: i64) -> i64 {
    let log2 = i64::from(img_resolution.ilog2());
    let exponent = u32::try_from((log2 + 1 - num_fp16_res).max(0)).expect("small exponent");
    2i64.pow(exponent).max(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float16_only_where_the_reference_uses_it() {
        assert_eq!(Precision::Reference.kind(true, Device::Cpu), Kind::Float);
        assert_eq!(Precision::Reference.kind(true, Device::Cuda(0)), Kind::Half);
        assert_eq!(
            Precision::Reference.kind(false, Device::Cuda(0)),
            Kind::Float
        );
        assert_eq!(Precision::Float32.kind(true, Device::Cuda(0)), Kind::Float);
        assert_eq!(
            Precision::Float16Anywhere.kind(true, Device::Cpu),
            Kind::Half
        );
        // 1024² with 4 fp16 resolutions: 128…1024; 16² with 4: everything ≥ 8.
        assert_eq!(fp16_resolution(1024, 4), 128);
        assert_eq!(fp16_resolution(16, 4), 8);
        assert_eq!(fp16_resolution(256, 0), 512);
    }
}

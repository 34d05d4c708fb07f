//! The custom ops of StyleGAN as plain `tch` tensor math on any device: the reference
//! implementations (`torch_utils/ops/*` "ref" paths) that the fused kernels must match.

pub mod bias_act;
pub mod conv2d_resample;
pub mod equivariance;
pub mod filtered_lrelu;
pub mod filters;
pub mod fused;
pub mod implementation;
pub mod misc;
pub mod modconv;
pub mod upfirdn2d;

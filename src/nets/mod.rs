//! The networks: StyleGAN2 and StyleGAN3 generators and the StyleGAN2 discriminator, with
//! parameters named exactly as the official `state_dict`.

pub mod discriminator;
pub mod generator;
pub mod kwargs;
pub mod layers;
pub mod mapping;
pub mod network;
pub mod precision;
pub mod state;
pub mod stylegan2;
pub mod stylegan3;

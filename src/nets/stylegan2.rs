//! The StyleGAN2 generator — port of `training/networks_stylegan2.py` `SynthesisLayer`,
//! `ToRGBLayer`, `SynthesisBlock`, `SynthesisNetwork` and `Generator`.
//!
//! Layers are created in the reference's order so that `tch::manual_seed` reproduces its
//! initialisation; names equal the official `state_dict` (`synthesis.b8.conv0.affine.weight`…).
//! Mixed precision follows the reference: float16 blocks on CUDA, float32 on the CPU
//! ([`Precision`]).

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

pub use super::kwargs::MappingKwargs;
use super::kwargs::{GeneratorShape, default_channel_base, default_channel_max};
use super::layers::{
    BiasInit, Conv2dConfig, Conv2dLayer, FcConfig, FcFlavor, FullyConnected, buffer, parameter,
    randn_cpu, resample_filter,
};
use super::mapping::{MappingConfig, MappingNetwork};
use super::network::{GeneratorNet, NoiseMode};
use super::precision::{Precision, fp16_resolution};
use crate::ops::bias_act::{Activation, BiasAct, bias_act};
use crate::ops::conv2d_resample::Resample;
use crate::ops::modconv::{ModConv, modulated_conv2d_sg2};
use crate::ops::upfirdn2d::{Factor, Padding, upsample2d};

/// Synthesis architecture of the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Image only from the last block.
    Orig,
    /// ToRGB in every block, summed after upsampling (the default).
    Skip,
    /// Residual blocks.
    Resnet,
}

/// When the fused modulated convolution is used (`fused_modconv_default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FusedModconv {
    /// Always or never.
    Always(bool),
    /// `"inference_only"`: fused in eval mode, non-fused in training mode.
    Named(InferenceOnly),
}

/// The string `"inference_only"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InferenceOnly {
    /// Fused only when not training.
    #[serde(rename = "inference_only")]
    InferenceOnly,
}

/// Constructor arguments of the StyleGAN2 generator (official keyword names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stylegan2Config {
    /// Latent, label and intermediate-latent sizes, resolution and channels.
    #[serde(flatten)]
    pub shape: GeneratorShape,
    /// Mapping options.
    #[serde(default = "default_mapping")]
    pub mapping_kwargs: MappingKwargs,
    /// Capacity multiplier.
    #[serde(default = "default_channel_base")]
    pub channel_base: i64,
    /// Maximum channels.
    #[serde(default = "default_channel_max")]
    pub channel_max: i64,
    /// How many of the highest resolutions compute in float16 on CUDA (see [`super::precision`]).
    #[serde(default = "default_num_fp16_res")]
    pub num_fp16_res: i64,
    /// Activation clamp of the convolutions (`None`: off, the class default).
    #[serde(default)]
    pub conv_clamp: Option<f64>,
    /// Block architecture.
    #[serde(default = "default_architecture")]
    pub architecture: Architecture,
    /// When to use the fused modulated convolution.
    #[serde(default = "default_fused_modconv")]
    pub fused_modconv_default: FusedModconv,
}

// Defaults of the official constructors, for `G_kwargs` that leave arguments out.
fn default_mapping() -> MappingKwargs {
    MappingKwargs { num_layers: 8 }
}
fn default_num_fp16_res() -> i64 {
    4
}
fn default_architecture() -> Architecture {
    Architecture::Skip
}
fn default_fused_modconv() -> FusedModconv {
    FusedModconv::Always(true)
}

impl Stylegan2Config {
    /// The reference defaults for latent size `z`, label size `c`, intermediate-latent size `w`,
    /// output resolution and channels.
    pub fn new(z: i64, c: i64, w: i64, resolution: i64, channels: i64) -> Stylegan2Config {
        Stylegan2Config {
            shape: GeneratorShape::new(z, c, w, resolution, channels),
            mapping_kwargs: default_mapping(),
            channel_base: default_channel_base(),
            channel_max: default_channel_max(),
            num_fp16_res: default_num_fp16_res(),
            conv_clamp: Some(256.0),
            architecture: default_architecture(),
            fused_modconv_default: default_fused_modconv(),
        }
    }

    /// Channels at a resolution: `min(channel_base / res, channel_max)`.
    pub fn channels(&self, resolution: i64) -> i64 {
        (self.channel_base / resolution).min(self.channel_max)
    }

    /// Resolutions of the blocks: 4, 8, …, `img_resolution`.
    pub fn block_resolutions(&self) -> Vec<i64> {
        std::iter::successors(Some(4), |r| Some(r * 2))
            .take_while(|r| *r <= self.shape.img_resolution)
            .collect()
    }

    /// `2·log2(res) − 2` ws.
    pub fn num_ws(&self) -> i64 {
        let blocks = i64::try_from(self.block_resolutions().len()).expect("few blocks");
        2 * (blocks + 1) - 2
    }
}

/// A modulated 3×3 convolution with noise, bias and lrelu (`SynthesisLayer`).
#[derive(Debug)]
struct SynthesisLayer {
    affine: FullyConnected,
    weight: Tensor,
    noise_const: Tensor,
    noise_strength: Tensor,
    bias: Tensor,
    resample_filter: Tensor,
    up: i64,
    resolution: i64,
    conv_clamp: Option<f64>,
}

impl SynthesisLayer {
    fn new(
        path: &nn::Path,
        in_channels: i64,
        out_channels: i64,
        w_dim: i64,
        resolution: i64,
        up: i64,
        conv_clamp: Option<f64>,
    ) -> SynthesisLayer {
        let resample_filter = resample_filter(path);
        let affine = style_affine(path, w_dim, in_channels);
        let weight = parameter(
            path,
            "weight",
            &randn_cpu(&[out_channels, in_channels, 3, 3]),
        );
        let noise_const = buffer(path, "noise_const", &randn_cpu(&[resolution, resolution]));
        let noise_strength = parameter(
            path,
            "noise_strength",
            &Tensor::zeros([], (Kind::Float, Device::Cpu)),
        );
        let bias = parameter(
            path,
            "bias",
            &Tensor::zeros([out_channels], (Kind::Float, Device::Cpu)),
        );
        SynthesisLayer {
            affine,
            weight,
            noise_const,
            noise_strength,
            bias,
            resample_filter,
            up,
            resolution,
            conv_clamp,
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        w: &Tensor,
        noise_mode: NoiseMode,
        fused: bool,
        gain: f64,
    ) -> Tensor {
        let styles = self.affine.forward(w);
        let noise = match noise_mode {
            NoiseMode::Random => Some(
                Tensor::randn(
                    [x.size()[0], 1, self.resolution, self.resolution],
                    (Kind::Float, x.device()),
                ) * &self.noise_strength,
            ),
            NoiseMode::Const => Some(&self.noise_const * &self.noise_strength),
            NoiseMode::None => None,
        };
        let options = ModConv {
            resample: Resample {
                up: self.up,
                padding: Padding::all(1),
                flip_weight: self.up == 1,
                ..Resample::default()
            },
            filter: Some(&self.resample_filter),
            demodulate: true,
            fused,
        };
        let y = modulated_conv2d_sg2(x, &self.weight, &styles, noise.as_ref(), &options);
        let act = BiasAct {
            gain: Some(Activation::Lrelu.default_gain() * gain),
            clamp: self.conv_clamp.map(|c| c * gain),
            ..BiasAct::new(Activation::Lrelu)
        };
        bias_act(&y, Some(&self.bias), &act)
    }
}

/// The `affine` layer mapping a w to per-channel styles (bias initialised to 1).
fn style_affine(path: &nn::Path, w_dim: i64, channels: i64) -> FullyConnected {
    let config = FcConfig {
        bias_init: BiasInit::Scalar(1.0),
        ..FcConfig::new(w_dim, channels, FcFlavor::Sg2)
    };
    FullyConnected::new(&(path / "affine"), &config)
}

/// A 1×1 modulated convolution without demodulation (`ToRGBLayer`).
#[derive(Debug)]
struct ToRgb {
    affine: FullyConnected,
    weight: Tensor,
    bias: Tensor,
    weight_gain: f64,
    conv_clamp: Option<f64>,
}

impl ToRgb {
    fn new(
        path: &nn::Path,
        in_channels: i64,
        out_channels: i64,
        w_dim: i64,
        conv_clamp: Option<f64>,
    ) -> ToRgb {
        let affine = style_affine(path, w_dim, in_channels);
        let weight = parameter(
            path,
            "weight",
            &randn_cpu(&[out_channels, in_channels, 1, 1]),
        );
        let bias = parameter(
            path,
            "bias",
            &Tensor::zeros([out_channels], (Kind::Float, Device::Cpu)),
        );
        #[expect(clippy::cast_precision_loss, reason = "channel counts are small")]
        let weight_gain = 1.0 / (in_channels as f64).sqrt();
        ToRgb {
            affine,
            weight,
            bias,
            weight_gain,
            conv_clamp,
        }
    }

    fn forward(&self, x: &Tensor, w: &Tensor, fused: bool) -> Tensor {
        let styles = self.affine.forward(w) * self.weight_gain;
        let options = ModConv {
            resample: Resample::default(),
            filter: None,
            demodulate: false,
            fused,
        };
        let y = modulated_conv2d_sg2(x, &self.weight, &styles, None, &options);
        bias_act(
            &y,
            Some(&self.bias),
            &BiasAct {
                clamp: self.conv_clamp,
                ..BiasAct::new(Activation::Linear)
            },
        )
    }
}

/// One resolution of the synthesis network.
#[derive(Debug)]
struct SynthesisBlock {
    use_fp16: bool,
    resample_filter: Tensor,
    constant: Option<Tensor>,
    conv0: Option<SynthesisLayer>,
    conv1: SynthesisLayer,
    torgb: Option<ToRgb>,
    skip: Option<Conv2dLayer>,
}

impl SynthesisBlock {
    fn num_conv(&self) -> i64 {
        if self.conv0.is_some() { 2 } else { 1 }
    }

    fn num_torgb(&self) -> i64 {
        i64::from(self.torgb.is_some())
    }
}

/// The StyleGAN2 generator: synthesis (blocks `b4`…) and mapping.
#[derive(Debug)]
pub struct Stylegan2Generator {
    vs: nn::VarStore,
    config: Stylegan2Config,
    blocks: Vec<SynthesisBlock>,
    precision: Cell<Precision>,
    /// The mapping network.
    pub mapping: MappingNetwork,
}

impl Stylegan2Generator {
    /// Build on `device`, drawing the initial values from the CPU generator in the reference's
    /// order (synthesis first, then mapping).
    pub fn new(config: &Stylegan2Config, device: Device) -> Stylegan2Generator {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let synthesis = &root / "synthesis";
        let resolutions = config.block_resolutions();
        let blocks = resolutions
            .iter()
            .map(|&res| {
                let path = &synthesis / format!("b{res}");
                let in_channels = if res == 4 {
                    0
                } else {
                    config.channels(res / 2)
                };
                let out_channels = config.channels(res);
                let is_last = res == config.shape.img_resolution;
                let resample_filter = resample_filter(&path);
                let constant = (in_channels == 0)
                    .then(|| parameter(&path, "const", &randn_cpu(&[out_channels, res, res])));
                let conv0 = (in_channels != 0).then(|| {
                    SynthesisLayer::new(
                        &(&path / "conv0"),
                        in_channels,
                        out_channels,
                        config.shape.w_dim,
                        res,
                        2,
                        config.conv_clamp,
                    )
                });
                let conv1 = SynthesisLayer::new(
                    &(&path / "conv1"),
                    out_channels,
                    out_channels,
                    config.shape.w_dim,
                    res,
                    1,
                    config.conv_clamp,
                );
                let torgb = (is_last || config.architecture == Architecture::Skip).then(|| {
                    ToRgb::new(
                        &(&path / "torgb"),
                        out_channels,
                        config.shape.img_channels,
                        config.shape.w_dim,
                        config.conv_clamp,
                    )
                });
                let skip =
                    (in_channels != 0 && config.architecture == Architecture::Resnet).then(|| {
                        let skip = Conv2dConfig {
                            up: 2,
                            ..Conv2dConfig::skip(in_channels, out_channels)
                        };
                        Conv2dLayer::new(&(&path / "skip"), &skip)
                    });
                SynthesisBlock {
                    use_fp16: res
                        >= fp16_resolution(config.shape.img_resolution, config.num_fp16_res),
                    resample_filter,
                    constant,
                    conv0,
                    conv1,
                    torgb,
                    skip,
                }
            })
            .collect();
        let mapping_config = MappingConfig {
            num_layers: config.mapping_kwargs.num_layers,
            ..MappingConfig::stylegan2(
                config.shape.z_dim,
                config.shape.c_dim,
                config.shape.w_dim,
                Some(config.num_ws()),
            )
        };
        let mapping = MappingNetwork::new(&(&root / "mapping"), &mapping_config);
        Stylegan2Generator {
            vs,
            config: config.clone(),
            blocks,
            precision: Cell::new(Precision::default()),
            mapping,
        }
    }

    /// The constructor arguments.
    pub fn config(&self) -> &Stylegan2Config {
        &self.config
    }

    fn fused(&self, training: bool) -> bool {
        match self.config.fused_modconv_default {
            FusedModconv::Always(fused) => fused,
            FusedModconv::Named(InferenceOnly::InferenceOnly) => !training,
        }
    }

    /// Synthesis returning every block's `(x, img)` too (for activation checks).
    pub fn synthesis_with_activations(
        &self,
        ws: &Tensor,
        noise_mode: NoiseMode,
        training: bool,
    ) -> (Tensor, Vec<(Tensor, Tensor)>) {
        let ws = ws.to_kind(Kind::Float);
        let fused = self.fused(training);
        let mut w_index = 0;
        let mut x: Option<Tensor> = None;
        let mut img: Option<Tensor> = None;
        let mut activations = Vec::new();
        for block in &self.blocks {
            let dtype = self.precision.get().kind(block.use_fp16, ws.device());
            let block_ws = ws.narrow(1, w_index, block.num_conv() + block.num_torgb());
            w_index += block.num_conv();
            let mut next_w = (0..block_ws.size()[1]).map(|i| block_ws.select(1, i));
            let out = match (&block.constant, &block.conv0) {
                (Some(constant), _) => {
                    let start =
                        constant
                            .to_kind(dtype)
                            .unsqueeze(0)
                            .repeat([ws.size()[0], 1, 1, 1]);
                    block.conv1.forward(
                        &start,
                        &next_w.next().expect("a w per conv"),
                        noise_mode,
                        fused,
                        1.0,
                    )
                }
                (None, Some(conv0)) => {
                    let input = &x
                        .as_ref()
                        .expect("blocks after the first receive features")
                        .to_kind(dtype);
                    // Resnet: `skip(x)` (computed first, as in the reference) plus the
                    // convolutions at gain √½.
                    let skipped = block
                        .skip
                        .as_ref()
                        .map(|skip| skip.forward(input, 0.5f64.sqrt()));
                    let gain = if skipped.is_some() {
                        0.5f64.sqrt()
                    } else {
                        1.0
                    };
                    let h =
                        conv0.forward(input, &next_w.next().expect("w"), noise_mode, fused, 1.0);
                    let y = block.conv1.forward(
                        &h,
                        &next_w.next().expect("w"),
                        noise_mode,
                        fused,
                        gain,
                    );
                    match skipped {
                        Some(skipped) => skipped + y,
                        None => y,
                    }
                }
                (None, None) => unreachable!("a block has a constant input or conv0"),
            };
            let upsampled = img.map(|img| {
                upsample2d(
                    &img,
                    Some(&block.resample_filter),
                    Factor::from(2),
                    Padding::default(),
                    false,
                    1.0,
                )
            });
            img = match &block.torgb {
                Some(torgb) => {
                    let y = torgb
                        .forward(&out, &next_w.next().expect("a w for torgb"), fused)
                        .to_kind(Kind::Float);
                    Some(match upsampled {
                        Some(img) => img + y,
                        None => y,
                    })
                }
                None => upsampled,
            };
            activations.push((
                out.shallow_clone(),
                img.as_ref()
                    .map_or_else(|| out.zeros_like(), Tensor::shallow_clone),
            ));
            x = Some(out);
        }
        (img.expect("the last block writes the image"), activations)
    }
}

impl GeneratorNet for Stylegan2Generator {
    fn mapping_network(&self) -> &MappingNetwork {
        &self.mapping
    }

    fn precision_policy(&self) -> &Cell<Precision> {
        &self.precision
    }

    fn synthesis(
        &self,
        ws: &Tensor,
        noise_mode: NoiseMode,
        _update_emas: bool,
        training: bool,
    ) -> Tensor {
        self.synthesis_with_activations(ws, noise_mode, training).0
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}

//! The StyleGAN2 discriminator (used by every configuration) — port of
//! `training/networks_stylegan2.py` `DiscriminatorBlock`, `DiscriminatorEpilogue` and
//! `Discriminator`; float16 blocks on CUDA as the reference ([`Precision`]), the
//! epilogue in float32.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use super::layers::{
    Conv2dConfig, Conv2dLayer, FcConfig, FcFlavor, FullyConnected, resample_filter,
};
use super::mapping::{MappingConfig, MappingNetwork};
use super::network::DiscriminatorNet;
use super::precision::{Precision, fp16_resolution};
use super::stylegan2::Architecture;
use crate::ops::bias_act::Activation;
use crate::ops::misc::minibatch_std;
use crate::ops::upfirdn2d::{Factor, Padding, downsample2d};

/// `block_kwargs` of the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BlockKwargs {
    /// Layers (counted from the highest resolution) stored as buffers and never trained.
    pub freeze_layers: i64,
}

/// `epilogue_kwargs` of the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpilogueKwargs {
    /// Minibatch standard-deviation group size (`None`: whole batch).
    pub mbstd_group_size: Option<i64>,
    /// Minibatch standard-deviation feature maps (0: off).
    pub mbstd_num_channels: i64,
}

impl Default for EpilogueKwargs {
    fn default() -> Self {
        EpilogueKwargs {
            mbstd_group_size: Some(4),
            mbstd_num_channels: 1,
        }
    }
}

/// Constructor arguments (official keyword names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscriminatorConfig {
    /// Label size.
    pub c_dim: i64,
    /// Input resolution.
    pub img_resolution: i64,
    /// Input channels.
    pub img_channels: i64,
    /// Block architecture (`resnet` by default; `orig` for StyleGAN2-ADA's cifar).
    pub architecture: Architecture,
    /// Capacity multiplier.
    pub channel_base: i64,
    /// Maximum channels.
    pub channel_max: i64,
    /// How many of the highest resolutions compute in float16 on CUDA (see [`super::precision`]).
    pub num_fp16_res: i64,
    /// Activation clamp.
    pub conv_clamp: Option<f64>,
    /// Label projection size (`None`: channels at 4×4).
    pub cmap_dim: Option<i64>,
    /// Block options.
    pub block_kwargs: BlockKwargs,
    /// Epilogue options.
    pub epilogue_kwargs: EpilogueKwargs,
}

impl DiscriminatorConfig {
    /// The reference defaults for the given sizes.
    pub fn new(c_dim: i64, img_resolution: i64, img_channels: i64) -> DiscriminatorConfig {
        DiscriminatorConfig {
            c_dim,
            img_resolution,
            img_channels,
            architecture: Architecture::Resnet,
            channel_base: 32768,
            channel_max: 512,
            num_fp16_res: 4,
            conv_clamp: Some(256.0),
            cmap_dim: None,
            block_kwargs: BlockKwargs::default(),
            epilogue_kwargs: EpilogueKwargs::default(),
        }
    }

    fn channels(&self, resolution: i64) -> i64 {
        (self.channel_base / resolution).min(self.channel_max)
    }
}

#[derive(Debug)]
struct DiscriminatorBlock {
    use_fp16: bool,
    resample_filter: Tensor,
    fromrgb: Option<Conv2dLayer>,
    conv0: Conv2dLayer,
    conv1: Conv2dLayer,
    skip: Option<Conv2dLayer>,
    architecture: Architecture,
}

impl DiscriminatorBlock {
    fn forward(
        &self,
        x: Option<Tensor>,
        img: Option<Tensor>,
        dtype: Kind,
    ) -> (Tensor, Option<Tensor>) {
        let (mut x, mut img) = (x.map(|x| x.to_kind(dtype)), img);
        if let Some(fromrgb) = &self.fromrgb {
            let input = &img
                .as_ref()
                .expect("fromrgb needs the image")
                .to_kind(dtype);
            let y = fromrgb.forward(input, 1.0);
            x = Some(match x {
                Some(x) => x + y,
                None => y,
            });
            img = (self.architecture == Architecture::Skip).then(|| {
                downsample2d(
                    input,
                    Some(&self.resample_filter),
                    Factor::from(2),
                    Padding::default(),
                    false,
                    1.0,
                )
            });
        }
        let x = x.expect("features or an image enter every block");
        let out = match &self.skip {
            Some(skip) => {
                let y = skip.forward(&x, 0.5f64.sqrt());
                y + self
                    .conv1
                    .forward(&self.conv0.forward(&x, 1.0), 0.5f64.sqrt())
            }
            None => self.conv1.forward(&self.conv0.forward(&x, 1.0), 1.0),
        };
        (out, img)
    }
}

#[derive(Debug)]
struct Epilogue {
    fromrgb: Option<Conv2dLayer>,
    conv: Conv2dLayer,
    fc: FullyConnected,
    out: FullyConnected,
    cmap_dim: i64,
    mbstd: EpilogueKwargs,
}

/// The discriminator: blocks `b<res>` from the input resolution down to 8, optional label
/// `mapping`, epilogue `b4`.
#[derive(Debug)]
pub struct Discriminator {
    vs: nn::VarStore,
    config: DiscriminatorConfig,
    blocks: Vec<DiscriminatorBlock>,
    mapping: Option<MappingNetwork>,
    epilogue: Epilogue,
    precision: Precision,
}

impl Discriminator {
    /// Build on `device`, drawing the initial values in the reference's order.
    #[expect(
        clippy::too_many_lines,
        reason = "the layers are created, and their initial values drawn, in the reference's module order; one pass keeps that order visible"
    )]
    pub fn new(config: &DiscriminatorConfig, device: Device) -> Discriminator {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let c = config;
        let cmap_dim = if c.c_dim == 0 {
            0
        } else {
            c.cmap_dim.unwrap_or_else(|| c.channels(4))
        };
        let conv = |in_channels, out_channels, kernel_size| Conv2dConfig {
            activation: Activation::Lrelu,
            conv_clamp: c.conv_clamp,
            ..Conv2dConfig::new(in_channels, out_channels, kernel_size)
        };
        let mut layer_index = 0;
        let mut trainable = || {
            layer_index += 1;
            layer_index > c.block_kwargs.freeze_layers
        };
        let resolutions: Vec<i64> = std::iter::successors(Some(c.img_resolution), |r| Some(r / 2))
            .take_while(|r| *r >= 8)
            .collect();
        let blocks = resolutions
            .iter()
            .map(|&res| {
                let path = &root / format!("b{res}");
                let in_channels = if res < c.img_resolution {
                    c.channels(res)
                } else {
                    0
                };
                let (tmp, out) = (c.channels(res), c.channels(res / 2));
                let resample_filter = resample_filter(&path);
                let fromrgb =
                    (in_channels == 0 || c.architecture == Architecture::Skip).then(|| {
                        Conv2dLayer::new(
                            &(&path / "fromrgb"),
                            &Conv2dConfig {
                                trainable: trainable(),
                                ..conv(c.img_channels, tmp, 1)
                            },
                        )
                    });
                let conv0 = Conv2dLayer::new(
                    &(&path / "conv0"),
                    &Conv2dConfig {
                        trainable: trainable(),
                        ..conv(tmp, tmp, 3)
                    },
                );
                let conv1 = Conv2dLayer::new(
                    &(&path / "conv1"),
                    &Conv2dConfig {
                        trainable: trainable(),
                        down: 2,
                        ..conv(tmp, out, 3)
                    },
                );
                let skip = (c.architecture == Architecture::Resnet).then(|| {
                    let skip = Conv2dConfig {
                        trainable: trainable(),
                        down: 2,
                        ..Conv2dConfig::skip(tmp, out)
                    };
                    Conv2dLayer::new(&(&path / "skip"), &skip)
                });
                DiscriminatorBlock {
                    use_fp16: res >= fp16_resolution(c.img_resolution, c.num_fp16_res),
                    resample_filter,
                    fromrgb,
                    conv0,
                    conv1,
                    skip,
                    architecture: c.architecture,
                }
            })
            .collect();
        let mapping = (c.c_dim > 0).then(|| {
            let config = MappingConfig {
                w_avg_beta: None,
                ..MappingConfig::stylegan2(0, c.c_dim, cmap_dim, None)
            };
            MappingNetwork::new(&(&root / "mapping"), &config)
        });
        let b4 = &root / "b4";
        let channels = c.channels(4);
        let mbstd_channels = c.epilogue_kwargs.mbstd_num_channels;
        let fromrgb = (c.architecture == Architecture::Skip)
            .then(|| Conv2dLayer::new(&(&b4 / "fromrgb"), &conv(c.img_channels, channels, 1)));
        let epilogue = Epilogue {
            fromrgb,
            conv: Conv2dLayer::new(
                &(&b4 / "conv"),
                &conv(channels + mbstd_channels, channels, 3),
            ),
            fc: FullyConnected::new(
                &(&b4 / "fc"),
                &FcConfig {
                    activation: Activation::Lrelu,
                    ..FcConfig::new(channels * 16, channels, FcFlavor::Sg2)
                },
            ),
            out: FullyConnected::new(
                &(&b4 / "out"),
                &FcConfig::new(
                    channels,
                    if cmap_dim == 0 { 1 } else { cmap_dim },
                    FcFlavor::Sg2,
                ),
            ),
            cmap_dim,
            mbstd: c.epilogue_kwargs.clone(),
        };
        Discriminator {
            vs,
            config: config.clone(),
            blocks,
            mapping,
            epilogue,
            precision: Precision::default(),
        }
    }

    /// Where the float16 blocks compute in float16 (default: as the reference, on CUDA only).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The constructor arguments.
    pub fn config(&self) -> &DiscriminatorConfig {
        &self.config
    }

    /// Logits and the features after each block (for activation checks).
    pub fn forward_with_activations(&self, img: &Tensor, c: &Tensor) -> (Tensor, Vec<Tensor>) {
        let mut x = None;
        let mut image = Some(img.to_kind(Kind::Float));
        let mut activations = Vec::new();
        for block in &self.blocks {
            let dtype = self.precision.kind(block.use_fp16, img.device());
            let (features, next) = block.forward(x, image, dtype);
            activations.push(features.shallow_clone());
            x = Some(features);
            image = next;
        }
        let e = &self.epilogue;
        // The epilogue always computes in float32.
        let mut x = x.expect("at least one block").to_kind(Kind::Float);
        if let Some(fromrgb) = &e.fromrgb {
            let image = image.expect("skip keeps the image").to_kind(Kind::Float);
            x = x + fromrgb.forward(&image, 1.0);
        }
        if e.mbstd.mbstd_num_channels > 0 {
            x = minibatch_std(&x, e.mbstd.mbstd_group_size, e.mbstd.mbstd_num_channels);
        }
        let x = e.conv.forward(&x, 1.0);
        let x = e.out.forward(&e.fc.forward(&x.flatten(1, -1)));
        let logits = match &self.mapping {
            Some(mapping) => {
                let cmap = mapping.forward(
                    &Tensor::zeros([c.size()[0], 0], (Kind::Float, c.device())),
                    c,
                    1.0,
                    None,
                    false,
                );
                #[expect(clippy::cast_precision_loss, reason = "small dimension")]
                let scale = 1.0 / (e.cmap_dim as f64).sqrt();
                (x * cmap).sum_dim_intlist([1i64].as_slice(), true, Kind::Float) * scale
            }
            None => x,
        };
        (logits, activations)
    }
}

impl DiscriminatorNet for Discriminator {
    fn forward(&self, img: &Tensor, c: &Tensor, _update_emas: bool) -> Tensor {
        self.forward_with_activations(img, c).0
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}

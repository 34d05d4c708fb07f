//! Equalised-learning-rate building blocks — ports of `networks_stylegan2.FullyConnectedLayer`,
//! `networks_stylegan3.FullyConnectedLayer` and `networks_stylegan2.Conv2dLayer`.
//!
//! Parameters are created in the reference's order from the CPU generator (so `tch::manual_seed`
//! reproduces the official initialisation) and stored in the `nn::Path` under the official names.

use tch::{Device, Kind, Tensor, nn};

use crate::ops::bias_act::{Activation, BiasAct, bias_act};
use crate::ops::conv2d_resample::{Resample, conv2d_resample};
use crate::ops::upfirdn2d::{Padding, setup_filter};

/// A trainable parameter initialised with `value` (generated on the CPU, moved to the store's
/// device).
pub fn parameter(path: &nn::Path, name: &str, value: &Tensor) -> Tensor {
    path.var_copy(name, value)
}

/// A non-trainable tensor (a buffer, or a frozen weight) initialised with `value`.
pub fn buffer(path: &nn::Path, name: &str, value: &Tensor) -> Tensor {
    let mut tensor = path.zeros_no_train(name, &value.size());
    tch::no_grad(|| tensor.copy_(value));
    tensor
}

/// The `resample_filter` buffer of a reference layer or block under `path`: the default
/// `[1, 3, 3, 1]`, set up (`setup_filter`) as a normalised 4×4 filter.
pub fn resample_filter(path: &nn::Path) -> Tensor {
    let filter = setup_filter(
        &Tensor::from_slice(&[1.0f32, 3.0, 3.0, 1.0]),
        true,
        false,
        1.0,
        None,
    );
    buffer(path, "resample_filter", &filter)
}

/// Standard normal numbers from the CPU generator (what the reference's `torch.randn` draws at
/// construction time).
pub fn randn_cpu(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, (Kind::Float, Device::Cpu))
}

/// The bias initial value: one value for every output, or one per output.
#[derive(Debug, Clone, PartialEq)]
pub enum BiasInit {
    /// The same value everywhere.
    Scalar(f64),
    /// A value per output (broadcast as numpy does).
    PerOutput(Vec<f64>),
}

/// Which reference class a fully-connected layer follows; they differ in initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FcFlavor {
    /// `networks_stylegan2.FullyConnectedLayer`: `weight ~ N(0,1)/lr_mul`, `bias = bias_init`.
    Sg2,
    /// `networks_stylegan3.FullyConnectedLayer`: `weight ~ N(0,1)·weight_init/lr_mul`,
    /// `bias = bias_init/lr_mul`.
    Sg3,
}

/// Constructor arguments of [`FullyConnected`] (the reference's keyword names).
#[derive(Debug, Clone, PartialEq)]
pub struct FcConfig {
    /// Input features.
    pub in_features: i64,
    /// Output features.
    pub out_features: i64,
    /// Whether there is a bias.
    pub bias: bool,
    /// Activation.
    pub activation: Activation,
    /// Learning-rate multiplier.
    pub lr_multiplier: f64,
    /// Weight scale at initialisation (StyleGAN3 only; 1 for StyleGAN2).
    pub weight_init: f64,
    /// Bias at initialisation.
    pub bias_init: BiasInit,
    /// Initialisation rules.
    pub flavor: FcFlavor,
}

impl FcConfig {
    /// A linear layer with the defaults of the reference.
    pub fn new(in_features: i64, out_features: i64, flavor: FcFlavor) -> FcConfig {
        FcConfig {
            in_features,
            out_features,
            bias: true,
            activation: Activation::Linear,
            lr_multiplier: 1.0,
            weight_init: 1.0,
            bias_init: BiasInit::Scalar(0.0),
            flavor,
        }
    }
}

/// A fully-connected layer with run-time weight scaling `lr_mul/sqrt(in)` and bias scaling
/// `lr_mul`.
#[derive(Debug)]
pub struct FullyConnected {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Option<Tensor>,
    activation: Activation,
    weight_gain: f64,
    bias_gain: f64,
}

impl FullyConnected {
    /// Create `weight` and `bias` under `path`.
    pub fn new(path: &nn::Path, config: &FcConfig) -> FullyConnected {
        let (o, i) = (config.out_features, config.in_features);
        // The same arithmetic as the reference, so that the stored values are bit-identical.
        let weight = match config.flavor {
            FcFlavor::Sg2 => randn_cpu(&[o, i]) / config.lr_multiplier,
            FcFlavor::Sg3 => randn_cpu(&[o, i]) * (config.weight_init / config.lr_multiplier),
        };
        let weight = parameter(path, "weight", &weight);
        let bias = config.bias.then(|| {
            let values: Vec<f32> = match &config.bias_init {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "the reference stores float32"
                )]
                BiasInit::Scalar(v) => vec![*v as f32; usize::try_from(o).expect("positive")],
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "the reference stores float32"
                )]
                BiasInit::PerOutput(values) => values.iter().map(|v| *v as f32).collect(),
            };
            let init = Tensor::from_slice(&values);
            let init = if config.flavor == FcFlavor::Sg3 {
                init / config.lr_multiplier
            } else {
                init
            };
            parameter(path, "bias", &init)
        });
        #[expect(clippy::cast_precision_loss, reason = "feature counts are small")]
        let weight_gain = config.lr_multiplier / (i as f64).sqrt();
        FullyConnected {
            weight,
            bias,
            activation: config.activation,
            weight_gain,
            bias_gain: config.lr_multiplier,
        }
    }

    /// `x [N, in]` → `[N, out]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let w = &self.weight * self.weight_gain;
        let b = self.bias.as_ref().map(|b| {
            if self.bias_gain == 1.0 {
                b.shallow_clone()
            } else {
                b * self.bias_gain
            }
        });
        match (&b, self.activation) {
            (Some(b), Activation::Linear) => b.unsqueeze(0).addmm(x, &w.tr()),
            _ => bias_act(
                &x.matmul(&w.tr()),
                b.as_ref(),
                &BiasAct::new(self.activation),
            ),
        }
    }
}

/// Constructor arguments of [`Conv2dLayer`] (the reference's keyword names).
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2dConfig {
    /// Input channels.
    pub in_channels: i64,
    /// Output channels.
    pub out_channels: i64,
    /// Kernel width and height.
    pub kernel_size: i64,
    /// Whether there is a bias.
    pub bias: bool,
    /// Activation.
    pub activation: Activation,
    /// Upsampling factor.
    pub up: i64,
    /// Downsampling factor.
    pub down: i64,
    /// Clamp of the activation output.
    pub conv_clamp: Option<f64>,
    /// `false` stores weight and bias as buffers (Freeze-D).
    pub trainable: bool,
}

impl Conv2dConfig {
    /// A linear `k×k` convolution with bias, no resampling.
    pub fn new(in_channels: i64, out_channels: i64, kernel_size: i64) -> Conv2dConfig {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel_size,
            bias: true,
            activation: Activation::Linear,
            up: 1,
            down: 1,
            conv_clamp: None,
            trainable: true,
        }
    }

    /// The `skip` branch of a residual block: a linear 1×1 convolution without bias.
    pub fn skip(in_channels: i64, out_channels: i64) -> Conv2dConfig {
        Conv2dConfig {
            bias: false,
            ..Conv2dConfig::new(in_channels, out_channels, 1)
        }
    }
}

/// A convolution with equalised learning rate, optional resampling, bias, activation and clamp.
#[derive(Debug)]
pub struct Conv2dLayer {
    /// `[O, I, k, k]`.
    pub weight: Tensor,
    /// `[O]`.
    pub bias: Option<Tensor>,
    resample_filter: Tensor,
    config: Conv2dConfig,
    weight_gain: f64,
}

impl Conv2dLayer {
    /// Create `weight`, `bias` and the `resample_filter` buffer under `path`.
    pub fn new(path: &nn::Path, config: &Conv2dConfig) -> Conv2dLayer {
        let k = config.kernel_size;
        let resample_filter = resample_filter(path);
        let weight_init = randn_cpu(&[config.out_channels, config.in_channels, k, k]);
        let bias_init = config
            .bias
            .then(|| Tensor::zeros([config.out_channels], (Kind::Float, Device::Cpu)));
        let create = if config.trainable { parameter } else { buffer };
        let weight = create(path, "weight", &weight_init);
        let bias = bias_init.map(|b| create(path, "bias", &b));
        #[expect(clippy::cast_precision_loss, reason = "channel counts are small")]
        let weight_gain = 1.0 / ((config.in_channels * k * k) as f64).sqrt();
        Conv2dLayer {
            weight,
            bias,
            resample_filter,
            config: config.clone(),
            weight_gain,
        }
    }

    /// `x [N, I, H, W]` → `[N, O, H·up/down, W·up/down]`; `gain` scales the activation gain and
    /// the clamp.
    pub fn forward(&self, x: &Tensor, gain: f64) -> Tensor {
        let c = &self.config;
        let w = &self.weight * self.weight_gain;
        let resample = Resample {
            up: c.up,
            down: c.down,
            padding: Padding::all(c.kernel_size / 2),
            flip_weight: c.up == 1,
            ..Resample::default()
        };
        let y = conv2d_resample(x, &w, Some(&self.resample_filter), &resample);
        let options = BiasAct {
            gain: Some(c.activation.default_gain() * gain),
            clamp: c.conv_clamp.map(|clamp| clamp * gain),
            ..BiasAct::new(c.activation)
        };
        bias_act(&y, self.bias.as_ref(), &options)
    }
}

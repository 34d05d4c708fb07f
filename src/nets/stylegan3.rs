//! The StyleGAN3 generator (alias-free, `-T` and `-R`) — port of
//! `training/networks_stylegan3.py` `SynthesisInput`, `SynthesisLayer`, `SynthesisNetwork` and
//! `Generator`.
//!
//! The layer schedule (sampling rates, cutoffs, stopbands, sizes, channels, filters, paddings) is
//! derived in float64 exactly as the reference does, so layer names (`L2_52_512`…) and buffers
//! equal the official `state_dict`. Mixed precision follows the reference ([`Precision`]):
//! float16 layers on CUDA, float32 on the CPU.

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use super::kwargs::{GeneratorShape, MappingKwargs, default_channel_base, default_channel_max};
use super::layers::{BiasInit, FcConfig, FcFlavor, FullyConnected, buffer, parameter, randn_cpu};
use super::mapping::{MappingConfig, MappingNetwork};
use super::network::{GeneratorNet, NoiseMode};
use super::precision::Precision;
use crate::ops::filtered_lrelu::{FilteredLrelu, filtered_lrelu};
use crate::ops::filters::design_lowpass_filter;
use crate::ops::modconv::modulated_conv2d_sg3;
use crate::ops::upfirdn2d::Padding;

/// Constructor arguments of the StyleGAN3 generator (official keyword names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stylegan3Config {
    /// Latent, label and intermediate-latent sizes, resolution and channels.
    #[serde(flatten)]
    pub shape: GeneratorShape,
    /// Mapping options.
    #[serde(default = "default_mapping")]
    pub mapping_kwargs: MappingKwargs,
    /// Capacity multiplier (`--cbase`; doubled for `-R` by train.py).
    #[serde(default = "default_channel_base")]
    pub channel_base: i64,
    /// Maximum channels.
    #[serde(default = "default_channel_max")]
    pub channel_max: i64,
    /// Layers excluding the Fourier input and ToRGB.
    #[serde(default = "default_num_layers")]
    pub num_layers: i64,
    /// Critically sampled layers at the end.
    #[serde(default = "default_num_critical")]
    pub num_critical: i64,
    /// Cutoff of the first layer.
    #[serde(default = "default_first_cutoff")]
    pub first_cutoff: f64,
    /// Minimum stopband of the first layer.
    #[serde(default = "default_first_stopband")]
    pub first_stopband: f64,
    /// Minimum stopband of the last layer, relative to its cutoff.
    #[serde(default = "default_last_stopband_rel")]
    pub last_stopband_rel: f64,
    /// Extra pixels on each side of the feature maps.
    #[serde(default = "default_margin_size")]
    pub margin_size: i64,
    /// Scale of the output image.
    #[serde(default = "default_output_scale")]
    pub output_scale: f64,
    /// The highest-resolution layers computed in float16 on CUDA (see [`super::precision`]).
    #[serde(default = "default_num_fp16_res")]
    pub num_fp16_res: i64,
    /// Convolution kernel size (1 for `-R`).
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel: i64,
    /// Low-pass filter taps per unit of up/down factor.
    #[serde(default = "default_filter_size")]
    pub filter_size: i64,
    /// Oversampling of the leaky ReLU.
    #[serde(default = "default_lrelu_upsampling")]
    pub lrelu_upsampling: i64,
    /// Radial (rotation-equivariant) downsampling filters (`-R`).
    #[serde(default)]
    pub use_radial_filters: bool,
    /// Activation clamp (`None`: off).
    #[serde(default = "default_conv_clamp")]
    pub conv_clamp: Option<f64>,
    /// Decay of the input-magnitude EMA.
    #[serde(default = "default_magnitude_ema_beta")]
    pub magnitude_ema_beta: f64,
}

fn default_mapping() -> MappingKwargs {
    MappingKwargs { num_layers: 2 }
}
fn default_num_layers() -> i64 {
    14
}
fn default_num_critical() -> i64 {
    2
}
fn default_first_cutoff() -> f64 {
    2.0
}
fn default_first_stopband() -> f64 {
    2f64.powf(2.1)
}
fn default_last_stopband_rel() -> f64 {
    2f64.powf(0.3)
}
fn default_margin_size() -> i64 {
    10
}
fn default_output_scale() -> f64 {
    0.25
}
fn default_num_fp16_res() -> i64 {
    4
}
fn default_conv_kernel() -> i64 {
    3
}
fn default_filter_size() -> i64 {
    6
}
fn default_lrelu_upsampling() -> i64 {
    2
}
#[expect(clippy::unnecessary_wraps, reason = "serde default of an Option field")]
fn default_conv_clamp() -> Option<f64> {
    Some(256.0)
}
fn default_magnitude_ema_beta() -> f64 {
    0.999
}

impl Stylegan3Config {
    /// The reference defaults (`stylegan3-t`) for latent size `z`, label size `c`,
    /// intermediate-latent size `w`, output resolution and channels.
    pub fn new(z: i64, c: i64, w: i64, resolution: i64, channels: i64) -> Stylegan3Config {
        Stylegan3Config {
            shape: GeneratorShape::new(z, c, w, resolution, channels),
            mapping_kwargs: default_mapping(),
            channel_base: default_channel_base(),
            channel_max: default_channel_max(),
            num_layers: default_num_layers(),
            num_critical: default_num_critical(),
            first_cutoff: default_first_cutoff(),
            first_stopband: default_first_stopband(),
            last_stopband_rel: default_last_stopband_rel(),
            margin_size: default_margin_size(),
            output_scale: default_output_scale(),
            num_fp16_res: default_num_fp16_res(),
            conv_kernel: default_conv_kernel(),
            filter_size: default_filter_size(),
            lrelu_upsampling: default_lrelu_upsampling(),
            use_radial_filters: false,
            conv_clamp: default_conv_clamp(),
            magnitude_ema_beta: default_magnitude_ema_beta(),
        }
    }

    /// `num_layers + 2` ws: the input, the layers and ToRGB.
    pub fn num_ws(&self) -> i64 {
        self.num_layers + 2
    }

    /// The Fourier input and every layer's geometry, derived as `SynthesisNetwork.__init__`.
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "small integer sizes, rates and channel counts"
    )]
    pub fn schedule(&self) -> (InputSpec, Vec<LayerSpec>) {
        let last = self.num_layers;
        let res = self.shape.img_resolution as f64;
        let last_cutoff = res / 2.0;
        let last_stopband = last_cutoff * self.last_stopband_rel;
        let levels: Vec<Level> = (0..=last)
            .map(|i| {
                let exponent = (i as f64 / (last - self.num_critical) as f64).min(1.0);
                let cutoff = self.first_cutoff * (last_cutoff / self.first_cutoff).powf(exponent);
                let stopband =
                    self.first_stopband * (last_stopband / self.first_stopband).powf(exponent);
                let sampling_rate = (stopband * 2.0).min(res).log2().ceil().exp2();
                let half_width = stopband.max(sampling_rate / 2.0) - cutoff;
                let size = if i >= last - 1 {
                    self.shape.img_resolution
                } else {
                    sampling_rate as i64 + 2 * self.margin_size
                };
                let channels = if i == last {
                    self.shape.img_channels
                } else {
                    ((self.channel_base as f64 / 2.0) / cutoff)
                        .min(self.channel_max as f64)
                        .round_ties_even() as i64
                };
                Level {
                    cutoff,
                    sampling_rate: sampling_rate as i64,
                    half_width,
                    size,
                    channels,
                }
            })
            .collect();
        let input = InputSpec {
            channels: levels[0].channels,
            size: levels[0].size,
            sampling_rate: levels[0].sampling_rate,
            bandwidth: levels[0].cutoff,
        };
        let layers = (0..=last)
            .map(|i| {
                let index = usize::try_from(i).expect("non-negative");
                self.layer_spec(i, &levels[index.saturating_sub(1)], &levels[index])
            })
            .collect();
        (input, layers)
    }

    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "small integer sizes and rates"
    )]
    fn layer_spec(&self, index: i64, prev: &Level, cur: &Level) -> LayerSpec {
        let is_torgb = index == self.num_layers;
        let is_critically_sampled = index >= self.num_layers - self.num_critical;
        let conv_kernel = if is_torgb { 1 } else { self.conv_kernel };
        let tmp_sampling_rate = prev.sampling_rate.max(cur.sampling_rate)
            * if is_torgb { 1 } else { self.lrelu_upsampling };
        let factor = |rate: i64| (tmp_sampling_rate as f64 / rate as f64).round_ties_even() as i64;
        let up = factor(prev.sampling_rate);
        let down = factor(cur.sampling_rate);
        let taps = |f: i64| {
            if f > 1 && !is_torgb {
                self.filter_size * f
            } else {
                1
            }
        };
        let (up_taps, down_taps) = (taps(up), taps(down));
        let pad_total =
            (cur.size - 1) * down + 1 - (prev.size + conv_kernel - 1) * up + up_taps + down_taps
                - 2;
        let pad_lo = (pad_total + up).div_euclid(2);
        let pad_hi = pad_total - pad_lo;
        LayerSpec {
            name: format!("L{index}_{}_{}", cur.size, cur.channels),
            is_torgb,
            is_critically_sampled,
            use_fp16: cur.sampling_rate * (1 << self.num_fp16_res) > self.shape.img_resolution,
            in_channels: prev.channels,
            out_channels: cur.channels,
            in_size: prev.size,
            out_size: cur.size,
            in_sampling_rate: prev.sampling_rate,
            out_sampling_rate: cur.sampling_rate,
            tmp_sampling_rate,
            in_cutoff: prev.cutoff,
            out_cutoff: cur.cutoff,
            in_half_width: prev.half_width,
            out_half_width: cur.half_width,
            conv_kernel,
            up,
            down,
            up_taps,
            down_taps,
            down_radial: self.use_radial_filters && !is_critically_sampled,
            padding: Padding::new(pad_lo, pad_hi, pad_lo, pad_hi),
        }
    }
}

/// One level of the schedule (index `i` of the reference's per-layer arrays).
#[derive(Debug, Clone, Copy)]
struct Level {
    cutoff: f64,
    sampling_rate: i64,
    half_width: f64,
    size: i64,
    channels: i64,
}

/// Geometry of the Fourier-feature input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputSpec {
    /// Feature channels.
    pub channels: i64,
    /// Width and height in pixels.
    pub size: i64,
    /// Sampling rate.
    pub sampling_rate: i64,
    /// Frequency bandwidth (the first cutoff).
    pub bandwidth: f64,
}

/// Geometry of one synthesis layer, as `SynthesisLayer.__init__` derives it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// Attribute name `L{i}_{out_size}_{out_channels}`.
    pub name: String,
    /// The last layer (ToRGB).
    pub is_torgb: bool,
    /// One of the last `num_critical` layers.
    pub is_critically_sampled: bool,
    /// Computes in float16 on CUDA (`sampling_rate · 2^num_fp16_res > img_resolution`).
    pub use_fp16: bool,
    /// Input channels.
    pub in_channels: i64,
    /// Output channels.
    pub out_channels: i64,
    /// Input size in pixels.
    pub in_size: i64,
    /// Output size in pixels.
    pub out_size: i64,
    /// Input sampling rate.
    pub in_sampling_rate: i64,
    /// Output sampling rate.
    pub out_sampling_rate: i64,
    /// Sampling rate of the leaky ReLU.
    pub tmp_sampling_rate: i64,
    /// Input cutoff.
    pub in_cutoff: f64,
    /// Output cutoff.
    pub out_cutoff: f64,
    /// Input transition half-width.
    pub in_half_width: f64,
    /// Output transition half-width.
    pub out_half_width: f64,
    /// Convolution kernel size (1 for ToRGB).
    pub conv_kernel: i64,
    /// Upsampling factor.
    pub up: i64,
    /// Downsampling factor.
    pub down: i64,
    /// Taps of the upsampling filter (1: none).
    pub up_taps: i64,
    /// Taps of the downsampling filter (1: none).
    pub down_taps: i64,
    /// Whether the downsampling filter is radial.
    pub down_radial: bool,
    /// Padding of the upsampled signal.
    pub padding: Padding,
}

/// Design a filter of the schedule as a buffer, or nothing for a single tap.
#[expect(clippy::cast_precision_loss, reason = "small sampling rates")]
fn filter_buffer(
    path: &nn::Path,
    name: &str,
    taps: i64,
    cutoff: f64,
    half_width: f64,
    sampling_rate: i64,
    radial: bool,
) -> Option<Tensor> {
    design_lowpass_filter(
        usize::try_from(taps).expect("positive taps"),
        cutoff,
        2.0 * half_width,
        sampling_rate as f64,
        radial,
    )
    .map(|filter| buffer(path, name, &filter.to_tensor()))
}

/// Fourier features of a continuous signal, rotated and translated per sample
/// (`SynthesisInput`).
#[derive(Debug)]
struct SynthesisInput {
    spec: InputSpec,
    weight: Tensor,
    transform: Tensor,
    freqs: Tensor,
    phases: Tensor,
    affine: FullyConnected,
}

impl SynthesisInput {
    fn new(path: &nn::Path, w_dim: i64, spec: InputSpec) -> SynthesisInput {
        let c = spec.channels;
        // The reference's float32 arithmetic and draw order: freqs, phases, weight, affine.
        let freqs = randn_cpu(&[c, 2]);
        let radii = freqs
            .square()
            .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
            .sqrt();
        let freqs = freqs / (&radii * radii.square().exp().pow_tensor_scalar(0.25));
        let freqs = freqs * spec.bandwidth;
        let phases = Tensor::rand([c], (Kind::Float, Device::Cpu)) - 0.5;
        let weight = parameter(path, "weight", &randn_cpu(&[c, c]));
        let affine = FullyConnected::new(
            &(path / "affine"),
            &FcConfig {
                weight_init: 0.0,
                bias_init: BiasInit::PerOutput(vec![1.0, 0.0, 0.0, 0.0]),
                ..FcConfig::new(w_dim, 4, FcFlavor::Sg3)
            },
        );
        SynthesisInput {
            spec,
            weight,
            transform: buffer(
                path,
                "transform",
                &Tensor::eye(3, (Kind::Float, Device::Cpu)),
            ),
            freqs: buffer(path, "freqs", &freqs),
            phases: buffer(path, "phases", &phases),
            affine,
        }
    }

    /// `w [N, w_dim]` → features `[N, C, size, size]`.
    #[expect(clippy::cast_precision_loss, reason = "small sizes and rates")]
    fn forward(&self, w: &Tensor) -> Tensor {
        let n = w.size()[0];
        let options = (Kind::Float, w.device());
        // Per-sample rotation and translation predicted from w, composed with the user's transform.
        let t = self.affine.forward(w);
        let t = &t
            / t.narrow(1, 0, 2)
                .norm_scalaropt_dim(2, [1i64].as_slice(), true);
        let column = |i: i64| t.select(1, i);
        let (zero, one) = (Tensor::zeros([n], options), Tensor::ones([n], options));
        let (rc, rs) = (column(0), column(1));
        let m_r = Tensor::stack(&[&rc, &-&rs, &zero, &rs, &rc, &zero, &zero, &zero, &one], 1)
            .reshape([n, 3, 3]);
        let m_t = Tensor::stack(
            &[
                &one,
                &zero,
                &-column(2),
                &zero,
                &one,
                &-column(3),
                &zero,
                &zero,
                &one,
            ],
            1,
        )
        .reshape([n, 3, 3]);
        let transforms = m_r.matmul(&m_t).matmul(&self.transform.unsqueeze(0));
        let freqs = self.freqs.unsqueeze(0);
        let phases = self.phases.unsqueeze(0)
            + freqs
                .matmul(&transforms.narrow(1, 0, 2).narrow(2, 2, 1))
                .squeeze_dim(2);
        let freqs = freqs.matmul(&transforms.narrow(1, 0, 2).narrow(2, 0, 2));
        let bandwidth = self.spec.bandwidth;
        let nyquist = self.spec.sampling_rate as f64 / 2.0;
        let excess: Tensor = (freqs.norm_scalaropt_dim(2, [2i64].as_slice(), false) - bandwidth)
            / (nyquist - bandwidth);
        let amplitudes = (-excess + 1.0).clamp(0.0, 1.0);
        // The sampling grid: pixel centres in units of the sampling rate.
        let size = self.spec.size;
        let scale = 0.5 * size as f64 / self.spec.sampling_rate as f64;
        let theta = Tensor::from_slice(&[scale as f32, 0.0, 0.0, 0.0, scale as f32, 0.0])
            .reshape([1, 2, 3])
            .to_device(w.device());
        let grids = Tensor::affine_grid_generator(&theta, [1, 1, size, size], false);
        let x = grids
            .unsqueeze(3)
            .matmul(&freqs.permute([0, 2, 1]).unsqueeze(1).unsqueeze(2))
            .squeeze_dim(3);
        let x = x + phases.unsqueeze(1).unsqueeze(2);
        let x = (x * (std::f64::consts::PI * 2.0)).sin();
        let x = x * amplitudes.unsqueeze(1).unsqueeze(2);
        let weight = &self.weight / (self.spec.channels as f64).sqrt();
        x.matmul(&weight.tr()).permute([0, 3, 1, 2])
    }
}

/// A modulated convolution followed by the filtered leaky ReLU (`SynthesisLayer`).
#[derive(Debug)]
struct SynthesisLayer {
    spec: LayerSpec,
    affine: FullyConnected,
    weight: Tensor,
    bias: Tensor,
    magnitude_ema: Tensor,
    up_filter: Option<Tensor>,
    down_filter: Option<Tensor>,
    conv_clamp: Option<f64>,
    magnitude_ema_beta: f64,
}

impl SynthesisLayer {
    fn new(path: &nn::Path, config: &Stylegan3Config, spec: LayerSpec) -> SynthesisLayer {
        let affine = FullyConnected::new(
            &(path / "affine"),
            &FcConfig {
                bias_init: BiasInit::Scalar(1.0),
                ..FcConfig::new(config.shape.w_dim, spec.in_channels, FcFlavor::Sg3)
            },
        );
        let k = spec.conv_kernel;
        let weight = parameter(
            path,
            "weight",
            &randn_cpu(&[spec.out_channels, spec.in_channels, k, k]),
        );
        let bias = parameter(
            path,
            "bias",
            &Tensor::zeros([spec.out_channels], (Kind::Float, Device::Cpu)),
        );
        let magnitude_ema = buffer(
            path,
            "magnitude_ema",
            &Tensor::ones([], (Kind::Float, Device::Cpu)),
        );
        let up_filter = filter_buffer(
            path,
            "up_filter",
            spec.up_taps,
            spec.in_cutoff,
            spec.in_half_width,
            spec.tmp_sampling_rate,
            false,
        );
        let down_filter = filter_buffer(
            path,
            "down_filter",
            spec.down_taps,
            spec.out_cutoff,
            spec.out_half_width,
            spec.tmp_sampling_rate,
            spec.down_radial,
        );
        SynthesisLayer {
            spec,
            affine,
            weight,
            bias,
            magnitude_ema,
            up_filter,
            down_filter,
            conv_clamp: config.conv_clamp,
            magnitude_ema_beta: config.magnitude_ema_beta,
        }
    }

    #[expect(clippy::cast_precision_loss, reason = "small channel counts")]
    fn forward(&self, x: &Tensor, w: &Tensor, update_emas: bool, dtype: Kind) -> Tensor {
        if update_emas {
            let current = x.detach().to_kind(Kind::Float).square().mean(Kind::Float);
            let updated = current.lerp(&self.magnitude_ema, self.magnitude_ema_beta);
            tch::no_grad(|| self.magnitude_ema.shallow_clone().copy_(&updated));
        }
        let input_gain = self.magnitude_ema.rsqrt();
        let mut styles = self.affine.forward(w);
        let spec = &self.spec;
        if spec.is_torgb {
            styles = styles
                * (1.0 / ((spec.in_channels * spec.conv_kernel * spec.conv_kernel) as f64).sqrt());
        }
        let y = modulated_conv2d_sg3(
            &x.to_kind(dtype),
            &self.weight,
            &styles,
            !spec.is_torgb,
            spec.conv_kernel - 1,
            Some(&input_gain),
        );
        let (gain, slope) = if spec.is_torgb {
            (1.0, 1.0)
        } else {
            (std::f64::consts::SQRT_2, 0.2)
        };
        filtered_lrelu(
            &y,
            self.up_filter.as_ref(),
            self.down_filter.as_ref(),
            Some(&self.bias),
            &FilteredLrelu {
                up: spec.up,
                down: spec.down,
                padding: spec.padding,
                gain,
                slope,
                clamp: self.conv_clamp,
                flip_filter: false,
            },
        )
    }
}

/// The StyleGAN3 generator: synthesis (`input`, `L0_…` … ToRGB) and mapping.
#[derive(Debug)]
pub struct Stylegan3Generator {
    vs: nn::VarStore,
    config: Stylegan3Config,
    input: SynthesisInput,
    layers: Vec<SynthesisLayer>,
    precision: Cell<Precision>,
    /// The mapping network.
    pub mapping: MappingNetwork,
}

impl Stylegan3Generator {
    /// Build on `device`, drawing the initial values from the CPU generator in the reference's
    /// order (synthesis input, layers, then mapping).
    pub fn new(config: &Stylegan3Config, device: Device) -> Stylegan3Generator {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let synthesis = &root / "synthesis";
        let (input_spec, layer_specs) = config.schedule();
        let input = SynthesisInput::new(&(&synthesis / "input"), config.shape.w_dim, input_spec);
        let layers = layer_specs
            .into_iter()
            .map(|spec| SynthesisLayer::new(&(&synthesis / spec.name.as_str()), config, spec))
            .collect();
        let mapping_config = MappingConfig {
            num_layers: config.mapping_kwargs.num_layers,
            ..MappingConfig::stylegan3(
                config.shape.z_dim,
                config.shape.c_dim,
                config.shape.w_dim,
                config.num_ws(),
            )
        };
        let mapping = MappingNetwork::new(&(&root / "mapping"), &mapping_config);
        Stylegan3Generator {
            vs,
            config: config.clone(),
            input,
            layers,
            precision: Cell::new(Precision::default()),
            mapping,
        }
    }

    /// The constructor arguments.
    pub fn config(&self) -> &Stylegan3Config {
        &self.config
    }

    /// Set the user transform of the input (`synthesis.input.transform`, a 3×3 matrix that maps
    /// output coordinates to input coordinates: `gen_images` writes the *inverse* of the
    /// translation/rotation it applies).
    pub fn set_input_transform(&self, transform: &Tensor) {
        tch::no_grad(|| {
            self.input
                .transform
                .shallow_clone()
                .copy_(&transform.to_kind(Kind::Float));
        });
    }

    /// Synthesis returning the input's and every layer's output too, named `input`,
    /// `L0_36_512`, … (for activation checks).
    pub fn synthesis_with_activations(
        &self,
        ws: &Tensor,
        update_emas: bool,
    ) -> (Tensor, Vec<(String, Tensor)>) {
        let ws = ws.to_kind(Kind::Float);
        let mut x = self.input.forward(&ws.select(1, 0));
        let mut activations = vec![("input".to_string(), x.shallow_clone())];
        for (index, layer) in (1..).zip(&self.layers) {
            let dtype = self.precision.get().kind(layer.spec.use_fp16, ws.device());
            x = layer.forward(&x, &ws.select(1, index), update_emas, dtype);
            activations.push((layer.spec.name.clone(), x.shallow_clone()));
        }
        let img = if self.config.output_scale == 1.0 {
            x
        } else {
            x * self.config.output_scale
        };
        let img = img.to_kind(Kind::Float);
        (img, activations)
    }
}

impl GeneratorNet for Stylegan3Generator {
    fn mapping_network(&self) -> &MappingNetwork {
        &self.mapping
    }

    fn precision_policy(&self) -> &Cell<Precision> {
        &self.precision
    }

    fn synthesis(
        &self,
        ws: &Tensor,
        _noise_mode: NoiseMode,
        update_emas: bool,
        _training: bool,
    ) -> Tensor {
        self.synthesis_with_activations(ws, update_emas).0
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn as_stylegan3(&self) -> Option<&Stylegan3Generator> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(config: &Stylegan3Config) -> Vec<String> {
        config.schedule().1.into_iter().map(|l| l.name).collect()
    }

    #[test]
    fn the_1024_schedules_match_the_reference_tables() {
        let t = Stylegan3Config::new(512, 0, 512, 1024, 3);
        let (input, layers) = t.schedule();
        assert_eq!(
            (input.channels, input.size, input.sampling_rate),
            (512, 36, 16)
        );
        assert_eq!(
            names(&t),
            [
                "L0_36_512",
                "L1_36_512",
                "L2_52_512",
                "L3_52_512",
                "L4_84_512",
                "L5_148_512",
                "L6_148_512",
                "L7_276_323",
                "L8_276_203",
                "L9_532_128",
                "L10_1044_81",
                "L11_1044_51",
                "L12_1044_32",
                "L13_1024_32",
                "L14_1024_3"
            ]
        );
        let paddings: Vec<i64> = layers.iter().map(|l| l.padding.x0).collect();
        assert_eq!(
            paddings,
            [9, 9, -6, 9, -6, -6, 9, -6, 9, -6, -6, 9, 9, -11, 0]
        );
        assert_eq!(layers[13].padding, Padding::new(-11, -12, -11, -12));
        assert_eq!((layers[2].up_taps, layers[2].down_taps), (24, 12));
        assert_eq!((layers[14].up_taps, layers[14].down_taps), (1, 1));

        let r = Stylegan3Config {
            channel_base: 65536,
            channel_max: 1024,
            conv_kernel: 1,
            use_radial_filters: true,
            ..t.clone()
        };
        let (_, layers) = r.schedule();
        assert_eq!(
            names(&r)[7..],
            [
                "L7_276_645",
                "L8_276_406",
                "L9_532_256",
                "L10_1044_161",
                "L11_1044_102",
                "L12_1044_64",
                "L13_1024_64",
                "L14_1024_3"
            ]
        );
        assert_eq!(layers[0].padding, Padding::new(11, 10, 11, 10));
        assert_eq!(layers[2].padding, Padding::new(-2, -5, -2, -5));
        assert_eq!(layers[13].padding, Padding::new(-9, -10, -9, -10));
        let radial: Vec<bool> = layers.iter().map(|l| l.down_radial).collect();
        assert_eq!(radial, [[true; 12].as_slice(), &[false; 3]].concat());
    }

    #[test]
    fn the_256_schedule_names_its_layers_as_the_reference() {
        assert_eq!(
            names(&Stylegan3Config::new(512, 0, 512, 256, 3)),
            [
                "L0_36_512",
                "L1_36_512",
                "L2_36_512",
                "L3_52_512",
                "L4_52_512",
                "L5_84_512",
                "L6_84_512",
                "L7_148_512",
                "L8_148_512",
                "L9_148_362",
                "L10_276_256",
                "L11_276_181",
                "L12_276_128",
                "L13_256_128",
                "L14_256_3"
            ]
        );
    }
}

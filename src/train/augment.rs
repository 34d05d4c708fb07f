//! The ADA augmentation pipeline — port of `training/augment.py` `AugmentPipe`.
//!
//! Every random number comes from libtorch's global generator in the reference's order, so with
//! the same `tch::manual_seed` the pipe reproduces the official augmentations. Augmentations whose
//! multiplier is 0 draw nothing; the others always draw, even at `p = 0`.

use std::f64::consts::PI;

use tch::{Device, Kind, Tensor};

use crate::ops::upfirdn2d::{Factor, Padding, downsample2d, upsample2d};

/// A differentiable augmentation applied to every image D sees.
pub trait Augmenter {
    /// Augment `[N, C, H, W]` images.
    fn augment(&self, images: &Tensor) -> Tensor;
}

/// The 12-tap `sym6` wavelet low-pass normalised to unit sum (float32), the geometric resampling
/// filter `Hz_geom`.
const HZ_GEOM: [f32; 12] = [
    0.010_892_349,
    0.002_468_305_9,
    -0.083_431_6,
    -0.034_161_56,
    0.347_228_94,
    0.556_946_4,
    0.238_952_17,
    -0.051_362_48,
    -0.014_891_874,
    0.031_625_28,
    0.001_249_961,
    -0.005_515_933_5,
];

/// The `sym2` wavelet low-pass, from which the image-space filter bank is built.
const SYM2: [f64; 4] = [
    -0.129_409_522_550_921_45,
    0.224_143_868_041_857_35,
    0.836_516_303_737_469,
    0.482_962_913_144_690_25,
];

/// Probability multipliers and ranges of each augmentation (the reference's keyword names).
#[derive(Debug, Clone, PartialEq)]
#[expect(
    missing_docs,
    reason = "fields are the reference's AugmentPipe arguments, documented there"
)]
pub struct AugmentConfig {
    pub xflip: f64,
    pub rotate90: f64,
    pub xint: f64,
    pub xint_max: f64,
    pub scale: f64,
    pub rotate: f64,
    pub aniso: f64,
    pub xfrac: f64,
    pub scale_std: f64,
    pub rotate_max: f64,
    pub aniso_std: f64,
    pub xfrac_std: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub lumaflip: f64,
    pub hue: f64,
    pub saturation: f64,
    pub brightness_std: f64,
    pub contrast_std: f64,
    pub hue_max: f64,
    pub saturation_std: f64,
    pub imgfilter: f64,
    pub imgfilter_bands: [f64; 4],
    pub imgfilter_std: f64,
    pub noise: f64,
    pub cutout: f64,
    pub noise_std: f64,
    pub cutout_size: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            xflip: 0.0,
            rotate90: 0.0,
            xint: 0.0,
            xint_max: 0.125,
            scale: 0.0,
            rotate: 0.0,
            aniso: 0.0,
            xfrac: 0.0,
            scale_std: 0.2,
            rotate_max: 1.0,
            aniso_std: 0.2,
            xfrac_std: 0.125,
            brightness: 0.0,
            contrast: 0.0,
            lumaflip: 0.0,
            hue: 0.0,
            saturation: 0.0,
            brightness_std: 0.2,
            contrast_std: 0.5,
            hue_max: 1.0,
            saturation_std: 1.0,
            imgfilter: 0.0,
            imgfilter_bands: [1.0; 4],
            imgfilter_std: 1.0,
            noise: 0.0,
            cutout: 0.0,
            noise_std: 0.1,
            cutout_size: 0.5,
        }
    }
}

impl AugmentConfig {
    /// A named pipeline of StyleGAN2-ADA (`blit`, `geom`, `color`, `filter`, `noise`, `cutout`,
    /// `bg`, `bgc`, `bgcf`, `bgcfn`, `bgcfnc`).
    pub fn named(name: &str) -> Option<AugmentConfig> {
        let (blit, geom, color, filter, noise, cutout) = match name {
            "blit" => (true, false, false, false, false, false),
            "geom" => (false, true, false, false, false, false),
            "color" => (false, false, true, false, false, false),
            "filter" => (false, false, false, true, false, false),
            "noise" => (false, false, false, false, true, false),
            "cutout" => (false, false, false, false, false, true),
            "bg" => (true, true, false, false, false, false),
            "bgc" => (true, true, true, false, false, false),
            "bgcf" => (true, true, true, true, false, false),
            "bgcfn" => (true, true, true, true, true, false),
            "bgcfnc" => (true, true, true, true, true, true),
            _ => return None,
        };
        let on = |flag: bool| f64::from(u8::from(flag));
        Some(AugmentConfig {
            xflip: on(blit),
            rotate90: on(blit),
            xint: on(blit),
            scale: on(geom),
            rotate: on(geom),
            aniso: on(geom),
            xfrac: on(geom),
            brightness: on(color),
            contrast: on(color),
            lumaflip: on(color),
            hue: on(color),
            saturation: on(color),
            imgfilter: on(filter),
            noise: on(noise),
            cutout: on(cutout),
            ..AugmentConfig::default()
        })
    }
}

/// The pipeline with its probability `p` (adjusted by ADA, saved in snapshots).
#[derive(Debug)]
pub struct AugmentPipe {
    /// Configuration.
    pub config: AugmentConfig,
    /// Augmentation probability.
    pub p: f64,
    /// Fixed draws replaced by this percentile (deterministic debugging variant).
    pub debug_percentile: Option<f64>,
    hz_geom: Tensor,
    hz_fbank: Tensor,
}

/// The image-space filter bank `Hz_fbank [4, 43]` built from `sym2`, as the reference builds it.
pub fn filter_bank() -> Tensor {
    let lo = SYM2;
    let hi: Vec<f64> = lo
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 0 { *v } else { -v })
        .collect();
    let convolve = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; a.len() + b.len() - 1];
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                out[i + j] += x * y;
            }
        }
        out
    };
    let reversed = |v: &[f64]| v.iter().rev().copied().collect::<Vec<f64>>();
    let lo2: Vec<f64> = convolve(&lo, &reversed(&lo))
        .iter()
        .map(|v| v / 2.0)
        .collect();
    let hi2: Vec<f64> = convolve(&hi, &reversed(&hi))
        .iter()
        .map(|v| v / 2.0)
        .collect();
    let mut bank: Vec<Vec<f64>> = (0..4)
        .map(|r| vec![if r == 0 { 1.0 } else { 0.0 }])
        .collect();
    for i in 1..4 {
        bank = bank
            .iter()
            .map(|row| {
                let mut interleaved: Vec<f64> = row.iter().flat_map(|v| [*v, 0.0]).collect();
                interleaved.pop();
                convolve(&interleaved, &lo2)
            })
            .collect();
        let width = bank[i].len();
        let start = (width - hi2.len()) / 2;
        for (k, v) in hi2.iter().enumerate() {
            bank[i][start + k] += v;
        }
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the reference stores float32"
    )]
    let flat: Vec<f32> = bank.iter().flatten().map(|v| *v as f32).collect();
    Tensor::from_slice(&flat).reshape([4, -1])
}

/// `[N]` tensors (or floats) into `[N, rows, cols]` matrices.
fn matrix(rows: &[&[Entry]], n: i64, device: Device) -> Tensor {
    let cols = rows[0].len();
    let elements: Vec<Tensor> = rows
        .iter()
        .flat_map(|row| row.iter())
        .map(|e| e.to_tensor(n, device))
        .collect();
    Tensor::stack(&elements, -1).reshape([
        n,
        i64::try_from(rows.len()).expect("small"),
        i64::try_from(cols).expect("small"),
    ])
}

/// A matrix element: a constant or a per-sample value.
enum Entry {
    Const(f64),
    PerSample(Tensor),
}

impl Entry {
    fn to_tensor(&self, n: i64, device: Device) -> Tensor {
        match self {
            Entry::Const(v) => Tensor::full([n], *v, (Kind::Float, device)),
            Entry::PerSample(t) => t.reshape([n]),
        }
    }
}

use Entry::{Const, PerSample};

fn per(t: &Tensor) -> Entry {
    PerSample(t.shallow_clone())
}

fn translate2d(tx: Entry, ty: Entry, n: i64, device: Device) -> Tensor {
    matrix(
        &[
            &[Const(1.0), Const(0.0), tx],
            &[Const(0.0), Const(1.0), ty],
            &[Const(0.0), Const(0.0), Const(1.0)],
        ],
        n,
        device,
    )
}

fn scale2d(sx: Entry, sy: Entry, n: i64, device: Device) -> Tensor {
    matrix(
        &[
            &[sx, Const(0.0), Const(0.0)],
            &[Const(0.0), sy, Const(0.0)],
            &[Const(0.0), Const(0.0), Const(1.0)],
        ],
        n,
        device,
    )
}

fn rotate2d(theta: &Tensor, n: i64, device: Device) -> Tensor {
    matrix(
        &[
            &[per(&theta.cos()), per(&(-theta).sin()), Const(0.0)],
            &[per(&theta.sin()), per(&theta.cos()), Const(0.0)],
            &[Const(0.0), Const(0.0), Const(1.0)],
        ],
        n,
        device,
    )
}

/// The random draws of an augmentation pass, on the images' device, in the reference's order.
struct Draws {
    device: Device,
}

impl Draws {
    /// `torch.rand(shape)`.
    fn rand(&self, shape: &[i64]) -> Tensor {
        Tensor::rand(shape, (Kind::Float, self.device))
    }

    /// `torch.randn(shape)`.
    fn randn(&self, shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Float, self.device))
    }

    /// `value` where a fresh `rand(shape) < probability`, else `identity` (an augmentation applied
    /// with its probability).
    fn gate(&self, value: Tensor, probability: f64, shape: &[i64], identity: f64) -> Tensor {
        let keep = self.rand(shape).lt(probability);
        value.where_self(&keep, &value.full_like(identity))
    }
}

/// `erfinv(2q − 1)` in float32: the normal quantile a debug percentile `q` stands for.
fn erfinv_percentile(q: f64) -> f64 {
    Tensor::from(q * 2.0 - 1.0)
        .to_kind(Kind::Float)
        .erfinv()
        .double_value(&[])
}

impl AugmentPipe {
    /// A pipe with probability `p` on `device`.
    pub fn new(config: AugmentConfig, p: f64, device: Device) -> AugmentPipe {
        AugmentPipe {
            config,
            p,
            debug_percentile: None,
            hz_geom: Tensor::from_slice(&HZ_GEOM).to_device(device),
            hz_fbank: filter_bank().to_device(device),
        }
    }

    /// The same pipe (configuration, probability, debug percentile) with its constants on
    /// `device`.
    pub fn to_device(&self, device: Device) -> AugmentPipe {
        AugmentPipe {
            config: self.config.clone(),
            p: self.p,
            debug_percentile: self.debug_percentile,
            hz_geom: self.hz_geom.to_device(device),
            hz_fbank: self.hz_fbank.to_device(device),
        }
    }

    fn full(like: &Tensor, value: f64) -> Tensor {
        like.full_like(value)
    }

    /// Augment `images [N, C, H, W]`.
    #[expect(
        clippy::too_many_lines,
        reason = "one pass mirroring the reference, augmentation by augmentation"
    )]
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let c = &self.config;
        let [n, channels, height, width] = images.size()[..] else {
            panic!("augment expects [N, C, H, W]")
        };
        let device = images.device();
        let q = self.debug_percentile;
        let draws = Draws { device };
        let mut g_inv: Option<Tensor> = None;
        let compose = |g: &mut Option<Tensor>, m: Tensor| {
            *g = Some(match g.take() {
                Some(prev) => prev.matmul(&m),
                None => Tensor::eye(3, (Kind::Float, device))
                    .expand([n, 3, 3], false)
                    .matmul(&m),
            });
        };
        let (wf, hf) = (width as f64, height as f64);

        if c.xflip > 0.0 {
            let i = (draws.rand(&[n]) * 2.0).floor();
            let mut i = draws.gate(i, c.xflip * self.p, &[n], 0.0);
            if let Some(q) = q {
                i = Self::full(&i, (q * 2.0).floor());
            }
            compose(
                &mut g_inv,
                scale2d(per(&(1.0 / (1.0 - &i * 2.0))), Const(1.0), n, device),
            );
        }
        if c.rotate90 > 0.0 {
            let i = (draws.rand(&[n]) * 4.0).floor();
            let mut i = draws.gate(i, c.rotate90 * self.p, &[n], 0.0);
            if let Some(q) = q {
                i = Self::full(&i, (q * 4.0).floor());
            }
            compose(&mut g_inv, rotate2d(&(&i * (PI / 2.0)), n, device));
        }
        if c.xint > 0.0 {
            let t = (draws.rand(&[n, 2]) * 2.0 - 1.0) * c.xint_max;
            let keep = draws.rand(&[n, 1]).lt(c.xint * self.p);
            let mut t = t.where_self(&keep, &t.zeros_like());
            if let Some(q) = q {
                t = Self::full(&t, (q * 2.0 - 1.0) * c.xint_max);
            }
            let tx = (t.select(1, 0) * wf).round();
            let ty = (t.select(1, 1) * hf).round();
            compose(&mut g_inv, translate2d(per(&(-tx)), per(&(-ty)), n, device));
        }
        if c.scale > 0.0 {
            let s = (draws.randn(&[n]) * c.scale_std).exp2();
            let mut s = draws.gate(s, c.scale * self.p, &[n], 1.0);
            if let Some(q) = q {
                s = Self::full(&s, 2f64.powf(erfinv_percentile(q) * c.scale_std));
            }
            compose(
                &mut g_inv,
                scale2d(per(&s.reciprocal()), per(&s.reciprocal()), n, device),
            );
        }
        let p_rot = 1.0 - (1.0 - c.rotate * self.p).clamp(0.0, 1.0).sqrt();
        if c.rotate > 0.0 {
            let theta = (draws.rand(&[n]) * 2.0 - 1.0) * PI * c.rotate_max;
            let mut theta = draws.gate(theta, p_rot, &[n], 0.0);
            if let Some(q) = q {
                theta = Self::full(&theta, (q * 2.0 - 1.0) * PI * c.rotate_max);
            }
            compose(&mut g_inv, rotate2d(&theta, n, device));
        }
        if c.aniso > 0.0 {
            let s = (draws.randn(&[n]) * c.aniso_std).exp2();
            let mut s = draws.gate(s, c.aniso * self.p, &[n], 1.0);
            if let Some(q) = q {
                s = Self::full(&s, 2f64.powf(erfinv_percentile(q) * c.aniso_std));
            }
            compose(
                &mut g_inv,
                scale2d(per(&s.reciprocal()), per(&s), n, device),
            );
        }
        if c.rotate > 0.0 {
            let theta = (draws.rand(&[n]) * 2.0 - 1.0) * PI * c.rotate_max;
            let mut theta = draws.gate(theta, p_rot, &[n], 0.0);
            if q.is_some() {
                theta = theta.zeros_like();
            }
            compose(&mut g_inv, rotate2d(&theta, n, device));
        }
        if c.xfrac > 0.0 {
            let t = draws.randn(&[n, 2]) * c.xfrac_std;
            let keep = draws.rand(&[n, 1]).lt(c.xfrac * self.p);
            let mut t = t.where_self(&keep, &t.zeros_like());
            if let Some(q) = q {
                t = Self::full(&t, erfinv_percentile(q) * c.xfrac_std);
            }
            compose(
                &mut g_inv,
                translate2d(
                    per(&(t.select(1, 0) * -wf)),
                    per(&(t.select(1, 1) * -hf)),
                    n,
                    device,
                ),
            );
        }

        let mut images = images.shallow_clone();
        if let Some(g) = g_inv {
            images = self.geometric(&images, g);
        }
        images = self.color(&images, n, channels, height, width);
        if c.imgfilter > 0.0 {
            images = self.filter(&images, n, channels, height, width);
        }
        if c.noise > 0.0 {
            let sigma = draws.randn(&[n, 1, 1, 1]).abs() * c.noise_std;
            let mut sigma = draws.gate(sigma, c.noise * self.p, &[n, 1, 1, 1], 0.0);
            if let Some(q) = q {
                sigma = Self::full(
                    &sigma,
                    Tensor::from(q)
                        .to_kind(Kind::Float)
                        .erfinv()
                        .double_value(&[])
                        * c.noise_std,
                );
            }
            images = &images + draws.randn(&[n, channels, height, width]) * sigma;
        }
        if c.cutout > 0.0 {
            let size = Tensor::full([n, 2, 1, 1, 1], c.cutout_size, (Kind::Float, device));
            let mut size = draws.gate(size, c.cutout * self.p, &[n, 1, 1, 1, 1], 0.0);
            let mut center = draws.rand(&[n, 2, 1, 1, 1]);
            if let Some(q) = q {
                size = Self::full(&size, c.cutout_size);
                center = Self::full(&center, q);
            }
            let coord_x = Tensor::arange(width, (Kind::Float, device)).reshape([1, 1, 1, -1]);
            let coord_y = Tensor::arange(height, (Kind::Float, device)).reshape([1, 1, -1, 1]);
            let mask_x = ((coord_x + 0.5) / wf - center.select(1, 0))
                .abs()
                .ge_tensor(&(size.select(1, 0) / 2.0));
            let mask_y = ((coord_y + 0.5) / hf - center.select(1, 1))
                .abs()
                .ge_tensor(&(size.select(1, 1) / 2.0));
            images = &images * mask_x.logical_or(&mask_y).to_kind(Kind::Float);
        }
        images
    }

    fn geometric(&self, images: &Tensor, g_inv: Tensor) -> Tensor {
        let [n, channels, height, width] = images.size()[..] else {
            unreachable!("checked")
        };
        let device = images.device();
        let (cx, cy) = ((width - 1) as f64 / 2.0, (height - 1) as f64 / 2.0);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "float32 constants as the reference"
        )]
        let corners = Tensor::from_slice(
            &[-cx, -cy, 1.0, cx, -cy, 1.0, cx, cy, 1.0, -cx, cy, 1.0].map(|v| v as f32),
        )
        .reshape([4, 3])
        .to_device(device);
        let cp = g_inv.matmul(&corners.tr()); // [N, 3, 4]
        let hz_pad = self.hz_geom.size()[0] / 4;
        let margin = cp.narrow(1, 0, 2).permute([1, 0, 2]).flatten(1, -1); // [2, N·4]
        let margin = Tensor::cat(&[-&margin, margin], 0).amax([1i64].as_slice(), false); // [x0, y0, x1, y1]
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            reason = "float32 constants as the reference"
        )]
        let offset = Tensor::from_slice(
            &[
                (hz_pad * 2) as f64 - cx,
                (hz_pad * 2) as f64 - cy,
                (hz_pad * 2) as f64 - cx,
                (hz_pad * 2) as f64 - cy,
            ]
            .map(|v| v as f32),
        )
        .to_device(device);
        #[expect(clippy::cast_precision_loss, reason = "small sizes")]
        let upper = Tensor::from_slice(&[
            (width - 1) as f32,
            (height - 1) as f32,
            (width - 1) as f32,
            (height - 1) as f32,
        ])
        .to_device(device);
        let margin = (margin + offset)
            .clamp_min(0.0)
            .minimum(&upper)
            .ceil()
            .to_kind(Kind::Int64);
        let m: Vec<i64> = Vec::<i64>::try_from(margin.to_device(Device::Cpu)).expect("int tensor");
        let (mx0, my0, mx1, my1) = (m[0], m[1], m[2], m[3]);
        let images = images.pad([mx0, mx1, my0, my1], "reflect", None);
        #[expect(clippy::cast_precision_loss, reason = "small margins")]
        let shift = translate2d(
            Const((mx0 - mx1) as f64 / 2.0),
            Const((my0 - my1) as f64 / 2.0),
            n,
            device,
        );
        let mut g = shift.matmul(&g_inv);
        let images = upsample2d(
            &images,
            Some(&self.hz_geom),
            Factor::from(2),
            Padding::default(),
            false,
            1.0,
        );
        g = scale2d(Const(2.0), Const(2.0), n, device)
            .matmul(&g)
            .matmul(&scale2d(Const(0.5), Const(0.5), n, device));
        g = translate2d(Const(-0.5), Const(-0.5), n, device)
            .matmul(&g)
            .matmul(&translate2d(Const(0.5), Const(0.5), n, device));
        let shape = [
            n,
            channels,
            (height + hz_pad * 2) * 2,
            (width + hz_pad * 2) * 2,
        ];
        let (ih, iw) = (images.size()[2] as f64, images.size()[3] as f64);
        #[expect(clippy::cast_precision_loss, reason = "small sizes")]
        let (sh, sw) = (shape[2] as f64, shape[3] as f64);
        g = scale2d(Const(2.0 / iw), Const(2.0 / ih), n, device)
            .matmul(&g)
            .matmul(&scale2d(Const(sw / 2.0), Const(sh / 2.0), n, device));
        let grid = Tensor::affine_grid_generator(&g.narrow(1, 0, 2), shape, false);
        let images = images.grid_sampler(&grid, 0, 0, false);
        downsample2d(
            &images,
            Some(&self.hz_geom),
            Factor::from(2),
            Padding::all(-hz_pad * 2),
            true,
            1.0,
        )
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the official colour pass draws its six gated transforms in a fixed order into one matrix; split, the draw order would be spread over functions"
    )]
    fn color(&self, images: &Tensor, n: i64, channels: i64, height: i64, width: i64) -> Tensor {
        let c = &self.config;
        let device = images.device();
        let q = self.debug_percentile;
        let draws = Draws { device };
        let eye = Tensor::eye(4, (Kind::Float, device));
        let mut m: Option<Tensor> = None;
        let apply = |m: &mut Option<Tensor>, t: Tensor| {
            *m = Some(match m.take() {
                Some(prev) => t.matmul(&prev),
                None => t.matmul(&eye),
            });
        };
        #[expect(
            clippy::cast_possible_truncation,
            reason = "float32 constant as the reference"
        )]
        let v = Tensor::from_slice(&[1.0, 1.0, 1.0, 0.0].map(|x: f64| (x / 3f64.sqrt()) as f32))
            .to_device(device);
        let vv = v.outer(&v);
        if c.brightness > 0.0 {
            let b = draws.randn(&[n]) * c.brightness_std;
            let mut b = draws.gate(b, c.brightness * self.p, &[n], 0.0);
            if let Some(q) = q {
                b = Self::full(&b, erfinv_percentile(q) * c.brightness_std);
            }
            let z = Const(0.0);
            let o = Const(1.0);
            apply(
                &mut m,
                matrix(
                    &[
                        &[Const(1.0), Const(0.0), Const(0.0), per(&b)],
                        &[Const(0.0), Const(1.0), Const(0.0), per(&b)],
                        &[Const(0.0), Const(0.0), Const(1.0), per(&b)],
                        &[z, Const(0.0), Const(0.0), o],
                    ],
                    n,
                    device,
                ),
            );
        }
        if c.contrast > 0.0 {
            let s = (draws.randn(&[n]) * c.contrast_std).exp2();
            let mut s = draws.gate(s, c.contrast * self.p, &[n], 1.0);
            if let Some(q) = q {
                s = Self::full(&s, 2f64.powf(erfinv_percentile(q) * c.contrast_std));
            }
            apply(
                &mut m,
                matrix(
                    &[
                        &[per(&s), Const(0.0), Const(0.0), Const(0.0)],
                        &[Const(0.0), per(&s), Const(0.0), Const(0.0)],
                        &[Const(0.0), Const(0.0), per(&s), Const(0.0)],
                        &[Const(0.0), Const(0.0), Const(0.0), Const(1.0)],
                    ],
                    n,
                    device,
                ),
            );
        }
        if c.lumaflip > 0.0 {
            let i = (draws.rand(&[n, 1, 1]) * 2.0).floor();
            let mut i = draws.gate(i, c.lumaflip * self.p, &[n, 1, 1], 0.0);
            if let Some(q) = q {
                i = Self::full(&i, (q * 2.0).floor());
            }
            apply(&mut m, &eye - &vv * 2.0 * i);
        }
        if c.hue > 0.0 && channels > 1 {
            let theta = (draws.rand(&[n]) * 2.0 - 1.0) * PI * c.hue_max;
            let mut theta = draws.gate(theta, c.hue * self.p, &[n], 0.0);
            if let Some(q) = q {
                theta = Self::full(&theta, (q * 2.0 - 1.0) * PI * c.hue_max);
            }
            let (vx, vy, vz) = (
                v.double_value(&[0]),
                v.double_value(&[1]),
                v.double_value(&[2]),
            );
            let (s, co) = (theta.sin(), theta.cos());
            let cc = 1.0 - &co;
            let e = |a: f64, b: f64| &cc * (a * b);
            apply(
                &mut m,
                matrix(
                    &[
                        &[
                            per(&(e(vx, vx) + &co)),
                            per(&(e(vx, vy) - &s * vz)),
                            per(&(e(vx, vz) + &s * vy)),
                            Const(0.0),
                        ],
                        &[
                            per(&(e(vy, vx) + &s * vz)),
                            per(&(e(vy, vy) + &co)),
                            per(&(e(vy, vz) - &s * vx)),
                            Const(0.0),
                        ],
                        &[
                            per(&(e(vz, vx) - &s * vy)),
                            per(&(e(vz, vy) + &s * vx)),
                            per(&(e(vz, vz) + &co)),
                            Const(0.0),
                        ],
                        &[Const(0.0), Const(0.0), Const(0.0), Const(1.0)],
                    ],
                    n,
                    device,
                ),
            );
        }
        if c.saturation > 0.0 && channels > 1 {
            let s = (draws.randn(&[n, 1, 1]) * c.saturation_std).exp2();
            let mut s = draws.gate(s, c.saturation * self.p, &[n, 1, 1], 1.0);
            if let Some(q) = q {
                s = Self::full(&s, 2f64.powf(erfinv_percentile(q) * c.saturation_std));
            }
            apply(&mut m, &vv + (&eye - &vv) * s);
        }
        let Some(m) = m else {
            return images.shallow_clone();
        };
        let flat = images.reshape([n, channels, height * width]);
        let out = match channels {
            3 => {
                m.narrow(1, 0, 3).narrow(2, 0, 3).matmul(&flat) + m.narrow(1, 0, 3).narrow(2, 3, 1)
            }
            1 => {
                let m = m
                    .narrow(1, 0, 3)
                    .mean_dim([1i64].as_slice(), true, Kind::Float);
                &flat
                    * m.narrow(2, 0, 3)
                        .sum_dim_intlist([2i64].as_slice(), true, Kind::Float)
                    + m.narrow(2, 3, 1)
            }
            other => panic!("color augmentation needs 1 or 3 channels, got {other}"),
        };
        out.reshape([n, channels, height, width])
    }

    fn filter(&self, images: &Tensor, n: i64, channels: i64, height: i64, width: i64) -> Tensor {
        let c = &self.config;
        let device = images.device();
        let draws = Draws { device };
        let bands = self.hz_fbank.size()[0];
        #[expect(
            clippy::cast_possible_truncation,
            reason = "float32 constants as the reference"
        )]
        let expected_power =
            Tensor::from_slice(&[10.0, 1.0, 1.0, 1.0].map(|v: f64| (v / 13.0) as f32))
                .to_device(device);
        let mut g = Tensor::ones([n, bands], (Kind::Float, device));
        for (i, band_strength) in c.imgfilter_bands.iter().enumerate() {
            let t_i = (draws.randn(&[n]) * c.imgfilter_std).exp2();
            let keep = draws.rand(&[n]).lt(c.imgfilter * self.p * band_strength);
            let mut t_i = t_i.where_self(&keep, &t_i.ones_like());
            if let Some(q) = self.debug_percentile {
                let value = if *band_strength > 0.0 {
                    2f64.powf(erfinv_percentile(q) * c.imgfilter_std)
                } else {
                    1.0
                };
                t_i = t_i.full_like(value);
            }
            let index = i64::try_from(i).expect("4 bands");
            let t = Tensor::ones([n, bands], (Kind::Float, device)).index_copy(
                1,
                &Tensor::from_slice(&[index]).to_device(device),
                &t_i.unsqueeze(1),
            );
            let t = &t
                / (&expected_power * t.square())
                    .sum_dim_intlist([-1i64].as_slice(), true, Kind::Float)
                    .sqrt();
            g = g * t;
        }
        let hz = g
            .matmul(&self.hz_fbank)
            .unsqueeze(1)
            .repeat([1, channels, 1])
            .reshape([n * channels, 1, -1]);
        let p = self.hz_fbank.size()[1] / 2;
        let x = images
            .reshape([1, n * channels, height, width])
            .pad([p, p, p, p], "reflect", None);
        let x = x.conv2d(
            &hz.unsqueeze(2),
            None::<Tensor>,
            [1, 1],
            [0, 0],
            [1, 1],
            n * channels,
        );
        let x = x.conv2d(
            &hz.unsqueeze(3),
            None::<Tensor>,
            [1, 1],
            [0, 0],
            [1, 1],
            n * channels,
        );
        x.reshape([n, channels, height, width])
    }
}

impl Augmenter for AugmentPipe {
    fn augment(&self, images: &Tensor) -> Tensor {
        self.forward(images)
    }
}

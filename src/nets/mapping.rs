//! The mapping network z, c → w — ports of `networks_stylegan2.MappingNetwork` and
//! `networks_stylegan3.MappingNetwork`, which differ only in defaults and in the
//! fully-connected layer's initialisation.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

use super::layers::{FcConfig, FcFlavor, FullyConnected, buffer};
use crate::ops::bias_act::Activation;
use crate::ops::misc::normalize_2nd_moment;

/// Constructor arguments (the reference's keyword names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingConfig {
    /// Latent size (0: none).
    pub z_dim: i64,
    /// Label size (0: unconditional).
    pub c_dim: i64,
    /// Intermediate latent size.
    pub w_dim: i64,
    /// Number of ws to broadcast to (`None`: return `[N, w_dim]`).
    pub num_ws: Option<i64>,
    /// Number of fully-connected layers.
    pub num_layers: i64,
    /// Label embedding size (`None`: `w_dim`).
    pub embed_features: Option<i64>,
    /// Hidden layer size (`None`: `w_dim`).
    pub layer_features: Option<i64>,
    /// Learning-rate multiplier of the layers.
    pub lr_multiplier: f64,
    /// Decay of the tracked `w_avg` (`None`: no tracking).
    pub w_avg_beta: Option<f64>,
    /// Which reference class (initialisation rules and defaults).
    #[serde(skip, default = "default_flavor")]
    pub flavor: FcFlavor,
}

fn default_flavor() -> FcFlavor {
    FcFlavor::Sg2
}

impl MappingConfig {
    /// StyleGAN2's defaults: 8 layers, lr multiplier 0.01, `w_avg_beta` 0.998.
    pub fn stylegan2(z_dim: i64, c_dim: i64, w_dim: i64, num_ws: Option<i64>) -> MappingConfig {
        MappingConfig {
            z_dim,
            c_dim,
            w_dim,
            num_ws,
            num_layers: 8,
            embed_features: None,
            layer_features: None,
            lr_multiplier: 0.01,
            w_avg_beta: Some(0.998),
            flavor: FcFlavor::Sg2,
        }
    }

    /// StyleGAN3's defaults: 2 layers, lr multiplier 0.01, `w_avg_beta` 0.998.
    pub fn stylegan3(z_dim: i64, c_dim: i64, w_dim: i64, num_ws: i64) -> MappingConfig {
        MappingConfig {
            num_layers: 2,
            flavor: FcFlavor::Sg3,
            ..MappingConfig::stylegan2(z_dim, c_dim, w_dim, Some(num_ws))
        }
    }
}

/// The mapping network.
#[derive(Debug)]
pub struct MappingNetwork {
    config: MappingConfig,
    embed: Option<FullyConnected>,
    layers: Vec<FullyConnected>,
    /// The tracked average w `[w_dim]` (a buffer).
    pub w_avg: Option<Tensor>,
}

impl MappingNetwork {
    /// Create the layers under `path` (names `embed`, `fc0`…, `w_avg`).
    pub fn new(path: &nn::Path, config: &MappingConfig) -> MappingNetwork {
        let c = config;
        let embed_features = if c.c_dim == 0 {
            0
        } else {
            c.embed_features.unwrap_or(c.w_dim)
        };
        let layer_features = c.layer_features.unwrap_or(c.w_dim);
        let mut features = vec![c.z_dim + embed_features];
        features.extend(std::iter::repeat_n(
            layer_features,
            usize::try_from(c.num_layers - 1).expect("at least one layer"),
        ));
        features.push(c.w_dim);
        let embed = (c.c_dim > 0).then(|| {
            FullyConnected::new(
                &(path / "embed"),
                &FcConfig::new(c.c_dim, embed_features, c.flavor),
            )
        });
        let layers = (0..c.num_layers)
            .map(|i| {
                let index = usize::try_from(i).expect("non-negative");
                let fc = FcConfig {
                    activation: Activation::Lrelu,
                    lr_multiplier: c.lr_multiplier,
                    ..FcConfig::new(features[index], features[index + 1], c.flavor)
                };
                FullyConnected::new(&(path / format!("fc{i}")), &fc)
            })
            .collect();
        let tracked = c.w_avg_beta.is_some() && (c.num_ws.is_some() || c.flavor == FcFlavor::Sg3);
        let w_avg = tracked.then(|| {
            buffer(
                path,
                "w_avg",
                &Tensor::zeros([c.w_dim], (Kind::Float, Device::Cpu)),
            )
        });
        MappingNetwork {
            config: config.clone(),
            embed,
            layers,
            w_avg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MappingConfig {
        &self.config
    }

    /// `z [N, z_dim]`, `c [N, c_dim]` → `[N, num_ws, w_dim]` (or `[N, w_dim]` without `num_ws`).
    /// With `update_emas`, `w_avg` first moves toward the batch mean. Truncation
    /// `w_avg + ψ(w − w_avg)` applies to the first `truncation_cutoff` ws (all when `None`).
    pub fn forward(
        &self,
        z: &Tensor,
        c: &Tensor,
        truncation_psi: f64,
        truncation_cutoff: Option<i64>,
        update_emas: bool,
    ) -> Tensor {
        let mut x =
            (self.config.z_dim > 0).then(|| normalize_2nd_moment(&z.to_kind(Kind::Float), 1, 1e-8));
        if let Some(embed) = &self.embed {
            let y = normalize_2nd_moment(&embed.forward(&c.to_kind(Kind::Float)), 1, 1e-8);
            x = Some(match x {
                Some(x) => Tensor::cat(&[x, y], 1),
                None => y,
            });
        }
        let mut x = x.expect("the mapping has a latent or a label input");
        for layer in &self.layers {
            x = layer.forward(&x);
        }
        if update_emas && let (Some(w_avg), Some(beta)) = (&self.w_avg, self.config.w_avg_beta) {
            let updated = x
                .detach()
                .mean_dim([0i64].as_slice(), false, Kind::Float)
                .lerp(w_avg, beta);
            tch::no_grad(|| w_avg.shallow_clone().copy_(&updated));
        }
        if let Some(num_ws) = self.config.num_ws {
            x = x.unsqueeze(1).repeat([1, num_ws, 1]);
        }
        if truncation_psi != 1.0 {
            let w_avg = self
                .w_avg
                .as_ref()
                .expect("truncation needs a tracked w_avg");
            x = match (self.config.num_ws, truncation_cutoff) {
                (Some(num_ws), Some(cutoff)) if cutoff < num_ws => {
                    let head = w_avg.lerp(&x.narrow(1, 0, cutoff), truncation_psi);
                    Tensor::cat(&[head, x.narrow(1, cutoff, num_ws - cutoff)], 1)
                }
                _ => w_avg.lerp(&x, truncation_psi),
            };
        }
        x
    }
}

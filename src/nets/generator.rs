//! A generator of any family — what snapshots, the trainer and `kimg generate` hold.

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};

use super::mapping::MappingNetwork;
use super::network::{GeneratorNet, NoiseMode};
use super::precision::Precision;
use super::stylegan2::{Stylegan2Config, Stylegan2Generator};
use super::stylegan3::{Stylegan3Config, Stylegan3Generator};

/// The generator family a configuration trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    /// `networks_stylegan2.Generator`.
    #[serde(rename = "stylegan2")]
    Stylegan2,
    /// `networks_stylegan3.Generator`, translation equivariant.
    #[serde(rename = "stylegan3-t")]
    Stylegan3T,
    /// `networks_stylegan3.Generator` with 1×1 convolutions and radial filters.
    #[serde(rename = "stylegan3-r")]
    Stylegan3R,
}

/// A StyleGAN2 or StyleGAN3 generator.
#[derive(Debug)]
pub enum Generator {
    /// `networks_stylegan2.Generator`.
    Stylegan2(Stylegan2Generator),
    /// `networks_stylegan3.Generator` (`-T` or `-R`).
    Stylegan3(Stylegan3Generator),
}

/// The StyleGAN3 configuration that `G_kwargs` build: `-R` with radial filters, else `-T`.
pub fn stylegan3_arch(kwargs: &serde_json::Value) -> Arch {
    if kwargs["use_radial_filters"] == true {
        Arch::Stylegan3R
    } else {
        Arch::Stylegan3T
    }
}

impl Generator {
    /// Build the `arch` generator from its constructor arguments (`G_kwargs`, official names).
    pub fn from_kwargs(
        arch: Arch,
        kwargs: &serde_json::Value,
        device: Device,
    ) -> Result<Generator, serde_json::Error> {
        Ok(match arch {
            Arch::Stylegan2 => {
                let config: Stylegan2Config = serde_json::from_value(kwargs.clone())?;
                Generator::Stylegan2(Stylegan2Generator::new(&config, device))
            }
            Arch::Stylegan3T | Arch::Stylegan3R => {
                let config: Stylegan3Config = serde_json::from_value(kwargs.clone())?;
                Generator::Stylegan3(Stylegan3Generator::new(&config, device))
            }
        })
    }

    /// The family: StyleGAN3 generators with radial filters are `-R`.
    pub fn arch(&self) -> Arch {
        match self {
            Generator::Stylegan2(_) => Arch::Stylegan2,
            Generator::Stylegan3(g) if g.config().use_radial_filters => Arch::Stylegan3R,
            Generator::Stylegan3(_) => Arch::Stylegan3T,
        }
    }

    /// The constructor arguments (`G_kwargs`) as JSON.
    pub fn kwargs(&self) -> serde_json::Value {
        let value = match self {
            Generator::Stylegan2(g) => serde_json::to_value(g.config()),
            Generator::Stylegan3(g) => serde_json::to_value(g.config()),
        };
        value.expect("configurations serialise")
    }

    fn net(&self) -> &dyn GeneratorNet {
        match self {
            Generator::Stylegan2(g) => g,
            Generator::Stylegan3(g) => g,
        }
    }
}

impl GeneratorNet for Generator {
    fn mapping_network(&self) -> &MappingNetwork {
        self.net().mapping_network()
    }

    fn precision_policy(&self) -> &Cell<Precision> {
        self.net().precision_policy()
    }

    fn synthesis(
        &self,
        ws: &Tensor,
        noise_mode: NoiseMode,
        update_emas: bool,
        training: bool,
    ) -> Tensor {
        self.net().synthesis(ws, noise_mode, update_emas, training)
    }

    fn var_store(&self) -> &nn::VarStore {
        self.net().var_store()
    }

    fn as_stylegan3(&self) -> Option<&Stylegan3Generator> {
        self.net().as_stylegan3()
    }
}

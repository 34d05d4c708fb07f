//! Constructor arguments both generator families share (official keyword names): the sizes a
//! generator is built for, the mapping options and the capacity defaults.

use serde::{Deserialize, Serialize};

/// The sizes a generator is built for (the official constructors' first five arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorShape {
    /// Latent size.
    pub z_dim: i64,
    /// Label size.
    pub c_dim: i64,
    /// Intermediate latent size.
    pub w_dim: i64,
    /// Output resolution (power of two ≥ 4).
    pub img_resolution: i64,
    /// Output channels.
    pub img_channels: i64,
}

impl GeneratorShape {
    /// The sizes in the official constructors' order.
    pub fn new(
        z_dim: i64,
        c_dim: i64,
        w_dim: i64,
        img_resolution: i64,
        img_channels: i64,
    ) -> GeneratorShape {
        GeneratorShape {
            z_dim,
            c_dim,
            w_dim,
            img_resolution,
            img_channels,
        }
    }
}

/// Mapping options of a generator (`mapping_kwargs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingKwargs {
    /// Number of mapping layers.
    pub num_layers: i64,
}

/// The official `channel_base` default of both generators.
pub(super) fn default_channel_base() -> i64 {
    32768
}

/// The official `channel_max` default of both generators.
pub(super) fn default_channel_max() -> i64 {
    512
}

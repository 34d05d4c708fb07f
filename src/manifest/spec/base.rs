//! What resolution takes from `presets/base.toml`, the one home of plain default values.
//!
//! Base is the lowest layer of every chain and no layer can unset a key, so every key its layer
//! sets has a value after layering ([`from_base`]). Its `[fallback]` table holds the defaults that
//! a StyleGAN2-ADA configuration's table replaces ([`fallback`]).

use std::sync::LazyLock;

use serde::Deserialize;

use crate::manifest::catalog::base_fallback;

/// The `[fallback]` table of `presets/base.toml`: `train.*` values for when no layer sets the key
/// and `train.cfg` is not a StyleGAN2-ADA configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fallback {
    /// `train.cbase`.
    pub(super) cbase: u32,
    /// `train.dlr`.
    pub(super) dlr: f64,
    /// `train.kimg`.
    pub(super) kimg: u64,
    /// `train.mbstd_group`.
    pub(super) mbstd_group: u32,
}

/// `presets/base.toml`'s `[fallback]` table, parsed once.
pub(super) fn fallback() -> &'static Fallback {
    static FALLBACK: LazyLock<Fallback> = LazyLock::new(|| {
        toml::from_str(base_fallback())
            .expect("presets/base.toml ends with a valid `[fallback]` table")
    });
    &FALLBACK
}

/// The value of `key`, a key that the layer of `presets/base.toml` sets.
pub(super) fn from_base<T>(value: Option<T>, key: &str) -> T {
    value.unwrap_or_else(|| panic!("presets/base.toml sets `{key}`, and no layer can unset it"))
}

#[cfg(test)]
mod tests {
    use super::fallback;

    #[test]
    fn the_fallback_table_parses() {
        let fallback = fallback();
        assert!(fallback.cbase > 0 && fallback.kimg > 0 && fallback.mbstd_group > 0);
        assert!(fallback.dlr > 0.0);
    }
}

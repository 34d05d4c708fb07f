//! The resolved, validated configuration of an experiment, with every value `train.py` derives.
//!
//! [`ExperimentSpec::resolve`] is the one place where defaults that depend on other values are
//! computed, exactly as the official `train.py` computes them, and where the StyleGAN2-ADA
//! configurations apply their table (`train.py`'s `cfg_specs` in stylegan2-ada-pytorch). Errors
//! name the file and key that supplied the value.
//!
//! Plain default values live only in `presets/base.toml`: in its layer, the lowest of every chain,
//! and in its `[fallback]` table (`base`). Resolution runs in this order: `data` resolves `[data]`;
//! `options` checks each `[train]` option on its own; `defaults` fills what the options leave unset
//! (the StyleGAN2-ADA table, `[fallback]`, `train.py`'s per-architecture rules); `train` runs
//! `train.py`'s consistency checks (`check`) and assembles the [`TrainSpec`]; `derived` computes the
//! values `train.py` derives from the options.

mod base;
mod check;
mod data;
mod defaults;
mod derived;
mod experiment;
mod float;
mod halving;
mod options;
mod train;

pub use data::{DataSpec, is_valid_resolution};
pub use derived::Derived;
pub use experiment::ExperimentSpec;
pub use float::normalize_f64;
pub use halving::HalvingSpec;
pub use train::TrainSpec;

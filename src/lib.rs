//! kimg turns checked-in TOML manifests into reproducible StyleGAN training runs.
//!
//! The flow, module by module:
//!
//! ```text
//! experiments/*.toml ─extends→ presets/**/*.toml   manifest: wire → figment chain → spec
//!        ↓
//!   sweep     expand `[sweep]` into concrete runs
//!   run       identity hash, run directory, status, lock
//!   schedule  local GPUs or Slurm
//!   train     loop, loss, ADA, EMA, snapshots on nets + ops
//!   metrics   FID, KID, precision/recall, IS at snapshots; `kimg metrics`, `fid`, `report`
//! ```
//!
//! [`manifest`] reads manifests and presets into a resolved [`manifest::ExperimentSpec`];
//! [`cli`] is the command line; [`device`] reports what libtorch can use.
//! `docs/ARCHITECTURE.md` lists the layers and what each module owns; `tests/it/layers.rs` checks
//! that no module uses one above it.

pub mod cli;
pub mod data;
pub mod device;
pub mod env_vars;
pub mod error;
pub mod fsutil;
pub mod generate;
pub mod halving;
pub mod manifest;
pub mod metrics;
pub mod nets;
pub mod numpy_rng;
pub mod ops;
pub mod pyfmt;
pub mod run;
pub mod run_files;
pub mod schedule;
pub mod signals;
pub mod snapshot;
pub mod sweep;
pub mod tfevents;
pub mod train;
pub mod ui;
pub mod worker;

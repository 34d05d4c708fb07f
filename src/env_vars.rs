//! Every environment variable kimg reads, in one place, each with what it does.

/// Path of the libtorch installation (its `lib/` and `include/`); read by `torch-sys` at build time
/// and reported by `kimg doctor`.
pub const LIBTORCH: &str = "LIBTORCH";

/// Prefix of configuration overrides: `KIMG_TRAIN__GAMMA=4` sets `train.gamma` (sections are split
/// on `__`). Applied after the manifest and before `--set`.
pub const CONFIG_PREFIX: &str = "KIMG_";

/// When set (to anything), progress bars are hidden even on a terminal.
pub const NO_PROGRESS: &str = "KIMG_NO_PROGRESS";

/// The conventional switch that turns colour off in diagnostics and tables.
pub const NO_COLOR: &str = "NO_COLOR";

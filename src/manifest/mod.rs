//! Manifests and presets: reading, inheritance, validation and resolution.
//!
//! `wire` is the raw shape of one file, `load` layers files with figment (precedence documented
//! there), `spec` resolves the merged values into an [`ExperimentSpec`] with everything `train.py`
//! derives, `cfg` holds the `--cfg` table, `catalog` finds presets, `error` reports problems with
//! file, line and key; `diff` lists the keys that differ between resolved configurations.

pub mod catalog;
pub mod cfg;
pub mod diff;
pub mod error;
pub mod fields;
pub mod load;
pub mod preset_summary;
pub mod show;
pub mod source;
pub mod spec;
pub mod sweep_check;
pub mod sweep_wire;
pub mod wire;

pub use cfg::{Arch, Aug, Cfg};
pub use error::{ErrorKind, ManifestError, ManifestErrors};
pub use load::{Layers, Override};
pub use spec::{DataSpec, Derived, ExperimentSpec, TrainSpec};

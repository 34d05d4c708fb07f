//! Sweep expansion: a manifest's `[sweep]` table turned into concrete runs.
//!
//! Axes combine as a cartesian product in key order (the first key varies slowest); a
//! `[[sweep.zip]]` group is one axis whose keys advance together; `{ times = [...] }` multiplies the
//! value the key resolves to without the sweep; `exclude` drops combinations. Every run is resolved
//! through the normal path (the swept values become `--set`-style overrides), so derived values
//! follow the swept ones, and each run records how its swept values were obtained.

mod axes;
mod exclude;
mod expand;
mod run_spec;

pub use expand::expand;
pub use run_spec::{RunSpec, SweptValue};

//! Training: the loop and its parts (optimizer, statistics, progress).

pub mod adam;
pub mod stats;

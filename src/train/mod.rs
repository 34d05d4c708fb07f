//! Training: the loop and its parts (optimizer, statistics, progress).

pub mod adam;
pub mod augment;
pub mod cadence;
pub mod curves;
pub mod error;
pub mod iteration;
pub mod loss;
pub mod replicas;
pub mod stats;
pub mod trainer;

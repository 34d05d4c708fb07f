//! Training: the loop and its parts (optimizer, statistics, progress).

pub mod adam;
pub mod augment;
pub mod curves;
pub mod iteration;
pub mod loss;
pub mod replicas;
pub mod schedule;
pub mod stats;
pub mod trainer;

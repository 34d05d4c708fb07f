//! Training data: datasets in the official layout, the sampler, image grids.

pub mod check;
pub mod dataset;
pub mod grid;
pub mod loader;
pub mod sampler;
pub mod tool;

pub use dataset::{DataError, Dataset, DatasetOptions};

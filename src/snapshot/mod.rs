//! Network snapshots: kimg's own safetensors files and the official pickles.

pub mod file;
pub mod metadata;
pub mod name;
pub mod networks;
pub mod official;
pub mod pickle;

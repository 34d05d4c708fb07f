//! Network snapshots: reading the official pickles.

pub mod official;
pub mod pickle;

//! The networks part of a snapshot's `kimg` metadata document: what a reader needs to rebuild G
//! and D and find the training set (the names of the official pickle's fields). The trainer writes
//! this part flattened beside its own resume state, so readers of networks ignore the rest.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::nets::generator::Arch;

/// The networks and training set a snapshot was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkMetadata {
    /// The generator family.
    pub arch: Arch,
    /// G's (and G_ema's) constructor arguments.
    #[serde(rename = "G_kwargs")]
    pub g_kwargs: serde_json::Value,
    /// D's constructor arguments (absent from generator-only files).
    #[serde(rename = "D_kwargs", default, skip_serializing_if = "Option::is_none")]
    pub d_kwargs: Option<serde_json::Value>,
    /// The training set (absent from generator-only files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_set_kwargs: Option<TrainingSetKwargs>,
}

/// The training set a snapshot was trained on (the pickle's `training_set_kwargs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSetKwargs {
    /// The dataset's zip or folder.
    pub path: Option<PathBuf>,
    /// Whether labels were used (`cond`).
    pub use_labels: bool,
    /// Whether x-flips were added (`mirror`).
    pub xflip: bool,
    /// Image side in pixels.
    pub resolution: usize,
}

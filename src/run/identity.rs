//! Run identity: sha256 of a canonical document of everything that changes the trained network.
//!
//! In: every resolved training hyperparameter and derived value, the seed, `data.cond`,
//! `data.mirror`, `data.max_size`, the resolution, the dataset fingerprint and
//! [`RUN_KEY_VERSION`]. Out, because they do not change what is learned: `gpus` and `batch_gpu`
//! (kimg's results do not depend on them), `workers`, `nobench`, `desc`, and the schedule —
//! `kimg`, `tick`, `snap`, `metrics` — so raising `kimg` continues the same run. `fp32` is in: it
//! removes the activation clamp, which changes the math on every device.
//!
//! The document is JSON with sorted keys; numbers keep their schema type (a float key written `2`
//! or `2.0` in TOML hashes the same), floats are printed shortest-round-trip.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manifest::ExperimentSpec;

/// Bumped on purpose whenever the identity rule changes (the golden-hash test forces the choice).
pub const RUN_KEY_VERSION: u32 = 1;

/// `train.*` keys that never enter the identity.
pub const EXCLUDED_TRAIN_KEYS: [&str; 9] = [
    "gpus",
    "batch_gpu",
    "workers",
    "nobench",
    "desc",
    "kimg",
    "tick",
    "snap",
    "metrics",
];

/// A run's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIdentity {
    /// The canonical document that was hashed.
    pub document: String,
    /// Its sha256, hex.
    pub hash: String,
}

impl RunIdentity {
    /// The first 12 hex digits, used in directory names.
    pub fn short(&self) -> &str {
        &self.hash[..12]
    }
}

/// The identity of `spec` trained on data with `dataset_fingerprint` (`None` when the dataset is
/// not readable here: then its path stands in, and the identity is provisional).
pub fn run_identity(spec: &ExperimentSpec, dataset_fingerprint: Option<&str>) -> RunIdentity {
    let mut train = serde_json::to_value(&spec.train).expect("specs serialise");
    if let Value::Object(map) = &mut train {
        for key in EXCLUDED_TRAIN_KEYS {
            map.remove(key);
        }
        // The derived twin of `nobench`.
        if let Some(Value::Object(derived)) = map.get_mut("derived") {
            derived.remove("cudnn_benchmark");
        }
    }
    let dataset = match dataset_fingerprint {
        Some(fingerprint) => Value::String(format!("sha256:{fingerprint}")),
        None => Value::String(format!(
            "path:{}",
            spec.data
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )),
    };
    let mut document = serde_json::json!({
        "run_key_version": RUN_KEY_VERSION,
        "train": train,
        "data": {
            "cond": spec.data.cond,
            "mirror": spec.data.mirror,
            "max_size": spec.data.max_size,
            "resolution": spec.data.resolution,
            "dataset": dataset,
        },
    });
    document.sort_all_objects();
    let document = serde_json::to_string_pretty(&document).expect("JSON renders");
    let hash = format!("{:x}", Sha256::digest(document.as_bytes()));
    RunIdentity { document, hash }
}

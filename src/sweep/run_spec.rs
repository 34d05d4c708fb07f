//! A concrete run of a manifest and the values the sweep set for it.

use crate::manifest::ExperimentSpec;
use crate::manifest::wire::ManifestWire;

/// One swept value of a run and how it was obtained.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweptValue {
    /// Dotted key.
    pub key: String,
    /// The value.
    pub value: toml::Value,
    /// E.g. `8.2 × 0.25 = 2.05`, or the value itself for a plain list.
    pub how: String,
}

/// One concrete run of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The resolved configuration with the swept values applied.
    pub spec: ExperimentSpec,
    /// What the sweep set, in axis order (empty without a sweep).
    pub swept: Vec<SweptValue>,
    /// The run as one self-contained manifest: every layer merged with the swept values applied,
    /// no `extends`, no sweep, the data path absolute. Resolving it gives `spec` again.
    pub config: ManifestWire,
}

impl RunSpec {
    /// What varies, for directory names and tables: `gamma2.05-seed1` (empty without a sweep).
    pub fn short_description(&self) -> String {
        self.swept
            .iter()
            .map(|s| {
                let name = s.key.rsplit('.').next().unwrap_or(&s.key);
                let value = match &s.value {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                format!("{name}{value}")
            })
            .collect::<Vec<_>>()
            .join("-")
    }
}

//! [`ExperimentSpec`]: a whole experiment resolved, and where resolution starts.

use std::sync::Arc;

use serde::Serialize;

use super::data::{DataSpec, resolve_data};
use super::halving::{HalvingSpec, resolve_halving};
use super::train::{TrainSpec, resolve_train};
use crate::manifest::error::ManifestErrors;
use crate::manifest::load::Layers;
use crate::manifest::sweep_check::check_sweep;
use crate::manifest::sweep_wire::SweepWire;
use crate::manifest::wire::PresetMetaWire;

/// A whole experiment after inheritance, overrides and validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentSpec {
    /// Experiment name (folder under `runs/`).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Preset metadata inherited through `extends` (empty for plain experiments).
    pub preset: PresetMetaWire,
    /// The dataset.
    pub data: DataSpec,
    /// Training options and derived values.
    pub train: TrainSpec,
    /// The validated `[sweep]` table (expansion happens in the sweep module); shared, not
    /// copied, by every run of the sweep.
    #[serde(skip)]
    pub sweep: Option<Arc<SweepWire>>,
    /// `[schedule.halving]`, when set: how the sweep's losing runs stop early (scheduling only:
    /// not in a run's identity, nor in `training_options.json`).
    #[serde(skip)]
    pub halving: Option<HalvingSpec>,
}

impl ExperimentSpec {
    /// Resolve merged layers. `dataset_resolution` is the resolution read from the dataset when it
    /// was opened; `default_name` names the experiment when the manifest does not.
    pub fn resolve(
        layers: &Layers,
        dataset_resolution: Option<u32>,
        default_name: &str,
    ) -> Result<Self, ManifestErrors> {
        let mut errors = Vec::new();
        let wire = &layers.merged;
        let data = resolve_data(
            layers,
            wire.data.clone().unwrap_or_default(),
            dataset_resolution,
            &mut errors,
        );
        let preset = wire.preset.clone().unwrap_or_default();
        let resolution = data.resolution.or(preset.resolution);
        let train = resolve_train(
            layers,
            &mut errors,
            wire.train.clone().unwrap_or_default(),
            resolution,
        );
        if let Some(sweep) = &wire.sweep {
            errors.extend(check_sweep(layers, sweep));
        }
        let halving_wire = wire.schedule.as_ref().and_then(|s| s.halving.clone());
        let halving = match (&train, halving_wire) {
            (Some(train), Some(w)) => resolve_halving(layers, &mut errors, &w, train),
            _ => None,
        };
        match train {
            Some(train) if errors.is_empty() => Ok(ExperimentSpec {
                name: wire
                    .name
                    .clone()
                    .unwrap_or_else(|| default_name.to_string()),
                description: wire.description.clone(),
                preset,
                data: DataSpec { resolution, ..data },
                train,
                sweep: wire.sweep.clone().map(Arc::new),
                halving,
            }),
            _ => Err(ManifestErrors(errors)),
        }
    }
}

//! From a manifest to its runs: each combination of the axes resolved through the normal path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::axes::{axes, cartesian};
use super::exclude::excluded;
use super::run_spec::{RunSpec, SweptValue};
use crate::data::{Dataset, DatasetOptions};
use crate::manifest::{ErrorKind, ExperimentSpec, Layers, ManifestErrors, Override};

/// Expand `manifest` (with `overrides` applied first) into its runs. The manifest is read once and
/// each dataset opened once; each run is the manifest's layers with its swept values as further
/// overrides.
pub fn expand(manifest: &Path, overrides: &[Override]) -> Result<Vec<RunSpec>, ManifestErrors> {
    let stem = manifest.file_stem().map_or_else(
        || "experiment".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let layers = Layers::from_manifest(manifest, overrides)?;
    let mut resolutions = HashMap::new();
    let base = resolve_run(&layers, &stem, Vec::new(), &mut resolutions)?;
    let Some(sweep) = base.spec.sweep.clone() else {
        return Ok(vec![base]);
    };
    let axes = axes(&sweep, &base.spec);
    let mut runs = Vec::new();
    for combination in cartesian(&axes) {
        if excluded(&sweep, &combination) {
            continue;
        }
        let run_overrides: Vec<Override> = combination
            .iter()
            .map(|s| Override {
                key: s.key.clone(),
                value: s.value.clone(),
                text: format!("{}={}", s.key, s.value),
            })
            .collect();
        // Without the sweep, which was checked with the base run and is shared by every run
        // (`--set` cannot set it).
        let run_layers = layers.with_overrides(&run_overrides)?;
        let mut run = resolve_run(&run_layers, &stem, combination, &mut resolutions)?;
        run.spec.sweep = Some(Arc::clone(&sweep));
        runs.push(run);
    }
    if runs.is_empty() {
        let error = layers.error_at(
            ErrorKind::InvalidValue,
            "sweep.exclude",
            "`sweep.exclude` removes every combination of the sweep: nothing would run",
        );
        return Err(ManifestErrors(vec![error]));
    }
    Ok(runs)
}

/// Resolve one run as the worker will: with the dataset's resolution when the dataset can be
/// opened here (derived values such as `auto`'s depend on it), else with the declared one.
/// `resolutions` remembers each dataset path's resolution (`None`: unreadable here).
fn resolve_run(
    layers: &Layers,
    stem: &str,
    swept: Vec<SweptValue>,
    resolutions: &mut HashMap<PathBuf, Option<u32>>,
) -> Result<RunSpec, ManifestErrors> {
    let mut spec = ExperimentSpec::resolve(layers, None, stem)?;
    let dataset_resolution = spec.data.path.as_ref().and_then(|path| {
        *resolutions.entry(path.clone()).or_insert_with(|| {
            Dataset::open(path, &DatasetOptions::default())
                .ok()
                .and_then(|dataset| u32::try_from(dataset.resolution()).ok())
        })
    });
    if dataset_resolution.is_some() {
        spec = ExperimentSpec::resolve(layers, dataset_resolution, stem)?;
    }
    let mut config = layers.merged.clone();
    config.extends = None;
    config.sweep = None;
    config.name = Some(spec.name.clone());
    let data = config.data.get_or_insert_with(Default::default);
    // Absolute, because the worker reads `config.toml` from the run directory: a path relative
    // to the manifest (`experiments/../data/x.zip`) would resolve against the run directory there.
    data.path = spec.data.path.as_ref().map(|p| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string()
    });
    Ok(RunSpec {
        spec,
        swept,
        config,
    })
}

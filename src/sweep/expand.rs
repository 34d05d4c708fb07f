//! From a manifest to its runs: each combination of the axes resolved through the normal path.

use std::path::Path;

use super::axes::{axes, cartesian};
use super::exclude::excluded;
use super::run_spec::{RunSpec, SweptValue};
use crate::data::{Dataset, DatasetOptions};
use crate::manifest::{ErrorKind, ExperimentSpec, Layers, ManifestErrors, Override};

/// Expand `manifest` (with `overrides` applied first) into its runs.
pub fn expand(manifest: &Path, overrides: &[Override]) -> Result<Vec<RunSpec>, ManifestErrors> {
    let stem = manifest.file_stem().map_or_else(
        || "experiment".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let base = resolve_run(manifest, overrides, &stem, Vec::new())?;
    let Some(sweep) = base.spec.sweep.clone() else {
        return Ok(vec![base]);
    };
    let axes = axes(&sweep, &base.spec);
    let mut runs = Vec::new();
    for combination in cartesian(&axes) {
        if excluded(&sweep, &combination) {
            continue;
        }
        let mut run_overrides = overrides.to_vec();
        run_overrides.extend(combination.iter().map(|s| Override {
            key: s.key.clone(),
            value: s.value.clone(),
            text: format!("{}={}", s.key, s.value),
        }));
        runs.push(resolve_run(manifest, &run_overrides, &stem, combination)?);
    }
    if runs.is_empty() {
        let layers = Layers::from_manifest(manifest, overrides)?;
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
fn resolve_run(
    manifest: &Path,
    overrides: &[Override],
    stem: &str,
    swept: Vec<SweptValue>,
) -> Result<RunSpec, ManifestErrors> {
    let layers = Layers::from_manifest(manifest, overrides)?;
    let mut spec = ExperimentSpec::resolve(&layers, None, stem)?;
    let dataset_resolution = spec
        .data
        .path
        .as_deref()
        .and_then(|path| Dataset::open(path, &DatasetOptions::default()).ok())
        .and_then(|dataset| u32::try_from(dataset.resolution()).ok());
    if dataset_resolution.is_some() {
        spec = ExperimentSpec::resolve(&layers, dataset_resolution, stem)?;
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

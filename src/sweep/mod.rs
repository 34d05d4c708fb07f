//! Sweep expansion: a manifest's `[sweep]` table turned into concrete runs.
//!
//! Axes combine as a cartesian product in key order (the first key varies slowest); a
//! `[[sweep.zip]]` group is one axis whose keys advance together; `{ times = [...] }` multiplies the
//! value the key resolves to without the sweep; `exclude` drops combinations. Every run is resolved
//! through the normal path (the swept values become `--set`-style overrides), so derived values
//! follow the swept ones, and each run records how its swept values were obtained.

use std::path::Path;

use crate::data::{Dataset, DatasetOptions};
use crate::manifest::spec::normalize_f64;
use crate::manifest::sweep_wire::{AxisWire, SweepWire};
use crate::manifest::wire::ManifestWire;
use crate::manifest::{ExperimentSpec, Layers, ManifestErrors, Override};

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
    data.path = spec.data.path.as_ref().map(|p| p.display().to_string());
    Ok(RunSpec {
        spec,
        swept,
        config,
    })
}

/// Each axis is a list of alternatives; an alternative sets one or more keys.
fn axes(sweep: &SweepWire, base: &ExperimentSpec) -> Vec<Vec<Vec<SweptValue>>> {
    let mut axes: Vec<Vec<Vec<SweptValue>>> = sweep
        .axes
        .iter()
        .map(|(key, axis)| match axis {
            AxisWire::Values(values) => values
                .iter()
                .map(|v| {
                    vec![SweptValue {
                        key: key.clone(),
                        value: v.clone(),
                        how: v.to_string(),
                    }]
                })
                .collect(),
            AxisWire::Times(factors) => {
                let base_value = resolved_value(base, key);
                factors
                    .iter()
                    .map(|f| vec![multiply(key, &base_value, *f)])
                    .collect()
            }
        })
        .collect();
    for group in &sweep.zip {
        let len = group.first().map_or(0, |(_, values)| values.len());
        axes.push(
            (0..len)
                .map(|i| {
                    group
                        .iter()
                        .map(|(key, values)| SweptValue {
                            key: key.clone(),
                            value: values[i].clone(),
                            how: values[i].to_string(),
                        })
                        .collect()
                })
                .collect(),
        );
    }
    axes
}

/// The value `key` resolves to in `spec` (`train.gamma` → 8.2).
fn resolved_value(spec: &ExperimentSpec, key: &str) -> serde_json::Value {
    let json = serde_json::to_value(spec).expect("specs serialise");
    key.split('.').fold(json, |value, part| {
        value.get(part).cloned().unwrap_or(serde_json::Value::Null)
    })
}

fn multiply(key: &str, base: &serde_json::Value, factor: f64) -> SweptValue {
    let (value, shown) = match (base.as_i64(), base.as_f64()) {
        (Some(int), _) if base.is_i64() || base.is_u64() => {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_precision_loss,
                reason = "validated: integral products of small integers"
            )]
            let product = (int as f64 * factor).round() as i64;
            (toml::Value::Integer(product), product.to_string())
        }
        (_, Some(float)) => {
            let product = normalize_f64(float * factor);
            (toml::Value::Float(product), crate::pyfmt::py_float(product))
        }
        _ => (toml::Value::Float(f64::NAN), "NaN".into()),
    };
    let base_text = base
        .as_f64()
        .map_or_else(|| base.to_string(), crate::pyfmt::py_float);
    let factor_text = crate::pyfmt::py_float(factor);
    SweptValue {
        key: key.to_string(),
        value,
        how: format!("{key} = {base_text} × {factor_text} = {shown}"),
    }
}

fn cartesian(axes: &[Vec<Vec<SweptValue>>]) -> Vec<Vec<SweptValue>> {
    axes.iter().fold(vec![Vec::new()], |combinations, axis| {
        combinations
            .iter()
            .flat_map(|prefix| {
                axis.iter().map(move |alternative| {
                    prefix
                        .iter()
                        .cloned()
                        .chain(alternative.iter().cloned())
                        .collect()
                })
            })
            .collect()
    })
}

fn same_value(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Integer(x), toml::Value::Float(y))
        | (toml::Value::Float(y), toml::Value::Integer(x)) => {
            #[expect(clippy::cast_precision_loss, reason = "small integers")]
            let x = *x as f64;
            (x - y).abs() < 1e-12
        }
        (toml::Value::Float(x), toml::Value::Float(y)) => {
            (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

fn excluded(sweep: &SweepWire, combination: &[SweptValue]) -> bool {
    sweep.exclude.iter().any(|rule| {
        rule.iter().all(|(key, value)| {
            combination
                .iter()
                .any(|s| s.key == *key && same_value(&s.value, value))
        })
    })
}

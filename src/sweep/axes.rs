//! The axes of a sweep as alternatives, `times` factors applied, and their cartesian product.

use super::run_spec::SweptValue;
use crate::manifest::ExperimentSpec;
use crate::manifest::spec::normalize_f64;
use crate::manifest::sweep_wire::{AxisWire, SweepWire};

/// Each axis of `sweep` as a list of alternatives; an alternative sets one or more keys. `base` is
/// the run without the sweep, whose values `times` multiplies.
pub(super) fn axes(sweep: &SweepWire, base: &ExperimentSpec) -> Vec<Vec<Vec<SweptValue>>> {
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

/// `key` set to `base × factor`, integral for integer keys, with the arithmetic shown.
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

/// Every combination of one alternative per axis, the first axis varying slowest.
pub(super) fn cartesian(axes: &[Vec<Vec<SweptValue>>]) -> Vec<Vec<SweptValue>> {
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

//! Validation of `[sweep]` when a manifest is loaded (expansion into runs is the sweep module's).
//!
//! Checks: every axis is non-empty; every value has the type of its key; `times` multiplies only
//! numeric keys (integer keys only by factors that keep them integral); the lists of a zipped group
//! have equal lengths; a key is swept at most once; `exclude` rules name swept keys.

use std::collections::BTreeSet;

use super::error::{ErrorKind, ManifestError};
use super::load::Layers;
use super::sweep_wire::{AxisWire, SweepWire};
use super::wire::ManifestWire;

/// Every problem of `sweep`, located in the files that declared it.
pub fn check_sweep(layers: &Layers, sweep: &SweepWire) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    let mut swept = BTreeSet::new();
    let mut error = |key: &str, kind: ErrorKind, message: String| {
        errors.push(layers.error_at(kind, &format!("sweep.{key}"), message));
    };
    for (key, axis) in &sweep.axes {
        swept.insert(key.clone());
        match axis {
            AxisWire::Values(values) if values.is_empty() => {
                error(
                    key,
                    ErrorKind::InvalidValue,
                    format!("sweep axis `{key}` is an empty list"),
                );
            }
            AxisWire::Values(values) => {
                for value in values {
                    if let Err(message) = check_type(key, value) {
                        error(key, ErrorKind::WrongType, message);
                    }
                }
            }
            AxisWire::Times(factors) if factors.is_empty() => {
                error(
                    key,
                    ErrorKind::InvalidValue,
                    format!("sweep axis `{key}` has an empty `times` list"),
                );
            }
            AxisWire::Times(factors) => {
                if let Err(message) = check_times(key, factors) {
                    error(key, ErrorKind::WrongType, message);
                }
            }
        }
    }
    for group in &sweep.zip {
        let lengths: BTreeSet<usize> = group.iter().map(|(_, values)| values.len()).collect();
        if lengths.len() > 1 {
            let keys: Vec<&str> = group.iter().map(|(k, _)| k.as_str()).collect();
            error(
                keys[0],
                ErrorKind::InvalidValue,
                format!(
                    "the lists of a `sweep.zip` group must have equal lengths: {}",
                    keys.join(", ")
                ),
            );
        }
        for (key, values) in group {
            if values.is_empty() {
                error(
                    key,
                    ErrorKind::InvalidValue,
                    format!("`sweep.zip` list `{key}` is empty"),
                );
            }
            if !swept.insert(key.clone()) {
                error(
                    key,
                    ErrorKind::InvalidValue,
                    format!("`{key}` is swept more than once"),
                );
            }
            for value in values {
                if let Err(message) = check_type(key, value) {
                    error(key, ErrorKind::WrongType, message);
                }
            }
        }
    }
    for rule in &sweep.exclude {
        for (key, _) in rule {
            if !swept.contains(key) {
                error(
                    "exclude",
                    ErrorKind::InvalidValue,
                    format!("`sweep.exclude` names `{key}`, which the sweep does not vary"),
                );
            }
        }
    }
    errors
}

/// Whether `value` fits the type of the configuration key `key` (`train.gamma`, `data.mirror`…).
pub fn check_type(key: &str, value: &toml::Value) -> Result<(), String> {
    let (section, field) = key
        .split_once('.')
        .ok_or_else(|| format!("`{key}` is not a `data.` or `train.` key"))?;
    let mut inner = toml::Table::new();
    inner.insert(field.to_string(), value.clone());
    let mut outer = toml::Table::new();
    outer.insert(section.to_string(), toml::Value::Table(inner));
    outer.try_into::<ManifestWire>().map(drop).map_err(|e| {
        format!(
            "sweep value {value} does not fit `{key}`: {}",
            e.message().trim()
        )
    })
}

fn check_times(key: &str, factors: &[f64]) -> Result<(), String> {
    if check_type(key, &toml::Value::Float(1.5)).is_ok() {
        return Ok(());
    }
    if check_type(key, &toml::Value::Integer(2)).is_ok() {
        return match factors.iter().find(|f| f.fract() != 0.0 || **f <= 0.0) {
            Some(f) => Err(format!(
                "`times` factor {f} would make the integer key `{key}` fractional"
            )),
            None => Ok(()),
        };
    }
    Err(format!(
        "`times` multiplies numbers, but `{key}` is not a number"
    ))
}

#[cfg(test)]
mod tests {
    use super::check_type;

    #[test]
    fn types_follow_the_schema() {
        assert!(check_type("train.gamma", &toml::Value::Integer(2)).is_ok());
        assert!(check_type("train.gamma", &toml::Value::String("x".into())).is_err());
        assert!(check_type("data.mirror", &toml::Value::Boolean(true)).is_ok());
        assert!(check_type("train.batch", &toml::Value::Float(2.5)).is_err());
    }
}

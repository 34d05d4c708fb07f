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
                    if let Err(e) = check_type(key, value) {
                        error(key, ErrorKind::WrongType, e.to_string());
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
                if let Err(e) = check_times(key, factors) {
                    error(key, ErrorKind::WrongType, e.to_string());
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
                if let Err(e) = check_type(key, value) {
                    error(key, ErrorKind::WrongType, e.to_string());
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

/// Why a sweep value or `times` factor does not fit its key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepValueError {
    /// The key is not a dotted `data.` or `train.` key.
    #[error("`{key}` is not a `data.` or `train.` key")]
    NotAConfigKey {
        /// The key as written.
        key: String,
    },
    /// The value has another type than the key.
    #[error("sweep value {value} does not fit `{key}`: {reason}")]
    WrongType {
        /// The value as written.
        value: toml::Value,
        /// The dotted key.
        key: String,
        /// What the deserialiser said.
        reason: String,
    },
    /// A `times` factor would make an integer key fractional (or not positive).
    #[error("`times` factor {factor} would make the integer key `{key}` fractional")]
    FractionalFactor {
        /// The offending factor.
        factor: f64,
        /// The dotted key.
        key: String,
    },
    /// `times` on a key that is not a number.
    #[error("`times` multiplies numbers, but `{key}` is not a number")]
    NotANumber {
        /// The dotted key.
        key: String,
    },
}

/// Whether `value` fits the type of the configuration key `key` (`train.gamma`, `data.mirror`…).
pub fn check_type(key: &str, value: &toml::Value) -> Result<(), SweepValueError> {
    let (section, field) = key
        .split_once('.')
        .ok_or_else(|| SweepValueError::NotAConfigKey {
            key: key.to_string(),
        })?;
    let mut inner = toml::Table::new();
    inner.insert(field.to_string(), value.clone());
    let mut outer = toml::Table::new();
    outer.insert(section.to_string(), toml::Value::Table(inner));
    outer
        .try_into::<ManifestWire>()
        .map(drop)
        .map_err(|e| SweepValueError::WrongType {
            value: value.clone(),
            key: key.to_string(),
            reason: e.message().trim().to_string(),
        })
}

/// Whether `times = factors` can multiply `key`: any factor for a float key, positive whole
/// factors for an integer key.
fn check_times(key: &str, factors: &[f64]) -> Result<(), SweepValueError> {
    if check_type(key, &toml::Value::Float(1.5)).is_ok() {
        return Ok(());
    }
    if check_type(key, &toml::Value::Integer(2)).is_ok() {
        return match factors.iter().find(|f| f.fract() != 0.0 || **f <= 0.0) {
            Some(&factor) => Err(SweepValueError::FractionalFactor {
                factor,
                key: key.to_string(),
            }),
            None => Ok(()),
        };
    }
    Err(SweepValueError::NotANumber {
        key: key.to_string(),
    })
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

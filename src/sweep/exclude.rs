//! `sweep.exclude`: which combinations a sweep drops.

use super::run_spec::SweptValue;
use crate::manifest::sweep_wire::SweepWire;

/// Whether two TOML values are equal: as numbers for an integer and a float (within 1e-12) and for
/// two floats (within 1e-12 relative), exactly otherwise.
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

/// Whether a rule of `sweep.exclude` matches `combination` (every key of the rule set to its value).
pub(super) fn excluded(sweep: &SweepWire, combination: &[SweptValue]) -> bool {
    sweep.exclude.iter().any(|rule| {
        rule.iter().all(|(key, value)| {
            combination
                .iter()
                .any(|s| s.key == *key && same_value(&s.value, value))
        })
    })
}

//! Copying named tensors (a reference `state_dict`, a snapshot) into a `VarStore` and out of it.

use std::collections::BTreeMap;

use tch::{Tensor, nn};

/// Why a state could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// A tensor's shape differs from the variable's.
    #[error("`{name}`: shape {found:?} does not match the network's {expected:?}")]
    Shape {
        /// Variable name.
        name: String,
        /// Shape in the network.
        expected: Vec<i64>,
        /// Shape given.
        found: Vec<i64>,
    },
    /// Variables that received no value (strict loading only).
    #[error("missing tensors: {0:?}")]
    Missing(Vec<String>),
}

/// Copy every `(name, tensor)` whose name (after stripping `prefix`) is a variable of `vs`.
/// Returns the names of `vs` that received no value; with `strict` those are an error.
pub fn load_state(
    vs: &nn::VarStore,
    tensors: &[(String, Tensor)],
    prefix: &str,
    strict: bool,
) -> Result<Vec<String>, StateError> {
    let variables = vs.variables();
    let mut loaded = BTreeMap::new();
    for (name, value) in tensors {
        let Some(name) = name.strip_prefix(prefix) else {
            continue;
        };
        let Some(variable) = variables.get(name) else {
            continue;
        };
        if variable.size() != value.size() {
            return Err(StateError::Shape {
                name: name.to_string(),
                expected: variable.size(),
                found: value.size(),
            });
        }
        let mut variable = variable.shallow_clone();
        tch::no_grad(|| variable.copy_(value));
        loaded.insert(name.to_string(), ());
    }
    let mut missing: Vec<String> = variables
        .keys()
        .filter(|k| !loaded.contains_key(*k))
        .cloned()
        .collect();
    missing.sort();
    if strict && !missing.is_empty() {
        return Err(StateError::Missing(missing));
    }
    Ok(missing)
}

/// Every variable of `vs` as `(prefix + name, tensor)`, sorted by name.
pub fn state_tensors(vs: &nn::VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let mut out: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("{prefix}{name}"), t))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

//! Official network pickles (`network-snapshot-*.pkl` of NVlabs' StyleGAN3 / StyleGAN2-ADA code)
//! read into named tensors and constructor arguments, without Python.

use std::path::Path;

use tch::Tensor;

use super::pickle::{self, MAX_DEPTH, MAX_NODES, PickleError, Value};

/// One network of a pickle (`G`, `D`, `G_ema` or `augment_pipe`).
#[derive(Debug)]
pub struct PickledModule {
    /// Its key in the pickle.
    pub key: String,
    /// The class name recorded by `torch_utils.persistence` (e.g. `Generator`).
    pub class_name: String,
    /// The constructor keyword arguments, as JSON.
    pub init_kwargs: serde_json::Value,
    /// Parameters and persistent buffers under their `state_dict` names, in `state_dict` order.
    pub tensors: Vec<(String, Tensor)>,
}

/// The content of a network pickle.
#[derive(Debug)]
pub struct NetworkPickle {
    /// The modules present, in the pickle's key order.
    pub modules: Vec<PickledModule>,
    /// `training_set_kwargs`, when present.
    pub training_set_kwargs: serde_json::Value,
}

impl NetworkPickle {
    /// The module stored under `key`.
    pub fn module(&self, key: &str) -> Option<&PickledModule> {
        self.modules.iter().find(|m| m.key == key)
    }
}

/// Why a pickle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetworkPickleError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The pickle stream is malformed or uses something unsupported.
    #[error("`{path}`: {source}")]
    Pickle {
        /// The file.
        path: String,
        /// The cause.
        source: PickleError,
    },
    /// The pickle is not a dict of networks.
    #[error("`{path}` is not a network pickle: {reason}")]
    NotANetworkPickle {
        /// The file.
        path: String,
        /// What is missing.
        reason: String,
    },
}

/// Read a network pickle.
pub fn read_network_pickle(path: &Path) -> Result<NetworkPickle, NetworkPickleError> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| NetworkPickleError::Io {
        path: display.clone(),
        source,
    })?;
    let (root, _) = pickle::load(&bytes).map_err(|source| NetworkPickleError::Pickle {
        path: display.clone(),
        source,
    })?;
    let entries = root
        .as_dict()
        .ok_or_else(|| NetworkPickleError::NotANetworkPickle {
            path: display.clone(),
            reason: "the top level is not a dict".into(),
        })?;
    let mut modules = Vec::new();
    let mut training_set_kwargs = serde_json::Value::Null;
    for (key, value) in entries {
        let Some(key) = key.as_str().map(String::from) else {
            continue;
        };
        if key == "training_set_kwargs" {
            training_set_kwargs = value.to_json();
            continue;
        }
        let Some(state) = module_state(&value) else {
            continue;
        };
        let mut tensors = Vec::new();
        let mut budget = MAX_NODES;
        collect_tensors(&state, "", 0, &mut budget, &mut tensors);
        modules.push(PickledModule {
            class_name: value
                .get("class_name")
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            init_kwargs: state
                .get("_init_kwargs")
                .map_or(serde_json::Value::Null, |v| v.to_json()),
            key,
            tensors,
        });
    }
    if modules.is_empty() {
        return Err(NetworkPickleError::NotANetworkPickle {
            path: display,
            reason: "no networks found".into(),
        });
    }
    Ok(NetworkPickle {
        modules,
        training_set_kwargs,
    })
}

/// The `__dict__` of a module: the `state` of a persistent object's meta dict, or the `BUILD` state
/// of a plain `torch.nn.Module`.
fn module_state(value: &Value) -> Option<Value> {
    match value {
        Value::Dict(_) => value.get("state"),
        Value::Object(object) => Some(object.borrow().state.clone()),
        _ => None,
    }
}

/// `state_dict()` order: own parameters, own persistent buffers, then children recursively (at
/// most [`MAX_DEPTH`] levels and [`MAX_NODES`] modules: a corrupt pickle can make a module its own
/// child, or share one child many times over).
fn collect_tensors(
    state: &Value,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<(String, Tensor)>,
) {
    if depth > MAX_DEPTH || *budget <= prefix.len() {
        *budget = 0;
        return;
    }
    *budget -= 1 + prefix.len();
    let non_persistent: Vec<String> = match state.get("_non_persistent_buffers_set") {
        Some(Value::List(items)) => items
            .borrow()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    for slot in ["_parameters", "_buffers"] {
        for (name, tensor) in state
            .get(slot)
            .and_then(|d| d.as_dict())
            .unwrap_or_default()
        {
            let (Some(name), Value::Tensor(tensor)) = (name.as_str(), tensor) else {
                continue;
            };
            if slot == "_buffers" && non_persistent.iter().any(|n| n == name) {
                continue;
            }
            let cost = 1 + prefix.len() + name.len();
            if *budget < cost {
                *budget = 0;
                return;
            }
            *budget -= cost;
            out.push((format!("{prefix}{name}"), tensor.shallow_clone()));
        }
    }
    for (name, child) in state
        .get("_modules")
        .and_then(|d| d.as_dict())
        .unwrap_or_default()
    {
        let (Some(name), Some(child_state)) = (name.as_str(), module_state(&child)) else {
            continue;
        };
        collect_tensors(
            &child_state,
            &format!("{prefix}{name}."),
            depth + 1,
            budget,
            out,
        );
    }
}

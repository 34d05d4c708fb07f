//! Rendering a resolved experiment with the origin of every value, for `kimg show`.

use serde_json::{Map, Value, json};

use super::load::Layers;
use super::spec::ExperimentSpec;

/// One resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Entry {
    /// Dotted key (`train.gamma`, `train.derived.ema_kimg`).
    pub key: String,
    /// The value.
    pub value: Value,
    /// `file:line:col` of the layer that set it, `--set …`, or `derived` for computed values.
    pub origin: String,
}

/// Every resolved value in display order (name, preset, data, train, derived).
pub fn entries(spec: &ExperimentSpec, layers: &Layers) -> Vec<Entry> {
    let value = serde_json::to_value(spec).expect("specs serialise");
    let mut out = Vec::new();
    flatten("", &value, &mut out);
    out.into_iter()
        .map(|(key, value)| {
            let origin = if key.starts_with("train.derived.") {
                "derived".to_string()
            } else {
                layers
                    .origin(&key)
                    .map_or_else(|| "derived".to_string(), |o| o.location)
            };
            Entry { key, value, origin }
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        Value::Null => {}
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// The human rendering: TOML-like sections with the origin of each value aligned on the right.
pub fn render_text(spec: &ExperimentSpec, layers: &Layers) -> String {
    let entries = entries(spec, layers);
    let mut text = format!("# {}\n# chain: {}\n", spec.name, layers.chain.join(" → "));
    let width = entries
        .iter()
        .map(|e| short_key(&e.key).len() + e.value.to_string().len())
        .max()
        .unwrap_or(0)
        + 5;
    let mut section = String::new();
    for entry in &entries {
        let entry_section = entry.key.rsplit_once('.').map_or("", |(s, _)| s);
        if entry_section != section {
            section = entry_section.to_string();
            text.push_str(&format!("\n[{section}]\n"));
        }
        let line = format!("{} = {}", short_key(&entry.key), entry.value);
        text.push_str(&format!("{line:<width$} # {}\n", entry.origin));
    }
    if let Some(sweep) = &spec.sweep {
        let table = toml::to_string(sweep.as_ref()).unwrap_or_default();
        text.push_str("\n[sweep]\n");
        text.push_str(&table);
    }
    text
}

fn short_key(key: &str) -> &str {
    key.rsplit_once('.').map_or(key, |(_, k)| k)
}

/// The machine rendering: the resolved configuration, the chain, the origins and the sweep.
pub fn render_json(spec: &ExperimentSpec, layers: &Layers) -> Value {
    let origins: Map<String, Value> = entries(spec, layers)
        .into_iter()
        .map(|e| (e.key, Value::String(e.origin)))
        .collect();
    let sweep = spec
        .sweep
        .as_ref()
        .map(|s| serde_json::to_value(s.as_ref()).expect("sweeps serialise"));
    json!({
        "name": spec.name,
        "chain": layers.chain,
        "config": spec,
        "sweep": sweep,
        "origins": origins,
    })
}

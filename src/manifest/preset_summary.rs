//! Presets as `kimg presets` lists them: the table row's options and published figures.

use serde::Serialize;
use serde_json::{Map, Value};

use super::catalog::{BASE_PRESET, Catalog, builtin};
use super::error::{ErrorKind, ManifestError, ManifestErrors};
use super::load::Layers;
use super::wire::{ExpectedWire, SourceWire};

/// One preset: what it is, the options it sets and what it is published to cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresetSummary {
    /// Name as used in `extends`.
    pub name: String,
    /// Human title.
    pub title: Option<String>,
    /// Target resolution.
    pub resolution: Option<u32>,
    /// `train.py` options the preset chain sets (names without the leading `--`), excluding the
    /// built-in defaults: exactly the options of its table row.
    pub options: Map<String, Value>,
    /// Published s/kimg and memory.
    pub expected: Option<ExpectedWire>,
    /// The table row it reproduces.
    pub source: Option<SourceWire>,
    /// The `extends` chain, most specific first.
    pub chain: Vec<String>,
}

/// Summarise a preset found through `catalog`.
pub fn summarize(name: &str, catalog: &Catalog) -> Result<PresetSummary, ManifestErrors> {
    let file = catalog
        .find(name, None)
        .or_else(|| builtin(name))
        .ok_or_else(|| {
            ManifestError::new(
                ErrorKind::UnknownPreset,
                name,
                format!("unknown preset `{name}`"),
            )
            .with_help(super::error::did_you_mean(
                name,
                catalog.names().iter().map(String::as_str),
            ))
        })?;
    let layers = Layers::from_file(file, catalog, &[])?;
    let merged = toml::Table::try_from(&layers.merged).expect("wire structs serialise to TOML");
    let base = format!("presets/{BASE_PRESET}.toml");
    let mut options = Map::new();
    for section in ["train", "data"] {
        let Some(toml::Value::Table(table)) = merged.get(section) else {
            continue;
        };
        for (key, value) in table {
            let dotted = format!("{section}.{key}");
            let from_base = layers.origin(&dotted).is_some_and(|o| o.layer == base);
            if !from_base && key != "path" && key != "resolution" {
                options.insert(option_name(key), toml_to_json(value));
            }
        }
    }
    let preset = layers.merged.preset.clone().unwrap_or_default();
    Ok(PresetSummary {
        name: name.to_string(),
        title: preset.title,
        resolution: preset.resolution,
        options,
        expected: preset.expected,
        source: preset.source,
        chain: layers.chain,
    })
}

/// The `train.py` spelling of a manifest key: `batch_gpu` → `batch-gpu`.
pub fn option_name(key: &str) -> String {
    key.replace('_', "-")
}

/// A TOML value as JSON.
pub fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).expect("TOML values serialise to JSON")
}

/// The options as a `train.py` command line, in the tables' order.
pub fn command_line(options: &Map<String, Value>) -> String {
    const ORDER: [&str; 16] = [
        "cfg",
        "gpus",
        "batch",
        "gamma",
        "batch-gpu",
        "map-depth",
        "glr",
        "dlr",
        "cbase",
        "cmax",
        "mbstd-group",
        "mirror",
        "aug",
        "kimg",
        "snap",
        "resume",
    ];
    let mut keys: Vec<&String> = options.keys().collect();
    keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    keys.iter()
        .map(|key| {
            let value = match &options[key.as_str()] {
                Value::Bool(b) => u8::from(*b).to_string(),
                Value::String(s) => s.clone(),
                other => crate::ui::fmt_number(other),
            };
            format!("--{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

//! The raw `[sweep]` table: axes, zipped groups and exclusions.
//!
//! ```toml
//! [sweep]
//! "train.gamma" = { times = [0.25, 0.5, 1, 2, 4] }   # multiples of the inherited value
//! "train.seed" = [0, 1, 2]                           # a list of values
//! exclude = [{ "train.seed" = 2, "train.gamma" = 8 }]
//! [[sweep.zip]]                                     # keys that vary together
//! "train.cfg" = ["stylegan3-t", "stylegan3-r"]
//! "train.gamma" = [8.2, 16.4]
//! ```
//!
//! Axis keys are dotted configuration keys. The reserved keys `zip` and `exclude` cannot be axes.
//! Deserialisation is hand-written because one table mixes axes with the reserved keys, and an axis
//! takes either a list or a `{ times = [...] }` table.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Reserved `[sweep]` key of the zipped groups.
pub const ZIP_KEY: &str = "zip";
/// Reserved `[sweep]` key of the exclusion rules.
pub const EXCLUDE_KEY: &str = "exclude";

/// `[sweep]` as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepWire {
    /// Grid axes in file order: a dotted key and its values.
    pub axes: Vec<(String, AxisWire)>,
    /// Groups of keys whose lists advance together (`[[sweep.zip]]`).
    pub zip: Vec<Vec<(String, Vec<toml::Value>)>>,
    /// Combinations to skip: each rule matches runs whose keys all equal the given values.
    pub exclude: Vec<Vec<(String, toml::Value)>>,
}

/// The values of one sweep axis.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisWire {
    /// An explicit list of values.
    Values(Vec<toml::Value>),
    /// Multipliers of the value the key inherits (`{ times = [0.25, 0.5, 1, 2, 4] }`).
    Times(Vec<f64>),
}

impl<'de> Deserialize<'de> for SweepWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SweepVisitor)
    }
}

struct SweepVisitor;

impl<'de> Visitor<'de> for SweepVisitor {
    type Value = SweepWire;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of sweep axes (`\"train.gamma\" = [2, 4]`), `zip` and `exclude`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SweepWire, A::Error> {
        let mut sweep = SweepWire::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                ZIP_KEY => {
                    let groups: Vec<toml::Table> = map.next_value()?;
                    sweep.zip = groups
                        .into_iter()
                        .map(|group| {
                            group
                                .into_iter()
                                .map(|(k, v)| match v {
                                    toml::Value::Array(values) => Ok((k, values)),
                                    other => Err(de::Error::custom(format!(
                                        "`sweep.zip` entry `{k}` must be a list, found {}",
                                        other.type_str()
                                    ))),
                                })
                                .collect::<Result<Vec<_>, A::Error>>()
                        })
                        .collect::<Result<_, _>>()?;
                }
                EXCLUDE_KEY => {
                    let rules: Vec<toml::Table> = map.next_value()?;
                    sweep.exclude = rules
                        .into_iter()
                        .map(|rule| rule.into_iter().collect())
                        .collect();
                }
                _ => {
                    let axis: AxisWire = map.next_value()?;
                    sweep.axes.push((key, axis));
                }
            }
        }
        Ok(sweep)
    }
}

impl<'de> Deserialize<'de> for AxisWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AxisVisitor)
    }
}

struct AxisVisitor;

impl<'de> Visitor<'de> for AxisVisitor {
    type Value = AxisWire;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a list of values (`[2, 4, 8]`) or a table of multipliers (`{ times = [0.5, 2] }`)",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AxisWire, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element::<toml::Value>()? {
            values.push(value);
        }
        Ok(AxisWire::Values(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AxisWire, A::Error> {
        let mut times = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "times" {
                times = Some(map.next_value::<Vec<f64>>()?);
            } else {
                return Err(de::Error::unknown_field(&key, &["times"]));
            }
        }
        times
            .map(AxisWire::Times)
            .ok_or_else(|| de::Error::missing_field("times"))
    }
}

impl Serialize for SweepWire {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, axis) in &self.axes {
            map.serialize_entry(key, axis)?;
        }
        if !self.zip.is_empty() {
            let groups: Vec<toml::Table> = self
                .zip
                .iter()
                .map(|group| {
                    group
                        .iter()
                        .map(|(k, v)| (k.clone(), toml::Value::Array(v.clone())))
                        .collect()
                })
                .collect();
            map.serialize_entry(ZIP_KEY, &groups)?;
        }
        if !self.exclude.is_empty() {
            let rules: Vec<toml::Table> = self
                .exclude
                .iter()
                .map(|rule| rule.iter().cloned().collect())
                .collect();
            map.serialize_entry(EXCLUDE_KEY, &rules)?;
        }
        map.end()
    }
}

impl Serialize for AxisWire {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AxisWire::Values(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
            AxisWire::Times(times) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("times", times)?;
                map.end()
            }
        }
    }
}

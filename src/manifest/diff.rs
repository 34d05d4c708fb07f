//! What differs between configurations: TOML documents (a sweep's resolved runs, or two run
//! directories' `config.toml` and `run.toml`) flattened to dotted keys and compared key by key.

use std::collections::{HashMap, HashSet};

/// A key whose value is not the same in every document compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDiff {
    /// The dotted key (`train.gamma`; array elements that are tables by index: `run.swept.0.key`).
    pub key: String,
    /// Its value in each document, in TOML syntax (`None`: the document lacks the key).
    pub values: Vec<Option<String>>,
}

/// `(dotted key, value in TOML syntax)` of every leaf of `value`, in document order. Tables nest
/// into dotted keys, and so do arrays of tables (by index); other arrays are one value.
pub fn flatten(value: &toml::Value) -> Vec<(String, String)> {
    let mut leaves = Vec::new();
    flatten_into("", value, &mut leaves);
    leaves
}

fn flatten_into(prefix: &str, value: &toml::Value, leaves: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                flatten_into(&join(key), value, leaves);
            }
        }
        toml::Value::Array(items)
            if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
        {
            for (i, item) in items.iter().enumerate() {
                flatten_into(&join(&i.to_string()), item, leaves);
            }
        }
        other => leaves.push((prefix.to_string(), other.to_string())),
    }
}

/// The keys whose values differ between `documents` (present in some and absent in others
/// counts), in the order the keys first appear. One document, or none, differs in nothing.
pub fn differing(documents: &[toml::Value]) -> Vec<KeyDiff> {
    let flat: Vec<Vec<(String, String)>> = documents.iter().map(flatten).collect();
    let lookup: Vec<HashMap<&str, &str>> = flat
        .iter()
        .map(|leaves| {
            leaves
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    let mut seen = HashSet::new();
    flat.iter()
        .flatten()
        .map(|(key, _)| key.as_str())
        .filter(|key| seen.insert(*key))
        .filter_map(|key| {
            let values: Vec<Option<&str>> = lookup.iter().map(|l| l.get(key).copied()).collect();
            values.iter().any(|v| *v != values[0]).then(|| KeyDiff {
                key: key.to_string(),
                values: values.into_iter().map(|v| v.map(str::to_string)).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{KeyDiff, differing, flatten};

    fn doc(text: &str) -> toml::Value {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn nested_tables_and_arrays_of_tables_flatten_to_dotted_keys() {
        let value = doc("a = 1\n[t]\nb = \"x\"\nc = [1, 2]\n[[t.s]]\nk = true\n");
        assert_eq!(
            flatten(&value),
            [
                ("a".to_string(), "1".to_string()),
                ("t.b".into(), "\"x\"".into()),
                ("t.c".into(), "[1, 2]".into()),
                ("t.s.0.k".into(), "true".into()),
            ]
        );
    }

    #[test]
    fn only_the_keys_that_differ_are_listed_in_first_appearance_order() {
        let docs = [
            doc("[train]\ngamma = 0.5\nbatch = 8\nseed = 0\n"),
            doc("[train]\ngamma = 2.0\nbatch = 8\n"),
            doc("[train]\ngamma = 0.5\nbatch = 8\nseed = 0\n"),
        ];
        assert_eq!(
            differing(&docs),
            [
                KeyDiff {
                    key: "train.gamma".into(),
                    values: vec![Some("0.5".into()), Some("2.0".into()), Some("0.5".into())],
                },
                KeyDiff {
                    key: "train.seed".into(),
                    values: vec![Some("0".into()), None, Some("0".into())],
                },
            ]
        );
        assert!(differing(&docs[..1]).is_empty());
        assert!(differing(&[]).is_empty());
        assert!(differing(&[docs[0].clone(), docs[2].clone()]).is_empty());
    }
}

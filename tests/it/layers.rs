//! The layer rule of `src/`: each top-level module may use only the modules below it, so data flows
//! one way (manifest → sweep → run → schedule; train → nets → ops). Read from the source text, as
//! `docs/ARCHITECTURE.md` draws it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// For each constrained module, the modules it must never use. Unlisted leaf modules (`device`,
/// `env_vars`, `error`, `fsutil`, `numpy_rng`, `pyfmt`, `run_files`, `signals`, `tfevents`, `ui`)
/// are shared helpers.
///
/// Changes from the layering first proposed: `manifest` may use `nets`, because a configuration
/// names the generator family it trains (`Arch`, owned by `nets`); `nets` may not use `manifest`.
/// The training process's side of a run is its own layer, `worker`, between `schedule` (which
/// starts worker processes but never links their code) and `train`; `run` below it no longer knows
/// the trainer. Successive halving (`halving`: the rule, its decision log and lock) sits between
/// `run`, whose records it reads, and `worker`/`schedule`, which act on its decisions.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "ops",
        &[
            "nets", "data", "snapshot", "metrics", "generate", "train", "manifest", "sweep", "run",
            "worker", "schedule", "cli", "halving",
        ],
    ),
    (
        "nets",
        &[
            "train", "metrics", "generate", "manifest", "sweep", "run", "worker", "schedule",
            "cli", "halving",
        ],
    ),
    (
        "data",
        &[
            "train", "nets", "metrics", "generate", "manifest", "sweep", "run", "worker",
            "schedule", "cli", "halving",
        ],
    ),
    (
        "snapshot",
        &[
            "train", "metrics", "generate", "manifest", "sweep", "run", "worker", "schedule",
            "cli", "halving",
        ],
    ),
    (
        "manifest",
        &[
            "train", "ops", "data", "snapshot", "generate", "sweep", "run", "worker", "schedule",
            "cli", "halving",
        ],
    ),
    (
        "sweep",
        &[
            "train", "nets", "ops", "metrics", "snapshot", "generate", "run", "worker", "schedule",
            "cli", "halving",
        ],
    ),
    (
        "metrics",
        &[
            "train", "sweep", "run", "worker", "schedule", "cli", "halving",
        ],
    ),
    (
        "generate",
        &[
            "train", "sweep", "run", "worker", "schedule", "cli", "halving",
        ],
    ),
    (
        "train",
        &["sweep", "run", "worker", "schedule", "cli", "halving"],
    ),
    (
        "run",
        &[
            "nets", "ops", "train", "worker", "schedule", "cli", "halving",
        ],
    ),
    ("worker", &["sweep", "schedule", "cli"]),
    (
        "schedule",
        &[
            "nets", "ops", "train", "metrics", "generate", "worker", "cli",
        ],
    ),
    (
        "halving",
        &["nets", "ops", "train", "worker", "schedule", "cli"],
    ),
];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

/// The top-level modules a file's code (not its comments) names as `crate::module`, including
/// grouped imports `crate::{a::…, b}`.
fn modules_used(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: those at brace depth 0, after `{` or a comma.
            let mut depth = 0;
            let mut expect_name = true;
            for (i, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect_name = true,
                    c if expect_name && depth == 0 && c.is_ascii_lowercase() => {
                        let name: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        used.insert(name);
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        for used in modules_used(&std::fs::read_to_string(file).unwrap()) {
            if used != top {
                edges
                    .entry((top.clone(), used))
                    .or_default()
                    .push(relative.display().to_string());
            }
        }
    }
    // The reader sees real edges (so an empty result means a clean tree, not a blind parser).
    assert!(edges.contains_key(&("nets".into(), "ops".into())));
    assert!(edges.contains_key(&("cli".into(), "schedule".into())));
    let violations: Vec<String> = FORBIDDEN
        .iter()
        .flat_map(|(from, never)| never.iter().map(move |to| (*from, *to)))
        .filter_map(|(from, to)| {
            edges
                .get(&(from.to_string(), to.to_string()))
                .map(|files| format!("{from} uses {to} in {}", files.join(", ")))
        })
        .collect();
    assert!(
        violations.is_empty(),
        "edges against the layer rule:\n{}",
        violations.join("\n")
    );
}

#[test]
fn grouped_and_plain_paths_are_read_and_comments_are_not() {
    let used = modules_used(
        "use crate::{nets::network::{A, B}, ops, train::x};\n\
         // crate::cli is only mentioned\n\
         let y = crate::metrics::z(); /// crate::run in a doc\n",
    );
    let expected: BTreeSet<String> = ["metrics", "nets", "ops", "train"].map(String::from).into();
    assert_eq!(used, expected);
}

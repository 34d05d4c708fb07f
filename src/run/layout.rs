//! Where runs live: `runs/<experiment>/<hash12>-<what varies>/`, and what state a directory is in.

use std::path::{Path, PathBuf};

use super::identity::RunIdentity;
use crate::sweep::RunSpec;
use crate::train::trainer::latest_snapshot;

/// The directory of a run under `runs_dir`.
pub fn run_dir(runs_dir: &Path, run: &RunSpec, identity: &RunIdentity) -> PathBuf {
    let varies = run.short_description();
    let suffix = if varies.is_empty() {
        let t = &run.spec.train;
        let dataset = run
            .spec
            .data
            .path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned());
        format!(
            "{}-{dataset}-b{}-g{}",
            t.cfg.name(),
            t.batch,
            crate::train::stats::py_float(t.gamma).trim_end_matches(".0")
        )
    } else {
        varies
    };
    let name: String = format!("{}-{suffix}", identity.short())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    runs_dir.join(&run.spec.name).join(name)
}

/// A run directory's state as seen from its files.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum RunState {
    /// Nothing there yet.
    New,
    /// Snapshots up to `kimg`.
    Partial {
        /// kimg of the newest snapshot.
        kimg: u64,
    },
    /// A snapshot at or beyond the run's `kimg`.
    Done,
}

/// The state of `dir` for a run of `total_kimg`.
pub fn run_state(dir: &Path, total_kimg: u64) -> RunState {
    match latest_snapshot(dir) {
        None => RunState::New,
        Some(path) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kimg = name
                .trim_start_matches("network-snapshot-")
                .trim_end_matches(".safetensors")
                .parse()
                .unwrap_or(0);
            if kimg >= total_kimg {
                RunState::Done
            } else {
                RunState::Partial { kimg }
            }
        }
    }
}

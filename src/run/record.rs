//! What `kimg run` writes into a run directory before a worker starts:
//!
//! * `config.toml` — a complete, self-contained manifest (no `extends`, no sweep, absolute data
//!   path) of exactly this run. The worker trains it (`kimg train --run-dir DIR --manifest
//!   DIR/config.toml`), and anyone can reproduce the run elsewhere from it alone.
//! * `identity.json` — the canonical document whose sha256 names the directory, byte for byte
//!   (`sha256sum identity.json` prints the run's hash).
//! * `run.toml` — the record: experiment, hash, what the sweep set and how, provenance (kimg
//!   version, git commit and dirty flag of the manifest's repository, libtorch, dataset
//!   fingerprint) and the full resolved configuration with every derived value.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::identity::{RUN_KEY_VERSION, RunIdentity};
use crate::fsutil::atomic_write;
use crate::run_files::{CONFIG_FILE, IDENTITY_FILE, RECORD_FILE};
use crate::sweep::{RunSpec, SweptValue};

/// Why `run.toml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// `run.toml`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is no record.
    #[error("{path}: {source}")]
    Parse {
        /// `run.toml`.
        path: PathBuf,
        /// What the TOML parser says.
        source: toml::de::Error,
    },
}

/// `[run]` of `run.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The experiment (folder under the runs directory).
    pub experiment: String,
    /// sha256 of `identity.json`.
    pub hash: String,
    /// The identity rule's version.
    pub run_key_version: u32,
    /// The manifest the run was expanded from.
    pub manifest: PathBuf,
    /// What the sweep varies, e.g. `gamma2.05`.
    pub varies: String,
    /// Each swept value and how it was obtained.
    #[serde(default)]
    pub swept: Vec<SweptValue>,
}

/// `[provenance]` of `run.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The kimg that planned the run.
    pub kimg_version: String,
    /// HEAD of the git repository holding the manifest.
    pub git_commit: Option<String>,
    /// Whether that repository had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The libtorch kimg was built against.
    pub libtorch: String,
    /// sha256 fingerprint of the dataset (names, sizes and CRCs of its files).
    pub dataset_fingerprint: Option<String>,
    /// When the record was written (RFC 3339).
    pub written: String,
}

/// The content of `run.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// What the run is.
    pub run: RunInfo,
    /// Where it came from.
    pub provenance: Provenance,
    /// The fully resolved configuration, derived values included.
    pub resolved: toml::Value,
}

impl RunRecord {
    /// The record of `run` with `identity`, planned from `manifest`.
    pub fn new(
        run: &RunSpec,
        identity: &RunIdentity,
        manifest: &Path,
        dataset_fingerprint: Option<&str>,
    ) -> RunRecord {
        let (git_commit, git_dirty) = git_state(manifest);
        RunRecord {
            run: RunInfo {
                experiment: run.spec.name.clone(),
                hash: identity.hash.clone(),
                run_key_version: RUN_KEY_VERSION,
                manifest: std::path::absolute(manifest).unwrap_or_else(|_| manifest.into()),
                varies: run.short_description(),
                swept: run.swept.clone(),
            },
            provenance: Provenance {
                kimg_version: env!("CARGO_PKG_VERSION").to_string(),
                git_commit,
                git_dirty,
                libtorch: crate::device::libtorch_version(),
                dataset_fingerprint: dataset_fingerprint.map(str::to_string),
                written: chrono::Local::now().to_rfc3339(),
            },
            resolved: resolved_config(run),
        }
    }

    /// Write `run.toml`, `config.toml` and `identity.json` into `dir` (atomically, each).
    pub fn write(&self, dir: &Path, run: &RunSpec, identity: &RunIdentity) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let header = "# Written by `kimg run`: what this run is and where it came from.\n\
                      # The worker trains config.toml; identity.json is what the hash covers.\n";
        let record = toml::to_string(self).expect("records serialise");
        atomic_write(
            &dir.join(RECORD_FILE),
            format!("{header}{record}").as_bytes(),
        )?;
        let config = toml::to_string(&run.config).expect("manifests serialise");
        let config_header = format!(
            "# The complete configuration of run {} of `{}` ({}).\n\
             # `kimg train --manifest config.toml --outdir DIR` reproduces it anywhere.\n",
            &identity.hash[..12],
            run.spec.name,
            if self.run.varies.is_empty() {
                "no sweep"
            } else {
                &self.run.varies
            }
        );
        atomic_write(
            &dir.join(CONFIG_FILE),
            format!("{config_header}{config}").as_bytes(),
        )?;
        atomic_write(&dir.join(IDENTITY_FILE), identity.document.as_bytes())
    }

    /// Read `dir/run.toml`.
    pub fn read(dir: &Path) -> Result<RunRecord, RecordError> {
        let path = dir.join(RECORD_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|source| RecordError::Parse { path, source }),
            Err(source) => Err(RecordError::Read { path, source }),
        }
    }
}

/// The fully resolved configuration of `run`, derived values included, as `run.toml`'s
/// `[resolved]` holds it.
pub fn resolved_config(run: &RunSpec) -> toml::Value {
    toml::Value::try_from(&run.spec).expect("specs serialise to TOML")
}

/// HEAD and dirtiness of the git repository containing `manifest` (`None` outside git).
fn git_state(manifest: &Path) -> (Option<String>, Option<bool>) {
    let dir = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let dirty = commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain"]))
        .map(|out| !out.is_empty());
    (commit, dirty)
}

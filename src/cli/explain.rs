//! `kimg explain RUN_DIR_OR_HASH`: which values made a run's identity, and which were left out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::run::identity::EXCLUDED_TRAIN_KEYS;
use crate::run::record::RunRecord;
use crate::run_files::{IDENTITY_FILE, RECORD_FILE};
use crate::ui;

/// Options of `kimg explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExplainArgs {
    /// A run directory, or a hash prefix (at least 6 hex digits) to find under `--runs-dir`.
    pub(crate) run: String,
    /// Where run directories live.
    #[arg(long, default_value = "runs")]
    pub(crate) runs_dir: PathBuf,
}

/// The run directory `run` names.
pub(crate) fn find_run(run: &str, runs_dir: &Path) -> Result<PathBuf, Error> {
    let path = Path::new(run);
    if path.join(RECORD_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    if run.len() < 6 || !run.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "`{run}` is neither a run directory (no {RECORD_FILE}) nor a hash prefix of 6+ hex digits"
        )));
    }
    let matches: Vec<PathBuf> = walkdir::WalkDir::new(runs_dir)
        .max_depth(3)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == RECORD_FILE)
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .filter(|dir| RunRecord::read(dir).is_ok_and(|r| r.run.hash.starts_with(run)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Usage(format!(
            "no run under {} has a hash starting with `{run}`",
            runs_dir.display()
        ))),
        many => Err(Error::Usage(format!(
            "`{run}` matches {} runs; give more digits",
            many.len()
        ))),
    }
}

/// `key = value` lines of a JSON document, dotted keys in order.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Run `kimg explain`.
pub(crate) fn run(args: &ExplainArgs) -> Result<ExitCode, Error> {
    let dir = find_run(&args.run, &args.runs_dir)?;
    let record = RunRecord::read(&dir).map_err(|e| Error::Usage(e.to_string()))?;
    let document = std::fs::read(dir.join(IDENTITY_FILE))
        .map_err(|e| Error::io(format!("reading {}", dir.join(IDENTITY_FILE).display()), e))?;
    let hash = format!("{:x}", Sha256::digest(&document));
    let json: serde_json::Value = serde_json::from_slice(&document)
        .map_err(|e| Error::Usage(format!("{IDENTITY_FILE}: {e}")))?;
    let mut lines = Vec::new();
    flatten("", &json, &mut lines);
    let mut text = format!(
        "run {} of `{}` ({})\n{}\n\n",
        record.run.hash,
        record.run.experiment,
        if record.run.varies.is_empty() {
            "no sweep"
        } else {
            &record.run.varies
        },
        dir.display()
    );
    text.push_str(&if hash == record.run.hash {
        format!("sha256({IDENTITY_FILE}) = {hash}: the identity is intact.\n")
    } else {
        format!("WARNING: sha256({IDENTITY_FILE}) = {hash} differs from the recorded hash.\n")
    });
    text.push_str(&format!(
        "\nIn the identity (run key version {}):\n",
        record.run.run_key_version
    ));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in &lines {
        text.push_str(&format!("  {key:<width$}  {value}\n"));
    }
    text.push_str("\nLeft out (they do not change what is learned):\n");
    let train = record.resolved.get("train");
    for key in EXCLUDED_TRAIN_KEYS {
        let value = train
            .and_then(|t| t.get(key))
            .map_or_else(|| "(unset)".to_string(), ToString::to_string);
        text.push_str(&format!("  train.{key:<10}  {value}\n"));
    }
    if !record.run.swept.is_empty() {
        text.push_str("\nSet by the sweep:\n");
        for swept in &record.run.swept {
            text.push_str(&format!("  {}\n", swept.how));
        }
    }
    ui::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

//! `kimg diff RUN_A RUN_B`: what differs between two runs' resolved configurations
//! (`config.toml`) and records (`run.toml`), key by key, and whether they are the same run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::explain::find_run;
use crate::error::Error;
use crate::manifest::diff::{KeyDiff, differing};
use crate::run_files::{CONFIG_FILE, RECORD_FILE};
use crate::ui;

/// Options of `kimg diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The first run: its directory, or a hash prefix (6+ hex digits) to find under `--runs-dir`.
    pub(crate) run_a: String,
    /// The second run, likewise.
    pub(crate) run_b: String,
    /// Where run directories live (for hash prefixes).
    #[arg(long, default_value = "runs")]
    pub(crate) runs_dir: PathBuf,
}

/// The run directory `run` names: a directory as given, else a hash prefix.
fn locate(run: &str, runs_dir: &Path) -> Result<PathBuf, Error> {
    let path = Path::new(run);
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else {
        find_run(run, runs_dir)
    }
}

/// `dir/name` parsed as TOML; unreadable or invalid, a usage error naming the file.
fn read_toml(dir: &Path, name: &str) -> Result<toml::Value, Error> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Usage(format!("cannot read `{}`: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Error::Usage(format!("`{}`: {e}", path.display())))
}

/// The lines of one file's differences: a header and `key  A  B` rows.
fn section(name: &str, diffs: &[KeyDiff]) -> String {
    if diffs.is_empty() {
        return format!("{name}: the same\n");
    }
    let cell = |value: &Option<String>| value.clone().unwrap_or_else(|| "(absent)".into());
    let key_width = diffs.iter().map(|d| d.key.len()).max().unwrap_or(0).max(3);
    let a_width = diffs
        .iter()
        .map(|d| cell(&d.values[0]).len())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut text = format!(
        "{name}: {} {}\n  {:<key_width$}  {:<a_width$}  B\n",
        diffs.len(),
        if diffs.len() == 1 {
            "key differs"
        } else {
            "keys differ"
        },
        "key",
        "A"
    );
    for diff in diffs {
        text.push_str(&format!(
            "  {:<key_width$}  {:<a_width$}  {}\n",
            diff.key,
            cell(&diff.values[0]),
            cell(&diff.values[1])
        ));
    }
    text
}

/// Run `kimg diff`.
pub(crate) fn run(args: &DiffArgs) -> Result<ExitCode, Error> {
    let dirs = [
        locate(&args.run_a, &args.runs_dir)?,
        locate(&args.run_b, &args.runs_dir)?,
    ];
    let mut text = format!("A  {}\nB  {}\n", dirs[0].display(), dirs[1].display());
    let mut hashes = Vec::new();
    for name in [CONFIG_FILE, RECORD_FILE] {
        let documents = [read_toml(&dirs[0], name)?, read_toml(&dirs[1], name)?];
        if name == RECORD_FILE {
            for (dir, document) in dirs.iter().zip(&documents) {
                let hash = document
                    .get("run")
                    .and_then(|run| run.get("hash"))
                    .and_then(toml::Value::as_str)
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "`{}` has no run.hash",
                            dir.join(RECORD_FILE).display()
                        ))
                    })?;
                hashes.push(hash.to_string());
            }
        }
        text.push('\n');
        text.push_str(&section(name, &differing(&documents)));
    }
    let short = |hash: &str| hash.chars().take(12).collect::<String>();
    text.push_str(&if hashes[0] == hashes[1] {
        format!(
            "\nThe same run: both have the identity hash {}.\n",
            short(&hashes[0])
        )
    } else {
        format!(
            "\nDifferent runs: identity hashes {} and {}.\n",
            short(&hashes[0]),
            short(&hashes[1])
        )
    });
    ui::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

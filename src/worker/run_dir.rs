//! Which directory a training process writes: the next numbered one under `--outdir`, as
//! `train.py` names them, or the run directory `kimg run` planned, once its identity is checked.

use std::path::{Path, PathBuf};

use crate::data::Dataset;
use crate::error::Error;
use crate::manifest::ExperimentSpec;
use crate::pyfmt::format_g;
use crate::run::identity::run_identity;
use crate::run::record::RunRecord;

/// `outdir/{id:05}-{cfg}-{dataset}-gpus{gpus}-batch{batch}-gamma{gamma:g}[-{desc}]` with the next
/// free id, as train.py names run directories.
pub fn next_run_dir(
    outdir: &Path,
    spec: &ExperimentSpec,
    dataset_name: &str,
) -> Result<PathBuf, Error> {
    let next_id = std::fs::read_dir(outdir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u64>().ok()
                })
                .max()
                .map_or(0, |m| m + 1)
        })
        .unwrap_or(0);
    let t = &spec.train;
    let mut desc = format!(
        "{}-{dataset_name}-gpus{}-batch{}-gamma{}",
        t.cfg.name(),
        t.gpus,
        t.batch,
        format_g(t.gamma)
    );
    if let Some(extra) = &t.desc {
        desc.push('-');
        desc.push_str(extra);
    }
    let dir = outdir.join(format!("{next_id:05}-{desc}"));
    if dir.exists() {
        return Err(Error::Usage(format!(
            "run directory `{}` already exists",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Refuse to train a run directory whose recorded identity differs from this configuration (the
/// manifest changed after `kimg run` planned it, or the wrong directory was given).
pub fn check_identity(
    run_dir: &Path,
    spec: &ExperimentSpec,
    dataset: &Dataset,
) -> Result<(), Error> {
    let Ok(record) = RunRecord::read(run_dir) else {
        return Ok(());
    };
    let identity = run_identity(spec, dataset.fingerprint().ok().as_deref());
    if identity.hash == record.run.hash {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{} belongs to run {} but this configuration is run {}; train it with its own \
         config.toml, or give another --run-dir",
        run_dir.display(),
        &record.run.hash[..12],
        identity.short()
    )))
}

//! Submitting pending runs to Slurm as job arrays, and asking Slurm what became of them.
//!
//! `kimg run --on slurm` writes one sbatch script per distinct `train.gpus` into
//! `<runs>/<experiment>/slurm/` — a job array with one task per run — and submits it. Each task
//! `exec`s `kimg train --run-dir DIR --manifest DIR/config.toml`, so Slurm's signals reach the
//! worker directly. `--signal=B:USR1@<offset>` warns it before the time limit: it snapshots and
//! requeues its own task (`--max-requeues` times at most, see `worker::requeue`), which resumes
//! from the snapshot. Preemption (SIGTERM) also ends with a snapshot, and Slurm requeues the
//! `--requeue` task itself. Submission returns at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::PlannedRun;
use crate::run::status::{RunStatus, State};
use crate::run_files::CONFIG_FILE;

/// Options of a Slurm submission.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (Slurm's syntax, e.g. `2-00:00:00`).
    pub time: Option<String>,
    /// Further `#SBATCH` arguments, verbatim.
    pub sbatch_args: Vec<String>,
    /// The kimg executable the tasks run.
    pub exe: PathBuf,
    /// The manifest (recorded in each run's provenance).
    pub manifest: PathBuf,
    /// Ask for no GPUs and train on the CPU (`--devices cpu`: CPU clusters, the test cluster).
    pub cpu: bool,
    /// Seconds before the time limit at which Slurm warns each task (`None`:
    /// [`default_signal_offset`] of the array's largest resolution).
    pub signal_offset: Option<u32>,
    /// How many times each task may requeue itself at its time limit.
    pub max_requeues: u32,
}

/// The default `--signal-offset`: how long before its time limit a task is warned, to finish the
/// iteration under way and write a snapshot of its networks — G, D, G_ema and both optimizers'
/// state, from a few MB at 64² to about 1 GB for StyleGAN3-R at 1024² — to a possibly slow
/// network filesystem. 120 s up to 256², 300 s at 512², 600 s at 1024² and above or when the
/// resolution is unknown. Slurm may send the warning up to a minute early; a longer warning only
/// costs minutes of a limit that is hours long. (A tick that evaluates metrics does not stop for
/// the warning: runs with expensive metrics need a larger offset.)
pub fn default_signal_offset(resolution: Option<u32>) -> u32 {
    match resolution {
        Some(side) if side <= 256 => 120,
        Some(side) if side <= 512 => 300,
        _ => 600,
    }
}

/// The `--signal-offset` of an array over `runs`: the option's, else the default of the largest
/// resolution among them (unknown when any run's is).
pub fn signal_offset(runs: &[&PlannedRun], options: &SlurmOptions) -> u32 {
    options.signal_offset.unwrap_or_else(|| {
        let largest = runs
            .iter()
            .map(|r| r.run.spec.data.resolution)
            .try_fold(0, |largest, side| side.map(|side| side.max(largest)));
        default_signal_offset(largest)
    })
}

/// Seconds of a Slurm time limit in `--time`'s syntax (`minutes`, `minutes:seconds`,
/// `hours:minutes:seconds`, `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`);
/// `Ok(None)` for `UNLIMITED`/`INFINITE`, `Err` naming the accepted forms otherwise.
pub fn time_limit_seconds(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if ["unlimited", "infinite"].contains(&text.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    let bad = || {
        format!(
            "`{text}` is not a Slurm time: use minutes, minutes:seconds, hours:minutes:seconds, \
             days-hours, days-hours:minutes or days-hours:minutes:seconds"
        )
    };
    let number = |part: &str| part.parse::<u64>().map_err(|_| bad());
    let (days, clock) = match text.split_once('-') {
        Some((days, clock)) => (Some(number(days)?), clock),
        None => (None, text),
    };
    let parts = clock
        .split(':')
        .map(number)
        .collect::<Result<Vec<u64>, String>>()?;
    let (hours, minutes, seconds) = match (days, parts.as_slice()) {
        (None, [m]) => (0, *m, 0),
        (None, [m, s]) => (0, *m, *s),
        (None, [h, m, s]) | (Some(_), [h, m, s]) => (*h, *m, *s),
        (Some(_), [h]) => (*h, 0, 0),
        (Some(_), [h, m]) => (*h, *m, 0),
        _ => return Err(bad()),
    };
    let seconds = days
        .unwrap_or(0)
        .saturating_mul(86_400)
        .saturating_add(hours.saturating_mul(3600))
        .saturating_add(minutes.saturating_mul(60))
        .saturating_add(seconds);
    Ok(Some(seconds))
}

/// One submitted array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The script.
    pub script: PathBuf,
    /// Slurm's job id of the array.
    pub job_id: String,
    /// The run directories, by task index.
    pub dirs: Vec<PathBuf>,
}

/// Why a submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// The slurm folder's absolute path could not be found.
    #[error("locating the slurm folder: {0}")]
    Locate(std::io::Error),
    /// A file or folder could not be written.
    #[error("{doing} {path}: {source}")]
    Io {
        /// What was done (`creating`, `writing`, `writing the status of`, …).
        doing: &'static str,
        /// To which file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `sbatch` could not be run.
    #[error("running sbatch: {0} (is Slurm installed here?)")]
    NoSbatch(std::io::Error),
    /// `sbatch` refused the script.
    #[error("sbatch {script} failed: {stderr}")]
    Refused {
        /// The script.
        script: PathBuf,
        /// What sbatch said.
        stderr: String,
    },
}

/// The error maker for `doing` something with `path`.
fn io_error(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SlurmError {
    move |source| SlurmError::Io {
        doing,
        path: path.to_path_buf(),
        source,
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The sbatch script of an array over `runs` needing `gpus` GPUs each (0: CPU only).
pub fn script(
    experiment: &str,
    runs: &[&PlannedRun],
    gpus: u32,
    options: &SlurmOptions,
    log_dir: &Path,
) -> String {
    let mut text =
        String::from("#!/bin/bash\n# Written by `kimg run --on slurm`; one array task per run.\n");
    let mut directive = |line: String| text.push_str(&format!("#SBATCH {line}\n"));
    directive(format!("--job-name=kimg-{experiment}"));
    directive(format!("--array=0-{}", runs.len().saturating_sub(1)));
    directive("--ntasks=1".into());
    if gpus > 0 {
        directive(format!("--gpus-per-task={gpus}"));
    }
    directive(format!("--output={}/%A_%a.out", log_dir.display()));
    // A requeued task appends to its log instead of truncating it.
    directive("--open-mode=append".into());
    directive("--requeue".into());
    directive(format!("--signal=B:USR1@{}", signal_offset(runs, options)));
    if let Some(partition) = &options.partition {
        directive(format!("--partition={partition}"));
    }
    if let Some(time) = &options.time {
        directive(format!("--time={time}"));
    }
    for arg in &options.sbatch_args {
        directive(arg.clone());
    }
    if gpus == 0 {
        // Without this every task's thread pool spans the whole node and they fight for cores.
        text.push_str("\nexport OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
        text.push_str("export OMP_WAIT_POLICY=PASSIVE\n");
    }
    text.push_str("\nRUNS=(\n");
    for run in runs {
        let dir = std::path::absolute(&run.dir).unwrap_or_else(|_| run.dir.clone());
        text.push_str(&format!("  {}\n", quote(&dir.display().to_string())));
    }
    text.push_str(")\nDIR=\"${RUNS[$SLURM_ARRAY_TASK_ID]}\"\n");
    text.push_str(
        "# exec: kimg becomes the batch shell, which the B: signal reaches; at the warning it\n\
         # snapshots and requeues this task (same index and directory) unless the run is done.\n",
    );
    text.push_str(&format!(
        "exec {} train --run-dir \"$DIR\" --manifest \"$DIR/{CONFIG_FILE}\" --device {} \
         --max-requeues {}\n",
        quote(&options.exe.display().to_string()),
        if gpus > 0 { "cuda" } else { "cpu" },
        options.max_requeues
    ));
    text
}

/// Write and submit one array per distinct GPU count; mark each run queued with its task id.
pub fn submit(runs: &[&PlannedRun], options: &SlurmOptions) -> Result<Vec<Submission>, SlurmError> {
    let Some(first) = runs.first() else {
        return Ok(Vec::new());
    };
    let experiment = first.run.spec.name.clone();
    let experiment_dir = first
        .dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let slurm_dir =
        std::path::absolute(experiment_dir.join("slurm")).map_err(SlurmError::Locate)?;
    std::fs::create_dir_all(&slurm_dir).map_err(io_error("creating", &slurm_dir))?;
    let mut by_gpus: Vec<(u32, Vec<&PlannedRun>)> = Vec::new();
    for run in runs {
        let gpus = if options.cpu {
            0
        } else {
            run.run.spec.train.gpus
        };
        match by_gpus.iter_mut().find(|(g, _)| *g == gpus) {
            Some((_, group)) => group.push(run),
            None => by_gpus.push((gpus, vec![run])),
        }
    }
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let mut submissions = Vec::new();
    for (gpus, group) in by_gpus {
        for run in &group {
            run.write_record(&options.manifest)
                .map_err(io_error("writing the record of", &run.dir))?;
        }
        let script_path = slurm_dir.join(format!("{stamp}-gpus{gpus}.sbatch"));
        crate::fsutil::atomic_write(
            &script_path,
            script(&experiment, &group, gpus, options, &slurm_dir).as_bytes(),
        )
        .map_err(io_error("writing", &script_path))?;
        let output = Command::new("sbatch")
            .arg("--parsable")
            .arg(&script_path)
            .output()
            .map_err(SlurmError::NoSbatch)?;
        if !output.status.success() {
            return Err(SlurmError::Refused {
                script: script_path,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let job_id = String::from_utf8_lossy(&output.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        for (task, run) in group.iter().enumerate() {
            let mut status = RunStatus::read(&run.dir)
                .unwrap_or_else(|| RunStatus::queued(run.run.spec.train.kimg));
            status.state = State::Queued;
            status.total_kimg = run.run.spec.train.kimg;
            status.failure = None;
            status.slurm_job = Some(format!("{job_id}_{task}"));
            status
                .write(&run.dir)
                .map_err(io_error("writing the status of", &run.dir))?;
        }
        submissions.push(Submission {
            script: script_path,
            job_id,
            dirs: group.iter().map(|r| r.dir.clone()).collect(),
        });
    }
    Ok(submissions)
}

/// Slurm's state of each task (`1234_0` → `RUNNING`), in one `squeue` call. Tasks Slurm no
/// longer lists are absent. `None` when squeue cannot be run.
pub fn job_states(task_ids: &[&str]) -> Option<HashMap<String, String>> {
    if task_ids.is_empty() {
        return Some(HashMap::new());
    }
    let mut jobs: Vec<&str> = task_ids
        .iter()
        .filter_map(|id| id.split('_').next())
        .collect();
    jobs.sort_unstable();
    jobs.dedup();
    let output = Command::new("squeue")
        .args(["--noheader", "--array", "--format=%i|%T", "--jobs"])
        .arg(jobs.join(","))
        .output()
        .ok()?;
    // squeue fails for job ids it has forgotten; then nothing is queued any more.
    let text = String::from_utf8_lossy(&output.stdout);
    Some(
        text.lines()
            .filter_map(|line| line.split_once('|'))
            .map(|(id, state)| (id.trim().to_string(), state.trim().to_string()))
            .collect(),
    )
}

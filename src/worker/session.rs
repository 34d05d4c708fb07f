//! One training session in a run directory: its monitor opened and the configuration recorded
//! before the first step, the trainer run under the monitor, and the end — finished, interrupted
//! (and requeued at a Slurm time limit, see [`super::requeue`]), paused or stopped early by
//! successive halving, or failed, with the failure's class — written to `status.json` and the exit
//! code.

use std::path::Path;
use std::process::ExitCode;

use super::monitor::{TrainMonitor, slurm_job};
use super::requeue::{Verdict, requeue, verdict};
use crate::error::{EXIT_INTERRUPTED, Error};
use crate::manifest::ExperimentSpec;
use crate::run::status::{Failure, FailureKind, Requeue, State};
use crate::run_files::{
    CURVES_FILE, INITIAL_FAKES_GRID, LOG_FILE, REALS_GRID, STATS_FILE, TRAINING_OPTIONS_FILE,
    fakes_grid,
};
use crate::snapshot::name::latest_snapshot_kimg;
use crate::train::error::TrainError;
use crate::train::trainer::{Outcome, Trainer};
use crate::ui;

/// Check the run's data before anything is written (see [`Trainer::check_data`]); a bad dataset
/// is a usage error naming the file.
pub fn check_data(spec: &ExperimentSpec) -> Result<(), Error> {
    Trainer::check_data(spec).map_err(|error| match error {
        TrainError::Data(error) => Error::Usage(format!("--data: {error}")),
        other => command_error(other),
    })
}

/// Open the monitor of a session in `run_dir` and write `training_options.json`. A run directory
/// planned by `kimg run` (`planned`) is locked and its status kept; a plain `--outdir` run only
/// gets its directory created.
pub fn open(
    run_dir: &Path,
    spec: &ExperimentSpec,
    device: tch::Device,
    planned: bool,
) -> Result<TrainMonitor, Error> {
    let monitor = if planned {
        let device_name = format!("{device:?}").to_lowercase();
        TrainMonitor::in_run_dir(run_dir, spec.train.kimg, &device_name, spec.train.batch_gpu)
            .map_err(|e| Error::Usage(e.to_string()))?
    } else {
        std::fs::create_dir_all(run_dir)
            .map_err(|e| Error::io(format!("creating {}", run_dir.display()), e))?;
        TrainMonitor::plain(spec.train.kimg)
    };
    crate::fsutil::atomic_write(
        &run_dir.join(TRAINING_OPTIONS_FILE),
        serde_json::to_string_pretty(spec)
            .expect("specs serialise")
            .as_bytes(),
    )
    .map_err(|e| Error::io("writing training_options.json", e))?;
    Ok(monitor)
}

/// Record in `run_dir`'s status that this machine lacks what the run needs, as a failure of kind
/// [`FailureKind::Environment`]. The run's lock is taken first, so the status of a live worker
/// is never overwritten (then nothing is recorded).
pub fn record_environment_failure(run_dir: &Path, spec: &ExperimentSpec, message: &str) {
    if let Ok(monitor) =
        TrainMonitor::in_run_dir(run_dir, spec.train.kimg, "none", spec.train.batch_gpu)
    {
        monitor.finish(
            State::Failed,
            Some(Failure {
                kind: FailureKind::Environment,
                message: message.to_string(),
            }),
        );
    }
}

/// Train with `monitor` watching, and record in it how the run ended. A panic inside libtorch (a
/// CUDA out-of-memory error, for one) is caught and recorded like any other failure. Stopped by
/// the time-limit warning, a Slurm task requeues itself at most `max_requeues` times.
pub fn train_monitored(
    spec: ExperimentSpec,
    run_dir: &Path,
    device: tch::Device,
    mut monitor: TrainMonitor,
    max_requeues: u32,
) -> Result<ExitCode, Error> {
    if let Some(state) = monitor.halted() {
        // Successive halving ended this run before this attempt: nothing to train.
        monitor.finish(state, None);
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Trainer::new(spec, run_dir, device)?.run_observed(&mut monitor)
    }))
    .unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "the trainer panicked".into());
        Err(TrainError::Torch(message))
    });
    match outcome {
        Ok(Outcome::Finished) => {
            monitor.finish(State::Done, None);
            print_where_to_look(run_dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Interrupted { kimg }) if monitor.halted().is_some() => {
            let state = monitor.halted().unwrap_or(State::Paused);
            monitor.finish(state, None);
            eprintln!(
                "{} at {kimg:.3} kimg by successive halving (see {}).",
                state.name(),
                crate::run_files::DECISION_FILE
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Interrupted { kimg }) if monitor.time_limit_reached() => {
            end_at_time_limit(monitor, kimg, max_requeues);
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
        Ok(Outcome::Interrupted { kimg }) => {
            monitor.finish(State::Interrupted, None);
            eprintln!(
                "interrupted at {kimg:.3} kimg; a snapshot was saved. Continue with `kimg train --run-dir {}`.",
                run_dir.display()
            );
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
        Err(error) => {
            monitor.finish(
                State::Failed,
                Some(Failure {
                    kind: failure_kind(&error),
                    message: error.to_string(),
                }),
            );
            Err(command_error(error))
        }
    }
}

/// End a session the time-limit warning stopped at `kimg` (its snapshot written): requeue the
/// Slurm task when [`verdict`] allows it, else say why not, in the status and on stderr.
fn end_at_time_limit(monitor: TrainMonitor, kimg: f64, max_requeues: u32) {
    let job = slurm_job();
    let decided = match monitor.status() {
        None => Verdict::Stop("not a run directory of `kimg run`; not requeued".into()),
        Some(_) if monitor.terminated() => Verdict::Stop(
            "a termination signal came after the time-limit warning; not requeued".into(),
        ),
        Some(status) => verdict(status, job.as_deref(), kimg, max_requeues),
    };
    let outcome = match decided {
        Verdict::Requeue(job) => requeue(&job)
            .map(|()| job)
            .map_err(|error| format!("{error}; not requeued")),
        Verdict::Stop(why) => Err(why),
    };
    match outcome {
        Ok(job) => {
            let count = monitor.status().map_or(0, |s| {
                s.requeues.iter().filter(|r| r.slurm_job == job).count() + 1
            });
            eprintln!(
                "time limit near: snapshot saved at {kimg:.3} kimg; requeued Slurm task {job} \
                 ({count} of at most {max_requeues} requeues)"
            );
            monitor.finish_with(State::Interrupted, |status| {
                status.requeues.push(Requeue {
                    at: chrono::Local::now(),
                    kimg,
                    slurm_job: job,
                });
            });
        }
        Err(why) => {
            eprintln!("time limit near: snapshot saved at {kimg:.3} kimg; {why}");
            monitor.finish_with(State::Interrupted, |status| status.note = Some(why));
        }
    }
}

/// Where a finished run's results are: the run directory, its newest fakes grid, the curves, the
/// statistics and the TensorBoard command.
fn print_where_to_look(run_dir: &Path) -> Result<(), Error> {
    let newest_fakes = latest_snapshot_kimg(run_dir).map(fakes_grid);
    let logdir = run_dir.parent().unwrap_or(run_dir);
    let mut text = format!("\nResults in {}:\n", run_dir.display());
    if let Some(fakes) = newest_fakes {
        text.push_str(&format!(
            "  images       {fakes} (and {REALS_GRID}, {INITIAL_FAKES_GRID})\n"
        ));
    }
    text.push_str(&format!(
        "  curves       {CURVES_FILE}\n  statistics   {STATS_FILE}, {LOG_FILE}\n  TensorBoard  \
         tensorboard --logdir {}",
        logdir.display()
    ));
    ui::println(&text)
}

/// The class of a training error: typed where kimg raised it, and for libtorch's own errors
/// (which carry only a message) out-of-memory when the message says so.
fn failure_kind(error: &TrainError) -> FailureKind {
    match error {
        TrainError::Diverged { .. } => FailureKind::Diverged,
        TrainError::Unsupported(_)
        | TrainError::BadSnapshot { .. }
        | TrainError::Resume { .. }
        | TrainError::Metrics(_) => FailureKind::Config,
        TrainError::Torch(message) => {
            let lower = message.to_ascii_lowercase();
            if lower.contains("out of memory") || lower.contains("cudaerrormemoryallocation") {
                FailureKind::OutOfMemory
            } else {
                FailureKind::Crashed
            }
        }
        TrainError::Data(_) | TrainError::Snapshot(_) | TrainError::Io { .. } => {
            FailureKind::Crashed
        }
    }
}

/// The command's error (and so its exit code) for a training error.
fn command_error(error: TrainError) -> Error {
    match error {
        TrainError::Unsupported(message) => Error::Usage(message),
        TrainError::Metrics(error) => Error::Metric(error),
        other => Error::RunFailed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{FailureKind, TrainError, failure_kind};

    #[test]
    fn failures_are_classified_by_their_error() {
        let torch = |message: &str| failure_kind(&TrainError::Torch(message.into()));
        assert_eq!(
            torch("CUDA out of memory. Tried to allocate 2.00 GiB"),
            FailureKind::OutOfMemory
        );
        assert_eq!(torch("index out of range"), FailureKind::Crashed);
        assert_eq!(
            failure_kind(&TrainError::Unsupported("cfg".into())),
            FailureKind::Config
        );
        assert!(!FailureKind::Diverged.retryable() && FailureKind::OutOfMemory.retryable());
    }
}

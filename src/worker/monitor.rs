//! What watches a training process: the run directory's lock, `status.json` kept current, a
//! progress bar, and the stop and time-limit flags of [`crate::signals`], so that Ctrl-C,
//! `scancel`, a scheduler's shutdown and its time-limit warning all end with a snapshot instead of
//! lost work.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Local;
use indicatif::ProgressBar;

use super::rungs::RungWatch;
use crate::run::decision::Verdict;
use crate::run::lock::{LockError, RunLock, hostname};
use crate::run::status::{Failure, RunStatus, State};
use crate::signals::{file_size_limit_as_error, stop_flag, time_limit_flag};
use crate::train::trainer::{Observer, TickReport};

/// Watches one training process: progress bar, stop flag and, in a run directory, the status file.
#[derive(Debug)]
pub struct TrainMonitor {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    time_limit: Arc<AtomicBool>,
    run: Option<RunFiles>,
    /// The run's rungs, under successive halving.
    rungs: Option<RungWatch>,
    /// Where successive halving ended the run: `(rung, paused or stopped)`.
    halted: Option<(usize, Verdict)>,
}

/// The lock and status of a run directory, held while training.
#[derive(Debug)]
struct RunFiles {
    dir: PathBuf,
    status: RunStatus,
    _lock: RunLock,
}

impl TrainMonitor {
    /// Monitor a plain `--outdir` run: progress and signals only (a file size limit included, see
    /// [`file_size_limit_as_error`]).
    pub fn plain(total_kimg: u64) -> TrainMonitor {
        file_size_limit_as_error();
        let bar = crate::ui::progress_bar("kimg");
        bar.set_length(total_kimg);
        TrainMonitor {
            bar,
            stop: stop_flag(),
            time_limit: time_limit_flag(),
            run: None,
            rungs: None,
            halted: None,
        }
    }

    /// Monitor a run directory: take its lock (refused while another worker holds it) and mark it
    /// running.
    pub fn in_run_dir(
        dir: &Path,
        total_kimg: u64,
        device: &str,
        batch_gpu: u32,
    ) -> Result<TrainMonitor, LockError> {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = RunLock::acquire(dir)?;
        let mut status = RunStatus::read(dir).unwrap_or_else(|| RunStatus::queued(total_kimg));
        status.state = State::Running;
        status.total_kimg = total_kimg;
        status.pid = Some(std::process::id());
        status.host = Some(hostname());
        status.device = Some(device.to_string());
        status.batch_gpu = Some(batch_gpu);
        status.started = Some(Local::now());
        status.ended = None;
        status.failure = None;
        status.note = None;
        status.attempts += 1;
        status.slurm_job = slurm_job().or(status.slurm_job);
        let mut monitor = TrainMonitor::plain(total_kimg);
        if std::env::var_os(crate::env_vars::NO_HALVING).is_none() {
            monitor.rungs = RungWatch::open(dir).unwrap_or_else(|error| {
                eprintln!("warning: successive halving is off for this run: {error}");
                None
            });
            monitor.halted = monitor.rungs.as_ref().and_then(RungWatch::halted);
        }
        let _ = status.write(dir);
        monitor.run = Some(RunFiles {
            dir: dir.to_path_buf(),
            status,
            _lock: lock,
        });
        Ok(monitor)
    }

    /// Record how the run ended and release the lock.
    pub fn finish(self, state: State, failure: Option<Failure>) {
        self.finish_with(state, |status| status.failure = failure);
    }

    /// Record how the run ended, with `edit` adding to the status, and release the lock.
    pub fn finish_with(self, state: State, edit: impl FnOnce(&mut RunStatus)) {
        self.bar.finish_and_clear();
        if let Some(mut run) = self.run {
            run.status.state = state;
            run.status.ended = Some(Local::now());
            edit(&mut run.status);
            let _ = run.status.write(&run.dir);
        }
    }

    /// The run directory's status as this worker keeps it (`None` for a plain `--outdir` run).
    pub fn status(&self) -> Option<&RunStatus> {
        self.run.as_ref().map(|run| &run.status)
    }

    /// Whether a termination signal or the time-limit warning arrived.
    pub fn stopped(&self) -> bool {
        self.terminated() || self.time_limit_reached()
    }

    /// Whether a termination signal (SIGINT, SIGTERM, SIGHUP) arrived.
    pub fn terminated(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Whether the scheduler's time-limit warning arrived (see [`crate::signals`]).
    pub fn time_limit_reached(&self) -> bool {
        self.time_limit.load(Ordering::Relaxed)
    }

    /// Where successive halving ended the run (`None`: it did not), as the state to record.
    pub fn halted(&self) -> Option<State> {
        self.halted.map(|(_, verdict)| match verdict {
            Verdict::Stopped => State::StoppedEarly,
            Verdict::Paused | Verdict::Promoted => State::Paused,
        })
    }

    /// At a snapshot: decide the run's rung if it reached one (see [`RungWatch::at_snapshot`]).
    fn check_rungs(&mut self, snapshot: &Path) {
        let Some(watch) = &self.rungs else { return };
        let Some(kimg) = snapshot
            .file_name()
            .and_then(|n| crate::snapshot::name::snapshot_kimg(&n.to_string_lossy()))
        else {
            return;
        };
        match watch.at_snapshot(kimg) {
            Ok(halted) => self.halted = halted,
            Err(error) => eprintln!("warning: no halving decision at {kimg} kimg: {error}"),
        }
    }
}

/// `<array job>_<task>` (or the job id) when running inside a Slurm job.
pub fn slurm_job() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

impl Observer for TrainMonitor {
    fn step(&mut self, cur_nimg: u64, _total_nimg: u64) {
        self.bar.set_position(cur_nimg / 1000);
    }

    fn tick(&mut self, report: &TickReport) {
        if let Some(spk) = report.sec_per_kimg {
            self.bar.set_message(format!("{spk:.2} s/kimg"));
        }
        if let Some(run) = &mut self.run {
            run.status.kimg = report.kimg;
            if report.sec_per_kimg.is_some() {
                run.status.sec_per_kimg = report.sec_per_kimg;
            }
            if let Some(name) = report.snapshot.as_ref().and_then(|s| s.file_name()) {
                run.status.last_snapshot = Some(PathBuf::from(name));
            }
            let _ = run.status.write(&run.dir);
        }
        if let Some(snapshot) = report.snapshot.as_deref()
            && report.sec_per_kimg.is_some()
        {
            self.check_rungs(snapshot);
        }
    }

    fn stop_requested(&self) -> bool {
        self.stopped() || self.halted.is_some()
    }
}

//! Carrying out a manifest's pending runs on this machine.
//!
//! Each run is a child process `kimg train --run-dir DIR --manifest DIR/config.toml` in its own
//! process group (so a terminal's Ctrl-C reaches only the scheduler, which then asks each worker
//! once, with SIGTERM, to snapshot and stop). Runs are packed onto free devices, `train.gpus`
//! devices each (exposed through `CUDA_VISIBLE_DEVICES`), or onto `--max-parallel` CPU slots.
//! One run's failure never stops the others; what happens next depends on how it failed (see
//! [`FailureKind`]).
//!
//! The runner prints nothing: it tells a [`Reporter`] what happens, as [`LocalEvent`]s, and
//! [`super::reporter::ProgressReporter`] turns them into progress bars and lines.

use std::collections::VecDeque;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::PlannedRun;
use crate::halving::{Roster, Verdict, record_failure};
use crate::run::decision::RunDecision;
use crate::run::layout::RunState;
use crate::run::lock::holder;
use crate::run::status::{FailureKind, RunStatus, State};
use crate::run_files::{CONFIG_FILE, WORKER_LOG};

/// Where workers compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Devices {
    /// CPU slots only.
    Cpu,
    /// These CUDA device ordinals.
    Gpus(Vec<u32>),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The devices to pack runs onto.
    pub devices: Devices,
    /// At most this many runs at once.
    pub max_parallel: usize,
    /// Further attempts after a crash or an out-of-memory failure.
    pub retries: u32,
    /// The kimg executable workers run.
    pub exe: PathBuf,
    /// The manifest (recorded in each run's provenance).
    pub manifest: PathBuf,
    /// Successive halving: act on its decisions (`false`: `--no-halving`, workers ignore it).
    pub halving: bool,
}

/// How one run ended in this invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// Trained to its kimg.
    Done,
    /// Stopped by Ctrl-C or a signal; resumes next time.
    Interrupted,
    /// Failed for good in this invocation.
    Failed {
        /// How.
        kind: FailureKind,
        /// The worker's message.
        message: String,
    },
    /// Not started because the scheduler was stopping.
    NotStarted,
    /// Left to another worker (of another `kimg run` on the same runs), which holds the run's lock
    /// or finished the run meanwhile: a run is never trained by two workers.
    Elsewhere {
        /// Who holds the lock (`pid … on … since …`), or which worker ended the run meanwhile.
        holder: String,
    },
    /// Paused at a rung by successive halving; resumed here if a later decision promotes it.
    Paused,
    /// Stopped early at a rung by successive halving.
    StoppedEarly,
}

impl RunEnd {
    /// The end in one word: `done`, `stopped`, `failed` or `skipped`.
    pub fn word(&self) -> &'static str {
        match self {
            RunEnd::Done => "done",
            RunEnd::Interrupted => "stopped",
            RunEnd::Failed { .. } => "failed",
            RunEnd::NotStarted | RunEnd::Elsewhere { .. } => "skipped",
            RunEnd::Paused => "paused",
            RunEnd::StoppedEarly => "stopped early",
        }
    }

    /// The end in words, a failure with its kind: `out of memory: CUDA out of memory…`.
    pub fn text(&self) -> String {
        match self {
            RunEnd::Failed { kind, message } => format!(
                "{}: {message}",
                serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                    .unwrap_or_default()
            ),
            RunEnd::Elsewhere { holder } => format!("skipped: another worker has it ({holder})"),
            other => other.word().to_string(),
        }
    }
}

/// How one run ended in this invocation, by index into the planned runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Index into the runs given to [`run_local`].
    pub index: usize,
    /// How it ended.
    pub end: RunEnd,
    /// Attempts made in this invocation.
    pub attempts: u32,
}

/// What happens while [`run_local`] works, in the order it happens; a [`Reporter`] shows it.
#[derive(Debug)]
pub enum LocalEvent<'a> {
    /// Ctrl-C or a signal arrived: every worker is asked to save a snapshot and exit, and queued
    /// runs will not start.
    Stopping,
    /// `run` needs more devices than were given, so it fails without starting.
    Unplaceable {
        /// The run.
        run: &'a PlannedRun,
        /// Why it cannot be placed.
        message: &'a str,
    },
    /// A worker for `run` started.
    Started {
        /// The run.
        run: &'a PlannedRun,
        /// The CUDA ordinals it trains on (none: the CPU).
        devices: &'a [u32],
        /// The `batch_gpu` an out-of-memory retry lowered, if any.
        batch_gpu: Option<u32>,
    },
    /// No worker could be started for `run`; it ended with `end`.
    StartFailed {
        /// The run.
        run: &'a PlannedRun,
        /// How it ended.
        end: &'a RunEnd,
    },
    /// The worker of `run` is still training; its `status.json` says `status`.
    Progress {
        /// The run.
        run: &'a PlannedRun,
        /// What its worker last wrote.
        status: &'a RunStatus,
    },
    /// Waiting for the worker of `run` failed; the scheduler keeps polling it.
    WorkerLost {
        /// The run.
        run: &'a PlannedRun,
        /// Why waiting failed.
        error: &'a std::io::Error,
    },
    /// The worker of `run` ended with `after`, and the run is queued for another attempt.
    RetryScheduled {
        /// The run.
        run: &'a PlannedRun,
        /// How the attempt ended.
        after: &'a RunEnd,
    },
    /// The worker of `run` ended, and the run is over for this invocation.
    Ended {
        /// The run.
        run: &'a PlannedRun,
        /// How it ended.
        end: &'a RunEnd,
    },
    /// Every run is over (or stopped); no further events follow.
    AllEnded,
}

/// Whoever shows what [`run_local`] does: it receives every [`LocalEvent`] and owns all output.
pub trait Reporter {
    /// Show `event`.
    fn report(&mut self, event: LocalEvent<'_>);
}

/// One attempt of a run, queued or running.
struct Job {
    index: usize,
    batch_gpu: Option<u32>,
    attempts: u32,
}

impl Job {
    /// The job's run ended with `end`.
    fn outcome(&self, end: RunEnd) -> RunOutcome {
        RunOutcome {
            index: self.index,
            end,
            attempts: self.attempts,
        }
    }
}

/// A running worker.
struct Active {
    job: Job,
    child: Child,
    devices: Vec<u32>,
    started: Instant,
}

/// Where a queued run can go now.
enum Placement {
    /// Onto these devices (none: a CPU slot).
    On(Vec<u32>),
    /// Nowhere yet: too few devices are free.
    Wait,
    /// Nowhere ever: it needs more devices than the `given` ones.
    Never {
        /// How many devices were given.
        given: usize,
    },
}

/// The scheduler's state while [`run_local`] works: the queue, the free devices and the
/// running workers.
struct Runner<'a> {
    runs: &'a [PlannedRun],
    options: &'a LocalOptions,
    reporter: &'a mut dyn Reporter,
    queue: VecDeque<Job>,
    free: Vec<u32>,
    active: Vec<Active>,
    outcomes: Vec<RunOutcome>,
    stopping: bool,
    /// Runs paused by successive halving, which a later decision may promote.
    paused: Vec<usize>,
}

/// Train `indices` of `runs` to completion, or until `stop` is raised, telling `reporter` what
/// happens. Returns how each run ended, by index.
pub fn run_local(
    runs: &[PlannedRun],
    indices: &[usize],
    options: &LocalOptions,
    stop: &Arc<AtomicBool>,
    reporter: &mut dyn Reporter,
) -> Vec<RunOutcome> {
    let mut runner = Runner {
        runs,
        options,
        reporter,
        queue: indices
            .iter()
            .map(|&index| Job {
                index,
                batch_gpu: None,
                attempts: 0,
            })
            .collect(),
        free: match &options.devices {
            Devices::Cpu => Vec::new(),
            Devices::Gpus(ids) => ids.clone(),
        },
        active: Vec::new(),
        outcomes: Vec::new(),
        stopping: false,
        paused: runs
            .iter()
            .enumerate()
            .filter(|(_, r)| options.halving && matches!(r.state, RunState::Paused { .. }))
            .map(|(i, _)| i)
            .collect(),
    };
    loop {
        if stop.load(Ordering::Relaxed) && !runner.stopping {
            runner.stop();
        }
        runner.start_ready();
        if runner.active.is_empty() && (runner.queue.is_empty() || runner.stopping) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        runner.poll();
    }
    runner.reporter.report(LocalEvent::AllEnded);
    let mut outcomes = runner.outcomes;
    outcomes.sort_by_key(|o| o.index);
    outcomes
}

impl Runner<'_> {
    /// Ask every worker once, with SIGTERM, to snapshot and exit; queued runs do not start.
    fn stop(&mut self) {
        self.stopping = true;
        self.reporter.report(LocalEvent::Stopping);
        for worker in &self.active {
            if let Ok(pid) = i32::try_from(worker.child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
        let skipped = self
            .queue
            .drain(..)
            .map(|job| job.outcome(RunEnd::NotStarted));
        self.outcomes.extend(skipped);
    }

    /// Start queued runs, in order, while a slot and their devices are free.
    fn start_ready(&mut self) {
        let runs = self.runs;
        while !self.stopping && self.active.len() < self.options.max_parallel {
            let Some(job) = self.queue.front() else { break };
            let run = &runs[job.index];
            let needed = usize::try_from(run.run.spec.train.gpus).unwrap_or(usize::MAX);
            let devices = match self.place(needed) {
                Placement::On(devices) => devices,
                Placement::Wait => break,
                Placement::Never { given } => {
                    let job = self.queue.pop_front().expect("front exists");
                    let message = format!(
                        "the run needs {needed} GPUs but only {given} were given (--devices)"
                    );
                    self.reporter.report(LocalEvent::Unplaceable {
                        run,
                        message: &message,
                    });
                    self.outcomes.push(job.outcome(RunEnd::Failed {
                        kind: FailureKind::Config,
                        message,
                    }));
                    continue;
                }
            };
            let mut job = self.queue.pop_front().expect("front exists");
            job.attempts += 1;
            self.start(job, devices);
        }
    }

    /// Where a run needing `needed` GPUs can go now; the devices it gets are no longer free.
    fn place(&mut self, needed: usize) -> Placement {
        match &self.options.devices {
            Devices::Cpu => Placement::On(Vec::new()),
            Devices::Gpus(all) if needed > all.len() => Placement::Never { given: all.len() },
            Devices::Gpus(_) if needed > self.free.len() => Placement::Wait,
            Devices::Gpus(_) => Placement::On(self.free.drain(..needed).collect()),
        }
    }

    /// Spawn the worker of `job` on `devices`.
    fn start(&mut self, job: Job, devices: Vec<u32>) {
        let run = &self.runs[job.index];
        if let Some(holder) = holder(&run.dir) {
            self.free.extend(devices);
            let end = RunEnd::Elsewhere { holder };
            self.reporter.report(LocalEvent::Ended { run, end: &end });
            self.outcomes.push(job.outcome(end));
            return;
        }
        match spawn(run, &job, &devices, self.options) {
            Ok(child) => {
                self.reporter.report(LocalEvent::Started {
                    run,
                    devices: &devices,
                    batch_gpu: job.batch_gpu,
                });
                self.active.push(Active {
                    job,
                    child,
                    devices,
                    started: Instant::now(),
                });
            }
            Err(error) => {
                self.free.extend(devices);
                let end = RunEnd::Failed {
                    kind: FailureKind::Crashed,
                    message: format!("could not start the worker: {error}"),
                };
                self.reporter
                    .report(LocalEvent::StartFailed { run, end: &end });
                self.outcomes.push(job.outcome(end));
            }
        }
    }

    /// Look at every worker once: report progress, free the devices of those that ended.
    fn poll(&mut self) {
        let runs = self.runs;
        for mut worker in std::mem::take(&mut self.active) {
            let run = &runs[worker.job.index];
            match worker.child.try_wait() {
                Ok(None) => {
                    if let Some(status) = RunStatus::read(&run.dir) {
                        self.reporter.report(LocalEvent::Progress {
                            run,
                            status: &status,
                        });
                    }
                    self.active.push(worker);
                }
                Ok(Some(exit)) => {
                    self.free.append(&mut worker.devices);
                    let end = classify_exit(exit, &run.dir, worker.started, worker.child.id());
                    self.ended(&worker.job, end);
                    self.resume_promoted();
                }
                Err(error) => {
                    self.reporter
                        .report(LocalEvent::WorkerLost { run, error: &error });
                    self.active.push(worker);
                }
            }
        }
    }

    /// The worker of `job` ended with `end`: queue another attempt, or record the outcome.
    fn ended(&mut self, job: &Job, end: RunEnd) {
        let run = &self.runs[job.index];
        match next_step(&end, job, run, self.options.retries, self.stopping) {
            Some(retry) => {
                self.reporter
                    .report(LocalEvent::RetryScheduled { run, after: &end });
                self.queue.push_back(retry);
            }
            None => {
                self.reporter.report(LocalEvent::Ended { run, end: &end });
                match &end {
                    RunEnd::Paused => self.paused.push(job.index),
                    RunEnd::Failed { .. } if self.options.halving => record_halving_failure(run),
                    _ => {}
                }
                self.outcomes.push(job.outcome(end));
            }
        }
    }

    /// Queue, ahead of the pending runs, the paused runs that a decision has promoted since; the
    /// paused runs a decision has stopped since end as stopped early.
    fn resume_promoted(&mut self) {
        if self.stopping {
            return;
        }
        let runs = self.runs;
        let verdict = |i: usize| RunDecision::read(&runs[i].dir).map(|d| d.verdict);
        let mut promoted = Vec::new();
        for index in std::mem::take(&mut self.paused) {
            match verdict(index) {
                Some(Verdict::Promoted) => promoted.push(index),
                Some(Verdict::Stopped) => {
                    for outcome in self.outcomes.iter_mut().filter(|o| o.index == index) {
                        outcome.end = RunEnd::StoppedEarly;
                    }
                }
                _ => self.paused.push(index),
            }
        }
        for index in promoted.into_iter().rev() {
            let attempts = match self.outcomes.iter().position(|o| o.index == index) {
                Some(at) => self.outcomes.remove(at).attempts,
                None => 0,
            };
            self.queue.push_front(Job {
                index,
                batch_gpu: None,
                attempts,
            });
        }
    }
}

/// A run failed for good: count it as arrived without a value at its next rung, so that the
/// rung can complete (logged in the experiment's decisions).
fn record_halving_failure(run: &PlannedRun) {
    let Some(experiment_dir) = run.dir.parent() else {
        return;
    };
    if let Ok(Some(roster)) = Roster::read(experiment_dir) {
        let _ = record_failure(experiment_dir, &roster, &run.identity.hash);
    }
}

/// Write the run's record and start its worker, logging into the run's worker log.
fn spawn(
    run: &PlannedRun,
    job: &Job,
    devices: &[u32],
    options: &LocalOptions,
) -> std::io::Result<Child> {
    run.write_record(&options.manifest)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.dir.join(WORKER_LOG))?;
    let mut command = Command::new(&options.exe);
    command
        .arg("train")
        .arg("--run-dir")
        .arg(&run.dir)
        .arg("--manifest")
        .arg(run.dir.join(CONFIG_FILE))
        .arg("--device")
        .arg(if devices.is_empty() { "cpu" } else { "cuda" });
    if let Some(batch_gpu) = job.batch_gpu {
        command.arg("--batch-gpu").arg(batch_gpu.to_string());
    }
    if devices.is_empty() {
        // Share the cores instead of oversubscribing them.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = (cores / options.max_parallel.max(1)).max(1);
        command.env("OMP_NUM_THREADS", threads.to_string());
        // Idle OpenMP workers sleep instead of spinning: with several runs sharing the cores,
        // spinning workers starve the busy ones (measured 2–6× slower, see BENCHMARKS.md).
        command.env(crate::env_vars::OMP_WAIT_POLICY, "PASSIVE");
    } else {
        command.env(
            "CUDA_VISIBLE_DEVICES",
            devices
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    if !options.halving {
        command.env(crate::env_vars::NO_HALVING, "1");
    }
    command
        .env(crate::env_vars::NO_PROGRESS, "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
}

/// What the exit of worker `pid` means, using the status it wrote when it could. A worker refused
/// the lock (a usage error, exit 2) while another one trains the run, or while another one did
/// (it ended the run since `started`), leaves the run to that one.
fn classify_exit(exit: std::process::ExitStatus, dir: &Path, started: Instant, pid: u32) -> RunEnd {
    use std::os::unix::process::ExitStatusExt as _;
    if exit.success() {
        return match RunStatus::read(dir).map(|s| s.state) {
            Some(State::Paused) => RunEnd::Paused,
            Some(State::StoppedEarly) => RunEnd::StoppedEarly,
            _ => RunEnd::Done,
        };
    }
    if exit.code() == Some(i32::from(crate::error::EXIT_INTERRUPTED)) {
        return RunEnd::Interrupted;
    }
    let written_since_start = RunStatus::read(dir).filter(|s| {
        s.ended
            .is_some_and(|ended| ended.timestamp_millis() >= start_millis(started))
    });
    if exit.code() == Some(i32::from(crate::error::EXIT_USAGE)) {
        if let Some(holder) = holder(dir) {
            return RunEnd::Elsewhere { holder };
        }
        if let Some(other) = written_since_start.as_ref().filter(|s| s.pid != Some(pid)) {
            return RunEnd::Elsewhere {
                holder: format!(
                    "pid {}, which ended it {}",
                    other.pid.unwrap_or_default(),
                    other.state.name()
                ),
            };
        }
    }
    if let Some(failure) = written_since_start.and_then(|s| s.failure) {
        return RunEnd::Failed {
            kind: failure.kind,
            message: failure.message,
        };
    }
    let message = match (exit.code(), exit.signal()) {
        (_, Some(signal)) => format!("the worker was killed by signal {signal}"),
        (Some(code), None) => format!("the worker exited with code {code}"),
        (None, None) => "the worker ended abnormally".into(),
    };
    let kind = if exit.code() == Some(i32::from(crate::error::EXIT_USAGE)) {
        FailureKind::Config
    } else {
        FailureKind::Crashed
    };
    RunEnd::Failed { kind, message }
}

/// Wall-clock milliseconds at `instant`.
fn start_millis(instant: Instant) -> i64 {
    let ago = i64::try_from(instant.elapsed().as_millis()).unwrap_or(i64::MAX);
    chrono::Local::now().timestamp_millis() - ago - 1000
}

/// The job to queue again, if the failure allows another attempt.
fn next_step(
    end: &RunEnd,
    job: &Job,
    run: &PlannedRun,
    retries: u32,
    stopping: bool,
) -> Option<Job> {
    let RunEnd::Failed { kind, .. } = end else {
        return None;
    };
    if stopping || job.attempts > retries {
        return None;
    }
    match kind {
        FailureKind::Crashed => Some(Job {
            index: job.index,
            batch_gpu: job.batch_gpu,
            attempts: job.attempts,
        }),
        FailureKind::OutOfMemory => {
            let t = &run.run.spec.train;
            Some(Job {
                index: job.index,
                batch_gpu: Some(smaller_batch_gpu(
                    t.batch,
                    t.gpus,
                    job.batch_gpu.unwrap_or(t.batch_gpu),
                )?),
                attempts: job.attempts,
            })
        }
        FailureKind::Diverged | FailureKind::Config | FailureKind::Environment => None,
    }
}

/// The next `batch_gpu` below `current` that train.py accepts (`batch` a multiple of
/// `gpus × batch_gpu`): the same batch in more accumulation rounds, so the same result.
fn smaller_batch_gpu(batch: u32, gpus: u32, current: u32) -> Option<u32> {
    let per_gpu = batch / gpus.max(1);
    (1..current.min(per_gpu + 1))
        .rev()
        .find(|b| per_gpu.is_multiple_of(*b))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::{
        Devices, LocalEvent, LocalOptions, Reporter, RunEnd, run_local, smaller_batch_gpu,
    };
    use crate::run::status::FailureKind;

    /// Keeps each event as a line.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Reporter for Recorder {
        fn report(&mut self, event: LocalEvent<'_>) {
            self.0.push(match event {
                LocalEvent::Unplaceable { run, message } => {
                    format!("unplaceable {} {message}", run.identity.short())
                }
                LocalEvent::AllEnded => "all ended".to_string(),
                other => format!("{other:?}"),
            });
        }
    }

    /// A gamma sweep of two 2-GPU runs.
    fn two_gpu_sweep(dir: &Path) -> PathBuf {
        let data =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
        let manifest = dir.join("sweep.toml");
        std::fs::write(
            &manifest,
            format!(
                "name = \"sweep\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\n\
                 gpus = 2\nbatch = 8\ngamma = 0.5\nmetrics = []\nkimg = 2\n\
                 [sweep]\n\"train.gamma\" = [0.5, 1]\n",
                data.display().to_string()
            ),
        )
        .unwrap();
        manifest
    }

    #[test]
    fn runs_needing_more_devices_than_given_fail_without_starting() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = two_gpu_sweep(dir.path());
        let runs = crate::schedule::plan(&manifest, &[], &dir.path().join("runs")).unwrap();
        let options = LocalOptions {
            devices: Devices::Gpus(vec![0]),
            max_parallel: 1,
            retries: 2,
            exe: PathBuf::from("/nonexistent/kimg"),
            manifest,
            halving: true,
        };
        let mut recorder = Recorder::default();
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = run_local(&runs, &[1, 0], &options, &stop, &mut recorder);
        let message = "the run needs 2 GPUs but only 1 were given (--devices)";
        assert_eq!(
            recorder.0,
            [
                format!("unplaceable {} {message}", runs[1].identity.short()),
                format!("unplaceable {} {message}", runs[0].identity.short()),
                "all ended".to_string(),
            ]
        );
        let ends: Vec<(usize, RunEnd, u32)> = outcomes
            .into_iter()
            .map(|o| (o.index, o.end, o.attempts))
            .collect();
        let failed = RunEnd::Failed {
            kind: FailureKind::Config,
            message: message.to_string(),
        };
        assert_eq!(ends, [(0, failed.clone(), 0), (1, failed, 0)]);
        assert!(!runs[0].dir.exists(), "nothing was written");
    }

    #[test]
    fn out_of_memory_retries_use_the_next_divisor() {
        assert_eq!(smaller_batch_gpu(32, 8, 4), Some(2));
        assert_eq!(smaller_batch_gpu(32, 8, 2), Some(1));
        assert_eq!(smaller_batch_gpu(32, 8, 1), None);
        assert_eq!(smaller_batch_gpu(24, 1, 24), Some(12));
        assert_eq!(smaller_batch_gpu(24, 1, 12), Some(8));
    }
}

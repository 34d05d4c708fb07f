//! Carrying out a manifest's pending runs on this machine.
//!
//! Each run is a child process `kimg train --run-dir DIR --manifest DIR/config.toml` in its own
//! process group (so a terminal's Ctrl-C reaches only the scheduler, which then asks each worker
//! once, with SIGTERM, to snapshot and stop). Runs are packed onto free devices, `train.gpus`
//! devices each (exposed through `CUDA_VISIBLE_DEVICES`), or onto `--max-parallel` CPU slots.
//! One run's failure never stops the others; what happens next depends on how it failed (see
//! [`FailureKind`]).

use std::collections::VecDeque;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::PlannedRun;
use crate::run::status::{FailureKind, RunStatus};
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
}

/// A run's end, by index into the planned runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Index into the runs given to [`run_local`].
    pub index: usize,
    /// How it ended.
    pub end: RunEnd,
    /// Attempts made in this invocation.
    pub attempts: u32,
}

struct Job {
    index: usize,
    batch_gpu: Option<u32>,
    attempts: u32,
}

struct Active {
    job: Job,
    child: Child,
    devices: Vec<u32>,
    started: Instant,
    bar: ProgressBar,
}

/// The progress display: one bar per active run and one for the sweep, or plain lines when
/// nobody watches a terminal.
struct Display {
    multi: MultiProgress,
    overall: ProgressBar,
    plain: bool,
}

impl Display {
    fn new(total: usize) -> Display {
        let plain = crate::ui::progress_bar("").is_hidden();
        let multi = MultiProgress::with_draw_target(if plain {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("{prefix:>14} {bar:30} {pos}/{len} runs  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.set_prefix("sweep");
        Display {
            multi,
            overall,
            plain,
        }
    }

    fn line(&self, text: &str) {
        if self.plain {
            println!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    fn run_bar(&self, run: &PlannedRun) -> ProgressBar {
        let bar = self.multi.insert_before(
            &self.overall,
            ProgressBar::new(run.run.spec.train.kimg * 10),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(run.identity.short()[..8].to_string());
        bar
    }
}

/// Train `indices` of `runs` to completion, or until `stop` is raised.
#[expect(
    clippy::too_many_lines,
    reason = "placement, spawning, signals, retries and progress in one loop; the runner and its reporter are to be separated (issue #15)"
)]
pub fn run_local(
    runs: &[PlannedRun],
    indices: &[usize],
    options: &LocalOptions,
    stop: &Arc<AtomicBool>,
) -> Vec<RunReport> {
    let display = Display::new(indices.len());
    let mut queue: VecDeque<Job> = indices
        .iter()
        .map(|&index| Job {
            index,
            batch_gpu: None,
            attempts: 0,
        })
        .collect();
    let mut free: Vec<u32> = match &options.devices {
        Devices::Cpu => Vec::new(),
        Devices::Gpus(ids) => ids.clone(),
    };
    let mut active: Vec<Active> = Vec::new();
    let mut reports = Vec::new();
    let mut stopping = false;
    loop {
        if stop.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            display.line("stopping: asking every worker to save a snapshot and exit…");
            for worker in &active {
                if let Ok(pid) = i32::try_from(worker.child.id()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
            }
            reports.extend(queue.drain(..).map(|job| RunReport {
                index: job.index,
                end: RunEnd::NotStarted,
                attempts: job.attempts,
            }));
        }
        while !stopping && active.len() < options.max_parallel {
            let Some(job) = queue.front() else { break };
            let run = &runs[job.index];
            let needed = usize::try_from(run.run.spec.train.gpus).unwrap_or(usize::MAX);
            let devices = match &options.devices {
                Devices::Cpu => Vec::new(),
                Devices::Gpus(all) if needed > all.len() => {
                    let job = queue.pop_front().expect("front exists");
                    let message = format!(
                        "the run needs {needed} GPUs but only {} were given (--devices)",
                        all.len()
                    );
                    display.line(&format!("failed  {}  {message}", describe(run)));
                    reports.push(RunReport {
                        index: job.index,
                        end: RunEnd::Failed {
                            kind: FailureKind::Config,
                            message,
                        },
                        attempts: job.attempts,
                    });
                    display.overall.inc(1);
                    continue;
                }
                Devices::Gpus(_) if needed > free.len() => break,
                Devices::Gpus(_) => free.drain(..needed).collect(),
            };
            let mut job = queue.pop_front().expect("front exists");
            job.attempts += 1;
            match spawn(run, &job, &devices, options) {
                Ok(child) => {
                    display.line(&format!(
                        "started {}  on {}{}",
                        describe(run),
                        device_text(&devices),
                        job.batch_gpu
                            .map_or_else(String::new, |b| format!(" with batch_gpu {b}"))
                    ));
                    let bar = display.run_bar(run);
                    active.push(Active {
                        job,
                        child,
                        devices,
                        started: Instant::now(),
                        bar,
                    });
                }
                Err(error) => {
                    free.extend(devices);
                    reports.push(RunReport {
                        index: job.index,
                        end: RunEnd::Failed {
                            kind: FailureKind::Crashed,
                            message: format!("could not start the worker: {error}"),
                        },
                        attempts: job.attempts,
                    });
                    display.overall.inc(1);
                }
            }
        }
        if active.is_empty() && (queue.is_empty() || stopping) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut still = Vec::new();
        for mut worker in active.drain(..) {
            let run = &runs[worker.job.index];
            match worker.child.try_wait() {
                Ok(None) => {
                    show_progress(&worker.bar, run);
                    still.push(worker);
                }
                Ok(Some(exit)) => {
                    worker.bar.finish_and_clear();
                    display.multi.remove(&worker.bar);
                    free.append(&mut worker.devices);
                    let end = classify_exit(exit, &run.dir, worker.started);
                    match next_step(&end, &worker.job, run, options.retries, stopping) {
                        Some(retry) => {
                            display.line(&format!(
                                "retry   {}  after {}",
                                describe(run),
                                end_text(&end)
                            ));
                            queue.push_back(retry);
                        }
                        None => {
                            display.line(&format!("{:<7} {}", end_word(&end), describe(run)));
                            if let RunEnd::Failed { message, .. } = &end {
                                display.line(&format!(
                                    "        {message} (see {})",
                                    run.dir.join(WORKER_LOG).display()
                                ));
                            }
                            display.overall.inc(1);
                            reports.push(RunReport {
                                index: worker.job.index,
                                end,
                                attempts: worker.job.attempts,
                            });
                        }
                    }
                }
                Err(error) => {
                    display.line(&format!("lost the worker of {}: {error}", describe(run)));
                    still.push(worker);
                }
            }
        }
        active = still;
    }
    display.overall.finish_and_clear();
    reports.sort_by_key(|r| r.index);
    reports
}

/// `3f9c2a1b7e40 gamma2.05`.
fn describe(run: &PlannedRun) -> String {
    let varies = run.run.short_description();
    format!(
        "{}  {}",
        run.identity.short(),
        if varies.is_empty() { "-" } else { &varies }
    )
}

fn device_text(devices: &[u32]) -> String {
    if devices.is_empty() {
        "cpu".into()
    } else {
        format!(
            "cuda {}",
            devices
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    }
}

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
    command
        .env(crate::env_vars::NO_PROGRESS, "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
}

/// Move a run's bar to the kimg its worker last reported.
fn show_progress(bar: &ProgressBar, run: &PlannedRun) {
    let Some(status) = RunStatus::read(&run.dir) else {
        return;
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "tenths of kimg, small and positive"
    )]
    bar.set_position((status.kimg * 10.0).round() as u64);
    let speed = status
        .sec_per_kimg
        .map_or_else(String::new, |s| format!("  {s:.2} s/kimg"));
    let eta = status
        .sec_per_kimg
        .map(|s| s * (status.total_kimg as f64 - status.kimg).max(0.0))
        .map_or_else(String::new, |sec| {
            format!("  ETA {}", crate::ui::human_duration(sec))
        });
    bar.set_message(format!(
        "{:.1}/{} kimg{speed}{eta}  {}",
        status.kimg,
        status.total_kimg,
        run.run.short_description()
    ));
}

/// What a worker's exit means, using the status it wrote when it could.
fn classify_exit(exit: std::process::ExitStatus, dir: &Path, started: Instant) -> RunEnd {
    use std::os::unix::process::ExitStatusExt as _;
    if exit.success() {
        return RunEnd::Done;
    }
    if exit.code() == Some(i32::from(crate::error::EXIT_INTERRUPTED)) {
        return RunEnd::Interrupted;
    }
    let written_since_start = RunStatus::read(dir).filter(|s| {
        s.ended
            .is_some_and(|ended| ended.timestamp_millis() >= start_millis(started))
    });
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
        FailureKind::Diverged | FailureKind::Config => None,
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

fn end_word(end: &RunEnd) -> &'static str {
    match end {
        RunEnd::Done => "done",
        RunEnd::Interrupted => "stopped",
        RunEnd::Failed { .. } => "failed",
        RunEnd::NotStarted => "skipped",
    }
}

/// `out of memory: CUDA out of memory…`.
pub fn end_text(end: &RunEnd) -> String {
    match end {
        RunEnd::Failed { kind, message } => format!(
            "{}: {message}",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_default()
        ),
        other => end_word(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::smaller_batch_gpu;

    #[test]
    fn out_of_memory_retries_use_the_next_divisor() {
        assert_eq!(smaller_batch_gpu(32, 8, 4), Some(2));
        assert_eq!(smaller_batch_gpu(32, 8, 2), Some(1));
        assert_eq!(smaller_batch_gpu(32, 8, 1), None);
        assert_eq!(smaller_batch_gpu(24, 1, 24), Some(12));
        assert_eq!(smaller_batch_gpu(24, 1, 12), Some(8));
    }
}

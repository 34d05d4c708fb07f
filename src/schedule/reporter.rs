//! What `kimg run` shows while [`super::local`] trains: [`ProgressReporter`] turns the runner's
//! [`LocalEvent`]s into one progress bar per active run and one for the sweep, with a line for
//! each start, retry and end; plain lines on stdout when nobody watches a terminal.

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::PlannedRun;
use super::local::{LocalEvent, Reporter, RunEnd};
use crate::run::status::RunStatus;
use crate::run_files::WORKER_LOG;

/// The terminal display of a local sweep.
pub struct ProgressReporter {
    multi: MultiProgress,
    overall: ProgressBar,
    plain: bool,
    /// The bar of each active run, by identity hash.
    bars: HashMap<String, ProgressBar>,
}

impl ProgressReporter {
    /// A display for a sweep of `total` runs.
    pub fn new(total: usize) -> ProgressReporter {
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
        ProgressReporter {
            multi,
            overall,
            plain,
            bars: HashMap::new(),
        }
    }

    /// Print `text` on its own line, above the bars.
    fn line(&self, text: &str) {
        if self.plain {
            println!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    /// Add a bar for `run`, above the sweep's.
    fn add_bar(&mut self, run: &PlannedRun) {
        let bar = self.multi.insert_before(
            &self.overall,
            ProgressBar::new(run.run.spec.train.kimg * 10),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(run.identity.short()[..8].to_string());
        self.bars.insert(run.identity.hash.clone(), bar);
    }

    /// Take away the bar of `run`, whose worker ended.
    fn remove_bar(&mut self, run: &PlannedRun) {
        if let Some(bar) = self.bars.remove(&run.identity.hash) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

impl Reporter for ProgressReporter {
    fn report(&mut self, event: LocalEvent<'_>) {
        match event {
            LocalEvent::Stopping => {
                self.line("stopping: asking every worker to save a snapshot and exit…");
            }
            LocalEvent::Unplaceable { run, message } => {
                self.line(&format!("failed  {}  {message}", describe(run)));
                self.overall.inc(1);
            }
            LocalEvent::Started {
                run,
                devices,
                batch_gpu,
            } => {
                self.line(&format!(
                    "started {}  on {}{}",
                    describe(run),
                    device_text(devices),
                    batch_gpu.map_or_else(String::new, |b| format!(" with batch_gpu {b}"))
                ));
                self.add_bar(run);
            }
            LocalEvent::StartFailed { .. } => self.overall.inc(1),
            LocalEvent::Progress { run, status } => {
                if let Some(bar) = self.bars.get(&run.identity.hash) {
                    show_progress(bar, run, status);
                }
            }
            LocalEvent::WorkerLost { run, error } => {
                self.line(&format!("lost the worker of {}: {error}", describe(run)));
            }
            LocalEvent::RetryScheduled { run, after } => {
                self.remove_bar(run);
                self.line(&format!(
                    "retry   {}  after {}",
                    describe(run),
                    after.text()
                ));
            }
            LocalEvent::Ended { run, end } => {
                self.remove_bar(run);
                self.line(&format!("{:<7} {}", end.word(), describe(run)));
                match end {
                    RunEnd::Failed { message, .. } => self.line(&format!(
                        "        {message} (see {})",
                        run.dir.join(WORKER_LOG).display()
                    )),
                    RunEnd::Elsewhere { holder } => {
                        self.line(&format!("        another worker has it ({holder})"));
                    }
                    _ => {}
                }
                self.overall.inc(1);
            }
            LocalEvent::AllEnded => self.overall.finish_and_clear(),
        }
    }
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

/// `cpu`, or `cuda 0,1`.
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

/// Move a run's bar to the kimg its worker last reported.
fn show_progress(bar: &ProgressBar, run: &PlannedRun, status: &RunStatus) {
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

//! The end of a tick, as the reference orders it: the log line, the tick's statistics into
//! `stats.jsonl` and the event file (and the check that the losses are still finite), then at
//! snapshot ticks the fakes grid, the snapshot, the metrics and the curves, and the metrics' latest
//! values into the event file. Also the end of an interrupted run.
//!
//! The event file holds what the reference's `SummaryWriter` gets: each statistic's mean under its
//! `stats.jsonl` name and every metric result evaluated so far as `Metrics/<name>`, at
//! `global_step = int(cur_nimg / 1e3)` with `walltime = timestamp - start_time`.

use std::io::Write as _;
use std::time::Instant;

use super::{Outcome, TickReport, Trainer};
use crate::pyfmt::{format_time, unix_time};
use crate::run_files::{STATS_FILE, fakes_grid};
use crate::train::cadence::snapshot_due;
use crate::train::error::{TrainError, io_error};
use crate::train::trainer::Observer;

/// What failed when the event file could not be written.
pub(super) const EVENTS_CONTEXT: &str = "writing the TensorBoard event file";

/// When the run and the current tick started, and the maintenance time the tick carries (the
/// reference's `start_time`, `tick_start_time`, `tick_start_nimg`, `maintenance_time`).
#[derive(Debug)]
pub(super) struct TickClock {
    start: Instant,
    tick_start: Instant,
    tick_start_nimg: u64,
    tick_end: Instant,
    maintenance: f64,
}

impl TickClock {
    /// The first tick starts now; its maintenance is everything since `start` (data, networks,
    /// grids).
    pub(super) fn first(start: Instant, cur_nimg: u64) -> TickClock {
        let now = Instant::now();
        TickClock {
            start,
            tick_start: now,
            tick_start_nimg: cur_nimg,
            tick_end: now,
            maintenance: now.duration_since(start).as_secs_f64(),
        }
    }

    /// The images at which the current tick started.
    pub(super) fn tick_start_nimg(&self) -> u64 {
        self.tick_start_nimg
    }

    /// Start the next tick at `cur_nimg`; the time since the last tick ended is its maintenance.
    fn next(&mut self, cur_nimg: u64) {
        self.tick_start_nimg = cur_nimg;
        self.tick_start = Instant::now();
        self.maintenance = self.tick_start.duration_since(self.tick_end).as_secs_f64();
    }
}

/// The reference's TensorBoard step after `cur_nimg` images, `int(cur_nimg / 1e3)`.
pub(super) fn global_step(cur_nimg: u64) -> i64 {
    i64::try_from(cur_nimg / 1000).expect("kimg fit i64")
}

/// Where a tick's events go in the event file.
#[derive(Debug, Clone, Copy)]
struct EventStamp {
    step: i64,
    /// Seconds since training started.
    wall_time: f64,
}

/// One tick's timing, as logged.
#[derive(Debug, Clone, Copy)]
struct TickTimes {
    kimg: f64,
    total_sec: f64,
    tick_sec: f64,
    sec_per_kimg: f64,
    maintenance: f64,
}

impl Trainer {
    /// Thousands of images shown so far.
    pub(super) fn kimg(&self) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "image counts are far below 2^52"
        )]
        let nimg = self.state.progress.cur_nimg as f64;
        nimg / 1e3
    }

    /// End the current tick (`done`: the last one): log, record statistics, snapshot when due,
    /// tell `observer`, and start the next tick on `clock`. Returns whether a snapshot was written.
    pub(super) fn end_tick(
        &mut self,
        clock: &mut TickClock,
        done: bool,
        observer: &mut dyn Observer,
    ) -> Result<bool, TrainError> {
        clock.tick_end = Instant::now();
        #[expect(
            clippy::cast_precision_loss,
            reason = "image counts are far below 2^52"
        )]
        let tick_kimg = (self.state.progress.cur_nimg - clock.tick_start_nimg) as f64 / 1e3;
        let tick_sec = clock
            .tick_end
            .duration_since(clock.tick_start)
            .as_secs_f64();
        let times = TickTimes {
            kimg: self.kimg(),
            total_sec: clock.start.elapsed().as_secs_f64(),
            tick_sec,
            sec_per_kimg: tick_sec / tick_kimg.max(1e-9),
            maintenance: clock.maintenance,
        };
        let stamp = self.record_tick(times)?;
        let mut snapshot = None;
        let t = &self.spec.train;
        if snapshot_due(done, self.state.progress.cur_tick, t.snap) {
            let number = self.state.progress.cur_nimg / 1000;
            self.save_fakes(&self.run_dir.join(fakes_grid(number)))?;
            let path = self.save_snapshot()?;
            self.evaluate_metrics(&path)?;
            if let Err(error) = crate::train::curves::write_curves(&self.run_dir) {
                self.write_log(&format!("warning: {error}"));
            }
            snapshot = Some(path);
        }
        self.record_metric_events(stamp)?;
        let snapshotted = snapshot.is_some();
        observer.tick(&TickReport {
            kimg: times.kimg,
            sec_per_kimg: Some(times.sec_per_kimg),
            snapshot,
        });
        self.state.progress.cur_tick += 1;
        clock.next(self.state.progress.cur_nimg);
        Ok(snapshotted)
    }

    /// The tick's log line, its statistics line in `stats.jsonl` and their means in the event file;
    /// a tick whose G or D loss is not finite ends the run as diverged (after its statistics are
    /// written). Returns where the tick's events went.
    fn record_tick(&mut self, times: TickTimes) -> Result<EventStamp, TrainError> {
        let cpu_mem = crate::device::process_memory_gib();
        let line = format!(
            "tick {:<5} kimg {:<8.1} time {:<12} sec/tick {:<7.1} sec/kimg {:<7.2} maintenance {:<6.1} cpumem {:<6.2} augment {:.3}",
            self.state.progress.cur_tick,
            times.kimg,
            format_time(times.total_sec),
            times.tick_sec,
            times.sec_per_kimg,
            times.maintenance,
            cpu_mem,
            self.augment_p()
        );
        self.write_log(&line);
        #[expect(clippy::cast_precision_loss, reason = "tick counts are small")]
        let tick = self.state.progress.cur_tick as f64;
        for (name, value) in [
            ("Progress/tick", tick),
            ("Progress/kimg", times.kimg),
            ("Timing/total_sec", times.total_sec),
            ("Timing/sec_per_tick", times.tick_sec),
            ("Timing/sec_per_kimg", times.sec_per_kimg),
            ("Timing/maintenance_sec", times.maintenance),
            ("Resources/cpu_mem_gb", cpu_mem),
            ("Progress/augment", self.augment_p()),
            ("Timing/total_hours", times.total_sec / 3600.0),
            ("Timing/total_days", times.total_sec / 86400.0),
        ] {
            self.state.stats.report_scalar(name, value);
        }
        self.state.stats.update();
        let finite = ["Loss/G/loss", "Loss/D/loss"].iter().all(|name| {
            self.state
                .stats
                .get(name)
                .is_none_or(|m| m.mean().is_finite())
        });
        let timestamp = unix_time();
        let mut stats_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run_dir.join(STATS_FILE))
            .map_err(io_error("opening stats.jsonl"))?;
        writeln!(stats_file, "{}", self.state.stats.jsonl_line(timestamp))
            .map_err(io_error("writing stats.jsonl"))?;
        let stamp = EventStamp {
            step: global_step(self.state.progress.cur_nimg),
            wall_time: timestamp - self.start_time,
        };
        for name in self.state.stats.names() {
            if let Some(moments) = self.state.stats.get(name) {
                self.events
                    .scalar(name, moments.mean(), stamp.step, stamp.wall_time);
            }
        }
        self.events.flush().map_err(io_error(EVENTS_CONTEXT))?;
        if finite {
            Ok(stamp)
        } else {
            Err(TrainError::Diverged { kimg: times.kimg })
        }
    }

    /// Every metric value evaluated so far as `Metrics/<name>` at the tick's step, after its
    /// statistics (the reference writes them at every tick once evaluated).
    fn record_metric_events(&mut self, stamp: EventStamp) -> Result<(), TrainError> {
        for (name, value) in &self.metric_values {
            self.events.scalar(
                &format!("Metrics/{name}"),
                *value,
                stamp.step,
                stamp.wall_time,
            );
        }
        self.events.flush().map_err(io_error(EVENTS_CONTEXT))
    }

    /// Stop at this iteration boundary on the observer's request: snapshot, log, report.
    pub(super) fn interrupt(&mut self, observer: &mut dyn Observer) -> Result<Outcome, TrainError> {
        let snapshot = self.save_snapshot()?;
        let kimg = self.kimg();
        self.write_log(&format!(
            "\nInterrupted at {kimg:.3} kimg; saved {}.",
            snapshot.display()
        ));
        observer.tick(&TickReport {
            kimg,
            sec_per_kimg: None,
            snapshot: Some(snapshot),
        });
        Ok(Outcome::Interrupted { kimg })
    }
}

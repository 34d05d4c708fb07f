//! The training loop — port of `training/training_loop.py` for the StyleGAN2
//! configurations, in one process (on one device, or data-parallel on `train.gpus` devices).
//!
//! # What kimg guarantees
//! * The first iteration draws random numbers exactly as the official loop does on one GPU
//!   (construction, the summary pass, the grid latents, then `all_gen_z` and the phases), so the
//!   `trainstep_*` fixtures can be replayed.
//! * **Exact resume.** A snapshot holds G, D, G_ema, both optimizers' states, the path-length mean,
//!   the augmentation probability and ADA's pending statistics, the progress counters, the sampler
//!   and the label RNG. The torch generator is reseeded from `(seed, cur_nimg)` after every
//!   iteration, in fresh and resumed runs alike, so any iteration boundary is a valid resume point:
//!   a run stopped at a scheduled snapshot, or interrupted (Ctrl-C, SIGTERM from a scheduler —
//!   then an extra snapshot is written before exiting), resumes to the same weights as one that
//!   never stopped (on CPU; CUDA kernels may be non-deterministic).
//! * `gpus` does not change the gradient: the whole batch is computed in one process as rounds of
//!   `batch_gpu` (gradient accumulation), like an official single-GPU run with that `batch_gpu`,
//!   with the rounds spread over `gpus` replicas ([`super::replicas`] says exactly what that
//!   guarantees on the CPU and on CUDA).
//! * **TensorBoard.** Each process writes its own event file with the official loop's scalars
//!   ([`tick`]); a resumed process first supersedes what a killed one wrote past the snapshot.
//! * **Kills.** A process killed at any moment (SIGKILL included) leaves its newest complete
//!   snapshot loadable (snapshots are replaced atomically); the next session removes the files
//!   it did not finish and cuts `stats.jsonl` and `metric-*.jsonl` back to the snapshot it
//!   continues from ([`superseded`]), so every tick is logged once.

mod build;
mod checkpoint;
mod superseded;
mod tick;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use self::build::{DataShape, check_data, numpy_seed, open_dataset, train_state};
use self::tick::TickClock;
use super::cadence::tick_due;
use super::error::{TrainError, io_error};
pub use super::iteration::Progress;
use super::iteration::{IterationInputs, TrainState};
use crate::data::Dataset;
use crate::data::grid::{grid_size, save_image_grid, snapshot_grid_indices};
use crate::data::loader::Loader;
use crate::data::sampler::InfiniteSampler;
use crate::manifest::ExperimentSpec;
use crate::metrics::{DetectorFiles, MetricRunner, RealData};
use crate::nets::network::{GeneratorNet, NoiseMode};
use crate::nets::state::state_tensors;
use crate::numpy_rng::RandomState;
use crate::pyfmt::unix_time;
use crate::run_files::{INITIAL_FAKES_GRID, LOG_FILE, REALS_GRID};
use crate::snapshot::name::latest_snapshot;
use crate::tfevents::EventWriter;

/// Latent and intermediate-latent size, fixed by `train.py`.
const Z_DIM: i64 = 512;

/// How [`Trainer::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Trained to `train.kimg`.
    Finished,
    /// Stopped early on request, after writing a snapshot at `kimg`.
    Interrupted {
        /// Where it stopped.
        kimg: f64,
    },
}

/// What the loop reports at a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    /// Thousands of images shown.
    pub kimg: f64,
    /// Seconds per kimg over the tick (`None` for the report of an interruption).
    pub sec_per_kimg: Option<f64>,
    /// The snapshot written at this tick, if any.
    pub snapshot: Option<PathBuf>,
}

/// Follows a run as it goes (progress bars, `status.json`) and may ask it to stop.
pub trait Observer {
    /// After every iteration.
    fn step(&mut self, _cur_nimg: u64, _total_nimg: u64) {}
    /// After every tick's log line (and snapshot).
    fn tick(&mut self, _report: &TickReport) {}
    /// Whether to stop at this iteration boundary (a snapshot is written first).
    fn stop_requested(&self) -> bool {
        false
    }
}

/// Observes nothing and never stops.
impl Observer for () {}

/// A training run in a run directory.
pub struct Trainer {
    spec: ExperimentSpec,
    run_dir: PathBuf,
    device: Device,
    dataset: Arc<Dataset>,
    loader: Option<Loader>,
    sampler: InfiniteSampler,
    label_rng: RandomState,
    state: TrainState,
    log: std::fs::File,
    grid: Option<(usize, usize, Tensor, Tensor)>,
    metrics: Option<MetricRunner>,
    /// The latest value of every metric result, as the reference's `stats_metrics`.
    metric_values: Vec<(String, f64)>,
    /// This process's TensorBoard event file.
    events: EventWriter,
    /// When the trainer was built: tick times count from here, as the reference's `start_time`.
    started: Instant,
    /// `started` in seconds since 1970: the event files' wall times count from here.
    start_time: f64,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("run_dir", &self.run_dir)
            .field("progress", &self.state.progress)
            .finish_non_exhaustive()
    }
}

/// The run's training set (`data.path`).
fn data_path(spec: &ExperimentSpec) -> Result<PathBuf, TrainError> {
    spec.data
        .path
        .clone()
        .ok_or_else(|| TrainError::Unsupported("`data.path` is not set".into()))
}

/// The seed the torch generator gets after the iteration that reached `cur_nimg`.
fn reseed_value(seed: u64, cur_nimg: u64) -> i64 {
    let mixed = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(cur_nimg.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    i64::try_from(mixed >> 1).expect("63 bits fit")
}

impl Trainer {
    /// Check a run's data before anything is written (the run directory included): the dataset
    /// opens with the run's options, has the labels `cond` needs and a resolution the networks
    /// can train on, and its first batch decodes. Errors name the file inside the archive.
    pub fn check_data(spec: &ExperimentSpec) -> Result<(), TrainError> {
        check_data(spec, &data_path(spec)?)
    }

    /// Prepare a run: open the data, build the networks, resume from the newest snapshot of
    /// `run_dir` when there is one.
    pub fn new(
        spec: ExperimentSpec,
        run_dir: &Path,
        device: Device,
    ) -> Result<Trainer, TrainError> {
        let started = Instant::now();
        let start_time = unix_time();
        let data_path = data_path(&spec)?;
        std::fs::create_dir_all(run_dir)
            .map_err(io_error(format!("creating {}", run_dir.display())))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run_dir.join(LOG_FILE))
            .map_err(io_error("opening log.txt"))?;
        let seed = numpy_seed(&spec.train)?;
        let dataset = Arc::new(open_dataset(&spec, &data_path)?);
        let real = RealData {
            path: data_path,
            use_labels: spec.data.cond,
            xflip: spec.data.mirror,
        };
        let metrics =
            MetricRunner::new(&spec.train.metrics, real, &DetectorFiles::default(), device)?;
        let state = train_state(&spec.train, seed, DataShape::of(&dataset)?, device)?;
        let events = EventWriter::create(run_dir)
            .map_err(io_error("creating the TensorBoard event file"))?;
        let mut trainer = Trainer {
            state,
            label_rng: RandomState::new(seed),
            sampler: InfiniteSampler::new(dataset.len(), 0, 1, seed),
            spec,
            run_dir: run_dir.to_path_buf(),
            device,
            dataset,
            loader: None,
            log,
            grid: None,
            started,
            start_time,
            metrics,
            metric_values: Vec::new(),
            events,
        };
        trainer.setup_grid()?;
        trainer.remove_unfinished_files()?;
        // The run's own snapshot continues it exactly; `resume` only seeds a fresh run.
        if let Some(latest) = latest_snapshot(run_dir) {
            trainer.restore(&latest)?;
        } else {
            trainer.supersede_logs(None)?;
            if let Some(resume) = trainer.spec.train.resume.clone() {
                trainer.transfer_from(&resume)?;
            }
        }
        Ok(trainer)
    }

    fn write_log(&mut self, line: &str) {
        let _ = writeln!(self.log, "{line}");
        println!("{line}");
    }

    fn setup_grid(&mut self) -> Result<(), TrainError> {
        let [_, h, w] = self.dataset.image_shape();
        let (gw, gh) = grid_size(w, h);
        let indices = snapshot_grid_indices(&self.dataset, gw, gh);
        let reals: Vec<u8> = indices
            .iter()
            .map(|&i| self.dataset.image(i))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        let shape = self
            .dataset
            .image_shape()
            .map(|d| i64::try_from(d).expect("fits"));
        let n = i64::try_from(indices.len()).expect("fits");
        let reals = Tensor::from_slice(&reals).reshape([n, shape[0], shape[1], shape[2]]);
        let reals_path = self.run_dir.join(REALS_GRID);
        if !reals_path.exists() {
            save_image_grid(&reals, &reals_path, (0.0, 255.0), (gw, gh))
                .map_err(io_error("writing reals.png"))?;
        }
        let grid_z = Tensor::randn([n, Z_DIM], (Kind::Float, self.device));
        let labels: Vec<f32> = indices
            .iter()
            .flat_map(|&i| self.dataset.label(i))
            .collect();
        let grid_c = Tensor::from_slice(&labels)
            .reshape([n, i64::try_from(self.dataset.label_dim()).expect("fits")])
            .to_device(self.device);
        self.grid = Some((gw, gh, grid_z, grid_c));
        let init_path = self.run_dir.join(INITIAL_FAKES_GRID);
        if !init_path.exists() {
            self.save_fakes(&init_path)?;
        }
        Ok(())
    }

    fn save_fakes(&self, path: &Path) -> Result<(), TrainError> {
        let (gw, gh, z, c) = self.grid.as_ref().expect("grid set up first");
        let chunk = i64::from(self.spec.train.batch_gpu).max(1);
        let images: Vec<Tensor> = tch::no_grad(|| {
            z.split(chunk, 0)
                .iter()
                .zip(c.split(chunk, 0))
                .map(|(z, c)| {
                    let ws = self.state.g_ema.mapping(z, &c, 1.0, false);
                    self.state
                        .g_ema
                        .synthesis(&ws, NoiseMode::Const, false, false)
                        .to_device(Device::Cpu)
                })
                .collect()
        });
        save_image_grid(&Tensor::cat(&images, 0), path, (-1.0, 1.0), (*gw, *gh))
            .map_err(io_error(format!("writing {}", path.display())))
    }

    /// How many data-parallel replicas compute each phase (`train.gpus`).
    pub fn replica_count(&self) -> usize {
        self.state.replica_count()
    }

    /// The progress so far.
    pub fn progress(&self) -> Progress {
        self.state.progress
    }

    /// G_ema's state (for tests and snapshots).
    pub fn g_ema_state(&self) -> Vec<(String, Tensor)> {
        state_tensors(self.state.g_ema.var_store(), "")
    }

    /// One training iteration (the body of `training_loop.py`'s main loop).
    pub fn step(&mut self) -> Result<(), TrainError> {
        let t = &self.spec.train;
        let batch = i64::from(t.batch);
        if self.loader.is_none() {
            let workers = usize::try_from(t.workers).unwrap_or(1);
            self.loader = Some(Loader::new(
                Arc::clone(&self.dataset),
                self.sampler.clone(),
                usize::try_from(t.batch).expect("fits"),
                workers,
                2,
            ));
        }
        let data = self.loader.as_mut().expect("created above").next_batch()?;
        self.sampler = data.sampler;
        let real_img = data.images.to_device(self.device).to_kind(Kind::Float) / 127.5 - 1.0;
        let real_c = data.labels.to_device(self.device);
        let groups = i64::try_from(self.state.phase_count()).expect("few phases");
        let all_gen_z = Tensor::randn([groups * batch, Z_DIM], (Kind::Float, self.device));
        let label_count = u64::try_from(self.dataset.len()).expect("fits");
        let gen_labels: Vec<f32> = (0..groups * batch)
            .flat_map(|_| {
                let index = usize::try_from(self.label_rng.randint(label_count)).expect("fits");
                self.dataset.label(index)
            })
            .collect();
        let c_dim = i64::try_from(self.dataset.label_dim()).expect("fits");
        let all_gen_c = Tensor::from_slice(&gen_labels)
            .reshape([groups * batch, c_dim])
            .to_device(self.device);

        self.state.iterate(&IterationInputs {
            real_img: &real_img,
            real_c: &real_c,
            all_gen_z: &all_gen_z,
            all_gen_c: &all_gen_c,
        });
        // Make this iteration boundary a valid resume point (see the module doc).
        tch::manual_seed(reseed_value(
            self.spec.train.seed,
            self.state.progress.cur_nimg,
        ));
        Ok(())
    }

    /// Train until `train.kimg`, ticking, logging and snapshotting as the reference does.
    pub fn run(&mut self) -> Result<Outcome, TrainError> {
        self.run_observed(&mut ())
    }

    /// [`Trainer::run`], telling `observer` about every iteration and tick, and stopping early —
    /// after writing a snapshot — when it asks to.
    pub fn run_observed(&mut self, observer: &mut dyn Observer) -> Result<Outcome, TrainError> {
        let (total_kimg, tick_kimg) = (self.spec.train.kimg, self.spec.train.tick);
        let total_nimg = total_kimg * 1000;
        // As the reference: tick 0's maintenance is the whole start-up (data, networks, grids).
        let mut clock = TickClock::first(self.started, self.state.progress.cur_nimg);
        if self.state.progress.cur_nimg >= total_nimg {
            self.write_log(&format!(
                "Already trained for {total_kimg} kimg; nothing to do."
            ));
            return Ok(Outcome::Finished);
        }
        self.write_log(&format!("Training for {total_kimg} kimg...\n"));
        loop {
            self.step()?;
            let progress = self.state.progress;
            observer.step(progress.cur_nimg, total_nimg);
            let done = progress.cur_nimg >= total_nimg;
            if !done && observer.stop_requested() {
                return self.interrupt(observer);
            }
            let tick_ends = done
                || tick_due(
                    progress.cur_nimg,
                    total_kimg,
                    progress.cur_tick,
                    clock.tick_start_nimg(),
                    tick_kimg,
                );
            // A stop requested at a snapshot tick (a halving decision, or a signal during the
            // tick) ends on that snapshot instead of writing another.
            if tick_ends
                && self.end_tick(&mut clock, done, observer)?
                && !done
                && observer.stop_requested()
            {
                let kimg = self.kimg();
                self.write_log(&format!("\nStopped at the snapshot of {kimg:.3} kimg."));
                return Ok(Outcome::Interrupted { kimg });
            }
            if done {
                break;
            }
        }
        self.write_log("\nExiting...");
        Ok(Outcome::Finished)
    }

    /// The `--metrics` of the run on G_ema, appended to `metric-<name>.jsonl`, logged and kept for
    /// the event file (as `training_loop.py` does at each snapshot). The metrics draw from the
    /// torch generator, so it is reseeded afterwards to keep the snapshot a valid resume point.
    fn evaluate_metrics(&mut self, snapshot: &Path) -> Result<(), TrainError> {
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        let evaluated = metrics.evaluate_snapshot(&self.state.g_ema, &self.run_dir, snapshot)?;
        for metric in evaluated {
            self.write_log(&metric.line);
            for (name, value) in metric.result.results {
                match self
                    .metric_values
                    .iter_mut()
                    .find(|(known, _)| *known == name)
                {
                    Some(slot) => slot.1 = value,
                    None => self.metric_values.push((name, value)),
                }
            }
        }
        tch::manual_seed(reseed_value(
            self.spec.train.seed,
            self.state.progress.cur_nimg,
        ));
        Ok(())
    }

    /// The current augmentation probability (0 without augmentation).
    pub fn augment_p(&self) -> f64 {
        self.state.augment_p()
    }
}

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

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::augment::{AugmentConfig, AugmentPipe};
use super::cadence::{optimizers, phases, snapshot_due, tick_due};
use super::error::{TrainError, io_error};
pub use super::iteration::Progress;
use super::iteration::{IterationInputs, IterationSettings, TrainState, TrainedNetworks};
use super::loss::{LossConfig, StyleGan2Loss};
use super::replicas::{ReplicaMode, copy_variables};
use crate::data::grid::{grid_size, save_image_grid, snapshot_grid_indices};
use crate::data::loader::Loader;
use crate::data::sampler::InfiniteSampler;
use crate::data::{Dataset, DatasetOptions};
use crate::manifest::{Aug, ExperimentSpec, TrainSpec};
use crate::metrics::{DetectorFiles, MetricRunner, RealData};
use crate::nets::discriminator::{BlockKwargs, Discriminator, DiscriminatorConfig, EpilogueKwargs};
use crate::nets::generator::{Arch, Generator};
use crate::nets::network::{GeneratorNet, NoiseMode};
use crate::nets::state::{load_state, state_tensors};
use crate::nets::stylegan2::{
    Architecture, FusedModconv, InferenceOnly, MappingKwargs, Stylegan2Config,
};
use crate::nets::stylegan3::Stylegan3Config;
use crate::numpy_rng::{RandomState, RandomStateData};
use crate::pyfmt::format_time;
use crate::run_files::{INITIAL_FAKES_GRID, LOG_FILE, REALS_GRID, STATS_FILE, fakes_grid};
use crate::snapshot::file::SnapshotFile;
use crate::snapshot::name::{latest_snapshot, snapshot_file_name};
use crate::snapshot::networks::read_networks;

/// Iterations between ADA adjustments (`ada_interval` of the reference).
const ADA_INTERVAL: u64 = 4;

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
    /// When the trainer was built: tick times count from here, as the reference's `start_time`.
    started: Instant,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("run_dir", &self.run_dir)
            .field("progress", &self.state.progress)
            .finish_non_exhaustive()
    }
}

/// The generator's constructor arguments for a run (train.py's `G_kwargs`): StyleGAN2 with
/// the reference's fused-modconv rule, or StyleGAN3 with the derived magnitude-EMA β and, for
/// `-R`, 1×1 kernels, radial filters and doubled channels.
fn generator_kwargs(t: &TrainSpec, c_dim: i64, res: i64, channels: i64) -> serde_json::Value {
    let d = &t.derived;
    let mapping_kwargs = MappingKwargs {
        num_layers: i64::from(t.map_depth),
    };
    let value = match d.arch {
        Arch::Stylegan2 => serde_json::to_value(Stylegan2Config {
            mapping_kwargs,
            channel_base: i64::from(d.g_channel_base),
            channel_max: i64::from(d.g_channel_max),
            num_fp16_res: i64::from(d.num_fp16_res),
            conv_clamp: d.conv_clamp.map(f64::from),
            fused_modconv_default: FusedModconv::Named(InferenceOnly::InferenceOnly),
            ..Stylegan2Config::new(Z_DIM, c_dim, Z_DIM, res, channels)
        }),
        Arch::Stylegan3T | Arch::Stylegan3R => {
            let defaults = Stylegan3Config::new(Z_DIM, c_dim, Z_DIM, res, channels);
            serde_json::to_value(Stylegan3Config {
                mapping_kwargs,
                channel_base: i64::from(d.g_channel_base),
                channel_max: i64::from(d.g_channel_max),
                num_fp16_res: i64::from(d.num_fp16_res),
                conv_clamp: d.conv_clamp.map(f64::from),
                conv_kernel: i64::from(d.conv_kernel),
                use_radial_filters: d.use_radial_filters,
                magnitude_ema_beta: d.magnitude_ema_beta.unwrap_or(defaults.magnitude_ema_beta),
                ..defaults
            })
        }
    };
    value.expect("configurations serialise")
}

/// The devices of the `gpus` replicas when the run computes on `device`: that many CUDA devices
/// from `device` on, or `gpus` replicas taking turns on the CPU (which compute what one would: see
/// [`super::replicas`]).
fn replica_devices(device: Device, gpus: u32) -> Result<Vec<Device>, TrainError> {
    let gpus = usize::try_from(gpus).expect("fits");
    match device {
        Device::Cuda(first) => {
            let visible = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
            if first + gpus > visible {
                return Err(TrainError::Unsupported(format!(
                    "`train.gpus = {gpus}` needs CUDA devices {first}..{} but {visible} {} visible \
                     (check CUDA_VISIBLE_DEVICES)",
                    first + gpus - 1,
                    if visible == 1 { "is" } else { "are" }
                )));
            }
            Ok((first..first + gpus).map(Device::Cuda).collect())
        }
        Device::Cpu => Ok(vec![Device::Cpu; gpus]),
        other if gpus == 1 => Ok(vec![other]),
        other => Err(TrainError::Unsupported(format!(
            "`train.gpus = {gpus}` is not supported on {other:?}"
        ))),
    }
}

/// The seed the torch generator gets after the iteration that reached `cur_nimg`.
fn reseed_value(seed: u64, cur_nimg: u64) -> i64 {
    let mixed = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(cur_nimg.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    i64::try_from(mixed >> 1).expect("63 bits fit")
}

impl Trainer {
    /// Prepare a run: open the data, build the networks, resume from the newest snapshot of
    /// `run_dir` when there is one.
    #[expect(
        clippy::too_many_lines,
        reason = "builds the data, networks and state and resumes; to be split into build and checkpoint modules (issue #15)"
    )]
    pub fn new(
        spec: ExperimentSpec,
        run_dir: &Path,
        device: Device,
    ) -> Result<Trainer, TrainError> {
        let started = Instant::now();
        let t = &spec.train;
        let data_path = spec
            .data
            .path
            .clone()
            .ok_or_else(|| TrainError::Unsupported("`data.path` is not set".into()))?;
        std::fs::create_dir_all(run_dir)
            .map_err(io_error(format!("creating {}", run_dir.display())))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run_dir.join(LOG_FILE))
            .map_err(io_error("opening log.txt"))?;
        let seed = u32::try_from(t.seed)
            .map_err(|_| TrainError::Unsupported("`train.seed` must fit in 32 bits".into()))?;
        let options = DatasetOptions {
            use_labels: spec.data.cond,
            max_size: spec
                .data
                .max_size
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            xflip: spec.data.mirror,
            random_seed: seed,
        };
        let dataset = Arc::new(Dataset::open(&data_path, &options)?);
        if spec.data.cond && !dataset.has_labels() {
            return Err(TrainError::Unsupported(
                "`data.cond = true` requires labels in dataset.json".into(),
            ));
        }
        let res = i64::try_from(dataset.resolution()).expect("fits");
        let channels = i64::try_from(dataset.image_shape()[0]).expect("fits");
        let c_dim = i64::try_from(dataset.label_dim()).expect("fits");
        let g_kwargs = generator_kwargs(t, c_dim, res, channels);
        let d_config = DiscriminatorConfig {
            architecture: if t.derived.d_architecture == "orig" {
                Architecture::Orig
            } else {
                Architecture::Resnet
            },
            channel_base: i64::from(t.cbase),
            channel_max: i64::from(t.cmax),
            num_fp16_res: i64::from(t.derived.num_fp16_res),
            conv_clamp: t.derived.conv_clamp.map(f64::from),
            block_kwargs: BlockKwargs {
                freeze_layers: i64::from(t.freezed),
            },
            epilogue_kwargs: EpilogueKwargs {
                mbstd_group_size: Some(i64::from(t.mbstd_group)),
                mbstd_num_channels: 1,
            },
            ..DiscriminatorConfig::new(c_dim, res, channels)
        };
        // G_ema is a copy of G: build it before seeding so the seeded stream matches the reference.
        let build_generator = |device| {
            Generator::from_kwargs(t.derived.arch, &g_kwargs, device)
                .expect("kimg's own G_kwargs are valid")
        };
        let g_ema = build_generator(device);
        // So are the replicas of G and D on the other devices (`train.gpus`).
        let devices = replica_devices(device, t.gpus)?;
        let replicas: Vec<(Generator, Discriminator)> = devices[1..]
            .iter()
            .map(|&d| (build_generator(d), Discriminator::new(&d_config, d)))
            .collect();
        tch::manual_seed(i64::try_from(t.seed).expect("checked above"));
        let g = build_generator(device);
        let d = Discriminator::new(&d_config, device);
        copy_variables(g.var_store(), g_ema.var_store());
        // The reference's module summary runs G once with random noise on `batch_gpu` latents.
        tch::no_grad(|| {
            let z = Tensor::zeros([i64::from(t.batch_gpu), Z_DIM], (Kind::Float, device));
            let c = Tensor::zeros([i64::from(t.batch_gpu), c_dim], (Kind::Float, device));
            let ws = g.mapping(&z, &c, 1.0, false);
            let _ = g.synthesis(&ws, NoiseMode::Random, false, true);
        });
        let loss_config = LossConfig {
            r1_gamma: t.gamma,
            style_mixing_prob: t.derived.style_mixing_prob,
            pl_weight: t.derived.pl_weight,
            blur_init_sigma: t.derived.blur_init_sigma,
            blur_fade_kimg: t.derived.blur_fade_kimg,
            ..LossConfig::default()
        };
        let sampler = InfiniteSampler::new(dataset.len(), 0, 1, seed);
        let real = RealData {
            path: data_path.clone(),
            use_labels: spec.data.cond,
            xflip: spec.data.mirror,
        };
        let metrics = MetricRunner::new(&t.metrics, real, &DetectorFiles::default(), device)?;
        // train.py builds the pipe only when something augments (p > 0 or an ADA target).
        let augments =
            t.aug != Aug::Noaug && (t.derived.augment_p > 0.0 || t.derived.ada_target.is_some());
        let augment = augments.then(|| {
            AugmentPipe::new(
                AugmentConfig::named("bgc").expect("bgc is a named pipe"),
                t.derived.augment_p,
                device,
            )
        });
        let state = TrainState::new(
            TrainedNetworks { g, d, g_ema },
            optimizers(
                t.glr,
                t.dlr,
                t.derived.g_reg_interval,
                Some(t.derived.d_reg_interval),
            ),
            phases(t.derived.g_reg_interval, Some(t.derived.d_reg_interval)),
            StyleGan2Loss::new(loss_config, device),
            augment,
            IterationSettings {
                batch: t.batch,
                batch_gpu: t.batch_gpu,
                ema_kimg: t.derived.ema_kimg,
                ema_rampup: t.derived.ema_rampup,
                ada_target: t.derived.ada_target,
                ada_interval: ADA_INTERVAL,
                ada_kimg: t.derived.ada_kimg,
            },
        )?
        .with_replicas(replicas, ReplicaMode::for_devices(&devices))?;
        let mut trainer = Trainer {
            state,
            label_rng: RandomState::new(seed),
            spec,
            run_dir: run_dir.to_path_buf(),
            device,
            dataset,
            loader: None,
            sampler,
            log,
            grid: None,
            started,
            metrics,
        };
        trainer.setup_grid()?;
        // The run's own snapshot continues it exactly; `resume` only seeds a fresh run.
        if let Some(latest) = latest_snapshot(run_dir) {
            trainer.restore(&latest)?;
        } else if let Some(resume) = trainer.spec.train.resume.clone() {
            trainer.transfer_from(&resume)?;
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
    #[expect(
        clippy::too_many_lines,
        reason = "the tick loop with its maintenance, logging and snapshots as the reference orders them; to be split with the trainer (issue #15)"
    )]
    pub fn run_observed(&mut self, observer: &mut dyn Observer) -> Result<Outcome, TrainError> {
        let t = self.spec.train.clone();
        let total_nimg = t.kimg * 1000;
        // As the reference: tick 0's maintenance is the whole start-up (data, networks, grids).
        let start = self.started;
        let mut tick_start = Instant::now();
        let mut tick_start_nimg = self.state.progress.cur_nimg;
        let mut maintenance = tick_start.duration_since(start).as_secs_f64();
        if self.state.progress.cur_nimg >= total_nimg {
            self.write_log(&format!(
                "Already trained for {} kimg; nothing to do.",
                t.kimg
            ));
            return Ok(Outcome::Finished);
        }
        self.write_log(&format!("Training for {} kimg...\n", t.kimg));
        loop {
            self.step()?;
            observer.step(self.state.progress.cur_nimg, total_nimg);
            let done = self.state.progress.cur_nimg >= total_nimg;
            if !done && observer.stop_requested() {
                let snapshot = self.save_snapshot()?;
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "image counts are far below 2^52"
                )]
                let kimg = self.state.progress.cur_nimg as f64 / 1e3;
                self.write_log(&format!(
                    "\nInterrupted at {kimg:.3} kimg; saved {}.",
                    snapshot.display()
                ));
                observer.tick(&TickReport {
                    kimg,
                    sec_per_kimg: None,
                    snapshot: Some(snapshot),
                });
                return Ok(Outcome::Interrupted { kimg });
            }
            if !done
                && !tick_due(
                    self.state.progress.cur_nimg,
                    t.kimg,
                    self.state.progress.cur_tick,
                    tick_start_nimg,
                    t.tick,
                )
            {
                continue;
            }
            let tick_end = Instant::now();
            let tick_sec = tick_end.duration_since(tick_start).as_secs_f64();
            #[expect(
                clippy::cast_precision_loss,
                reason = "image counts are far below 2^52"
            )]
            let (kimg, tick_kimg) = (
                self.state.progress.cur_nimg as f64 / 1e3,
                (self.state.progress.cur_nimg - tick_start_nimg) as f64 / 1e3,
            );
            let total_sec = start.elapsed().as_secs_f64();
            let cpu_mem = crate::device::process_memory_gib();
            let line = format!(
                "tick {:<5} kimg {:<8.1} time {:<12} sec/tick {:<7.1} sec/kimg {:<7.2} maintenance {:<6.1} cpumem {:<6.2} augment {:.3}",
                self.state.progress.cur_tick,
                kimg,
                format_time(total_sec),
                tick_sec,
                tick_sec / tick_kimg.max(1e-9),
                maintenance,
                cpu_mem,
                self.augment_p()
            );
            self.write_log(&line);
            for (name, value) in [
                ("Progress/tick", self.state.progress.cur_tick as f64),
                ("Progress/kimg", kimg),
                ("Timing/total_sec", total_sec),
                ("Timing/sec_per_tick", tick_sec),
                ("Timing/sec_per_kimg", tick_sec / tick_kimg.max(1e-9)),
                ("Timing/maintenance_sec", maintenance),
                ("Resources/cpu_mem_gb", cpu_mem),
                ("Progress/augment", self.augment_p()),
                ("Timing/total_hours", total_sec / 3600.0),
                ("Timing/total_days", total_sec / 86400.0),
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
            let timestamp = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
            let mut stats_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.run_dir.join(STATS_FILE))
                .map_err(io_error("opening stats.jsonl"))?;
            writeln!(stats_file, "{}", self.state.stats.jsonl_line(timestamp))
                .map_err(io_error("writing stats.jsonl"))?;
            if !finite {
                return Err(TrainError::Diverged { kimg });
            }
            let mut snapshot = None;
            if snapshot_due(done, self.state.progress.cur_tick, t.snap) {
                let number = self.state.progress.cur_nimg / 1000;
                self.save_fakes(&self.run_dir.join(fakes_grid(number)))?;
                let path = self.save_snapshot()?;
                self.evaluate_metrics(&path)?;
                if let Err(error) = super::curves::write_curves(&self.run_dir) {
                    self.write_log(&format!("warning: {error}"));
                }
                snapshot = Some(path);
            }
            observer.tick(&TickReport {
                kimg,
                sec_per_kimg: Some(tick_sec / tick_kimg.max(1e-9)),
                snapshot,
            });
            self.state.progress.cur_tick += 1;
            tick_start_nimg = self.state.progress.cur_nimg;
            tick_start = Instant::now();
            maintenance = tick_start.duration_since(tick_end).as_secs_f64();
            if done {
                break;
            }
        }
        self.write_log("\nExiting...");
        Ok(Outcome::Finished)
    }

    /// The `--metrics` of the run on G_ema, appended to `metric-<name>.jsonl` and logged (spec
    /// §4.6). The metrics draw from the torch generator, so it is reseeded afterwards to keep the
    /// snapshot a valid resume point.
    fn evaluate_metrics(&mut self, snapshot: &Path) -> Result<(), TrainError> {
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        let lines = metrics.evaluate_snapshot(&self.state.g_ema, &self.run_dir, snapshot)?;
        for line in lines {
            self.write_log(&line);
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

    fn save_snapshot(&mut self) -> Result<PathBuf, TrainError> {
        let mut tensors: Vec<(String, Tensor)> = self
            .state
            .network_stores()
            .into_iter()
            .flat_map(|(store, prefix)| state_tensors(store, prefix))
            .collect();
        tensors.extend(self.state.g_opt.state_tensors("opt.G"));
        tensors.extend(self.state.d_opt.state_tensors("opt.D"));
        tensors.push((
            "state.pl_mean".into(),
            self.state.loss.pl_mean.shallow_clone(),
        ));
        let metadata = serde_json::json!({
            "arch": self.state.g.arch(),
            "G_kwargs": self.state.g.kwargs(),
            "D_kwargs": self.state.d.config(),
            "training_set_kwargs": {"path": self.spec.data.path, "use_labels": self.spec.data.cond, "xflip": self.spec.data.mirror, "resolution": self.dataset.resolution()},
            "progress": self.state.progress,
            "sampler": self.sampler,
            "label_rng": self.label_rng.save(),
            "augment_p": self.augment_p(),
            "ada_pending": self.state.ada_stats.pending("Loss/signs/real"),
        });
        let path = self
            .run_dir
            .join(snapshot_file_name(self.state.progress.cur_nimg / 1000));
        SnapshotFile { tensors, metadata }.write(&path)?;
        Ok(path)
    }

    /// Transfer learning (`resume`): copy every G, D and G_ema tensor of `source` whose name this
    /// run's networks have (train.py's `copy_params_and_buffers(require_all=False)`); optimizer
    /// state, progress and RNG streams start fresh.
    fn transfer_from(&mut self, source: &str) -> Result<(), TrainError> {
        self.write_log(&format!("Resuming from \"{source}\""));
        let tensors = read_networks(source).map_err(|source_error| TrainError::Resume {
            path: source.to_string(),
            source: source_error,
        })?;
        let bad = |reason: String| TrainError::BadSnapshot {
            path: source.to_string(),
            reason,
        };
        let mut copied = 0;
        for (store, prefix) in self.state.network_stores() {
            let missing = load_state(store, &tensors, prefix, false)
                .map_err(|e| bad(format!("{prefix}: {e}")))?;
            copied += store.variables().len() - missing.len();
        }
        if copied == 0 {
            return Err(bad("no tensor matches this run's networks".into()));
        }
        Ok(())
    }

    fn restore(&mut self, path: &Path) -> Result<(), TrainError> {
        let bad = |reason: String| TrainError::BadSnapshot {
            path: path.display().to_string(),
            reason,
        };
        let snapshot = SnapshotFile::read(path)?;
        for (store, prefix) in self.state.network_stores() {
            load_state(store, &snapshot.tensors, prefix, true).map_err(|e| bad(e.to_string()))?;
        }
        self.state
            .g_opt
            .load_state_tensors("opt.G", &snapshot.tensors, self.device);
        self.state
            .d_opt
            .load_state_tensors("opt.D", &snapshot.tensors, self.device);
        if let Some(pl_mean) = snapshot.get("state.pl_mean") {
            self.state.loss.pl_mean = pl_mean.to_device(self.device);
        }
        let meta = &snapshot.metadata;
        self.state.progress = serde_json::from_value(meta["progress"].clone())
            .map_err(|e| bad(format!("progress: {e}")))?;
        self.sampler = serde_json::from_value(meta["sampler"].clone())
            .map_err(|e| bad(format!("sampler: {e}")))?;
        let rng: RandomStateData = serde_json::from_value(meta["label_rng"].clone())
            .map_err(|e| bad(format!("label_rng: {e}")))?;
        self.label_rng =
            RandomState::restore(&rng).ok_or_else(|| bad("malformed label_rng".into()))?;
        if let (Some(pipe), Some(p)) = (self.state.augment.as_mut(), meta["augment_p"].as_f64()) {
            pipe.p = p;
        }
        if let Ok(Some(pending)) = serde_json::from_value(meta["ada_pending"].clone()) {
            self.state.ada_stats.set_pending("Loss/signs/real", pending);
        }
        self.state.progress.cur_tick += 1;
        self.loader = None;
        tch::manual_seed(reseed_value(
            self.spec.train.seed,
            self.state.progress.cur_nimg,
        ));
        let kimg = self.state.progress.cur_nimg as f64 / 1e3;
        self.write_log(&format!(
            "Resuming from {} at {kimg:.1} kimg.",
            path.display()
        ));
        Ok(())
    }
}

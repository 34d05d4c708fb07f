//! One training iteration on given inputs: the phases with their accumulation rounds,
//! the optimizer steps, the G EMA and the ADA heuristic. The driver ([`super::trainer`]) feeds it
//! data; the `trainstep_*` fixtures feed it the reference's inputs.

use tch::Tensor;

use super::adam::{Adam, sanitize_gradients};
use super::augment::AugmentPipe;
use super::augment::Augmenter;
use super::cadence::{PhaseSpec, ada_adjustment, ema_beta};
use super::error::TrainError;
use super::loss::{MicroBatch, Networks, StyleGan2Loss};
use super::replicas::{
    Changed, NetworkTensors, Replica, ReplicaMode, ReplicaView, RunningStatistics, add_gradients,
};
use super::stats::Collector;
use crate::nets::discriminator::Discriminator;
use crate::nets::generator::Generator;
use crate::nets::network::{DiscriminatorNet, GeneratorNet};

/// The statistic ADA steers by: the sign of D's logits on reals.
pub const ADA_STATISTIC: &str = "Loss/signs/real";

/// Progress counters (saved in snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Real images shown so far.
    pub cur_nimg: u64,
    /// Ticks completed.
    pub cur_tick: u64,
    /// Iterations completed.
    pub batch_idx: u64,
}

/// G, D and G_ema (a copy of G's initial state).
#[derive(Debug)]
pub struct TrainedNetworks {
    /// The generator being trained.
    pub g: Generator,
    /// The discriminator.
    pub d: Discriminator,
    /// The moving average of G.
    pub g_ema: Generator,
}

/// The numbers an iteration needs besides its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationSettings {
    /// Total batch.
    pub batch: u32,
    /// Micro-batch per accumulation round.
    pub batch_gpu: u32,
    /// EMA half-life in kimg.
    pub ema_kimg: f64,
    /// EMA ramp-up (fraction of the images seen).
    pub ema_rampup: Option<f64>,
    /// ADA target (`None`: no ADA).
    pub ada_target: Option<f64>,
    /// Iterations between ADA adjustments.
    pub ada_interval: u64,
    /// kimg for ADA's p to move by 1.
    pub ada_kimg: f64,
}

/// One iteration's inputs: the whole batch of reals (float in [−1, 1]) with labels, and the
/// latents and labels of every phase group (`phases × batch` rows each).
#[derive(Debug)]
pub struct IterationInputs<'a> {
    /// Real images `[batch, C, H, W]`.
    pub real_img: &'a Tensor,
    /// Their labels `[batch, c_dim]`.
    pub real_c: &'a Tensor,
    /// Latents `[phases × batch, z_dim]`.
    pub all_gen_z: &'a Tensor,
    /// Generated labels `[phases × batch, c_dim]`.
    pub all_gen_c: &'a Tensor,
}

impl IterationInputs<'_> {
    /// Phase `k`'s latents and labels (its group of `all_gen_z` and `all_gen_c`), split into the
    /// micro-batches of `batch_gpu` rows that [`MicroBatch`] carries to the loss.
    fn phase_latents(&self, k: usize, settings: IterationSettings) -> (Vec<Tensor>, Vec<Tensor>) {
        let (batch, batch_gpu) = (i64::from(settings.batch), i64::from(settings.batch_gpu));
        let group = i64::try_from(k).expect("few phases");
        let split = |all: &Tensor| all.narrow(0, group * batch, batch).split(batch_gpu, 0);
        (split(self.all_gen_z), split(self.all_gen_c))
    }
}

/// Everything an iteration updates.
pub struct TrainState {
    /// The generator.
    pub g: Generator,
    /// The discriminator.
    pub d: Discriminator,
    /// G's moving average.
    pub g_ema: Generator,
    /// G's parameters and buffers.
    pub g_tensors: NetworkTensors,
    /// D's parameters and buffers.
    pub d_tensors: NetworkTensors,
    /// G_ema's parameters and buffers.
    pub g_ema_tensors: NetworkTensors,
    /// G's optimizer (shared by Gmain and Greg, as in the reference).
    pub g_opt: Adam,
    /// D's optimizer.
    pub d_opt: Adam,
    /// The loss, with its path-length mean.
    pub loss: StyleGan2Loss,
    /// The augmentation pipe, when anything augments.
    pub augment: Option<AugmentPipe>,
    /// Every reported statistic.
    pub stats: Collector,
    /// `Loss/signs/real` for the ADA heuristic.
    pub ada_stats: Collector,
    /// Counters.
    pub progress: Progress,
    phases: Vec<PhaseSpec>,
    settings: IterationSettings,
    replicas: Vec<Replica>,
    mode: ReplicaMode,
    /// What the replicas have not received yet.
    changed: Changed,
}

impl std::fmt::Debug for TrainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainState")
            .field("progress", &self.progress)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TrainState {
    /// Assemble a state at iteration 0; gradients are off until a phase needs them.
    pub fn new(
        networks: TrainedNetworks,
        (g_opt, d_opt): (Adam, Adam),
        phases: Vec<PhaseSpec>,
        loss: StyleGan2Loss,
        augment: Option<AugmentPipe>,
        settings: IterationSettings,
    ) -> Result<TrainState, TrainError> {
        let TrainedNetworks { g, d, g_ema } = networks;
        let tensors = |vs: &tch::nn::VarStore| {
            NetworkTensors::new(vs).map_err(|e| TrainError::Unsupported(e.to_string()))
        };
        Ok(TrainState {
            g_tensors: tensors(g.var_store())?,
            d_tensors: tensors(d.var_store())?,
            g_ema_tensors: tensors(g_ema.var_store())?,
            g,
            d,
            g_ema,
            g_opt,
            d_opt,
            loss,
            augment,
            stats: Collector::all(),
            ada_stats: Collector::only(&[ADA_STATISTIC]),
            progress: Progress {
                cur_nimg: 0,
                cur_tick: 0,
                batch_idx: 0,
            },
            phases,
            settings,
            replicas: Vec::new(),
            mode: ReplicaMode::Sequential,
            changed: Changed::ALL,
        })
    }

    /// Train data-parallel (`train.gpus`): `replicas` are networks built like G and D on the
    /// other devices, and `mode` says how they share random numbers and running statistics.
    pub fn with_replicas(
        mut self,
        replicas: Vec<(Generator, Discriminator)>,
        mode: ReplicaMode,
    ) -> Result<TrainState, TrainError> {
        self.replicas = replicas
            .into_iter()
            .map(|(g, d)| Replica::new(g, d, self.augment.as_ref()))
            .collect::<Result<_, _>>()
            .map_err(|e| TrainError::Unsupported(e.to_string()))?;
        self.mode = mode;
        Ok(self)
    }

    /// How many replicas compute each phase (`train.gpus`).
    pub fn replica_count(&self) -> usize {
        1 + self.replicas.len()
    }

    /// G, D and G_ema with the prefixes of their tensors in snapshots (`G.`, `D.`, `G_ema.`).
    pub fn network_stores(&self) -> [(&tch::nn::VarStore, &'static str); 3] {
        [
            (self.g.var_store(), "G."),
            (self.d.var_store(), "D."),
            (self.g_ema.var_store(), "G_ema."),
        ]
    }

    /// How many phases there are (the groups of `all_gen_z`).
    pub fn phase_count(&self) -> usize {
        self.phases.len()
    }

    /// The current augmentation probability (0 without augmentation).
    pub fn augment_p(&self) -> f64 {
        self.augment.as_ref().map_or(0.0, |a| a.p)
    }

    /// One iteration: every phase due at this `batch_idx`, the EMA, the counters, ADA.
    pub fn iterate(&mut self, inputs: &IterationInputs<'_>) {
        let settings = self.settings;
        let batch_gpu = i64::from(settings.batch_gpu);
        let reals = (
            inputs.real_img.split(batch_gpu, 0),
            inputs.real_c.split(batch_gpu, 0),
        );
        // Drawn once per iteration, before any phase (see `ReplicaMode::iteration_base`).
        let seed_base = self.mode.iteration_base();
        let phases = self.phases.clone();
        for (k, phase) in phases.iter().enumerate() {
            if self
                .progress
                .batch_idx
                .is_multiple_of(u64::from(phase.interval))
            {
                let fakes = inputs.phase_latents(k, settings);
                self.run_phase((k, phase), seed_base, &reals, &fakes);
            }
        }
        let beta = ema_beta(
            settings.batch,
            settings.ema_kimg,
            settings.ema_rampup,
            self.progress.cur_nimg,
        );
        update_ema(&self.g_tensors, &self.g_ema_tensors, beta);
        self.progress.cur_nimg += u64::from(settings.batch);
        self.progress.batch_idx += 1;
        self.adjust_augment();
    }

    /// Phase `k` of this iteration: bring the replicas up to date, accumulate the gradients of
    /// every micro-batch (`reals` and `fakes` split into `batch_gpu` rows, dealt round-robin to the
    /// replicas), sum them into the trained networks and step their optimizer. `seed_base` is
    /// the iteration's draw for independent replicas.
    fn run_phase(
        &mut self,
        (k, phase): (usize, &PhaseSpec),
        seed_base: Option<u64>,
        reals: &(Vec<Tensor>, Vec<Tensor>),
        fakes: &(Vec<Tensor>, Vec<Tensor>),
    ) {
        let trained = ReplicaView {
            device: self.g.var_store().device(),
            g: &self.g,
            d: &self.d,
            augment: self.augment.as_ref(),
            g_tensors: &self.g_tensors,
            d_tensors: &self.d_tensors,
        };
        let augment_p = self.augment.as_ref().map(|a| a.p);
        for replica in &mut self.replicas {
            replica.receive(&trained, self.changed, self.mode, augment_p);
        }
        self.changed = Changed::NONE;
        let views: Vec<ReplicaView<'_>> = std::iter::once(trained)
            .chain(self.replicas.iter().map(Replica::view))
            .take(reals.0.len())
            .collect();
        let trains_g = phase.phase.is_generator();
        for view in &views {
            view.trained(trains_g).clear_gradients();
            view.trained(trains_g).set_requires_grad(true);
        }
        let mut running = RunningStatistics::start(self.mode, &self.loss.pl_mean, &views);
        for r in 0..reals.0.len() {
            let view = &views[r % views.len()];
            running.switch_to(r % views.len(), &views, &mut self.loss.pl_mean);
            if let Some(base) = seed_base {
                tch::manual_seed(ReplicaMode::micro_batch_seed(base, k, r));
            }
            let on_replica = |t: &Tensor| t.to_device(view.device);
            let (real_img, real_c) = (on_replica(&reals.0[r]), on_replica(&reals.1[r]));
            let (gen_z, gen_c) = (on_replica(&fakes.0[r]), on_replica(&fakes.1[r]));
            let micro = MicroBatch {
                real_img: &real_img,
                real_c: &real_c,
                gen_z: &gen_z,
                gen_c: &gen_c,
            };
            let nets = Networks {
                generator: view.g,
                discriminator: view.d,
                augment: view.augment.map(|a| a as &dyn Augmenter),
            };
            let mut collectors = vec![&mut self.stats, &mut self.ada_stats];
            self.loss.accumulate_gradients(
                phase.phase,
                &nets,
                &micro,
                f64::from(phase.interval),
                self.progress.cur_nimg,
                &mut collectors,
            );
        }
        running.finish(&views, &mut self.loss.pl_mean);
        for view in &views {
            view.trained(trains_g).set_requires_grad(false);
        }
        let params = views[0].trained(trains_g);
        for view in &views[1..] {
            add_gradients(params, view.trained(trains_g));
        }
        sanitize_gradients(&params.named);
        let optimizer = if trains_g {
            &mut self.g_opt
        } else {
            &mut self.d_opt
        };
        optimizer.step(&params.named);
        if trains_g {
            self.changed.g = true;
        } else {
            self.changed.d = true;
        }
    }

    /// ADA: every `ada_interval` iterations move `p` toward the target by the sign of
    /// `mean(Loss/signs/real) − target` (`training_loop.py`'s ADA update).
    fn adjust_augment(&mut self) {
        let settings = self.settings;
        let (Some(pipe), Some(target)) = (self.augment.as_mut(), settings.ada_target) else {
            return;
        };
        if !self
            .progress
            .batch_idx
            .is_multiple_of(settings.ada_interval)
        {
            return;
        }
        self.ada_stats.update();
        let mean = self
            .ada_stats
            .get(ADA_STATISTIC)
            .map_or(f64::NAN, |m| m.mean());
        if mean.is_finite() {
            let step = ada_adjustment(
                mean,
                target,
                settings.batch,
                u32::try_from(settings.ada_interval).expect("small"),
                settings.ada_kimg,
            );
            pipe.p = (pipe.p + step).max(0.0);
        }
    }
}

/// `g_ema ← lerp(g, g_ema, β)` for parameters, a copy for buffers.
fn update_ema(g: &NetworkTensors, g_ema: &NetworkTensors, beta: f64) {
    tch::no_grad(|| {
        for (value, target) in g.parameters().zip(g_ema.parameters()) {
            let blended = value.lerp(target, beta);
            target.shallow_clone().copy_(&blended);
        }
    });
    g_ema.take_buffers(g);
}

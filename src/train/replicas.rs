//! Data-parallel replicas for `train.gpus` — the multi-GPU training of the reference, in one
//! process.
//!
//! A phase computes its `batch / batch_gpu` micro-batches (accumulation rounds) as on one device,
//! but micro-batch `r` runs on replica `r mod gpus`. Replica 0 is the trained networks themselves;
//! the others are copies on the other devices. Before each phase every replica receives replica
//! 0's parameters and buffers (those that changed) and augmentation probability; after it every
//! replica's gradients are
//! added to replica 0's, which is then cleaned of NaN/Inf and stepped. The running statistics —
//! the network buffers (`w_avg`, StyleGAN3's magnitude EMAs) and the loss's `pl_mean` — and the
//! random draws follow the [`ReplicaMode`].
//!
//! # What kimg guarantees
//! * **The gradient does not depend on `gpus`.** It is the sum over the phase's micro-batches of
//!   `mean(loss) × interval`, as the reference computes it on one GPU. (With several GPUs the
//!   reference divides its all-reduced sum by `num_gpus`, a constant factor that Adam cancels up
//!   to its ε; kimg leaves it out so that `gpus` changes nothing.)
//! * **On the CPU, `gpus = N` computes what `gpus = 1` computes** with the same `batch_gpu`
//!   ([`ReplicaMode::Sequential`]): only the order in which gradients are summed differs. The
//!   tests replay the `trainstep_*` fixtures on two replicas.
//! * **On several CUDA devices replicas are independent** ([`ReplicaMode::Independent`]): each
//!   device has its own generator and seeding gives them all the same seed, so every micro-batch
//!   is reseeded from the iteration's stream, the phase and the round (no two replicas draw the
//!   same noise or augmentations), and each replica updates its own running statistics during a
//!   phase, replica 0's being kept — the reference's multi-GPU behaviour, where each rank tracks
//!   its own and rank 0's are saved. Such runs are statistically, not bitwise, equivalent to
//!   `gpus = 1`.
//! * `batch_gpu` is the reference's accumulation: it decides how many random numbers each
//!   micro-batch draws and the minibatch-standard-deviation groups (`mbstd_group` must divide it),
//!   and it scales the summed gradient by the number of rounds, which Adam cancels up to ε.
//!
//! Replicas are driven from one thread, in micro-batch order. On CUDA in independent mode the
//! kernels of one replica run while the next one's are queued: the reported statistics stay on the
//! devices until a tick reads them, and the only reads back to the host inside a micro-batch are
//! the reference's own (the style-mixing cutoff, the augmentation's padding margins).

use tch::{Device, Kind, Tensor, nn::VarStore};

use super::adam::Parameters;
use super::augment::AugmentPipe;
use super::networks::{DiscriminatorNet, GeneratorNet};
use crate::nets::discriminator::Discriminator;
use crate::nets::generator::Generator;

/// How replicas share random numbers and running statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaMode {
    /// One random stream (the global generators as the training loop seeds them, drawn in
    /// micro-batch order) and running statistics handed from replica to replica in micro-batch
    /// order: `gpus` changes nothing but summation order. For one device, or replicas that share
    /// the CPU generator.
    Sequential,
    /// Each micro-batch reseeds every generator from the iteration's stream, the phase and the
    /// round, and each replica keeps its own running statistics during a phase, so replicas on
    /// devices with separate generators neither repeat each other's draws nor wait for each other.
    Independent,
}

impl ReplicaMode {
    /// The mode replicas on `devices` need: independent as soon as two replicas have separate
    /// generators (several CUDA devices), sequential otherwise.
    pub fn for_devices(devices: &[Device]) -> ReplicaMode {
        if devices.len() > 1 && devices.iter().any(|d| d.is_cuda()) {
            ReplicaMode::Independent
        } else {
            ReplicaMode::Sequential
        }
    }

    /// A value drawn from the CPU generator at the start of an iteration, from which
    /// [`ReplicaMode::micro_batch_seed`] derives the seeds (`None` in sequential mode, which must
    /// not draw anything extra).
    pub fn iteration_base(self) -> Option<u64> {
        match self {
            ReplicaMode::Sequential => None,
            ReplicaMode::Independent => {
                let drawn = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu));
                Some(u64::try_from(drawn.int64_value(&[0])).expect("randint is non-negative"))
            }
        }
    }

    /// The seed of round `round` of phase `phase` (splitmix64 of the three, 63 bits).
    pub fn micro_batch_seed(base: u64, phase: usize, round: usize) -> i64 {
        let phase = u64::try_from(phase).expect("few phases");
        let round = u64::try_from(round).expect("few rounds");
        let mut z = base ^ (phase << 40) ^ round;
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        i64::try_from(z >> 1).expect("63 bits fit")
    }
}

/// The running statistics of a phase as its micro-batches move between replicas: the network
/// buffers and the loss's `pl_mean` (which the loss holds for the replica computing).
pub struct RunningStatistics {
    mode: ReplicaMode,
    current: usize,
    /// Each replica's `pl_mean` (independent mode).
    pl_means: Vec<Tensor>,
}

impl RunningStatistics {
    /// Start a phase on replica 0, whose `pl_mean` every replica starts from.
    pub fn start(mode: ReplicaMode, pl_mean: &Tensor, views: &[ReplicaView<'_>]) -> Self {
        let pl_means = match mode {
            ReplicaMode::Sequential => Vec::new(),
            ReplicaMode::Independent => views.iter().map(|v| pl_mean.to_device(v.device)).collect(),
        };
        RunningStatistics {
            mode,
            current: 0,
            pl_means,
        }
    }

    /// Let replica `next` compute the next micro-batch.
    pub fn switch_to(&mut self, next: usize, views: &[ReplicaView<'_>], pl_mean: &mut Tensor) {
        if next == self.current {
            return;
        }
        match self.mode {
            ReplicaMode::Sequential => {
                views[self.current].pass_buffers_to(&views[next]);
                *pl_mean = pl_mean.to_device(views[next].device);
            }
            ReplicaMode::Independent => {
                self.pl_means[self.current] = pl_mean.shallow_clone();
                *pl_mean = self.pl_means[next].shallow_clone();
            }
        }
        self.current = next;
    }

    /// End the phase with replica 0's statistics in place.
    pub fn finish(mut self, views: &[ReplicaView<'_>], pl_mean: &mut Tensor) {
        self.switch_to(0, views, pl_mean);
    }
}

/// Which trained networks changed (an optimizer step, a restored snapshot) since the replicas
/// last received them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// G's parameters.
    pub g: bool,
    /// D's parameters.
    pub d: bool,
}

impl Changed {
    /// Both networks (before the first phase).
    pub const ALL: Changed = Changed { g: true, d: true };
    /// Neither.
    pub const NONE: Changed = Changed { g: false, d: false };
}

/// A copy of G, D and the augmentation pipe on another device.
pub struct Replica {
    device: Device,
    g: Generator,
    d: Discriminator,
    augment: Option<AugmentPipe>,
    g_params: Parameters,
    d_params: Parameters,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// A replica of networks built like the trained ones on `device` (their values are replaced
    /// before every phase), with a copy of the trained augmentation pipe.
    pub fn new(
        g: Generator,
        d: Discriminator,
        augment: Option<&AugmentPipe>,
    ) -> Result<Replica, tch::TchError> {
        let device = g.var_store().device();
        let g_params = Parameters::new(trainable_parameters(g.var_store()))?;
        let d_params = Parameters::new(trainable_parameters(d.var_store()))?;
        g_params.set_requires_grad(false);
        d_params.set_requires_grad(false);
        Ok(Replica {
            device,
            augment: augment.map(|a| a.to_device(device)),
            g,
            d,
            g_params,
            d_params,
        })
    }

    /// Before a phase: take the trained networks' variables that changed since the last phase
    /// (`changed`: all of G's or D's after its optimizer step or a restore), their buffers in
    /// independent mode (sequential mode hands them over before every micro-batch), and the
    /// augmentation probability.
    pub fn receive(
        &mut self,
        (g, d): (&Generator, &Discriminator),
        changed: Changed,
        mode: ReplicaMode,
        augment_p: Option<f64>,
    ) {
        for (source, target, changed) in [
            (g.var_store(), self.g.var_store(), changed.g),
            (d.var_store(), self.d.var_store(), changed.d),
        ] {
            if changed {
                copy_variables(source, target);
            } else if mode == ReplicaMode::Independent {
                copy_buffers(source, target);
            }
        }
        if let (Some(pipe), Some(p)) = (self.augment.as_mut(), augment_p) {
            pipe.p = p;
        }
    }

    /// This replica as a phase uses it.
    pub fn view(&self) -> ReplicaView<'_> {
        ReplicaView {
            device: self.device,
            g: &self.g,
            d: &self.d,
            augment: self.augment.as_ref(),
            g_params: &self.g_params,
            d_params: &self.d_params,
        }
    }
}

/// The networks of one replica (the trained ones for replica 0), borrowed for a phase.
#[derive(Clone, Copy)]
pub struct ReplicaView<'a> {
    /// Where the replica computes.
    pub device: Device,
    /// Its generator.
    pub g: &'a Generator,
    /// Its discriminator.
    pub d: &'a Discriminator,
    /// Its augmentation pipe.
    pub augment: Option<&'a AugmentPipe>,
    /// G's trainable parameters.
    pub g_params: &'a Parameters,
    /// D's trainable parameters.
    pub d_params: &'a Parameters,
}

impl ReplicaView<'_> {
    /// The parameters a phase trains (G's or D's).
    pub fn trained(&self, generator_phase: bool) -> &Parameters {
        if generator_phase {
            self.g_params
        } else {
            self.d_params
        }
    }

    /// Hand the buffers of G and D to `next`.
    fn pass_buffers_to(&self, next: &ReplicaView<'_>) {
        copy_buffers(self.g.var_store(), next.g.var_store());
        copy_buffers(self.d.var_store(), next.d.var_store());
    }
}

/// The trainable variables of `vs` with their names, sorted by name (the order of
/// [`Parameters`], identical in every replica).
pub fn trainable_parameters(vs: &VarStore) -> Vec<(String, Tensor)> {
    let trainable = vs.trainable_variables();
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| trainable.iter().any(|p| p.data_ptr() == t.data_ptr()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Copy every variable (parameters and buffers) of `from` into the same-named one of `to`, across
/// devices if need be.
pub fn copy_variables(from: &VarStore, to: &VarStore) {
    let source = from.variables();
    tch::no_grad(|| {
        for (name, mut target) in to.variables() {
            target.copy_(&source[&name]);
        }
    });
}

/// Copy the buffers (the variables that are not trainable) of `from` into `to`.
fn copy_buffers(from: &VarStore, to: &VarStore) {
    let source = from.variables();
    let trainable = to.trainable_variables();
    tch::no_grad(|| {
        for (name, mut target) in to.variables() {
            if !trainable.iter().any(|p| p.data_ptr() == target.data_ptr()) {
                target.copy_(&source[&name]);
            }
        }
    });
}

/// Add the gradients of `from` (a replica) into those of `into` (replica 0), parameter by
/// parameter. A parameter whose gradient is undefined in one is undefined in both: every replica
/// runs the same graph.
pub fn add_gradients(into: &Parameters, from: &Parameters) {
    tch::no_grad(|| {
        for ((name, target), (_, source)) in into.named.iter().zip(&from.named) {
            let (mut sum, part) = (target.grad(), source.grad());
            match (sum.defined(), part.defined()) {
                (true, true) => {
                    let _ = sum.g_add_(&part.to_device(sum.device()));
                }
                (false, false) => {}
                _ => panic!("replicas disagree on whether `{name}` has a gradient"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::ReplicaMode;

    #[test]
    fn replicas_are_sequential_unless_they_have_separate_generators() {
        assert_eq!(
            ReplicaMode::for_devices(&[Device::Cpu]),
            ReplicaMode::Sequential
        );
        assert_eq!(
            ReplicaMode::for_devices(&[Device::Cpu, Device::Cpu]),
            ReplicaMode::Sequential
        );
        assert_eq!(
            ReplicaMode::for_devices(&[Device::Cuda(0)]),
            ReplicaMode::Sequential
        );
        assert_eq!(
            ReplicaMode::for_devices(&[Device::Cuda(0), Device::Cuda(1)]),
            ReplicaMode::Independent
        );
        assert!(ReplicaMode::Sequential.iteration_base().is_none());
    }

    #[test]
    fn micro_batch_seeds_differ_by_phase_and_round() {
        let mut seeds: Vec<i64> = (0..4)
            .flat_map(|phase| (0..8).map(move |round| (phase, round)))
            .map(|(phase, round)| ReplicaMode::micro_batch_seed(12345, phase, round))
            .collect();
        assert!(seeds.iter().all(|&s| s >= 0));
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), 32);
        assert_ne!(
            ReplicaMode::micro_batch_seed(1, 0, 0),
            ReplicaMode::micro_batch_seed(2, 0, 0)
        );
    }
}

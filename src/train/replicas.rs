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
use crate::nets::discriminator::Discriminator;
use crate::nets::generator::Generator;
use crate::nets::network::{DiscriminatorNet, GeneratorNet};

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
    g_tensors: NetworkTensors,
    d_tensors: NetworkTensors,
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
        Ok(Replica {
            device,
            augment: augment.map(|a| a.to_device(device)),
            g_tensors: NetworkTensors::new(g.var_store())?,
            d_tensors: NetworkTensors::new(d.var_store())?,
            g,
            d,
        })
    }

    /// Before a phase: take the trained networks' variables that changed since the last phase
    /// (`changed`: all of G's or D's after its optimizer step or a restore), their buffers in
    /// independent mode (sequential mode hands them over before every micro-batch), and the
    /// augmentation probability.
    pub fn receive(
        &mut self,
        trained: &ReplicaView<'_>,
        changed: Changed,
        mode: ReplicaMode,
        augment_p: Option<f64>,
    ) {
        for (source, target, changed) in [
            (trained.g_tensors, &self.g_tensors, changed.g),
            (trained.d_tensors, &self.d_tensors, changed.d),
        ] {
            if changed {
                target.take_all(source);
            } else if mode == ReplicaMode::Independent {
                target.take_buffers(source);
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
            g_tensors: &self.g_tensors,
            d_tensors: &self.d_tensors,
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
    /// G's parameters and buffers.
    pub g_tensors: &'a NetworkTensors,
    /// D's parameters and buffers.
    pub d_tensors: &'a NetworkTensors,
}

impl ReplicaView<'_> {
    /// The parameters a phase trains (G's or D's).
    pub fn trained(&self, generator_phase: bool) -> &Parameters {
        if generator_phase {
            &self.g_tensors.params
        } else {
            &self.d_tensors.params
        }
    }

    /// Hand the buffers of G and D to `next`.
    fn pass_buffers_to(&self, next: &ReplicaView<'_>) {
        next.g_tensors.take_buffers(self.g_tensors);
        next.d_tensors.take_buffers(self.d_tensors);
    }
}

/// One network's variables, split once into its trainable parameters (with their gradient
/// slots) and its buffers, each in name order — the same order in every copy of the network, so
/// copies pair tensors by position instead of looking names up.
pub struct NetworkTensors {
    /// The trainable parameters.
    pub params: Parameters,
    /// Everything else: `w_avg`, magnitude EMAs, `noise_const`, frozen layers.
    pub buffers: Vec<Tensor>,
}

impl std::fmt::Debug for NetworkTensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkTensors")
            .field("params", &self.params)
            .field("buffers", &self.buffers.len())
            .finish()
    }
}

impl NetworkTensors {
    /// Split `vs`; gradient tracking starts off.
    pub fn new(vs: &VarStore) -> Result<NetworkTensors, tch::TchError> {
        let trainable: std::collections::HashSet<usize> = vs
            .trainable_variables()
            .iter()
            .map(|t| t.data_ptr() as usize)
            .collect();
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let (params, buffers): (Vec<_>, Vec<_>) = named
            .into_iter()
            .partition(|(_, t)| trainable.contains(&(t.data_ptr() as usize)));
        let params = Parameters::new(params)?;
        params.set_requires_grad(false);
        Ok(NetworkTensors {
            params,
            buffers: buffers.into_iter().map(|(_, t)| t).collect(),
        })
    }

    /// The parameter tensors, in order.
    pub fn parameters(&self) -> impl Iterator<Item = &Tensor> {
        self.params.named.iter().map(|(_, t)| t)
    }

    /// Copy `from`'s buffers into these (across devices if need be).
    pub fn take_buffers(&self, from: &NetworkTensors) {
        copy_in_order(self.buffers.iter(), from.buffers.iter());
    }

    /// Copy `from`'s parameters and buffers into these.
    pub fn take_all(&self, from: &NetworkTensors) {
        copy_in_order(self.parameters(), from.parameters());
        self.take_buffers(from);
    }
}

/// Copy each source tensor into the target at the same position.
fn copy_in_order<'a>(
    targets: impl Iterator<Item = &'a Tensor>,
    sources: impl Iterator<Item = &'a Tensor>,
) {
    tch::no_grad(|| {
        for (target, source) in targets.zip(sources) {
            target.shallow_clone().copy_(source);
        }
    });
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

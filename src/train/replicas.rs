//! Data-parallel replicas for `train.gpus` — the multi-GPU training of the reference, in one
//! process.
//!
//! A phase computes its `batch / batch_gpu` micro-batches (accumulation rounds) as on one device,
//! but micro-batch `r` runs on replica `r mod gpus`. Replica 0 is the trained networks themselves;
//! the others are copies on the other devices. Around each phase:
//! 1. every replica receives replica 0's parameters and buffers, and the augmentation probability;
//! 2. between micro-batches the running statistics — the network buffers (`w_avg`, StyleGAN3's
//!    magnitude EMAs) and the loss's `pl_mean` — travel to the next micro-batch's replica, so they
//!    are updated in micro-batch order exactly as on one device;
//! 3. afterwards every replica's gradients are added to replica 0's, which is then cleaned of
//!    NaN/Inf and stepped.
//!
//! # What kimg guarantees
//! * **The gradient does not depend on `gpus`.** It is the sum over the phase's micro-batches of
//!   `mean(loss) × interval`, as the reference computes it on one GPU. (With several GPUs the
//!   reference divides its all-reduced sum by `num_gpus`, a constant factor that Adam cancels up
//!   to its ε; kimg leaves it out so that `gpus` changes nothing.)
//! * **On the CPU, `gpus = N` computes what `gpus = 1` computes** with the same `batch_gpu`: all
//!   replicas draw from the one CPU generator in micro-batch order, so only the order in which
//!   gradients are summed differs. The tests replay the `trainstep_*` fixtures on two replicas.
//! * **On several CUDA devices the random streams are independent, not identical.** Each device
//!   has its own generator and seeding gives them all the same seed, so replicas would otherwise
//!   draw the same noise and augmentations for different micro-batches. With
//!   [`RandomStreams::PerMicroBatch`] every micro-batch is reseeded from the iteration's seed, the
//!   phase and the round. Such runs are statistically equivalent to `gpus = 1`, not bitwise equal
//!   (the reference's ranks also use different seeds).
//! * `batch_gpu` is the reference's accumulation: it decides how many random numbers each
//!   micro-batch draws and the minibatch-standard-deviation groups (`mbstd_group` must divide it),
//!   and it scales the summed gradient by the number of rounds, which Adam cancels up to ε.
//!
//! Replicas are driven from one thread, in micro-batch order. On CUDA the kernels of one replica
//! run while the next one's are queued: the reported statistics stay on the devices until a tick
//! reads them, and the only reads back to the host inside a micro-batch are the reference's own
//! (the style-mixing cutoff, the augmentation's padding margins). A replica does wait for the
//! previous micro-batch's running statistics, which only the `Dmain` forward pass updates.

use tch::{Device, Kind, Tensor, nn::VarStore};

use super::adam::Parameters;
use super::augment::AugmentPipe;
use super::networks::{DiscriminatorNet, GeneratorNet};
use crate::nets::discriminator::Discriminator;
use crate::nets::generator::Generator;

/// Where the random numbers of a micro-batch come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomStreams {
    /// From the global generators as seeded by the training loop, in micro-batch order (one
    /// device, or replicas that share the CPU generator): `gpus` changes no random draw.
    Shared,
    /// Each micro-batch reseeds every generator from the iteration's stream, the phase and the
    /// round, so replicas on devices with separate generators never repeat each other's draws.
    PerMicroBatch,
}

impl RandomStreams {
    /// The streams replicas on `devices` need: per micro-batch as soon as two replicas have
    /// separate generators (several CUDA devices), shared otherwise.
    pub fn for_devices(devices: &[Device]) -> RandomStreams {
        if devices.len() > 1 && devices.iter().any(|d| d.is_cuda()) {
            RandomStreams::PerMicroBatch
        } else {
            RandomStreams::Shared
        }
    }

    /// A value drawn from the CPU generator at the start of an iteration, from which
    /// [`RandomStreams::micro_batch_seed`] derives the seeds (`None` for shared streams, which
    /// must not draw anything extra).
    pub fn iteration_base(self) -> Option<u64> {
        match self {
            RandomStreams::Shared => None,
            RandomStreams::PerMicroBatch => {
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

    /// Take the trained networks' parameters, buffers and augmentation probability.
    pub fn receive(&mut self, g: &Generator, d: &Discriminator, augment_p: Option<f64>) {
        copy_variables(g.var_store(), self.g.var_store());
        copy_variables(d.var_store(), self.d.var_store());
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

    /// Hand the running statistics (the buffers of G and D) to `next`.
    pub fn pass_buffers_to(&self, next: &ReplicaView<'_>) {
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

    use super::RandomStreams;

    #[test]
    fn streams_are_shared_unless_replicas_have_separate_generators() {
        assert_eq!(
            RandomStreams::for_devices(&[Device::Cpu]),
            RandomStreams::Shared
        );
        assert_eq!(
            RandomStreams::for_devices(&[Device::Cpu, Device::Cpu]),
            RandomStreams::Shared
        );
        assert_eq!(
            RandomStreams::for_devices(&[Device::Cuda(0)]),
            RandomStreams::Shared
        );
        assert_eq!(
            RandomStreams::for_devices(&[Device::Cuda(0), Device::Cuda(1)]),
            RandomStreams::PerMicroBatch
        );
        assert!(RandomStreams::Shared.iteration_base().is_none());
    }

    #[test]
    fn micro_batch_seeds_differ_by_phase_and_round() {
        let mut seeds: Vec<i64> = (0..4)
            .flat_map(|phase| (0..8).map(move |round| (phase, round)))
            .map(|(phase, round)| RandomStreams::micro_batch_seed(12345, phase, round))
            .collect();
        assert!(seeds.iter().all(|&s| s >= 0));
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), 32);
        assert_ne!(
            RandomStreams::micro_batch_seed(1, 0, 0),
            RandomStreams::micro_batch_seed(2, 0, 0)
        );
    }
}

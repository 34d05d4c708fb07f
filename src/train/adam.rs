//! Adam as PyTorch's `torch.optim.Adam` computes it (single-tensor path, no weight decay, no
//! AMSGrad), with its state in the open so snapshots can save and restore it exactly.
//!
//! Parameters whose gradient is undefined are skipped and their step counter does not advance, as
//! `torch.optim.Adam` skips parameters whose `grad` is `None` (in `Greg` the `torgb` biases get no
//! gradient, in `Dreg` the final `b4.out.bias`), so a phase must leave unused gradients undefined,
//! never zero.

use std::collections::BTreeMap;

use tch::Tensor;

/// Per-parameter state.
#[derive(Debug)]
pub struct AdamState {
    /// Number of steps taken by this parameter.
    pub step: u64,
    /// First moment `m`.
    pub exp_avg: Tensor,
    /// Second moment `v`.
    pub exp_avg_sq: Tensor,
}

/// The optimizer: hyperparameters and the state of every parameter stepped so far.
#[derive(Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// State by parameter name.
    pub state: BTreeMap<String, AdamState>,
}

impl Adam {
    /// A fresh optimizer.
    pub fn new(lr: f64, beta1: f64, beta2: f64, eps: f64) -> Adam {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            state: BTreeMap::new(),
        }
    }

    /// The lazy-regularisation variant of `training_loop.py`'s phase setup:
    /// `c = interval/(interval+1)`, `lr·c`, betas `β^c`.
    pub fn lazy(lr: f64, betas: (f64, f64), eps: f64, reg_interval: Option<u32>) -> Adam {
        match reg_interval {
            None => Adam::new(lr, betas.0, betas.1, eps),
            Some(interval) => {
                let c = f64::from(interval) / f64::from(interval + 1);
                Adam::new(lr * c, betas.0.powf(c), betas.1.powf(c), eps)
            }
        }
    }

    /// One step over `params` (name, tensor); parameters with an undefined gradient are skipped.
    /// Gradients must already be cleaned of NaN/Inf (see [`sanitize_gradients`]).
    pub fn step(&mut self, params: &[(String, Tensor)]) {
        tch::no_grad(|| {
            for (name, param) in params {
                let grad = param.grad();
                if !grad.defined() {
                    continue;
                }
                let state = self.state.entry(name.clone()).or_insert_with(|| AdamState {
                    step: 0,
                    exp_avg: param.zeros_like(),
                    exp_avg_sq: param.zeros_like(),
                });
                state.step += 1;
                let _ = state.exp_avg.lerp_(&grad, 1.0 - self.beta1);
                let _ = state.exp_avg_sq.g_mul_scalar_(self.beta2);
                let _ = state
                    .exp_avg_sq
                    .g_add_(&(grad.square() * (1.0 - self.beta2)));
                let step = i32::try_from(state.step).unwrap_or(i32::MAX);
                let bias_correction1 = 1.0 - self.beta1.powi(step);
                let bias_correction2_sqrt = (1.0 - self.beta2.powi(step)).sqrt();
                let step_size = self.lr / bias_correction1;
                let denom = (state.exp_avg_sq.sqrt() / bias_correction2_sqrt) + self.eps;
                let mut param = param.shallow_clone();
                let _ = param.addcdiv_(&(&state.exp_avg * -step_size), &denom);
            }
        });
    }

    /// The state as named tensors (`<prefix>.<param>.exp_avg`, `.exp_avg_sq`, `.step` as int64).
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (name, state) in &self.state {
            out.push((
                format!("{prefix}.{name}.exp_avg"),
                state.exp_avg.shallow_clone(),
            ));
            out.push((
                format!("{prefix}.{name}.exp_avg_sq"),
                state.exp_avg_sq.shallow_clone(),
            ));
            let step = i64::try_from(state.step).expect("step count fits i64");
            out.push((format!("{prefix}.{name}.step"), Tensor::from(step)));
        }
        out
    }

    /// Restore the state written by [`Adam::state_tensors`] (other keys are ignored), moving
    /// tensors to `device`.
    pub fn load_state_tensors(
        &mut self,
        prefix: &str,
        tensors: &[(String, Tensor)],
        device: tch::Device,
    ) {
        self.state.clear();
        let find = |key: String| tensors.iter().find(|(k, _)| *k == key).map(|(_, t)| t);
        let names: Vec<String> = tensors
            .iter()
            .filter_map(|(k, _)| {
                k.strip_prefix(&format!("{prefix}."))?
                    .strip_suffix(".step")
                    .map(String::from)
            })
            .collect();
        for name in names {
            let (Some(m), Some(v), Some(step)) = (
                find(format!("{prefix}.{name}.exp_avg")),
                find(format!("{prefix}.{name}.exp_avg_sq")),
                find(format!("{prefix}.{name}.step")),
            ) else {
                continue;
            };
            let step = u64::try_from(step.int64_value(&[])).unwrap_or(0);
            self.state.insert(
                name,
                AdamState {
                    step,
                    exp_avg: m.to_device(device),
                    exp_avg_sq: v.to_device(device),
                },
            );
        }
    }
}

/// Replace NaN by 0 and ±Inf by ±1e5 in every defined gradient, as the training loop does
/// before each step.
pub fn sanitize_gradients(params: &[(String, Tensor)]) {
    tch::no_grad(|| {
        for (_, param) in params {
            let mut grad = param.grad();
            if grad.defined() {
                let _ = grad.nan_to_num_(0.0, 1e5, -1e5);
            }
        }
    });
}

/// A module's trainable parameters with the ability to make their gradients undefined
/// (`zero_grad(set_to_none=True)`), which tch exposes only through libtorch's optimizer API.
pub struct Parameters {
    /// `(official name, tensor)` in state-dict order.
    pub named: Vec<(String, Tensor)>,
    clearer: tch::COptimizer,
}

impl std::fmt::Debug for Parameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameters")
            .field("count", &self.named.len())
            .finish()
    }
}

impl Parameters {
    /// Track `named` parameters.
    pub fn new(named: Vec<(String, Tensor)>) -> Result<Parameters, tch::TchError> {
        // A zero-learning-rate SGD is never stepped; it only owns the parameter list so that
        // libtorch's `zero_grad()` (set_to_none = true) can reset the gradient slots.
        let mut clearer = tch::COptimizer::sgd(0.0, 0.0, 0.0, 0.0, false)?;
        for (_, tensor) in &named {
            clearer.add_parameters(tensor, 0)?;
        }
        Ok(Parameters { named, clearer })
    }

    /// Turn gradient tracking on or off for every parameter (`module.requires_grad_(on)`).
    pub fn set_requires_grad(&self, on: bool) {
        for (_, tensor) in &self.named {
            let _ = tensor.set_requires_grad(on);
        }
    }

    /// Make every gradient undefined.
    pub fn clear_gradients(&self) {
        self.clearer
            .zero_grad()
            .expect("zero_grad on a valid optimizer");
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

    use super::{Adam, Parameters};

    /// Our Adam against libtorch's own over several steps with varying gradients.
    #[test]
    fn matches_libtorch_adam() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().randn("w", &[5, 3], 0.0, 1.0);
        let mine = w.detach().copy().set_requires_grad(true);
        let mut reference = nn::Adam {
            beta1: 0.0,
            beta2: 0.99,
            wd: 0.0,
            eps: 1e-8,
            amsgrad: false,
        }
        .build(&vs, 0.002)
        .unwrap();
        let mut adam = Adam::new(0.002, 0.0, 0.99, 1e-8);
        let params = Parameters::new(vec![("w".into(), mine.shallow_clone())]).unwrap();
        for step in 0..4 {
            let target = Tensor::randn([5, 3], (Kind::Float, Device::Cpu)) * f64::from(step + 1);
            reference.zero_grad();
            (&w * &target).sum(Kind::Float).backward();
            reference.step();
            params.clear_gradients();
            (&mine * &target).sum(Kind::Float).backward();
            adam.step(&params.named);
        }
        let diff = (&w - &mine).abs().max().double_value(&[]);
        assert!(diff < 1e-7, "max difference {diff}");
        assert_eq!(adam.state["w"].step, 4);
    }

    #[test]
    fn parameters_without_gradient_are_not_stepped() {
        let a = Tensor::ones([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let b = Tensor::ones([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let params = Parameters::new(vec![
            ("a".into(), a.shallow_clone()),
            ("b".into(), b.shallow_clone()),
        ])
        .unwrap();
        let mut adam = Adam::lazy(0.002, (0.0, 0.99), 1e-8, Some(16));
        (&a * 3.0).sum(Kind::Float).backward();
        adam.step(&params.named);
        params.clear_gradients();
        assert!(!a.grad().defined(), "cleared to undefined, not zero");
        (&b * 3.0).sum(Kind::Float).backward();
        adam.step(&params.named);
        assert_eq!((adam.state["a"].step, adam.state["b"].step), (1, 1));
        assert!((adam.lr - 0.002 * 16.0 / 17.0).abs() < 1e-15);
        let saved = adam.state_tensors("opt");
        let mut restored = Adam::lazy(0.002, (0.0, 0.99), 1e-8, Some(16));
        restored.load_state_tensors("opt", &saved, Device::Cpu);
        assert_eq!(restored.state["a"].step, 1);
        assert_eq!(restored.state["b"].exp_avg, adam.state["b"].exp_avg);
    }
}

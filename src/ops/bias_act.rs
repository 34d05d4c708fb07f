//! Bias, activation, gain and clamp in one op — port of `torch_utils/ops/bias_act.py`'s reference
//! path, and the choice between it and the fused op of `kernels/` ([`super::fused`]).

use std::cell::Cell;

use tch::{Device, Tensor};

use super::fused::{self, BiasActArgs, FusedError, KernelActivation};
use super::implementation::Impl;

/// The activations of the reference, with their default `alpha` and `gain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// Leaky ReLU with slope `alpha` (default 0.2).
    Lrelu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// ELU with α = 1.
    Elu,
    /// SELU.
    Selu,
    /// `log(1 + eˣ)`.
    Softplus,
    /// `x·sigmoid(x)`.
    Swish,
}

impl Activation {
    /// Parse the reference's name (`"lrelu"` …).
    pub fn parse(name: &str) -> Option<Activation> {
        Some(match name {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "lrelu" => Activation::Lrelu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "elu" => Activation::Elu,
            "selu" => Activation::Selu,
            "softplus" => Activation::Softplus,
            "swish" => Activation::Swish,
            _ => return None,
        })
    }

    /// Default `alpha` (only `lrelu` uses one).
    pub fn default_alpha(self) -> f64 {
        if self == Activation::Lrelu { 0.2 } else { 0.0 }
    }

    /// Default gain: √2 for relu, lrelu and swish, else 1.
    pub fn default_gain(self) -> f64 {
        match self {
            Activation::Relu | Activation::Lrelu | Activation::Swish => std::f64::consts::SQRT_2,
            _ => 1.0,
        }
    }

    fn apply(self, x: &Tensor, alpha: f64) -> Tensor {
        match self {
            Activation::Linear => x.shallow_clone(),
            Activation::Relu => x.relu(),
            Activation::Lrelu => leaky_relu(x, alpha),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Elu => x.elu(),
            Activation::Selu => x.selu(),
            Activation::Softplus => x.softplus(),
            Activation::Swish => x.sigmoid() * x,
        }
    }
}

thread_local! {
    /// Whether the graph being recorded on this thread will be differentiated twice
    /// ([`with_double_backward`]).
    static DOUBLE_BACKWARD: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`; when `enabled`, recording a graph that will be differentiated twice (R1's gradient
/// penalty, path-length regularisation): [`leaky_relu`] then keeps its double backward connected
/// to its input. Nests (an enclosing enabled call stays in force); the previous mode is restored
/// when `f` returns or unwinds.
pub fn with_double_backward<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    /// Restores the previous mode on drop.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DOUBLE_BACKWARD.with(|mode| mode.set(self.0));
        }
    }
    let previous = DOUBLE_BACKWARD.with(Cell::get);
    let _restore = Restore(DOUBLE_BACKWARD.with(|mode| mode.replace(previous || enabled)));
    f()
}

/// `x` where `x > 0`, else `slope·x` — `torch.nn.functional.leaky_relu` (tch binds it only with
/// PyTorch's default slope of 0.01).
///
/// Inside [`with_double_backward`] it is `prelu` with a constant weight: same values, and, unlike
/// a `where` on a mask, its double backward stays connected to `x`, so R1 and path length give
/// biases behind a leaky ReLU a (zero-valued) gradient exactly as the reference does — which
/// decides what Adam steps. Elsewhere (the main phases, and under no-grad: grids, `generate`,
/// metrics) one backward at most follows, and it is libtorch's `leaky_relu_backward` applied to
/// `x` itself with the mask taken from a detached `x`: the same values and the same first
/// gradient (`x > 0 ? g : slope·g`, as `prelu`'s), without `prelu`'s backward, which also reduces
/// a gradient for its weight over the whole tensor.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    if DOUBLE_BACKWARD.with(Cell::get) {
        let weight = Tensor::full([1], slope, (x.kind(), x.device()));
        x.prelu(&weight)
    } else {
        x.detach().leaky_relu_backward(x, slope, false)
    }
}

/// Options of [`bias_act`]; `None` means the activation's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiasAct {
    /// The activation.
    pub act: Activation,
    /// Slope of lrelu.
    pub alpha: Option<f64>,
    /// Output scale.
    pub gain: Option<f64>,
    /// Clamp the output to `[-clamp, clamp]`.
    pub clamp: Option<f64>,
    /// The axis the bias runs along.
    pub dim: i64,
}

impl BiasAct {
    /// `act` with default alpha and gain, no clamp, bias along dim 1.
    pub fn new(act: Activation) -> BiasAct {
        BiasAct {
            act,
            alpha: None,
            gain: None,
            clamp: None,
            dim: 1,
        }
    }

    /// Slope of lrelu: the given one, else the activation's default.
    fn alpha(&self) -> f64 {
        self.alpha.unwrap_or_else(|| self.act.default_alpha())
    }

    /// Output scale: the given one, else the activation's default.
    fn gain(&self) -> f64 {
        self.gain.unwrap_or_else(|| self.act.default_gain())
    }

    /// The clamp, if any (a negative one clamps nothing).
    fn clamp(&self) -> Option<f64> {
        self.clamp.filter(|c| *c >= 0.0)
    }

    /// These options as the fused op takes them, or `None` for an activation only the reference
    /// ops compute.
    pub fn kernel_args(&self) -> Option<BiasActArgs> {
        let act = match self.act {
            Activation::Linear => KernelActivation::Linear,
            Activation::Relu => KernelActivation::Relu,
            Activation::Lrelu => KernelActivation::Lrelu,
            _ => return None,
        };
        Some(BiasActArgs {
            dim: self.dim,
            act,
            alpha: self.alpha(),
            gain: self.gain(),
            clamp: self.clamp(),
        })
    }

    /// Which implementation [`bias_act`] runs on `device`: the fused op on CUDA with the CUDA
    /// launchers compiled in ([`Impl::on`]) when the kernels know the activation, else the
    /// reference ops.
    pub fn implementation(&self, device: Device) -> Impl {
        match self.kernel_args() {
            Some(_) => Impl::on(device),
            None => Impl::Reference,
        }
    }
}

/// Why the fused [`bias_act`] could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BiasActError {
    /// The kernels do not compute this activation (see [`BiasAct::kernel_args`]).
    #[error("the fused bias_act has no `{0:?}` activation")]
    NoFusedActivation(Activation),
    /// libtorch or the kernels refused the call.
    #[error(transparent)]
    Kernel(#[from] FusedError),
}

/// `act(x + b) · gain`, clamped: `b` is broadcast along `options.dim`. Computed by the
/// implementation [`BiasAct::implementation`] chooses: on CUDA, with the fused kernels compiled
/// in (the `cuda` feature), one fused op ([`bias_act_fused`]); else the reference ops
/// ([`bias_act_reference`]).
pub fn bias_act(x: &Tensor, b: Option<&Tensor>, options: &BiasAct) -> Tensor {
    match options.implementation(x.device()) {
        Impl::Reference | Impl::Polyphase => bias_act_reference(x, b, options),
        Impl::Fused => {
            bias_act_fused(x, b, options).unwrap_or_else(|error| panic!("fused bias_act: {error}"))
        }
    }
}

/// [`bias_act`] as one fused differentiable op of `kernels/` on any device it has a launcher for
/// (float32/float64 on the CPU, also float16 on CUDA). The error is the kernels' or libtorch's
/// message, or an activation the kernels do not know (see [`BiasAct::kernel_args`]).
pub fn bias_act_fused(
    x: &Tensor,
    b: Option<&Tensor>,
    options: &BiasAct,
) -> Result<Tensor, BiasActError> {
    let args = options
        .kernel_args()
        .ok_or(BiasActError::NoFusedActivation(options.act))?;
    Ok(fused::bias_act(x, b, &args)?)
}

/// [`bias_act`] as the reference computes it on the CPU: one tensor op per step.
pub fn bias_act_reference(x: &Tensor, b: Option<&Tensor>, options: &BiasAct) -> Tensor {
    let biased = match b {
        Some(b) => {
            let shape: Vec<i64> = (0..x.dim())
                .map(|i| {
                    if i64::try_from(i).expect("small") == options.dim {
                        -1
                    } else {
                        1
                    }
                })
                .collect();
            x + b.to_kind(x.kind()).reshape(shape.as_slice())
        }
        None => x.shallow_clone(),
    };
    let activated = options.act.apply(&biased, options.alpha());
    // Out-of-place on purpose: some activations keep their output for the backward pass.
    let gain = options.gain();
    let scaled = if gain == 1.0 {
        activated
    } else {
        activated * gain
    };
    match options.clamp() {
        Some(clamp) => scaled.clamp(-clamp, clamp),
        None => scaled,
    }
}

//! The fused ops of `kernels/` (their CPU launcher, which shares its per-element code with the
//! CUDA launcher) against kimg's reference ops: values, first gradients, and the gradient of a
//! gradient as R1 forms it.

use kimg::ops::bias_act::{Activation, BiasAct, bias_act_reference};
use kimg::ops::fused;
use tch::{Device, Kind, Tensor};

use crate::common::{assert_close, leaf, rng_lock};

/// An R1-like use of `op` (a `bias_act`): `out = Σ c · op(w · z, b)` and its gradient
/// `∂out/∂z` with a graph. Returns `out`, that gradient, and the leaves `[w, b, c]`.
fn r1_graph(
    op: &dyn Fn(&Tensor, &Tensor) -> Tensor,
    inputs: &[Tensor; 4],
) -> (Tensor, Tensor, [Tensor; 3]) {
    let [z, w, b, c] = inputs.each_ref().map(leaf);
    let y = op(&(&w * &z), &b);
    let out = (&y * &c).sum(y.kind());
    let dz = Tensor::run_backward(&[&out], &[&z], true, true).remove(0);
    (out, dz, [w, b, c])
}

/// Gradients of `of` with respect to `params` (undefined for a parameter it does not reach).
fn gradients(of: &Tensor, params: &[Tensor; 3]) -> Vec<Tensor> {
    Tensor::run_backward(&[of], &params.iter().collect::<Vec<_>>(), true, false)
}

/// The devices to check: the CPU, and the first GPU when there is one and the CUDA launchers are
/// compiled in (`cargo test --features cuda` on a GPU machine).
fn devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    if tch::Cuda::is_available() && fused::cuda_launchers() {
        devices.push(Device::Cuda(0));
    } else {
        println!("SKIPPED on CUDA: no GPU, or built without the `cuda` feature");
    }
    devices
}

#[test]
fn fused_bias_act_matches_the_reference_ops() {
    let _rng = rng_lock();
    tch::manual_seed(7);
    let mut worst = 0f64;
    // Float16 only where the reference uses it (CUDA); the fused op computes it in float32.
    let kinds = |d: Device| match d {
        Device::Cpu => vec![(d, Kind::Float), (d, Kind::Double)],
        _ => vec![(d, Kind::Float), (d, Kind::Double), (d, Kind::Half)],
    };
    for (device, kind) in devices().into_iter().flat_map(kinds) {
        let tolerance = if kind == Kind::Half { 4e-3 } else { 1e-6 };
        for act in [Activation::Linear, Activation::Relu, Activation::Lrelu] {
            for clamp in [None, Some(0.8)] {
                for dim in [1i64, 2] {
                    let shape = [3i64, 5, 6, 4];
                    let options = BiasAct {
                        clamp,
                        dim,
                        ..BiasAct::new(act)
                    };
                    let size = shape[usize::try_from(dim).unwrap()];
                    let randn = |shape: &[i64]| Tensor::randn(shape, (kind, device));
                    let inputs = [randn(&shape), randn(&shape), randn(&[size]), randn(&shape)];
                    let what = format!("{device:?} {kind:?} {act:?} clamp {clamp:?} dim {dim}");
                    let reference =
                        |x: &Tensor, b: &Tensor| bias_act_reference(x, Some(b), &options);
                    let fused =
                        |x: &Tensor, b: &Tensor| fused::bias_act(x, Some(b), &options).unwrap();
                    let (out_ref, dz_ref, params_ref) = r1_graph(&reference, &inputs);
                    let (out_fused, dz_fused, params_fused) = r1_graph(&fused, &inputs);
                    let mut check = |name: &str, got: &Tensor, want: &Tensor| {
                        worst = worst.max(assert_close(
                            &format!("{what}: {name}"),
                            got,
                            want,
                            tolerance,
                        ));
                    };
                    check("out", &out_fused, &out_ref);
                    check("dout/dz", &dz_fused, &dz_ref);
                    let first_ref = gradients(&out_ref, &params_ref);
                    let first_fused = gradients(&out_fused, &params_fused);
                    for (name, (got, want)) in ["w", "b", "c"]
                        .iter()
                        .zip(first_fused.iter().zip(&first_ref))
                    {
                        check(&format!("dout/d{name}"), got, want);
                    }
                    // R1's penalty: w and c get their gradient through the gradient's graph; b
                    // gets none from the fused op (as from the official CUDA path), none or zeros
                    // from the reference ops.
                    let penalty_ref = dz_ref.square().sum(kind);
                    let penalty_fused = dz_fused.square().sum(kind);
                    let second_ref = gradients(&penalty_ref, &params_ref);
                    let second_fused = gradients(&penalty_fused, &params_fused);
                    check("dR1/dw", &second_fused[0], &second_ref[0]);
                    check("dR1/dc", &second_fused[2], &second_ref[2]);
                    for (who, db) in [("reference", &second_ref[1]), ("fused", &second_fused[1])] {
                        assert!(
                            !db.defined() || db.abs().max().double_value(&[]) == 0.0,
                            "{what}: the {who} op gave b a second derivative"
                        );
                    }
                }
            }
        }
    }
    eprintln!("fused bias_act vs reference ops: worst relative difference {worst:.2e}");
}

#[test]
fn fused_bias_act_refuses_what_it_cannot_compute() {
    let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
    let tanh = BiasAct::new(Activation::Tanh);
    assert!(!fused::supports(&tanh));
    assert!(
        fused::bias_act(&x, None, &tanh)
            .unwrap_err()
            .contains("Tanh")
    );
    let wrong_bias = Tensor::ones([4], (Kind::Float, Device::Cpu));
    let error =
        fused::bias_act(&x, Some(&wrong_bias), &BiasAct::new(Activation::Lrelu)).unwrap_err();
    assert!(error.contains("x.size(dim) = 3"), "{error}");
    let half = x.to_kind(Kind::Half);
    assert!(fused::bias_act(&half, None, &BiasAct::new(Activation::Linear)).is_err());
    // Without a bias the op is the activation, gain and clamp alone.
    let y = fused::bias_act(&(x.neg()), None, &BiasAct::new(Activation::Lrelu)).unwrap();
    let expected = -0.2 * std::f64::consts::SQRT_2;
    assert!((y.double_value(&[1, 2]) - expected).abs() < 1e-6);
}

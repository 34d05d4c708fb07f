//! The fused ops of `kernels/` (their CPU launcher, which shares its per-element code with the
//! CUDA launcher; the CUDA one too on a GPU with `--features cuda`) against kimg's reference ops:
//! values, first gradients, and the gradient of a gradient as R1 forms it.

use kimg::ops::bias_act::{Activation, BiasAct, bias_act_fused, bias_act_reference};
use kimg::ops::fused;
use kimg::ops::upfirdn2d::{Factor, Padding, Resampling, upfirdn2d_fused, upfirdn2d_reference};
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
                        |x: &Tensor, b: &Tensor| bias_act_fused(x, Some(b), &options).unwrap();
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
    assert!(tanh.kernel_args().is_none());
    assert!(
        bias_act_fused(&x, None, &tanh)
            .unwrap_err()
            .to_string()
            .contains("Tanh")
    );
    let wrong_bias = Tensor::ones([4], (Kind::Float, Device::Cpu));
    let error = bias_act_fused(&x, Some(&wrong_bias), &BiasAct::new(Activation::Lrelu))
        .unwrap_err()
        .to_string();
    assert!(error.contains("x.size(dim) = 3"), "{error}");
    let half = x.to_kind(Kind::Half);
    assert!(bias_act_fused(&half, None, &BiasAct::new(Activation::Linear)).is_err());
    // Without a bias the op is the activation, gain and clamp alone.
    let y = bias_act_fused(&(x.neg()), None, &BiasAct::new(Activation::Lrelu)).unwrap();
    let expected = -0.2 * std::f64::consts::SQRT_2;
    assert!((y.double_value(&[1, 2]) - expected).abs() < 1e-6);
}

/// One upfirdn2d configuration: factors `(x, y)`, padding `[x0, x1, y0, y1]`, filter, flip, gain.
struct UpfirdnCase {
    up: (i64, i64),
    down: (i64, i64),
    padding: [i64; 4],
    filter: Option<Tensor>,
    flip_filter: bool,
    gain: f64,
}

#[test]
fn fused_upfirdn2d_matches_the_reference_ops() {
    let _rng = rng_lock();
    tch::manual_seed(11);
    let taps = |n: i64| Tensor::rand([n], (Kind::Float, Device::Cpu)) + 0.1;
    let cases = [
        // filter2d: 1-D filter, same size.
        UpfirdnCase {
            up: (1, 1),
            down: (1, 1),
            padding: [2, 1, 2, 1],
            filter: Some(taps(4)),
            flip_filter: false,
            gain: 1.0,
        },
        // upsample2d ×2 with a 4-tap filter.
        UpfirdnCase {
            up: (2, 2),
            down: (1, 1),
            padding: [2, 1, 2, 1],
            filter: Some(taps(4)),
            flip_filter: false,
            gain: 4.0,
        },
        // downsample2d ÷2 with a 2-D filter.
        UpfirdnCase {
            up: (1, 1),
            down: (2, 2),
            padding: [1, 2, 0, 3],
            filter: Some(Tensor::randn([3, 4], (Kind::Float, Device::Cpu))),
            flip_filter: false,
            gain: 1.0,
        },
        // Both, with cropping (negative padding), a flipped filter and a gain.
        UpfirdnCase {
            up: (2, 2),
            down: (2, 2),
            padding: [-1, 3, 2, -2],
            filter: Some(taps(5)),
            flip_filter: true,
            gain: 2.5,
        },
        // Anisotropic factors.
        UpfirdnCase {
            up: (2, 1),
            down: (1, 3),
            padding: [1, 1, 2, 0],
            filter: Some(Tensor::randn([4, 3], (Kind::Float, Device::Cpu))),
            flip_filter: false,
            gain: 1.0,
        },
        // No filter: plain zero insertion and padding.
        UpfirdnCase {
            up: (2, 2),
            down: (1, 1),
            padding: [0, 1, 1, 0],
            filter: None,
            flip_filter: false,
            gain: 1.0,
        },
        // StyleGAN3-like: ×4 with a long filter.
        UpfirdnCase {
            up: (4, 4),
            down: (1, 1),
            padding: [7, 6, 7, 6],
            filter: Some(taps(12)),
            flip_filter: false,
            gain: 16.0,
        },
    ];
    let mut worst = 0f64;
    for device in devices() {
        for kind in [Kind::Float, Kind::Double] {
            for (i, case) in cases.iter().enumerate() {
                let op = |fused: bool| {
                    let filter = case
                        .filter
                        .as_ref()
                        .map(|f| f.to_kind(kind).to_device(device));
                    move |x: &Tensor| {
                        let (up, down) = (
                            Factor {
                                x: case.up.0,
                                y: case.up.1,
                            },
                            Factor {
                                x: case.down.0,
                                y: case.down.1,
                            },
                        );
                        let [x0, x1, y0, y1] = case.padding;
                        let resampling = Resampling {
                            up,
                            down,
                            padding: Padding::new(x0, x1, y0, y1),
                            flip_filter: case.flip_filter,
                            gain: case.gain,
                        };
                        let f = filter.as_ref();
                        if fused {
                            upfirdn2d_fused(x, f, resampling).unwrap()
                        } else {
                            upfirdn2d_reference(x, f, resampling)
                        }
                    }
                };
                let (reference, fused) = (op(false), op(true));
                let shape = [2i64, 3, 7, 6];
                let x = Tensor::randn(shape, (kind, device));
                let w = Tensor::randn(shape, (kind, device));
                let y_ref = reference(&x);
                let c = Tensor::randn(y_ref.size(), (kind, device));
                let what = format!("{device:?} {kind:?} case {i}");
                // out = Σ c · op(w · x); its gradient in x with a graph; then that gradient's
                // squared norm differentiated in w and c (the op's adjoint of the adjoint).
                let run = |op: &dyn Fn(&Tensor) -> Tensor| {
                    let (x, w, c) = (leaf(&x), leaf(&w), leaf(&c));
                    let y = op(&(&w * &x));
                    let out = (&y * &c).sum(kind);
                    let dx = Tensor::run_backward(&[&out], &[&x], true, true).remove(0);
                    let penalty = dx.square().sum(kind);
                    let second = Tensor::run_backward(&[&penalty], &[&w, &c], false, false);
                    (y.detach(), dx.detach(), second)
                };
                let (y_a, dx_a, second_a) = run(&fused);
                let (y_b, dx_b, second_b) = run(&reference);
                let mut check = |name: &str, got: &Tensor, want: &Tensor| {
                    worst = worst.max(assert_close(&format!("{what}: {name}"), got, want, 1e-5));
                };
                check("y", &y_a, &y_b);
                check("dout/dx", &dx_a, &dx_b);
                check("d|dx|²/dw", &second_a[0], &second_b[0]);
                check("d|dx|²/dc", &second_a[1], &second_b[1]);
            }
        }
    }
    eprintln!("fused upfirdn2d vs reference ops: worst relative difference {worst:.2e}");
}
